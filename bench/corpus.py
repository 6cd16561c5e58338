"""Real article rows for the benchmarks: filtered_articles built straight from a feed archive.

Parsing the archive costs about 2 s per day on 2 cores, so frames are cached (parquet under
``.bench/cache``, keyed by the archive's files (sizes, mtimes), the days, and the ingest code and
config files) and re-used.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from evaluation.local_run import filtered_articles_for_days

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SHARED_FEEDS = ROOT.parent / "shared" / "data" / "feeds"
SAMPLE_FEEDS = ROOT / "sample_data" / "feeds"
CACHE_DIR = ROOT / ".bench" / "cache"


def default_corpus() -> Path:
    """``../shared/data/feeds`` when present, else the bundled sample days."""
    return SHARED_FEEDS if SHARED_FEEDS.is_dir() else SAMPLE_FEEDS


def archive_days(corpus: Path) -> list[date]:
    """The days the archive holds (folders named YYYY-MM-DD), sorted."""
    days = []
    for p in corpus.iterdir() if corpus.is_dir() else []:
        try:
            days.append(date.fromisoformat(p.name))
        except ValueError:
            continue
    return sorted(days)


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _fingerprint(corpus: Path, days: list[date], history_days: int) -> str:
    h = hashlib.sha256(f"{corpus.resolve()}|{history_days}|{[d.isoformat() for d in days]}".encode())
    # the code and settings that build the rows: a change there invalidates the cache
    for f in [*sorted((ROOT / "bitbybit_assets" / "ingest").glob("*.py")), ROOT / "bitbybit_assets" / "settings.py",
              *sorted((ROOT / "config").glob("*.yaml"))]:
        if f.exists():
            h.update(f.read_bytes())
    for day in archive_days(corpus):
        if day > max(days) or day < min(days) - timedelta(days=history_days):
            continue
        for f in sorted((corpus / day.isoformat()).glob("*.xml")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def filtered_rows(corpus: Path, days: list[date], *, cache_dir: Path | None = CACHE_DIR) -> pl.DataFrame:
    """filtered_articles of ``days`` (earlier archive days as day-assignment history), cached."""
    from bitbybit_base.settings import runtime_settings

    history = runtime_settings().ingest.history_days
    path = None
    if cache_dir is not None:
        path = cache_dir / f"filtered_{_fingerprint(corpus, days, history)}.parquet"
        if path.exists():
            return pl.read_parquet(path)
    log.info("building filtered_articles for %d day(s) from %s", len(days), corpus)
    df = filtered_articles_for_days(corpus, days, history)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(path)
    return df
