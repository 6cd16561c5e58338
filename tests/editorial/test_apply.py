"""The pure application of editorial overrides: pins, drops with replacement, swaps, reorders,
edits, reverts, and overrides naming articles the day does not have."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from bitbybit_assets.editorial.apply import apply_article_edits, apply_issue_edits, apply_selection
from bitbybit_assets.editorial.overrides import Override, effective_overrides
from bitbybit_assets.publish.subject import Copy
from tests.editorial.conftest import DAY, scored_day


def ov(
    revision: int,
    action: str,
    key: str | None = None,
    *,
    field: str | None = None,
    value=None,
    actor: str = "ann",
    id: str | None = None,
    reverted_by: str | None = None,
) -> Override:
    return Override(
        id=id or f"id{revision}",
        partition_date=DAY,
        revision=revision,
        action=action,
        entry_key=key,
        field=field,
        value=value,
        actor=actor,
        created_at=datetime(2026, 8, 6, 9, revision, tzinfo=UTC),
        reverted_by=reverted_by,
    )


def keys(picks: pl.DataFrame) -> list[str]:
    return picks.sort("rank")["entry_key"].to_list()


def test_without_overrides_the_pipeline_picks_are_unchanged():
    df = scored_day()
    picks, report = apply_selection(df, [], top_n=4)
    assert keys(picks) == ["k00", "k01", "k02", "k03"]
    assert picks["pick_source"].unique().to_list() == ["pipeline"]
    assert picks.drop("pick_source").equals(df.filter(pl.col("selected")))
    assert not report.missing and not report.warnings


def test_drop_gets_the_next_best_replaceable_candidate():
    df = scored_day(
        overrides={
            "k04": {"is_advertisement": True, "ad_reason": "job post"},
            "k05": {"previously_sent": True},
            "k06": {"cluster_id": "c00"},  # the same story as pick k00
            "k07": {"passed_filter": False},
        }
    )
    picks, report = apply_selection(df, [ov(1, "drop", "k01")], top_n=4)
    assert keys(picks) == ["k00", "k02", "k03", "k08"]
    assert picks["rank"].to_list() == [1, 2, 3, 4] and picks["selected"].all()
    row = picks.filter(pl.col("entry_key") == "k08").row(0, named=True)
    assert row["pick_source"] == "replacement" and "replaces dropped k01" in row["selection_reason"]
    assert report.replacements == {"k08": "k01"} and report.dropped == {"k01": "dropped by ann"}


def test_pin_forces_a_candidate_in_and_the_last_pipeline_pick_makes_room():
    picks, report = apply_selection(scored_day(), [ov(1, "pin", "k07")], top_n=4)
    assert keys(picks) == ["k00", "k01", "k02", "k07"]
    assert picks.filter(pl.col("entry_key") == "k07")["pick_source"].item() == "pin"
    assert report.dropped == {"k03": "made room for a pin"}


def test_pin_on_a_thin_day_adds_a_pick():
    picks, _ = apply_selection(scored_day(picks=3), [ov(1, "pin", "k07")], top_n=4)
    assert keys(picks) == ["k00", "k01", "k02", "k07"]


def test_drop_after_a_pin_on_a_thin_day_keeps_the_count():
    picks, report = apply_selection(
        scored_day(picks=3), [ov(1, "pin", "k07"), ov(2, "drop", "k00")], top_n=20
    )
    assert keys(picks) == ["k01", "k02", "k07", "k03"] and report.replacements == {"k03": "k00"}


def test_pin_of_the_same_story_replaces_that_pick_in_its_place_and_later_pin_wins():
    df = scored_day(overrides={"k06": {"cluster_id": "c01"}, "k08": {"cluster_id": "c01"}})
    picks, report = apply_selection(df, [ov(1, "pin", "k06")], top_n=4)
    assert keys(picks) == ["k00", "k06", "k02", "k03"]
    assert "same story" in report.dropped["k01"]
    picks, _ = apply_selection(df, [ov(1, "pin", "k06"), ov(2, "pin", "k08")], top_n=4)
    assert keys(picks) == ["k00", "k08", "k02", "k03"]


def test_pinned_ad_is_kept_and_flagged():
    df = scored_day(overrides={"k05": {"is_advertisement": True, "ad_reason": "promo"}})
    picks, report = apply_selection(df, [ov(1, "pin", "k05")], top_n=5)
    assert "k05" in keys(picks)
    assert any("advertisement" in w for w in report.warnings)


def test_swap_puts_the_candidate_in_the_picks_place():
    picks, report = apply_selection(scored_day(), [ov(1, "swap", "k01", value="k09")], top_n=4)
    assert keys(picks) == ["k00", "k09", "k02", "k03"]
    assert picks.filter(pl.col("entry_key") == "k09")["pick_source"].item() == "pin"
    assert report.dropped == {"k01": "swapped out by ann"} and not report.replacements


def test_reorder_sets_the_order_and_new_picks_keep_their_slots():
    order = ["k03", "k00", "k02", "k01"]
    picks, _ = apply_selection(scored_day(), [ov(1, "reorder", value=order)], top_n=4)
    assert keys(picks) == order
    # a later drop: the replacement takes the end, the rest keep the editor's order
    picks, _ = apply_selection(scored_day(), [ov(1, "reorder", value=order), ov(2, "drop", "k02")], top_n=4)
    assert keys(picks) == ["k03", "k00", "k01", "k04"]


def test_latest_action_wins_and_reverts_are_honoured():
    df = scored_day()
    picks, _ = apply_selection(df, [ov(1, "drop", "k01"), ov(2, "pin", "k01")], top_n=4)
    assert keys(picks) == ["k00", "k01", "k02", "k03"]
    # reverted through reverted_by, or through a revert row naming it
    for rows in (
        [ov(1, "drop", "k01", reverted_by="id2"), ov(2, "revert", value="id1")],
        [ov(1, "drop", "k01"), ov(2, "revert", value="id1")],
    ):
        picks, report = apply_selection(df, rows, top_n=4)
        assert keys(picks) == ["k00", "k01", "k02", "k03"] and not report.dropped
    eff = effective_overrides([ov(1, "drop", "k01"), ov(2, "revert", value="id1"), ov(3, "drop", "k02")])
    assert list(eff.selection) == ["k02"]


def test_overrides_naming_missing_articles_are_reported_not_raised():
    rows = [
        ov(1, "pin", "gone1"),
        ov(2, "drop", "gone2"),
        ov(3, "swap", "k01", value="gone3"),
        ov(4, "reorder", value=["gone4", "k00"]),
        ov(5, "edit", "gone5", field="title", value="x"),
    ]
    picks, report = apply_selection(scored_day(), rows, top_n=4)
    assert keys(picks) == ["k00", "k01", "k02", "k03"]  # the swap's article is gone: the pick stays
    text = "\n".join(report.missing)
    assert all(f"gone{i}" in text for i in range(1, 6)) and len(report.missing) == 5


def test_no_candidate_left_is_a_warning():
    df = scored_day(n=4, picks=4)
    picks, report = apply_selection(df, [ov(1, "drop", "k00")], top_n=4)
    assert keys(picks) == ["k01", "k02", "k03"]
    assert any("no candidate left" in w for w in report.warnings)


def test_empty_day_reports_everything_missing():
    picks, report = apply_selection(pl.DataFrame(), [ov(1, "pin", "k01")], top_n=4)
    assert picks.height == 0 and len(report.missing) == 1


def enhanced(keys_: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "partition_date": [DAY] * len(keys_),
            "entry_key": keys_,
            "rank": list(range(1, len(keys_) + 1)),
            "title": [f"T {k}" for k in keys_],
            "summary": [f"S {k}" for k in keys_],
            "summary_source": ["llm"] * len(keys_),
            "llm_model": ["m"] * len(keys_),
            "tags": [["a", "b", "c"]] * len(keys_),
            "edited_fields": [None] * len(keys_),
        },
        schema_overrides={"edited_fields": pl.List(pl.String)},
    )


def test_article_edits_replace_fields_and_say_so():
    script = "<script>alert('x')</script> & more"
    rows = [
        ov(1, "edit", "k01", field="summary", value=script),
        ov(2, "edit", "k01", field="title", value="New <b>title</b>"),
        ov(3, "edit", "k01", field="tags", value=["ai", "chips"]),
        ov(4, "edit", "k02", field="title", value="first"),
        ov(5, "edit", "k02", field="title", value="second"),
        ov(6, "edit", "k09", field="title", value="not a pick"),
    ]
    out, report = apply_article_edits(enhanced(["k01", "k02", "k03"]), rows)
    r1, r2, r3 = out.to_dicts()
    assert r1["summary"] == script and r1["title"] == "New <b>title</b>" and r1["tags"] == ["ai", "chips"]
    assert r1["summary_source"] == "editor" and r1["llm_model"] is None
    assert r1["edited_fields"] == ["summary", "tags", "title"]
    assert r2["title"] == "second" and r2["summary_source"] == "llm" and r2["edited_fields"] == ["title"]
    assert r3["edited_fields"] is None and r3["title"] == "T k03"
    assert any("k09" in w and "not a pick" in w for w in report.warnings)


def test_issue_edits_replace_the_copy():
    copy = Copy(subject_line="Gen", subject_candidates=["Gen"], preheader="pre", intro="intro", source="llm")
    rows = [
        ov(1, "edit", field="subject", value="Edited <subject>"),
        ov(2, "edit", field="intro", value="Hi"),
        ov(3, "edit", field="intro", value="Hello", reverted_by="x"),
    ]
    out, fields = apply_issue_edits(copy, rows)
    assert (out.subject_line, out.preheader, out.intro, out.source) == (
        "Edited <subject>",
        "pre",
        "Hi",
        "llm",
    )
    assert fields == ["intro", "subject"]
    same, none = apply_issue_edits(copy, [])
    assert same is copy and none == []


def test_malformed_rows_are_reported():
    eff = effective_overrides(
        [
            ov(1, "edit", "k01", field="subject", value="x"),
            ov(2, "reorder", value="k01"),
            ov(3, "frobnicate", "k01"),
        ]
    )
    assert not eff.active and len(eff.invalid) == 3


def test_round_trip_through_a_row():
    o = ov(1, "edit", "k01", field="tags", value=["a", "<b>"])
    row = o.to_row()
    assert row["value"] == '["a", "<b>"]' and Override.from_row(row) == o


def test_a_quiet_day_the_editor_fills_to_top_n_is_no_longer_quiet():
    thin = scored_day(picks=3).with_columns(pl.lit(True).alias("quiet_day"))
    picks, _ = apply_selection(thin, [ov(1, "pin", "k07")], top_n=4)
    assert len(picks) == 4 and not picks["quiet_day"].any()
    picks, _ = apply_selection(thin, [ov(1, "pin", "k07")], top_n=5)
    assert len(picks) == 4 and picks["quiet_day"].all()  # still short of top_n: the issue says so
