"""A feed's first snapshot while the pipeline is already watching: its back catalogue is not today's news."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bitbybit_assets.ingest import parsing
from bitbybit_assets.ingest.bronze import raw_feed_rows
from bitbybit_assets.ingest.silver import new_entries
from bitbybit_base.settings import FeedConfig, IngestLimits
from resources.fetch_types import FetchResult

DAY = date(2026, 7, 26)


def _rss(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>Post {guid}</title><link>https://example.org/{guid}</link><guid>{guid}</guid>"
        f"<description>Text of post {guid}, long enough to read as an article body.</description>"
        + (f"<pubDate>{when}</pubDate>" if when else "")
        + "</item>"
        for guid, when in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


ITEMS = [
    ("today", "Sun, 26 Jul 2026 05:17:51 +0000"),
    ("yesterday", "Sat, 25 Jul 2026 22:00:00 +0000"),
    ("last-week", "Mon, 20 Jul 2026 00:00:00 +0000"),
    ("undated", ""),
]


def _entries(seen: dict[str, set[str]], backlog: dict[str, int] | None = None) -> list[str]:
    limits = IngestLimits()
    fetched = FetchResult(feed_name="newcomer", url="https://example.org/feed", source="archive",
                          fetch_status="ok", fetched_at=datetime(2026, 7, 26, 23, 0, tzinfo=UTC),
                          content=_rss(ITEMS))
    raw = raw_feed_rows(DAY, [fetched], limits)
    feeds = {"newcomer": FeedConfig(name="newcomer", url="https://example.org/feed")}
    out = new_entries(DAY, raw, seen, feeds, limits, backlog)
    parsing.forget_parsed()
    return sorted(out["entry_id"].to_list())


def test_a_feed_first_seen_while_watching_keeps_only_entries_since_yesterday():
    backlog: dict[str, int] = {}
    kept = _entries({"other-feed": {"x"}}, backlog=backlog)  # another feed was seen: watching
    assert kept == ["today", "undated", "yesterday"]
    assert backlog == {"newcomer": 1}


def test_a_known_feed_and_the_pipelines_first_day_keep_every_new_entry():
    assert _entries({"newcomer": {"old-post"}}) == ["last-week", "today", "undated", "yesterday"]
    assert _entries({}) == ["last-week", "today", "undated", "yesterday"]  # nothing seen yet: the first day
