"""Data-quality rules over polars frames (no Dagster): each returns a :class:`RuleResult`.

Every rule evaluates each day of ``days`` on its own (a single-run backfill checks every day of its
range) and fails when any day fails; the result says which days failed and why, and keeps a small
sample of the offending rows. ``bitbybit_assets.checks`` wraps these as Dagster asset checks.

Over 400 lines because it is a flat catalogue of small independent rules (one function each, the
rows of ``checks.py``), easier to scan in one file than spread over several.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import polars as pl

from bitbybit_assets.text import word_count_expr

SAMPLE_ROWS = 10
# attributes that make a browser or mail client follow or load a URL
LINK_ATTRIBUTES = ("href", "src", "action", "formaction", "poster", "background", "xlink:href")
_MERGE_TAG = re.compile(r"^\s*(\{\{.*\}\}|\*\|.*\|\*|%%.*%%)\s*$")


@dataclass
class RuleResult:
    passed: bool
    summary: str  # one line: why it failed (or what passed)
    metadata: dict[str, Any] = field(default_factory=dict)  # JSON-able numbers/strings per day
    failures: pl.DataFrame | None = None  # sample of offending rows


def _day_frames(df: pl.DataFrame, days: Sequence[date]) -> dict[date, pl.DataFrame]:
    if "partition_date" not in df.columns:
        return {d: df.head(0) for d in days}
    return {d: df.filter(pl.col("partition_date") == d) for d in days}


def _missing(df: pl.DataFrame, columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c not in df.columns]


def _missing_result(table: str, missing: list[str]) -> RuleResult:
    return RuleResult(False, f"{table} has no column(s) {', '.join(missing)}", {"missing_columns": missing})


def _finish(failed: dict[str, str], per_day: dict[str, Any], ok: str, extra: dict | None = None,
            failures: pl.DataFrame | None = None) -> RuleResult:
    meta = {"per_day": per_day, "failed_days": sorted(failed), **(extra or {})}
    if failed:
        first = [f"{d}: {why}" for d, why in sorted(failed.items())][:3]
        more = f" (+{len(failed) - 3} more days)" if len(failed) > 3 else ""
        return RuleResult(False, "; ".join(first) + more, meta, failures)
    return RuleResult(True, ok, meta, None)


def _sample(frames: list[pl.DataFrame], columns: list[str]) -> pl.DataFrame | None:
    frames = [f.select([c for c in columns if c in f.columns]) for f in frames if f.height]
    return pl.concat(frames, how="diagonal_relaxed").head(SAMPLE_ROWS) if frames else None


# ---------------------------------------------------------------- generic data checks


def row_counts(df: pl.DataFrame, days: Sequence[date], min_rows: int = 1, *, table: str = "table") -> RuleResult:
    """At least ``min_rows`` rows on every day."""
    per_day, failed = {}, {}
    for d, part in _day_frames(df, days).items():
        per_day[d.isoformat()] = part.height
        if part.height < min_rows:
            failed[d.isoformat()] = f"{table} has {part.height} rows (< {min_rows})"
    return _finish(failed, per_day, f"{table}: {sum(per_day.values())} rows over {len(days)} day(s)",
                   {"min_rows": min_rows})


def schema_matches(schema: Mapping[str, pl.DataType], contract: Mapping[str, pl.DataType],
                   *, table: str = "table") -> RuleResult:
    """Every contract column is present with its dtype (extra columns are allowed)."""
    if not schema:
        return RuleResult(False, f"{table}: table not found or empty schema", {"missing_columns": list(contract)})
    missing = [c for c in contract if c not in schema]
    mismatched = {
        c: {"expected": str(t), "actual": str(schema[c])}
        for c, t in contract.items()
        if c in schema and schema[c] != t
    }
    meta = {
        "missing_columns": missing,
        "dtype_mismatches": mismatched,
        "extra_columns": [c for c in schema if c not in contract],
        "columns": len(schema),
    }
    if missing or mismatched:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
        if mismatched:
            parts.append("wrong dtype " + ", ".join(f"{c} ({v['actual']} != {v['expected']})"
                                                     for c, v in list(mismatched.items())[:5]))
        return RuleResult(False, f"{table}: " + "; ".join(parts), meta)
    return RuleResult(True, f"{table}: all {len(contract)} contract columns present", meta)


def ids_present(df: pl.DataFrame, days: Sequence[date], id_columns: Sequence[str],
                unique_columns: Sequence[str] = (), *, table: str = "table") -> RuleResult:
    """No nulls/blank values in ``id_columns``; ``unique_columns`` unique within each day."""
    missing = _missing(df, [*id_columns, *unique_columns])
    if missing:
        return _missing_result(table, missing)
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(df, days).items():
        nulls = {c: int((part[c].is_null() | (part[c].cast(pl.String).str.strip_chars() == "")).sum())
                 for c in id_columns}
        dupes = {c: int(part.height - part[c].drop_nulls().n_unique() - part[c].null_count())
                 for c in unique_columns}
        per_day[d.isoformat()] = {"null": nulls, "duplicate": dupes}
        reasons = [f"{n} null {c}" for c, n in nulls.items() if n] + [f"{n} duplicate {c}" for c, n in dupes.items() if n]
        if reasons:
            failed[d.isoformat()] = ", ".join(reasons)
            null_any = pl.any_horizontal([pl.col(c).is_null() for c in id_columns]) if id_columns else pl.lit(False)
            dup_any = pl.any_horizontal([pl.col(c).is_duplicated() for c in unique_columns]) if unique_columns else pl.lit(False)
            bad.append(part.filter(null_any | dup_any))
    return _finish(failed, per_day, f"{table}: ids present" + (" and unique" if unique_columns else ""),
                   failures=_sample(bad, ["partition_date", *dict.fromkeys([*id_columns, *unique_columns]), "feed_name", "title"]))


def failed_feed_share(raw_feeds: pl.DataFrame, days: Sequence[date], max_share: float) -> RuleResult:
    """Share of feeds whose fetch failed (``fetch_status == "error"``) at most ``max_share`` per day.

    Feeds the archive does not hold for a day (``missing``: e.g. added to the list later) are not
    failures and are left out of the denominator.
    """
    missing = _missing(raw_feeds, ["fetch_status", "feed_name"])
    if missing:
        return _missing_result("raw_feeds", missing)
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(raw_feeds, days).items():
        attempted = part.filter(pl.col("fetch_status") != "missing")
        errors = attempted.filter(pl.col("fetch_status") == "error")
        share = errors.height / attempted.height if attempted.height else 1.0
        per_day[d.isoformat()] = {"feeds": part.height, "attempted": attempted.height,
                                  "failed": errors.height, "failed_share": round(share, 4)}
        if not attempted.height:
            failed[d.isoformat()] = "no feed was fetched"
        elif share > max_share:
            failed[d.isoformat()] = f"{errors.height}/{attempted.height} feeds failed ({share:.0%} > {max_share:.0%})"
            bad.append(errors)
    worst = max((v["failed_share"] for v in per_day.values()), default=0.0)
    return _finish(failed, per_day, f"failed feeds at most {worst:.0%} (limit {max_share:.0%})",
                   {"max_failed_share": max_share, "worst_failed_share": worst},
                   _sample(bad, ["partition_date", "feed_name", "http_status", "error"]))


# ---------------------------------------------------------------- the newsletter path (blocking)


def picks(scored: pl.DataFrame) -> pl.DataFrame:
    """The picked rows of ``scored_articles`` (``selected`` true), in rank order."""
    if "selected" not in scored.columns:
        return scored.head(0)
    out = scored.filter(pl.col("selected").fill_null(False))
    return out.sort(["partition_date", "rank"], nulls_last=True) if {"partition_date", "rank"} <= set(out.columns) else out


def min_picks(picked: pl.DataFrame, days: Sequence[date], minimum: int, *, what: str = "picked articles") -> RuleResult:
    """At least ``minimum`` picks on every day."""
    per_day, failed = {}, {}
    for d, part in _day_frames(picked, days).items():
        per_day[d.isoformat()] = part.height
        if part.height < minimum:
            failed[d.isoformat()] = f"only {part.height} {what} (need {minimum})"
    return _finish(failed, per_day, f"at least {minimum} {what} every day", {"min_picked_articles": minimum})


def no_ads(picked: pl.DataFrame, days: Sequence[date]) -> RuleResult:
    """No pick is an advertisement (an unknown ad decision counts as a failure)."""
    if "is_advertisement" not in picked.columns:
        return _missing_result("picks", ["is_advertisement"])
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(picked, days).items():
        ads = part.filter(pl.col("is_advertisement").fill_null(True))
        per_day[d.isoformat()] = ads.height
        if ads.height:
            unknown = int(part["is_advertisement"].null_count())
            failed[d.isoformat()] = f"{ads.height} pick(s) flagged as ads" + (f" ({unknown} undecided)" if unknown else "")
            bad.append(ads)
    return _finish(failed, per_day, "no advertisements among the picks",
                   failures=_sample(bad, ["partition_date", "rank", "entry_key", "feed_name", "title", "ad_score", "ad_reason"]))


def distinct_clusters(picked: pl.DataFrame, days: Sequence[date]) -> RuleResult:
    """No two picks of a day belong to the same story cluster (null cluster ids count as distinct)."""
    if "cluster_id" not in picked.columns:
        return _missing_result("picks", ["cluster_id"])
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(picked, days).items():
        clustered = part.filter(pl.col("cluster_id").is_not_null())
        dup = clustered.filter(pl.col("cluster_id").is_duplicated())
        n = dup["cluster_id"].n_unique() if dup.height else 0
        per_day[d.isoformat()] = {"clusters_repeated": n, "unclustered": part.height - clustered.height}
        if n:
            failed[d.isoformat()] = f"{n} story cluster(s) picked more than once ({dup.height} picks)"
            bad.append(dup.sort("cluster_id"))
    return _finish(failed, per_day, "every pick is a different story",
                   failures=_sample(bad, ["partition_date", "cluster_id", "rank", "entry_key", "feed_name", "title"]))


def summaries_valid(enhanced: pl.DataFrame, days: Sequence[date], max_words: int) -> RuleResult:
    """Every pick has a non-blank summary of at most ``max_words`` words."""
    if "summary" not in enhanced.columns:
        return _missing_result("enhanced_articles", ["summary"])
    words = word_count_expr("summary")  # the summariser's own count (CJK: one word a character)
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(enhanced, days).items():
        part = part.with_columns(
            words.alias("summary_words"),
            pl.when(pl.col("summary").is_null() | (pl.col("summary").str.strip_chars() == ""))
            .then(pl.lit("missing"))
            .when(words > max_words)
            .then(pl.lit(f"over {max_words} words"))
            .alias("problem"),
        )
        wrong = part.filter(pl.col("problem").is_not_null())
        missing = int((wrong["problem"] == "missing").sum())
        long = wrong.height - missing
        per_day[d.isoformat()] = {"picks": part.height, "missing": missing, "too_long": long,
                                  "max_words_seen": int(part["summary_words"].max() or 0)}
        if wrong.height:
            failed[d.isoformat()] = ", ".join(
                x for x in (f"{missing} summary missing" if missing else "",
                            f"{long} over {max_words} words" if long else "") if x)
            bad.append(wrong)
    return _finish(failed, per_day, f"every summary present and at most {max_words} words",
                   {"summary_max_words": max_words},
                   _sample(bad, ["partition_date", "rank", "entry_key", "title", "problem", "summary_words", "summary"]))


def is_web_link(url: str | None, schemes: Sequence[str] = ("http", "https")) -> bool:
    """``url`` is an absolute link with one of ``schemes`` and a host."""
    if not url or any(c.isspace() for c in url.strip()):
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in {s.lower() for s in schemes} and bool(parts.hostname)


def links_valid(df: pl.DataFrame, days: Sequence[date], column: str = "url",
                schemes: Sequence[str] = ("http", "https"), *, table: str = "table") -> RuleResult:
    """Every value of ``column`` is an absolute http(s) link."""
    if column not in df.columns:
        return _missing_result(table, [column])
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(df, days).items():
        ok = pl.Series([is_web_link(u, schemes) for u in part[column].to_list()], dtype=pl.Boolean)
        wrong = part.filter(~ok) if part.height else part
        per_day[d.isoformat()] = {"links": part.height, "invalid": wrong.height}
        if wrong.height:
            failed[d.isoformat()] = f"{wrong.height} {column} value(s) not {'/'.join(schemes)}"
            bad.append(wrong)
    return _finish(failed, per_day, f"every {column} is {'/'.join(schemes)}", {"schemes": list(schemes)},
                   _sample(bad, ["partition_date", "rank", "entry_key", "title", column]))


def _pick_source(df: pl.DataFrame) -> pl.Expr:
    """``pick_source`` (pipeline | pin | replacement); tables from before the desk are all pipeline."""
    return pl.col("pick_source").fill_null("pipeline") if "pick_source" in df.columns else pl.lit("pipeline")


def picks_match_selection(enhanced: pl.DataFrame, scored: pl.DataFrame, days: Sequence[date]) -> RuleResult:
    """Every enhanced pick is a selected, non-advertisement row of ``scored_articles``, or an editor's
    pick of a row of the day (``pick_source``): a replacement for a dropped pick must not be an ad;
    a pinned article may be anything, ads included: the editor's call, flagged by :func:`pinned_ads`."""
    need = ["partition_date", "entry_key", "selected", "is_advertisement"]
    missing = _missing(scored, need) or _missing(enhanced, ["partition_date", "entry_key"])
    if missing:
        return _missing_result("scored_articles/enhanced_articles", missing)
    ref = scored.select(need)
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(enhanced, days).items():
        joined = part.join(ref, on=["partition_date", "entry_key"], how="left").with_columns(
            _pick_source(part).alias("pick_source"))
        problem = (
            pl.when(pl.col("selected").is_null()).then(pl.lit("not in scored_articles"))
            .when(pl.col("pick_source") == "pin").then(pl.lit(None, pl.String))
            .when(~pl.col("selected") & (pl.col("pick_source") != "replacement")).then(pl.lit("not selected"))
            .when(pl.col("is_advertisement").fill_null(True)).then(pl.lit("advertisement"))
            .otherwise(pl.lit(None, pl.String))
        )
        wrong = joined.with_columns(problem.alias("problem")).filter(pl.col("problem").is_not_null())
        editor = joined.filter(pl.col("pick_source") != "pipeline").height
        per_day[d.isoformat()] = {"picks": part.height, "editor_picks": editor, "unexpected": wrong.height}
        if wrong.height:
            failed[d.isoformat()] = f"{wrong.height} pick(s) not a selected non-ad scored article"
            bad.append(wrong)
    return _finish(failed, per_day, "every pick is a selected, non-ad scored article or an editor's pick",
                   failures=_sample(bad, ["partition_date", "rank", "entry_key", "title", "pick_source", "problem"]))


def pinned_ads(enhanced: pl.DataFrame, scored: pl.DataFrame, days: Sequence[date]) -> RuleResult:
    """No pick an editor pinned is flagged as an advertisement (a warning: the editor may overrule
    the ad classifier, but it should be a decision, seen)."""
    need = ["partition_date", "entry_key", "is_advertisement", "ad_reason"]
    missing = _missing(scored, need) or _missing(enhanced, ["partition_date", "entry_key"])
    if missing:
        return _missing_result("scored_articles/enhanced_articles", missing)
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(enhanced, days).items():
        pins = part.filter(_pick_source(part) == "pin")
        ads = pins.join(scored.select(need), on=["partition_date", "entry_key"], how="left").filter(
            pl.col("is_advertisement").fill_null(False))
        per_day[d.isoformat()] = {"pins": pins.height, "pinned_ads": ads.height}
        if ads.height:
            failed[d.isoformat()] = f"{ads.height} pinned pick(s) flagged as ads"
            bad.append(ads)
    return _finish(failed, per_day, "no pinned pick is flagged as an ad",
                   failures=_sample(bad, ["partition_date", "rank", "entry_key", "title", "ad_reason"]))


def newsletter_complete(newsletters: pl.DataFrame, days: Sequence[date], min_articles: int) -> RuleResult:
    """One newsletter per day with a subject, HTML and text, and at least ``min_articles`` articles."""
    need = ["subject_line", "html", "text", "article_ids", "article_count"]
    missing = _missing(newsletters, need)
    if missing:
        return _missing_result("newsletters", missing)
    per_day, failed = {}, {}
    for d, part in _day_frames(newsletters, days).items():
        key = d.isoformat()
        if part.height != 1:
            per_day[key] = {"rows": part.height}
            failed[key] = "no newsletter" if part.height == 0 else f"{part.height} newsletters (expected 1)"
            continue
        row = part.row(0, named=True)
        ids = row["article_ids"] or []
        count = row["article_count"]
        per_day[key] = {"rows": 1, "article_count": count, "article_ids": len(ids),
                        "html_bytes": len((row["html"] or "").encode())}
        reasons = [f"{c} empty" for c in ("subject_line", "html", "text") if not (row[c] or "").strip()]
        if count is None or count != len(ids):
            reasons.append(f"article_count {count} != {len(ids)} article_ids")
        if len(ids) < min_articles:
            reasons.append(f"only {len(ids)} articles (need {min_articles})")
        if len(set(ids)) != len(ids):
            reasons.append(f"{len(ids) - len(set(ids))} duplicate article id(s)")
        if reasons:
            failed[key] = ", ".join(reasons)
    return _finish(failed, per_day, f"one complete newsletter per day with >= {min_articles} articles",
                   {"min_articles": min_articles})


def html_links(html: str | None) -> list[str]:
    """Every URL-bearing attribute value (``href``, ``src``, ``srcset`` entries, ``action``...) of
    every element of ``html``, in document order, entities decoded.

    The HTML is parsed (lexbor, as a browser would), so only real attributes count: text such as
    ``Stop writing href="javascript:void(0)" in your HTML`` in a headline is not a link."""
    if not html:
        return []
    from selectolax.lexbor import LexborHTMLParser

    out: list[str] = []
    for node in LexborHTMLParser(html).css("*"):
        attrs = node.attributes
        if not attrs:
            continue
        for name in LINK_ATTRIBUTES:
            value = attrs.get(name)
            if value is not None:
                out.append(value.strip())
        srcset = attrs.get("srcset")
        if srcset:
            out += [part.strip().split()[0] for part in srcset.split(",") if part.strip()]
    return out


def newsletter_links_valid(newsletters: pl.DataFrame, days: Sequence[date],
                           schemes: Sequence[str] = ("http", "https"), *, allow_merge_tags: bool = True) -> RuleResult:
    """Every link in the newsletter HTML is http(s) (``mailto:``, in-page ``#`` anchors and merge
    tags such as ``{{unsubscribe_url}}`` are allowed)."""
    if "html" not in newsletters.columns:
        return _missing_result("newsletters", ["html"])
    per_day, failed, bad = {}, {}, []
    for d, part in _day_frames(newsletters, days).items():
        links = [u for h in part["html"].to_list() for u in html_links(h)]
        wrong = [
            u for u in links
            if not (is_web_link(u, schemes) or u.lower().startswith("mailto:") or u.startswith("#")
                    or (allow_merge_tags and _MERGE_TAG.match(u)))
        ]
        per_day[d.isoformat()] = {"links": len(links), "invalid": len(wrong)}
        if wrong:
            failed[d.isoformat()] = f"{len(wrong)} link(s) not {'/'.join(schemes)}: {wrong[0][:80]!r}"
            bad.append(pl.DataFrame({"partition_date": [d] * len(wrong), "href": wrong}))
    return _finish(failed, per_day, f"every newsletter link is {'/'.join(schemes)}", {"schemes": list(schemes)},
                   _sample(bad, ["partition_date", "href"]))


def markdown_sample(df: pl.DataFrame | None, max_chars: int = 120) -> str:
    """A small markdown table of ``df`` (cells cut to ``max_chars``)."""
    if df is None or df.is_empty():
        return ""
    cols = df.columns

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)
