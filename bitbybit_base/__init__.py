"""The bottom layer: typed settings (:mod:`bitbybit_base.settings`) and text safety helpers.

No Dagster and nothing from ``bitbybit_assets``, ``resources``, ``sensors`` or ``desk`` (checked by the
import-linter contracts in ``pyproject.toml``); every other package may import it.
"""
