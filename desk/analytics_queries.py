"""The queries behind the desk's Analytics and Feeds pages: one function per section.

Each takes an open :class:`~resources.warehouse_db.Warehouse` (the database dbt builds on) and a
:class:`Window` of days and returns JSON-ready rows (dates as ``YYYY-MM-DD``, numbers as int/float);
a table that does not exist yet (a fresh install) raises :class:`MissingTable`. The shaping helpers
(:func:`topic_totals`, :func:`fetch_summary`, :func:`with_configured`) work on those rows.
:mod:`desk.analytics_data` opens the database and runs them.

SQL here is portable (PostgreSQL and DuckDB, ``%s`` placeholders); ratios are computed in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from resources.warehouse_db import Warehouse

TOP_TOPICS = 8
HEALTHY = (
    "ok",
    "not_modified",
)  # fetch statuses that end an error streak ("missing" neither ends nor extends one)
Row = dict[str, Any]


class MissingTable(LookupError):
    """A table the query needs does not exist (yet): the pipeline or dbt has not run."""

    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table


@dataclass(frozen=True)
class Window:
    """The days shown, both inclusive."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _query(w: Warehouse, tables: Iterable[str], sql: str, params: list[Any]) -> list[Row]:
    for table in tables:
        if not w.table_exists(table):
            raise MissingTable(table)
    return [{k: _plain(v) for k, v in row.items()} for row in w.query(sql, params)]


def ratio(part: Any, whole: Any, digits: int = 4) -> float | None:
    """``part / whole`` rounded, ``None`` when ``whole`` is zero or unknown."""
    if part is None or not whole:
        return None
    return round(float(part) / float(whole), digits)


# ---------------------------------------------------------------- queries (dbt models)


def funnel(w: Warehouse, win: Window) -> list[Row]:
    """Articles per funnel stage per day (``daily_pipeline_metrics``)."""
    return _query(
        w,
        ["daily_pipeline_metrics"],
        """
        SELECT partition_date AS day, total_articles, passed_content_filter, passed_ad_detection,
               passed_quality_scoring, selected_articles, newsletter_articles, duplicates, advertisements,
               feeds_total, fetch_errors
        FROM daily_pipeline_metrics WHERE partition_date BETWEEN %s AND %s ORDER BY partition_date""",
        [win.start, win.end],
    )


def ad_rate(w: Warehouse, win: Window) -> list[Row]:
    """Per day: the articles that reached ad detection (passed the content filter), the ads among
    them and their share; ``ad_share_of_new`` is over every new article (as ``feed_statistics``)."""
    rows = _query(
        w,
        ["daily_pipeline_metrics"],
        """
        SELECT partition_date AS day, advertisements, passed_content_filter AS checked, total_articles
        FROM daily_pipeline_metrics WHERE partition_date BETWEEN %s AND %s ORDER BY partition_date""",
        [win.start, win.end],
    )
    for r in rows:
        r["ad_rate"] = ratio(r["advertisements"], r["checked"])
        r["ad_share_of_new"] = ratio(r["advertisements"], r["total_articles"])
    return rows


def topic_trends(w: Warehouse, win: Window, top_n: int = TOP_TOPICS, kind: str = "topic") -> list[Row]:
    """Daily counts of the ``top_n`` labels of ``kind`` (``topic``: every scored article, ``tag``:
    the picks) with the most articles in the window (``topic_trends``)."""
    return _query(
        w,
        ["topic_trends"],
        f"""
        WITH top AS (
            SELECT label, sum(article_count) AS total
            FROM topic_trends WHERE kind = %s AND partition_date BETWEEN %s AND %s
            GROUP BY label ORDER BY total DESC, label LIMIT {int(top_n)}
        )
        SELECT t.partition_date AS day, t.label, t.article_count, t.selected_count, t.share_of_day,
               t.rolling_article_count, t.window_days
        FROM topic_trends t JOIN top ON top.label = t.label
        WHERE t.kind = %s AND t.partition_date BETWEEN %s AND %s
        ORDER BY t.partition_date, top.total DESC, t.label""",
        [kind, win.start, win.end, kind, win.start, win.end],
    )


def topic_totals(rows: list[Row]) -> list[Row]:
    """:func:`topic_trends` rows summed per label (the table under the chart), most articles first."""
    totals: dict[str, Row] = {}
    for r in rows:
        t = totals.setdefault(r["label"], {"label": r["label"], "articles": 0, "picks": 0, "days": 0})
        t["articles"] += r["article_count"] or 0
        t["picks"] += r["selected_count"] or 0
        t["days"] += 1
    return sorted(totals.values(), key=lambda t: (-t["articles"], t["label"]))


def llm_cost(w: Warehouse, win: Window) -> list[Row]:
    """The LLM cost of each day's issue: every ledger call of the day (``daily_pipeline_metrics``)."""
    rows = _query(
        w,
        ["daily_pipeline_metrics"],
        """
        SELECT partition_date AS day, llm_cost_usd, cost_per_newsletter_usd, cost_per_article_usd,
               newsletters_generated, newsletter_articles, llm_calls, llm_cache_hits, llm_failed_calls,
               llm_input_tokens, llm_output_tokens
        FROM daily_pipeline_metrics WHERE partition_date BETWEEN %s AND %s ORDER BY partition_date""",
        [win.start, win.end],
    )
    for r in rows:
        r["issue"] = "issue" if r["newsletters_generated"] else "no issue"
    return rows


def feed_yield(w: Warehouse, win: Window) -> list[Row]:
    """Per feed over the model's trailing window as of the last day ≤ the window's end
    (``feed_yield_30d``), most picks first."""
    return _query(
        w,
        ["feed_yield_30d"],
        """
        SELECT partition_date AS as_of, feed_name, window_days, days_observed, days_with_picks,
               total_articles, passed_content_filter, passed_quality_scoring, final_articles, fetch_errors,
               yield_rate, pass_rate, picks_per_day
        FROM feed_yield_30d
        WHERE partition_date = (SELECT max(partition_date) FROM feed_yield_30d WHERE partition_date <= %s)
        ORDER BY final_articles DESC, yield_rate DESC, feed_name""",
        [win.end],
    )


def fetch_outcomes(w: Warehouse, win: Window) -> list[Row]:
    """Per feed per day: the fetch status and the day's articles and picks (``feed_statistics``);
    runs of ``error`` are the error streaks."""
    return _query(
        w,
        ["feed_statistics"],
        """
        SELECT partition_date AS day, feed_name, coalesce(fetch_status, 'unknown') AS fetch_status,
               total_articles, final_articles
        FROM feed_statistics WHERE partition_date BETWEEN %s AND %s ORDER BY feed_name, partition_date""",
        [win.start, win.end],
    )


def fetch_summary(rows: list[Row]) -> list[Row]:
    """:func:`fetch_outcomes` rows counted per feed and status (the table under the chart), feeds
    with the most errors first."""
    out: dict[str, Row] = {}
    for r in rows:
        t = out.setdefault(
            r["feed_name"],
            {"feed_name": r["feed_name"], "days": 0, "ok": 0, "not_modified": 0, "missing": 0, "error": 0},
        )
        t["days"] += 1
        t[r["fetch_status"]] = t.get(r["fetch_status"], 0) + 1
    return sorted(out.values(), key=lambda t: (-t["error"], t["feed_name"]))


def deliveries(w: Warehouse, win: Window) -> list[Row]:
    """Per sent day: the send ledger by outcome and the readers who left since the previous send
    (``delivery_statistics``)."""
    return _query(
        w,
        ["delivery_statistics"],
        """
        SELECT partition_date AS day, editions, sent, failed, suppressed, pending, in_doubt,
               unsubscribed_since_last, bounced_since_last, complained_since_last
        FROM delivery_statistics WHERE partition_date BETWEEN %s AND %s ORDER BY partition_date""",
        [win.start, win.end],
    )


# ---------------------------------------------------------------- feed health (staging tables)

_HEALTH_SQL = """
WITH ranked AS (
    SELECT feed_name, feed_url, partition_date, fetch_status, http_status, error, fetched_at, entry_count,
           row_number() OVER (PARTITION BY feed_name ORDER BY partition_date DESC) AS rn
    FROM stg_feed_fetches WHERE partition_date <= %s
),
last_ok AS (
    SELECT feed_name, max(partition_date) AS last_ok_day
    FROM stg_feed_fetches WHERE partition_date <= %s AND fetch_status IN ('ok', 'not_modified')
    GROUP BY feed_name
),
streak AS (
    SELECT f.feed_name, count(*) AS error_streak, min(f.partition_date) AS failing_since
    FROM stg_feed_fetches f LEFT JOIN last_ok o ON o.feed_name = f.feed_name
    WHERE f.partition_date <= %s AND f.fetch_status = 'error'
      AND (o.last_ok_day IS NULL OR f.partition_date > o.last_ok_day)
    GROUP BY f.feed_name
),
win AS (
    SELECT feed_name, count(*) AS fetch_days,
           sum(CASE WHEN fetch_status = 'error' THEN 1 ELSE 0 END) AS error_days
    FROM stg_feed_fetches WHERE partition_date BETWEEN %s AND %s
    GROUP BY feed_name
),
arts AS (
    SELECT feed_name, count(*) AS new_items, sum(CASE WHEN selected THEN 1 ELSE 0 END) AS picks
    FROM stg_articles WHERE partition_date BETWEEN %s AND %s
    GROUP BY feed_name
)
SELECT r.feed_name, r.feed_url, r.partition_date AS last_day, r.fetch_status AS last_status,
       r.http_status AS last_http_status, r.error AS last_error, r.fetched_at AS last_fetched_at,
       r.entry_count AS last_entry_count, o.last_ok_day, coalesce(s.error_streak, 0) AS error_streak,
       s.failing_since, coalesce(x.fetch_days, 0) AS fetch_days, coalesce(x.error_days, 0) AS error_days,
       coalesce(a.new_items, 0) AS new_items, coalesce(a.picks, 0) AS picks
FROM ranked r
LEFT JOIN last_ok o ON o.feed_name = r.feed_name
LEFT JOIN streak s ON s.feed_name = r.feed_name
LEFT JOIN win x ON x.feed_name = r.feed_name
LEFT JOIN arts a ON a.feed_name = r.feed_name
WHERE r.rn = 1
ORDER BY r.feed_name
"""


def health_label(row: Row, end: date) -> str:
    """``failing`` (3+ errors in a row), ``error`` (the last fetch failed), ``stale`` (not fetched
    on the window's last day), ``never fetched``, or ``ok``."""
    if not row.get("last_day"):
        return "never fetched"
    if row["error_streak"] >= 3:
        return "failing"
    if row["error_streak"] > 0:
        return "error"
    if row["last_day"] < end.isoformat():
        return "stale"
    return "ok"


def feed_health(w: Warehouse, win: Window) -> list[Row]:
    """Per feed ever fetched up to the window's end (``stg_feed_fetches``, ``stg_articles``): the
    last fetch (day, status, HTTP status, error), the current error streak in fetched days (and the
    day it began), new items per fetched day and picks in the window."""
    rows = _query(
        w,
        ["stg_feed_fetches", "stg_articles"],
        _HEALTH_SQL,
        [win.end, win.end, win.end, win.start, win.end, win.start, win.end],
    )
    for r in rows:
        r["items_per_day"] = ratio(r["new_items"], r["fetch_days"], 1)
        r["health"] = health_label(r, win.end)
    return rows


def with_configured(rows: list[Row], feeds: Iterable[Any], end: date) -> list[Row]:
    """``rows`` with the feed list's ``enabled`` and ``category`` added, plus configured feeds never
    fetched; failing feeds first, then by name."""
    by_name = {r["feed_name"]: r for r in rows}
    for feed in feeds:
        row = by_name.get(feed.name)
        if row is None:
            row = by_name[feed.name] = {
                "feed_name": feed.name,
                "feed_url": feed.url,
                "error_streak": 0,
                "new_items": 0,
                "picks": 0,
                "fetch_days": 0,
                "error_days": 0,
            }
            row["health"] = health_label(row, end)
        row["enabled"] = feed.enabled
        row["category"] = feed.category
    order = {"failing": 0, "error": 1, "stale": 2, "never fetched": 3, "ok": 4}
    return sorted(
        by_name.values(), key=lambda r: (order.get(r["health"], 5), -r["error_streak"], r["feed_name"])
    )

