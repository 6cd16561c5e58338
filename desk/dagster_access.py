"""The Dagster instance and the asset graph, opened on first use and kept for the process.

``DagsterInstance.get()`` reads ``$DAGSTER_HOME/dagster.yaml`` (SQLite locally, PostgreSQL in
production): the same instance the runs write to. The asset graph comes from the one
``Definitions`` (built once, a few seconds; nothing touches the network while it loads).
"""

from __future__ import annotations

import functools
import os
import threading

import dagster as dg


class InstanceUnavailable(RuntimeError):
    """No Dagster instance can be opened (``DAGSTER_HOME`` unset or its configuration broken)."""


class DagsterAccess:
    def __init__(self, instance: dg.DagsterInstance | None = None, asset_graph=None) -> None:
        self._instance = instance
        self._graph = asset_graph
        self._lock = threading.Lock()

    def instance(self) -> dg.DagsterInstance:
        with self._lock:
            if self._instance is None:
                if not os.environ.get("DAGSTER_HOME"):
                    raise InstanceUnavailable("DAGSTER_HOME is not set: the desk cannot see the runs "
                                              "(make desk sets it to .dagster_home)")
                try:
                    self._instance = dg.DagsterInstance.get()
                except Exception as exc:  # noqa: BLE001 - shown on the page instead of a 500
                    raise InstanceUnavailable(f"cannot open the Dagster instance: {exc}") from exc
            return self._instance

    def asset_graph(self):
        with self._lock:
            if self._graph is None:
                self._graph = project_asset_graph()
            return self._graph


@functools.lru_cache(maxsize=1)
def project_asset_graph():
    """The asset graph of the one ``Definitions`` (built once per process)."""
    from bitbybit_assets.definitions import build_definitions

    return build_definitions().resolve_asset_graph()
