"""A stored row (database or lakehouse, as a mapping) as a frozen dataclass value. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_row(cls: type[T], row: Mapping[str, Any], **convert: Callable[[Any], Any]) -> T:
    """``cls`` from the row's keys that are its fields (other keys ignored, missing ones take the
    field's default); a key named in ``convert`` passes through that function first."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: convert[k](v) if k in convert else v for k, v in row.items() if k in names})
