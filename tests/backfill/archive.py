"""A small temporary feed archive and configuration for backfill/replay tests: a subset of the bundled
sample feeds, each trimmed to its first items (scripts/make_sample_data.py's trim), with days that
can be broken (every feed document cut off mid-item, as a truncated download would be)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import yaml

from scripts.make_sample_data import trim
from tests.conftest import PROJECT_ROOT, SAMPLE_ARCHIVE

FEEDS = ("hackernews-frontpage-fulltext", "techcrunch", "techcrunch-startups", "digg-tech", "cloudflare-blog",
         "google-ai-blog", "deepmind-blog", "meta-ai-blog", "ai-research-combined", "efinancialcareers", "cacm",
         "anthropic-news")
FIRST = date(2026, 8, 3)
DAYS = [FIRST + timedelta(days=i) for i in range(5)]
MAX_ITEMS = 12


def write_day(archive: Path, day: date, *, broken: bool = False) -> None:
    """The day's documents of :data:`FEEDS` (trimmed), or cut off mid-document when ``broken``."""
    folder = archive / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    for name in FEEDS:
        source = SAMPLE_ARCHIVE / day.isoformat() / f"{name}.xml"
        if not source.exists():
            continue
        body = trim(source.read_bytes(), MAX_ITEMS)
        (folder / source.name).write_bytes(body[: len(body) // 3] if broken else body)


def make_archive(archive: Path, days: Iterable[date] = DAYS, broken: Iterable[date] = ()) -> Path:
    bad = set(broken)
    for day in days:
        write_day(archive, day, broken=day in bad)
    return archive


def write_config(folder: Path) -> tuple[Path, Path]:
    """(feeds.yaml with :data:`FEEDS`, production.yaml with the hand-weighted score, ``top_n`` 10 and
    the TF-IDF offline summaries) in ``folder``; point ``BITBYBIT_FEEDS_FILE`` and
    ``BITBYBIT_SETTINGS_FILE`` at them."""
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((PROJECT_ROOT / "config" / "feeds.yaml").read_text())
    data["feeds"] = [f for f in data["feeds"] if f["name"] in FEEDS]
    feeds = folder / "feeds.yaml"
    feeds.write_text(yaml.safe_dump(data, sort_keys=False))
    settings = yaml.safe_load((PROJECT_ROOT / "config" / "production.yaml").read_text())
    settings["curation"]["ranker"] = None  # independent of the learned ranker's artefact
    settings["curation"]["top_n"] = 10  # fewer picks to enhance: a faster test, same mechanics
    settings["enhancement"]["use_embeddings"] = False
    production = folder / "production.yaml"
    production.write_text(yaml.safe_dump(settings, sort_keys=False))
    return feeds, production


def pipeline_definitions():
    """The pipeline up to the newsletter (no warehouse/dbt: what a backfill's gating is about) with
    its checks (freshness included) and the daily and backfill jobs."""
    import dagster as dg

    from bitbybit_assets.checks import build_asset_checks, build_freshness_checks
    from bitbybit_assets.curate import assets as curate_assets
    from bitbybit_assets.definitions import build_resources
    from bitbybit_assets.enhance import assets as enhance_assets
    from bitbybit_assets.ingest import assets as ingest_assets
    from bitbybit_assets.jobs import (
        BACKFILL_CURATE_JOB_NAME,
        BACKFILL_PUBLISH_JOB_NAME,
        DAILY_JOB_NAME,
        all_jobs,
    )
    from bitbybit_assets.publish import assets as publish_assets

    assets = dg.load_assets_from_modules([ingest_assets, curate_assets, enhance_assets, publish_assets])
    names = {DAILY_JOB_NAME, BACKFILL_CURATE_JOB_NAME, BACKFILL_PUBLISH_JOB_NAME}
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_asset_checks(assets), *build_freshness_checks(assets)],
        jobs=[j for j in all_jobs() if j.name in names],
        resources=build_resources("local"),
    )
