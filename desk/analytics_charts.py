"""Vega-Lite specs for the desk's charts, with their data inline.

The pages embed each spec as ``<script type="application/json">`` and ``static/charts.js`` renders
it with vega-embed (no inline script, no eval: the desk's CSP holds). Dates are ``YYYY-MM-DD``
strings read as UTC days.
"""

from __future__ import annotations

from typing import Any

from desk.analytics_queries import Row

Spec = dict[str, Any]
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
FUNNEL_STAGES = (
    ("total_articles", "new"),
    ("passed_content_filter", "passed filter"),
    ("passed_ad_detection", "not an ad"),
    ("passed_quality_scoring", "passed quality"),
    ("selected_articles", "selected"),
    ("newsletter_articles", "in the issue"),
)
FETCH_COLORS = {
    "ok": "#1a7f37",
    "not_modified": "#8fd19e",
    "missing": "#d1d9e0",
    "error": "#cf222e",
    "unknown": "#9a6700",
}
DAY_X = {
    "field": "day",
    "type": "temporal",
    "timeUnit": "utcyearmonthdate",
    "title": None,
    "axis": {"format": "%b %d", "labelAngle": 0, "labelOverlap": True},
}


def _day_x(**extra: Any) -> dict[str, Any]:
    return {**DAY_X, **extra}


def _tooltip_day() -> dict[str, Any]:
    return {
        "field": "day",
        "type": "temporal",
        "timeUnit": "utcyearmonthdate",
        "title": "day",
        "format": "%Y-%m-%d",
    }


def _int_axis(values: list[Row], field: str) -> dict[str, Any]:
    """An axis of whole numbers (explicit ticks while the largest value is small)."""
    top = max((v.get(field) or 0 for v in values), default=0)
    if top <= 10:
        return {"values": list(range(0, int(top) + 1)), "format": "d"}
    return {"tickMinStep": 1, "format": "d"}


def _rows_by_step(spec: Spec, step: int, field: str = "feed_name") -> Spec:
    """``spec`` ``step`` pixels high per distinct ``field`` (a fixed height: a ``step`` height would
    drop the container width's "fit")."""
    count = len({v.get(field) for v in spec["data"]["values"]})
    return {**spec, "height": step * max(count, 1)}


def _base(values: list[Row], height: int = 220) -> Spec:
    return {
        "$schema": SCHEMA,
        "data": {"values": values},
        "width": "container",
        "height": height,
        "config": {
            "view": {"stroke": None},
            "axis": {"labelFont": "system-ui", "titleFont": "system-ui"},
            "legend": {"labelFont": "system-ui", "titleFont": "system-ui", "orient": "bottom"},
        },
    }


def funnel_spec(rows: list[Row]) -> Spec:
    """Articles per stage per day, one line per stage (each stage is a subset of the one before)."""
    values = [
        {"day": r["day"], "stage": label, "articles": r[col]} for r in rows for col, label in FUNNEL_STAGES
    ]
    stages = [label for _, label in FUNNEL_STAGES]
    return {
        **_base(values),
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": _day_x(),
            "y": {"field": "articles", "type": "quantitative", "title": "articles"},
            "color": {
                "field": "stage",
                "type": "nominal",
                "sort": stages,
                "scale": {"domain": stages, "scheme": "viridis"},
                "title": None,
            },
            "tooltip": [_tooltip_day(), {"field": "stage"}, {"field": "articles", "type": "quantitative"}],
        },
    }


def ad_rate_spec(rows: list[Row]) -> Spec:
    """The share of articles reaching ad detection that were ads, per day."""
    return {
        **_base(rows, 180),
        "mark": {"type": "line", "color": "#9a6700", "point": {"color": "#9a6700"}},
        "encoding": {
            "x": _day_x(),
            "y": {"field": "ad_rate", "type": "quantitative", "title": "ad rate", "axis": {"format": ".0%"}},
            "tooltip": [
                _tooltip_day(),
                {"field": "ad_rate", "type": "quantitative", "format": ".1%", "title": "ad rate"},
                {"field": "advertisements", "type": "quantitative", "title": "ads"},
                {"field": "checked", "type": "quantitative", "title": "checked"},
            ],
        },
    }


def topics_spec(rows: list[Row]) -> Spec:
    """Articles per day for the window's top topics."""
    return {
        **_base(rows, 240),
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": _day_x(),
            "y": {"field": "article_count", "type": "quantitative", "title": "articles"},
            "color": {"field": "label", "type": "nominal", "title": None, "scale": {"scheme": "tableau10"}},
            "tooltip": [
                _tooltip_day(),
                {"field": "label", "title": "topic"},
                {"field": "article_count", "type": "quantitative", "title": "articles"},
                {"field": "selected_count", "type": "quantitative", "title": "picks"},
                {
                    "field": "share_of_day",
                    "type": "quantitative",
                    "format": ".1%",
                    "title": "share of the day",
                },
                {"field": "rolling_article_count", "type": "quantitative", "title": "rolling count"},
            ],
        },
    }


def llm_cost_spec(rows: list[Row]) -> Spec:
    """The LLM cost of each day, coloured by whether the day has an issue."""
    return {
        **_base(rows, 180),
        "mark": {"type": "bar"},
        "encoding": {
            "x": _day_x(),
            "y": {
                "field": "llm_cost_usd",
                "type": "quantitative",
                "title": "USD",
                "axis": {"format": "$.3f"},
            },
            "color": {
                "field": "issue",
                "type": "nominal",
                "title": None,
                "scale": {"domain": ["issue", "no issue"], "range": ["#0b5cad", "#afb8c1"]},
            },
            "tooltip": [
                _tooltip_day(),
                {"field": "llm_cost_usd", "type": "quantitative", "format": "$.4f", "title": "cost"},
                {
                    "field": "cost_per_article_usd",
                    "type": "quantitative",
                    "format": "$.5f",
                    "title": "per article",
                },
                {"field": "llm_calls", "type": "quantitative", "title": "calls"},
                {"field": "llm_cache_hits", "type": "quantitative", "title": "cache hits"},
            ],
        },
    }


def feed_yield_spec(rows: list[Row]) -> Spec:
    """Picks per feed over the model's window, the yield (picks / new articles) as the tooltip."""
    spec = _rows_by_step(_base(rows), 16)
    return {
        **spec,
        "mark": {"type": "bar", "color": "#0b5cad"},
        "encoding": {
            "y": {
                "field": "feed_name",
                "type": "nominal",
                "title": None,
                "sort": {"field": "final_articles", "order": "descending"},
            },
            "x": {"field": "final_articles", "type": "quantitative", "title": "picks"},
            "tooltip": [
                {"field": "feed_name", "title": "feed"},
                {"field": "final_articles", "type": "quantitative", "title": "picks"},
                {"field": "total_articles", "type": "quantitative", "title": "new articles"},
                {"field": "yield_rate", "type": "quantitative", "format": ".1%", "title": "yield"},
                {"field": "fetch_errors", "type": "quantitative", "title": "fetch errors"},
            ],
        },
    }


def fetch_outcomes_spec(rows: list[Row]) -> Spec:
    """Feed × day, coloured by fetch outcome: a run of red cells is an error streak."""
    spec = _rows_by_step(_base(rows), 14)
    return {
        **spec,
        "mark": {"type": "rect", "stroke": "#fff", "strokeWidth": 1},
        "encoding": {
            "x": _day_x(),
            "y": {"field": "feed_name", "type": "nominal", "title": None},
            "color": {
                "field": "fetch_status",
                "type": "nominal",
                "title": None,
                "scale": {"domain": list(FETCH_COLORS), "range": list(FETCH_COLORS.values())},
            },
            "tooltip": [
                _tooltip_day(),
                {"field": "feed_name", "title": "feed"},
                {"field": "fetch_status", "title": "fetch"},
                {"field": "total_articles", "type": "quantitative", "title": "new articles"},
                {"field": "final_articles", "type": "quantitative", "title": "picks"},
            ],
        },
    }


def error_streaks_spec(rows: list[Row]) -> Spec:
    """The current error streak (failed fetches in a row) of every feed that has one."""
    values = [r for r in rows if r.get("error_streak")]
    spec = _rows_by_step(_base(values), 18)
    return {
        **spec,
        "mark": {"type": "bar", "color": "#cf222e"},
        "encoding": {
            "y": {
                "field": "feed_name",
                "type": "nominal",
                "title": None,
                "sort": {"field": "error_streak", "order": "descending"},
            },
            "x": {
                "field": "error_streak",
                "type": "quantitative",
                "title": "failed fetches in a row",
                "axis": _int_axis(values, "error_streak"),
            },
            "tooltip": [
                {"field": "feed_name", "title": "feed"},
                {"field": "error_streak", "type": "quantitative", "title": "streak"},
                {"field": "failing_since", "title": "since"},
                {"field": "last_http_status", "title": "HTTP"},
                {"field": "last_error", "title": "error"},
            ],
        },
    }


def deliveries_spec(rows: list[Row]) -> Spec:
    """Emails per day by outcome (stacked)."""
    outcomes = ("sent", "failed", "suppressed", "pending", "in_doubt")
    values = [
        {"day": r["day"], "outcome": o.replace("_", " "), "emails": r[o]} for r in rows for o in outcomes
    ]
    domain = [o.replace("_", " ") for o in outcomes]
    return {
        **_base(values, 180),
        "mark": {"type": "bar"},
        "encoding": {
            "x": _day_x(),
            "y": {"field": "emails", "type": "quantitative", "title": "emails", "stack": True},
            "color": {
                "field": "outcome",
                "type": "nominal",
                "title": None,
                "scale": {"domain": domain, "range": ["#1a7f37", "#cf222e", "#59636e", "#d4a72c", "#8250df"]},
            },
            "tooltip": [_tooltip_day(), {"field": "outcome"}, {"field": "emails", "type": "quantitative"}],
        },
    }


def _per_day_totals(values: list[Row], field: str) -> list[Row]:
    totals: dict[str, int] = {}
    for v in values:
        totals[v["day"]] = totals.get(v["day"], 0) + (v.get(field) or 0)
    return [{field: t} for t in totals.values()]


def readers_lost_spec(rows: list[Row]) -> Spec:
    """Readers who left between one send and the next: unsubscribed, bounced, complained."""
    kinds = (
        ("unsubscribed_since_last", "unsubscribed"),
        ("bounced_since_last", "bounced"),
        ("complained_since_last", "complained"),
    )
    values = [{"day": r["day"], "reason": label, "readers": r[col]} for r in rows for col, label in kinds]
    return {
        **_base(values, 160),
        "mark": {"type": "bar"},
        "encoding": {
            "x": _day_x(),
            "y": {
                "field": "readers",
                "type": "quantitative",
                "title": "readers",
                "axis": _int_axis(_per_day_totals(values, "readers"), "readers"),
            },
            "color": {
                "field": "reason",
                "type": "nominal",
                "title": None,
                "scale": {"domain": [k for _, k in kinds], "range": ["#0b5cad", "#cf222e", "#9a6700"]},
            },
            "tooltip": [_tooltip_day(), {"field": "reason"}, {"field": "readers", "type": "quantitative"}],
        },
    }
