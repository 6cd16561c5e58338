"""Apply a day's editorial overrides: pure functions on polars frames and plain values (no Dagster).

* :func:`effective_overrides` (in :mod:`bitbybit_assets.editorial.overrides`): what still holds after
  reverts: the latest pin/drop per article, the latest value per (article, field) and per issue
  field, the latest order.
* :func:`apply_selection`: the day's picks after pins, drops, swaps and the editor's order.
* :func:`apply_article_edits` / :func:`apply_issue_edits`: edited title, summary, tags / subject,
  preheader, intro.

Every override naming an article the day does not have is *reported* (``Report.missing``), never an
exception: scoring may have been re-run since the editor saw the day. Edited text is stored and
passed on as plain text, unchanged; the templates escape it where it is rendered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from bitbybit_assets.editorial.overrides import Effective, Override, as_effective, short

# issue field -> attribute of the newsletter copy (bitbybit_assets.publish.subject.Copy)
COPY_ATTRIBUTES = {"subject": "subject_line", "preheader": "preheader", "intro": "intro"}
PICK_SOURCES = ("pipeline", "pin", "replacement")
EDITOR_SOURCE = "editor"  # summary_source of an edited summary

T = TypeVar("T")


@dataclass
class Report:
    """What applying a day's overrides did, and what it could not do (never raised)."""

    applied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # overrides naming an article the day lacks
    warnings: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # the picks, in newsletter order
    pick_source: dict[str, str] = field(default_factory=dict)  # pick -> pipeline | pin | replacement
    dropped: dict[str, str] = field(default_factory=dict)  # pipeline pick -> why it is out
    replacements: dict[str, str] = field(default_factory=dict)  # replacement -> the pick it replaced
    edited: dict[str, list[str]] = field(default_factory=dict)  # entry_key ("" = issue) -> fields

    def merge(self, other: Report) -> Report:
        for name in ("applied", "missing", "warnings"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("pick_source", "dropped", "replacements", "edited"):
            getattr(self, name).update(getattr(other, name))
        if other.order:
            self.order = other.order
        return self

    def metadata(self) -> dict[str, Any]:
        """Short figures and messages for asset metadata."""
        return {
            "overrides_applied": len(self.applied),
            "overrides_missing": self.missing[:20],
            "override_warnings": self.warnings[:20],
        }


def _flag(row: Mapping[str, Any], name: str) -> bool:
    return row.get(name) is True


def _story(row: Mapping[str, Any]) -> str:
    return row.get("cluster_id") or f"entry:{row['entry_key']}"


def _candidate_order(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows best first: by rank (unranked last), then final_score."""
    return sorted(
        rows, key=lambda r: (r.get("rank") is None, r.get("rank") or 0, -(r.get("final_score") or 0.0))
    )


def _replaceable(row: Mapping[str, Any]) -> bool:
    """May stand in for a dropped pick: passed the filter, not an ad, not already sent."""
    return (
        row.get("passed_filter") is not False
        and not _flag(row, "is_advertisement")
        and not _flag(row, "previously_sent")
    )


def _reordered(order: list[str], wanted: list[str]) -> list[str]:
    """``order`` with the picks named in ``wanted`` in that order, in the slots they occupy now;
    picks the editor's order does not name (new replacements) keep their slots."""
    listed = [k for k in wanted if k in set(order)]
    slots = [i for i, k in enumerate(order) if k in set(listed)]
    out = list(order)
    for i, k in zip(slots, listed, strict=True):
        out[i] = k
    return out


def report_missing(day_keys: set[str], eff: Effective, report: Report) -> None:
    """Add every active override naming an article not among ``day_keys`` to ``report.missing``."""
    seen: set[tuple[str, str]] = set()
    for key, o in eff.named_keys():
        if key not in day_keys and (key, o.id) not in seen:
            seen.add((key, o.id))
            report.missing.append(f"{o.describe()}: no article {short(key)} on {o.partition_date}")
    report.warnings.extend(eff.invalid)


def apply_selection(
    scored_day: pl.DataFrame,
    overrides: Effective | Iterable[Override | Mapping[str, Any]],
    top_n: int,
) -> tuple[pl.DataFrame, Report]:
    """The day's picks after the editor's actions, with ``rank`` = newsletter order (1..n) and
    ``pick_source``; ``selected`` is true on every returned row.

    * drop: the pick leaves; the next-best replaceable candidate not yet picked (by rank, then
      final_score; one per story cluster; not an ad, not filtered out, not already sent) takes a
      place at the end, so the count stays;
    * pin: the article is a pick even if the pipeline did not select it (an ad too: the editor's
      call, reported as a warning); it replaces a pipeline pick of the same story, else it comes
      at the end and, when that makes more than ``max(top_n, pipeline picks)``, the last pipeline
      pick makes room (reported); of two pins of one story the later wins;
    * swap X for Y: X is dropped and Y pinned in X's place;
    * reorder: the picks the order names take their slots in that order.
    """
    eff = as_effective(overrides)
    report = Report()
    rows = {r["entry_key"]: r for r in scored_day.iter_rows(named=True)} if scored_day.height else {}
    report_missing(set(rows), eff, report)
    if not eff.selection and not eff.order and "selected" in scored_day.columns:  # the pipeline's picks
        picks = scored_day.filter(pl.col("selected").fill_null(False)).sort("rank", nulls_last=True)
        report.order = picks["entry_key"].to_list()
        report.pick_source = dict.fromkeys(report.order, "pipeline")
        return picks.with_columns(pick_source=pl.lit("pipeline")), report
    base = [r["entry_key"] for r in _candidate_order([r for r in rows.values() if _flag(r, "selected")])]
    source = dict.fromkeys(base, "pipeline")
    reason: dict[str, str] = {}
    order = list(base)
    sel = {k: s for k, s in eff.selection.items() if k in rows}

    # drops; a swap puts the article it brings in into the dropped pick's place
    explicit: list[str] = []  # dropped picks that get a replacement
    for key, state in sel.items():
        if state.kind != "drop":
            continue
        incoming = state.row.value if state.row.action == "swap" else None
        if incoming is not None and incoming not in rows:
            continue  # the article to swap in is gone (reported as missing): the pick stays
        if key not in order:
            continue  # not a pick (any more): it stays out
        in_place = incoming is not None and sel.get(incoming) is not None and sel[incoming].row is state.row
        if in_place and incoming not in order:
            order[order.index(key)] = incoming
        else:
            order.remove(key)
            if not in_place:
                explicit.append(key)
        report.dropped[key] = f"{'swapped out' if in_place else 'dropped'} by {state.row.actor}"
        report.applied.append(state.row.describe())
    # pins (and the incoming side of swaps), oldest first: one pick per story, the later pin wins
    pinned: set[str] = set()
    added = 0  # pins that joined the picks without taking another's place
    for _, key, state in sorted((s.row.revision, k, s) for k, s in sel.items() if s.kind == "pin"):
        row, actor = rows[key], state.row.actor
        pinned.add(key)
        if state.row.action == "pin":
            report.applied.append(state.row.describe())
        if _flag(row, "is_advertisement"):
            report.warnings.append(f"{short(key)} is flagged as an advertisement and was pinned by {actor}")
        if key not in base:
            source[key] = "pin"
            reason[key] = (
                f"editor: swapped in for {short(state.replaces)} by {actor}"
                if state.replaces
                else f"editor: pinned by {actor}"
            )
        same = [k for k in order if k != key and _story(rows[k]) == _story(row)]
        if key not in order:
            order.insert(order.index(same[0]) if same else len(order), key)
            added += 0 if same else 1
        for other in same:
            order.remove(other)
            pinned.discard(other)
            report.dropped.setdefault(other, f"same story as {short(key)}, pinned by {actor}")
    # make room: at most max(top_n, pipeline picks); pins never leave
    cap = max(top_n, len(base))
    while len(order) > cap:
        spare = next((k for k in reversed(order) if k not in pinned), None)
        if spare is None:
            break
        order.remove(spare)
        report.dropped[spare] = "made room for a pin"
        report.warnings.append(f"{short(spare)} left the picks to make room for pinned articles")
    # fill: dropped picks get replacements, so the count stays (the pipeline's picks plus added pins)
    target = min(cap, len(base) + added)
    stories = {_story(rows[k]) for k in order}
    candidates = (
        r
        for r in _candidate_order(list(rows.values()))
        if r["entry_key"] not in order
        and r["entry_key"] not in sel
        and r["entry_key"] not in source
        and _replaceable(r)
    )
    while len(order) < target:
        nxt = next((r for r in candidates if _story(r) not in stories), None)
        if nxt is None:
            report.warnings.append(f"no candidate left to replace {target - len(order)} dropped pick(s)")
            break
        key = nxt["entry_key"]
        order.append(key)
        stories.add(_story(nxt))
        source[key] = "replacement"
        old = explicit.pop(0) if explicit else None
        if old:
            report.replacements[key] = old
        reason[key] = f"editor: replaces dropped {short(old)}" if old else "editor: replacement"
    if eff.order:
        before = list(order)
        order = _reordered(order, eff.order)
        if eff.order_row is not None and order != before:
            report.applied.append(eff.order_row.describe())
    report.order = order
    report.pick_source = {k: source[k] for k in order}
    return _picks_frame(scored_day, order, source, reason, top_n), report


def _picks_frame(
    scored_day: pl.DataFrame, order: list[str], source: dict[str, str], reason: dict[str, str], top_n: int
) -> pl.DataFrame:
    plan = pl.DataFrame(
        {
            "entry_key": order,
            "__rank": list(range(1, len(order) + 1)),
            "pick_source": [source[k] for k in order],
            "__reason": [reason.get(k) for k in order],
        },
        schema={"entry_key": pl.String, "__rank": pl.Int32, "pick_source": pl.String, "__reason": pl.String},
    )
    base = (
        scored_day.drop("pick_source", strict=False)
        if scored_day.width
        else pl.DataFrame(schema={"entry_key": pl.String})
    )
    out = base.join(plan, on="entry_key", how="inner").sort("__rank")
    cols = {
        "rank": pl.col("__rank"),
        "selected": pl.lit(True),
    }
    if "selection_reason" in out.columns:
        cols["selection_reason"] = pl.coalesce(pl.col("__reason"), pl.col("selection_reason"))
    if "quiet_day" in out.columns:  # a quiet day the editor filled up to top_n is no longer quiet
        cols["quiet_day"] = pl.col("quiet_day").fill_null(False) & pl.lit(len(order) < top_n)
    return out.with_columns(**cols).drop("__rank", "__reason")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _tags(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return list(value)
    return None


def apply_article_edits(
    enhanced_day: pl.DataFrame, overrides: Effective | Iterable[Override | Mapping[str, Any]]
) -> tuple[pl.DataFrame, Report]:
    """The day's enhanced picks with the editor's title / summary / tags; ``edited_fields`` names
    them and an edited summary has ``summary_source`` ``editor`` (and no ``llm_model``). Edits of
    articles that are not picks are reported."""
    eff = as_effective(overrides)
    report = Report()
    if not eff.article_edits:
        return enhanced_day, report
    rows = enhanced_day.to_dicts()
    by_key = {r["entry_key"]: r for r in rows}
    for key, fields in eff.article_edits.items():
        row = by_key.get(key)
        if row is None:
            report.warnings.extend(f"{o.describe()}: {short(key)} is not a pick" for o in fields.values())
            continue
        edited = list(row.get("edited_fields") or [])
        for name, o in fields.items():
            value = _tags(o.value) if name == "tags" else _text(o.value)
            if value is None:
                report.warnings.append(f"{o.describe()}: not a valid {name}")
                continue
            row[name] = value
            edited.append(name)
            report.applied.append(o.describe())
            if name == "summary":
                row["summary_source"], row["llm_model"] = EDITOR_SOURCE, None
        row["edited_fields"] = sorted(set(edited))
        report.edited[key] = row["edited_fields"]
    return pl.DataFrame(rows, schema=enhanced_day.schema), report


def apply_issue_edits(
    copy: T, overrides: Effective | Iterable[Override | Mapping[str, Any]]
) -> tuple[T, list[str]]:
    """``copy`` (a dataclass such as ``publish.subject.Copy``, or a dict) with the editor's
    subject / preheader / intro, and the names of the fields edited."""
    eff = as_effective(overrides)
    changes: dict[str, str] = {}
    for name, o in eff.issue_edits.items():
        value = _text(o.value)
        if value is not None:
            changes[COPY_ATTRIBUTES[name]] = value
    if not changes:
        return copy, []
    fields = sorted(k for k, o in eff.issue_edits.items() if COPY_ATTRIBUTES[k] in changes)
    if isinstance(copy, dict):
        return {**copy, **changes}, fields  # type: ignore[return-value]
    return dataclasses.replace(copy, **changes), fields  # type: ignore[type-var]
