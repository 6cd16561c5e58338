"""Archived feed snapshots: a folder laid out ``YYYY-MM-DD/<feed>.xml``. No Dagster here."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path

from resources.fetch_types import FetchResult

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def archive_days(archive_dir: Path) -> list[date]:
    """Days the archive holds (folders named YYYY-MM-DD)."""
    if not archive_dir.is_dir():
        return []
    return sorted(date.fromisoformat(p.name) for p in archive_dir.iterdir() if p.is_dir() and _DAY.match(p.name))


def has_day(archive_dir: Path | None, day: date) -> bool:
    return archive_dir is not None and (archive_dir / day.isoformat()).is_dir()


def read_archive_day(archive_dir: Path, day: date, feeds: list[tuple[str, str]]) -> list[FetchResult]:
    """One result per (feed_name, url): ``ok`` with the bytes, or ``missing`` when the archive has
    no file for that feed on that day. ``fetched_at`` is the end of the day (snapshot semantics)."""
    folder = archive_dir / day.isoformat()
    if not folder.is_dir():
        raise FileNotFoundError(f"feed archive has no folder for {day.isoformat()}: {folder}")
    stamp = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    results = []
    for name, url in feeds:
        path = folder / f"{name}.xml"
        if path.is_file():
            results.append(
                FetchResult(feed_name=name, url=url, source="archive", fetch_status="ok", fetched_at=stamp,
                            content=path.read_bytes(), final_url=str(path))
            )
        else:
            results.append(
                FetchResult(feed_name=name, url=url, source="archive", fetch_status="missing", fetched_at=stamp,
                            error=f"no snapshot for {name} on {day.isoformat()}")
            )
    return results
