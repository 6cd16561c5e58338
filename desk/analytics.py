"""``/analytics`` (charts from the dbt models) and ``/feeds`` (every feed's health).

Both take ``?days=N`` (default 30) and ``?end=YYYY-MM-DD`` (default: the last loaded day). The data
comes from :mod:`desk.analytics_data`; each chart is a Vega-Lite spec (:mod:`desk.analytics_charts`)
rendered in the browser by ``static/charts.js``, with a caption and its numbers as a table below.
While a run holds the local warehouse the pages answer 503 with a "try again" message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitbybit_assets.feeds_store import load_feeds
from bitbybit_base.settings import SettingsError
from desk import analytics_charts as charts
from desk import analytics_data as data
from desk import analytics_queries as queries
from desk import feeds_admin
from desk.web import in_thread, render, state

DAY_CHOICES = (7, 14, 30, 60, 90)
Fmt = Callable[[Any], str]


def _int(v: Any) -> str:
    return "—" if v is None else f"{int(v):,}"


def _pct(v: Any) -> str:
    return "—" if v is None else f"{float(v):.1%}"


def _usd(v: Any) -> str:
    return "—" if v is None else f"${float(v):.4f}"


def _num(v: Any) -> str:
    return "—" if v is None else f"{float(v):.1f}"


def _text(v: Any) -> str:
    return "—" if v is None or v == "" else str(v)


FETCH_COLUMNS: list[tuple[str, str, Fmt]] = [
    ("feed_name", "Feed", _text),
    ("days", "Days", _int),
    ("ok", "OK", _int),
    ("not_modified", "Not modified", _int),
    ("missing", "Missing", _int),
    ("error", "Error", _int),
]


@dataclass
class Panel:
    """One chart: its spec, caption, and the numbers as a small table."""

    id: str
    title: str
    caption: str
    spec: dict[str, Any]
    headers: list[str]
    rows: list[list[str]]


def panel(
    id: str,
    title: str,
    caption: str,
    spec: dict[str, Any],
    rows: list[queries.Row],
    columns: list[tuple[str, str, Fmt]],
) -> Panel:
    return Panel(
        id,
        title,
        caption,
        spec,
        [label for _, label, _ in columns],
        [[fmt(r.get(key)) for key, _, fmt in columns] for r in rows],
    )


def analytics_panels(report: data.Report) -> list[Panel]:
    """The Analytics page's charts, in page order."""
    funnel, topics = report.rows("funnel"), report.rows("topics")
    yields = report.rows("feed_yield")
    yield_window = (
        f"{yields[0]['window_days']} days to {yields[0]['as_of']}" if yields else "the model's window"
    )
    streaks = [r for r in report.rows("feed_health") if r.get("error_streak")]
    streaks.sort(key=lambda r: (-r["error_streak"], r["feed_name"]))
    return [
        panel(
            "chart-funnel",
            "Articles per stage per day",
            "The funnel: new articles, those passing the content filter, ad detection and quality scoring, "
            "the picks, and the articles in the issue (daily_pipeline_metrics).",
            charts.funnel_spec(funnel),
            funnel,
            [
                ("day", "Day", _text),
                ("total_articles", "New", _int),
                ("passed_content_filter", "Filter", _int),
                ("passed_ad_detection", "Not ad", _int),
                ("passed_quality_scoring", "Quality", _int),
                ("selected_articles", "Selected", _int),
                ("newsletter_articles", "Issue", _int),
            ],
        ),
        panel(
            "chart-ad-rate",
            "Ad rate",
            "Share of the articles reaching ad detection (those past the content filter) that were ads.",
            charts.ad_rate_spec(report.rows("ad_rate")),
            report.rows("ad_rate"),
            [
                ("day", "Day", _text),
                ("advertisements", "Ads", _int),
                ("checked", "Checked", _int),
                ("ad_rate", "Ad rate", _pct),
                ("ad_share_of_new", "Of all new", _pct),
            ],
        ),
        panel(
            "chart-topics",
            "Topic trends",
            f"Articles per day for the {queries.TOP_TOPICS} topics with the most scored articles in the window "
            "(topic_trends); the table sums the window.",
            charts.topics_spec(topics),
            queries.topic_totals(topics),
            [
                ("label", "Topic", _text),
                ("articles", "Articles", _int),
                ("picks", "Picks", _int),
                ("days", "Days seen", _int),
            ],
        ),
        panel(
            "chart-llm-cost",
            "LLM cost per issue",
            "Every LLM ledger call of the day (retries and re-runs included), charged to that day's issue.",
            charts.llm_cost_spec(report.rows("llm_cost")),
            report.rows("llm_cost"),
            [
                ("day", "Day", _text),
                ("llm_cost_usd", "Cost", _usd),
                ("cost_per_article_usd", "Per article", _usd),
                ("llm_calls", "Calls", _int),
                ("llm_cache_hits", "Cache hits", _int),
                ("llm_failed_calls", "Failed", _int),
            ],
        ),
        panel(
            "chart-feed-yield",
            "Per-feed yield",
            f"Picks per feed over {yield_window} (feed_yield_30d); yield = picks / new articles.",
            charts.feed_yield_spec(yields),
            yields,
            [
                ("feed_name", "Feed", _text),
                ("final_articles", "Picks", _int),
                ("total_articles", "New", _int),
                ("yield_rate", "Yield", _pct),
                ("pass_rate", "Pass rate", _pct),
                ("fetch_errors", "Fetch errors", _int),
            ],
        ),
        panel(
            "chart-fetch-outcomes",
            "Fetches per feed and day",
            "Each feed's fetch outcome per day (feed_statistics): a run of red cells is an error streak.",
            charts.fetch_outcomes_spec(report.rows("fetch_outcomes")),
            queries.fetch_summary(report.rows("fetch_outcomes")),
            FETCH_COLUMNS,
        ),
        panel(
            "chart-error-streaks",
            "Current error streaks",
            "Feeds whose latest fetches failed, by the number of failed fetches in a row.",
            charts.error_streaks_spec(streaks),
            streaks,
            [
                ("feed_name", "Feed", _text),
                ("error_streak", "Streak", _int),
                ("failing_since", "Since", _text),
                ("last_http_status", "HTTP", _text),
                ("last_error", "Error", _text),
            ],
        ),
        panel(
            "chart-deliveries",
            "Deliveries",
            "Emails per sent day by outcome (delivery_statistics).",
            charts.deliveries_spec(report.rows("deliveries")),
            report.rows("deliveries"),
            [
                ("day", "Day", _text),
                ("sent", "Sent", _int),
                ("failed", "Failed", _int),
                ("suppressed", "Suppressed", _int),
                ("pending", "Pending", _int),
                ("in_doubt", "In doubt", _int),
            ],
        ),
        panel(
            "chart-readers-lost",
            "Unsubscribes",
            "Readers who left between the previous send and this one: unsubscribed, bounced, complained.",
            charts.readers_lost_spec(report.rows("deliveries")),
            report.rows("deliveries"),
            [
                ("day", "Day", _text),
                ("unsubscribed_since_last", "Unsubscribed", _int),
                ("bounced_since_last", "Bounced", _int),
                ("complained_since_last", "Complained", _int),
            ],
        ),
    ]


def _params(request: Request) -> tuple[int, date | None]:
    """``days`` (clamped to 1..366; default 30) and ``end`` (ignored unless a date)."""
    try:
        days = int(request.query_params.get("days", data.DEFAULT_DAYS))
    except ValueError:
        days = data.DEFAULT_DAYS
    try:
        end = date.fromisoformat(request.query_params["end"]) if request.query_params.get("end") else None
    except ValueError:
        end = None
    return max(1, min(days, data.MAX_DAYS)), end


def _configured_feeds() -> list[Any]:
    try:
        return load_feeds(enabled_only=False)
    except SettingsError:  # the page still shows what the warehouse knows
        return []


def _page(
    request: Request, template: str, report: data.Report, days: int, end: date | None, **context: Any
) -> Response:
    status = 503 if report.unavailable else 200
    response = render(
        request,
        template,
        status_code=status,
        report=report,
        days=days,
        end=end.isoformat() if end else "",
        day_choices=DAY_CHOICES,
        **context,
    )
    if report.unavailable:
        response.headers["Retry-After"] = "5"
    return response


async def analytics_page(request: Request) -> Response:
    days, end = _params(request)
    report = await in_thread(data.analytics_report, state(request).postgres, days, end)
    panels = [] if report.unavailable else analytics_panels(report)
    return _page(request, "analytics/analytics.html", report, days, end, title="Analytics", panels=panels)


def feed_counts(rows: list[queries.Row]) -> dict[str, int]:
    counts = {"ok": 0, "stale": 0, "error": 0, "failing": 0, "never fetched": 0}
    for r in rows:
        counts[r["health"]] = counts.get(r["health"], 0) + 1
    return counts


async def feeds_page(request: Request) -> Response:
    days, end = _params(request)
    feeds = await in_thread(_configured_feeds)
    report = await in_thread(data.feeds_report, state(request).postgres, days, end, feeds)
    outcomes = None
    if not report.unavailable:
        outcomes = panel(
            "chart-feed-fetches",
            "Fetches per feed and day",
            "Each feed's fetch outcome per day (feed_statistics): a run of red cells is an error streak.",
            charts.fetch_outcomes_spec(report.rows("fetch_outcomes")),
            queries.fetch_summary(report.rows("fetch_outcomes")),
            FETCH_COLUMNS,
        )
    health = report.rows("feed_health")
    return _page(
        request,
        "analytics/feeds.html",
        report,
        days,
        end,
        title="Feeds",
        feeds_managed=await in_thread(feeds_admin.manageable),
        feeds=health,
        counts=feed_counts(health),
        outcomes=outcomes,
    )


def routes() -> list[Route]:
    return [
        Route("/analytics", analytics_page, methods=["GET"]),
        Route("/feeds", feeds_page, methods=["GET"]),
    ]
