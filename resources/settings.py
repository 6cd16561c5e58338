"""The settings of a run, as a resource: the validated :class:`~bitbybit_base.settings.Settings` that
``build_definitions()`` loaded (once, with the Definitions), handed to assets as the parameter
``settings: RunSettings``. A test hands any ``Settings`` object under :data:`SETTINGS_KEY`; nothing
reads the file or the environment for it.

Values an editor can change in the desk are applied on top by
:func:`bitbybit_assets.settings_overrides.settings_with_overrides` (``base=settings``) when a run reads them.
"""

import dagster as dg

from bitbybit_base.settings import Settings

SETTINGS_KEY = "settings"
RunSettings = dg.ResourceParam[Settings]


def settings_resources(settings: Settings) -> dict[str, Settings]:
    """``{"settings": settings}``, to merge into the Definitions' (or a test's) resources."""
    return {SETTINGS_KEY: settings}
