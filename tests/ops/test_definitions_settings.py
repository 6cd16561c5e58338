"""Settings are read when the Definitions are built, never at import, and handed to the assets.

Issue 16: importing any module of ours reads no settings; ``build_definitions()`` loads them once and
binds the daily partitions (``pipeline.start_date``) and ``feed_entries``' history window
(``ingest.history_days``) everywhere (assets, jobs, checks, schedules); asset bodies read the
``settings`` resource, so a test hands a ``Settings`` object without a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from bitbybit_assets.ingest.assets import filtered_articles
from bitbybit_assets.schemas import FEED_ENTRIES, conform
from bitbybit_base.settings import Settings, load_settings
from resources.lakehouse import Lakehouse
from resources.llm import LLMResource
from tests.conftest import PROJECT_ROOT

START = date(2026, 7, 2)  # not the default start date (2026-07-18)
HISTORY_DAYS = 4  # not the default 30

IMPORT_ALL = textwrap.dedent(
    """
    import importlib, pkgutil
    import bitbybit_base.settings as s

    def refuse(*args, **kwargs):
        raise AssertionError("settings read at import time")

    s.load_settings = refuse  # and the settings file does not exist either
    imported = 0
    for pkg in ("bitbybit_assets", "sensors", "resources", "desk"):
        root = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(root.__path__, pkg + "."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
                imported += 1
    print("imported", imported)
    """
)


def test_importing_every_module_reads_no_settings(tmp_path):
    env = {**os.environ, "BITBYBIT_SETTINGS_FILE": str(tmp_path / "missing.yaml"), "BITBYBIT_ENV": "local"}
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) > 100  # every module of the four packages, not a few


@pytest.fixture
def configured(isolated_env, monkeypatch) -> Path:
    """A settings file with another start date and history window than the defaults."""
    data = yaml.safe_load((PROJECT_ROOT / "config" / "production.yaml").read_text())
    data["pipeline"]["start_date"] = START.isoformat()
    data["ingest"]["history_days"] = HISTORY_DAYS
    path = isolated_env / "settings.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(path))
    return path


def _first_day(partitions_def: dg.PartitionsDefinition) -> date:
    return date.fromisoformat(partitions_def.get_first_partition_key())


def test_definitions_bind_the_configured_days_everywhere(configured):
    from bitbybit_assets.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    partitioned = [n for n in graph.asset_nodes if n.partitions_def is not None]
    assert len(partitioned) > 20
    assert {_first_day(n.partitions_def) for n in partitioned} == {START}
    mapping = graph.get(dg.AssetKey("feed_entries")).partition_mappings[dg.AssetKey("raw_feeds")]
    assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert (mapping.start_offset, mapping.end_offset) == (-HISTORY_DAYS, 0)
    for name in ("daily_pipeline", "ingest", "scoring", "publish", "deliver_newsletter",
                 "backfill_ingest_curate", "backfill_publish_day", "backfill_warehouse"):
        job = defs.resolve_job_def(name)
        assert _first_day(job.partitions_def) == START, name
    checks = [c for c in defs.asset_checks or [] if c.partitions_def is not None]
    assert checks and {_first_day(c.partitions_def) for c in checks} == {START}
    # the schedule skips days before the configured start (it reads the same settings)
    schedule = defs.resolve_schedule_def("daily_pipeline_daily")
    ticks = {}
    with dg.instance_for_test() as instance:
        for day in (2, 3):
            when = datetime(2026, 7, day, 7, tzinfo=UTC)
            with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                           repository_def=defs.get_repository_def()) as ctx:
                ticks[day] = schedule.evaluate_tick(ctx)
    assert "before pipeline.start_date 2026-07-02" in (ticks[2].skip_message or "")
    assert [r.partition_key for r in ticks[3].run_requests or []] == ["2026-07-02"]
    # the settings resource is the settings the Definitions were built from
    assert defs.resources["settings"].pipeline.start_date == START


def _entries(day: date) -> pl.DataFrame:
    rows = [
        {"partition_date": day, "entry_key": key, "article_id": key, "feed_name": "f", "feed_trust": 0.5,
         "entry_id": key, "url": f"https://ex.com/{key}", "canonical_url": f"https://ex.com/{key}",
         "domain": "ex.com", "title": title, "clean_text": "some body text here", "word_count": 4,
         "language": "en", "published_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC), "position": 0}
        for key, title in (("plain", "A perfectly fine title"), ("crypto", "Buy crypto now and win big"))
    ]
    return conform(pl.DataFrame(rows, infer_schema_length=None), FEED_ENTRIES)


def test_assets_read_the_settings_handed_to_them(isolated_env, monkeypatch):
    """No settings file at all: the asset runs on the Settings object it is given."""
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(isolated_env / "missing.yaml"))
    base = load_settings(PROJECT_ROOT / "config" / "production.yaml")
    strict = base.model_copy(update={"content_filter": base.content_filter.model_copy(
        update={"blocked_keywords": ["crypto"]})})
    day = date(2026, 8, 5)

    def reasons(settings: Settings) -> dict[str, str | None]:
        ctx = dg.build_asset_context(partition_key=day.isoformat())
        out = filtered_articles(ctx, feed_entries=_entries(day), settings=settings, llm=LLMResource(),
                                lakehouse=Lakehouse())
        return dict(zip(out["entry_key"], out["filter_reason"], strict=True))

    assert reasons(base) == {"plain": None, "crypto": None}
    assert reasons(strict) == {"plain": None, "crypto": "blocked_keyword"}
