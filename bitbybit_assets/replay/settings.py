"""The settings of a replay: a (partial) YAML file of overrides deep-merged onto the settings the code
location runs with, validated as a whole by :func:`bitbybit_base.settings.validate_settings`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bitbybit_base.settings import Settings, SettingsError, read_settings_data, validate_settings


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_overrides(path: Path) -> dict[str, Any]:
    """The mapping in ``path`` (a full settings file or only the keys to change)."""
    data = read_settings_data(path)
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings")
    return data


def replay_settings(base: Settings, overrides: Mapping[str, Any], source: str) -> Settings:
    """``base`` with ``overrides`` applied, validated (errors name ``source`` and the key)."""
    return validate_settings(deep_merge(base.model_dump(mode="json"), overrides), source)
