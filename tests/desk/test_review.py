"""The day review over HTTP: the candidate table (sorting, filtering, escaping) and every form (pin,
drop, swap, move, revert, issue edits, article edits), conflicts between two editors, bad input."""

from __future__ import annotations

import polars as pl
import pytest

from bitbybit_assets.editorial.store import Action, EditorialStore
from desk.db import open_desk
from resources.postgres import PostgresResource
from tests.desk.review_helpers import add_user, csrf, desk_client, revision, write_scored
from tests.editorial.conftest import DAY, scored_day

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(params=["duckdb", "postgres"])
def env(request, delivery_env):
    if request.param == "postgres":
        request.getfixturevalue("pg_delivery_env")
    frame = scored_day(
        n=12,
        picks=4,
        overrides={
            "k05": {"is_advertisement": True, "ad_reason": "job post"},
            "k06": {"title": XSS},
            "k08": {"cluster_id": "c00", "canonical_entry_key": "k00"},
        },
    )
    frame = frame.with_columns(
        quality_score=pl.Series([float(i % 5) for i in range(12)]),
        also_covered_by=pl.Series(
            [[{"feed_name": "the-verge", "title": "t", "url": "https://v.example/1"}]] + [[]] * 11
        ),
    )
    write_scored(frame, DAY)
    add_user("ann")
    add_user("bob")
    return delivery_env


@pytest.fixture
def ann(env):
    return desk_client("ann")


def overrides():
    with open_desk(PostgresResource()) as db:
        return EditorialStore(db.store.w).overrides(DAY)


def page(client, query: str = ""):
    r = client.get(f"/days/{DAY}{query}")
    assert r.status_code == 200, r.text
    return r


def post(client, path: str, data: dict, text: str | None = None):
    text = text or page(client).text
    return client.post(
        f"/days/{DAY}/{path}", data={"csrf_token": csrf(text), "revision": revision(text), **data}
    )


def row_ids(text: str) -> list[str]:
    import re

    return re.findall(r'<tr id="row-(k\d\d)"', text)


def test_login_required(env):
    from starlette.testclient import TestClient

    from desk.app import DeskState, create_app
    from tests.desk.review_helpers import SERVER_KEY

    anon = TestClient(
        create_app(DeskState(postgres=PostgresResource(), server_key=SERVER_KEY, secure_cookies=False)),
        follow_redirects=False,
    )
    assert anon.get(f"/days/{DAY}").status_code == 303
    assert anon.post(f"/days/{DAY}/pin", data={"entry_key": "k07", "revision": "0"}).status_code == 401


def test_table_lists_every_candidate_sorts_filters_and_escapes(ann):
    text = page(ann).text
    assert row_ids(text)[:4] == ["k00", "k01", "k02", "k03"] and len(row_ids(text)) == 12
    assert XSS not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text
    assert "job post" in text and "also covered by the-verge" in text and "same story as Story 0" in text
    assert 'action="/days/2026-08-05/rerun"' in text and 'id="rerun"' in text
    assert row_ids(page(ann, "?show=selected").text) == ["k00", "k01", "k02", "k03"]
    assert set(row_ids(page(ann, "?show=dropped").text)) == {f"k{i:02d}" for i in range(4, 12)}
    assert row_ids(page(ann, "?show=ads").text) == ["k05"]
    by_quality = row_ids(page(ann, "?sort=quality&dir=desc").text)
    assert by_quality[:3] == ["k04", "k09", "k03"]
    assert row_ids(page(ann, "?sort=title&dir=asc").text)[0] == "k06"  # "<script..." sorts first
    assert row_ids(page(ann, "?sort=bogus&show=bogus").text)[:4] == ["k00", "k01", "k02", "k03"]


def test_pin_drop_swap_move_and_revert(ann):
    r = post(ann, "pin", {"entry_key": "k07"})
    assert r.status_code == 303 and r.headers["location"] == f"/days/{DAY}"
    text = page(ann).text
    # a thin day (4 picks, top_n 20): the pin adds a fifth
    assert (
        row_ids(text)[:5] == ["k00", "k01", "k02", "k03", "k07"]
        and "Pinned" in text
        and "pinned by ann" in text
    )
    assert post(ann, "drop", {"entry_key": "k01"}).status_code == 303
    assert row_ids(page(ann).text)[:5] == [
        "k00",
        "k02",
        "k03",
        "k07",
        "k04",
    ]  # k04 replaces k01 (k05 is an ad)
    assert post(ann, "swap", {"entry_key": "k02", "candidate": "k09"}).status_code == 303
    assert row_ids(page(ann).text)[:5] == ["k00", "k09", "k03", "k07", "k04"]
    r = ann.post(
        f"/days/{DAY}/move?to=up",
        data={"csrf_token": csrf(page(ann).text), "revision": revision(page(ann).text), "entry_key": "k07"},
    )
    assert r.status_code == 303
    assert row_ids(page(ann).text)[:5] == ["k00", "k09", "k07", "k03", "k04"]
    assert post(ann, "move", {"entry_key": "k03", "to": "top"}).status_code == 303
    assert row_ids(page(ann).text)[:5] == ["k03", "k00", "k09", "k07", "k04"]
    rows = overrides()
    assert [o.action for o in rows] == ["pin", "drop", "swap", "reorder", "reorder"]
    assert {o.actor for o in rows} == {"ann"} and rows[3].before == ["k00", "k09", "k03", "k07", "k04"]
    # revert the swap: k02 is a pick again, k09 is not; the editor's order still holds for the others
    assert post(ann, "revert", {"id": rows[2].id}).status_code == 303
    text = page(ann).text
    assert row_ids(text)[:5] == ["k03", "k02", "k00", "k07", "k04"] and 'class="reverted"' in text
    assert overrides()[2].reverted_by == overrides()[5].id
    # the filtered views follow the overrides
    assert "k07" in row_ids(page(ann, "?show=selected").text) and "k01" in row_ids(
        page(ann, "?show=dropped").text
    )


def test_sort_and_filter_survive_an_action(ann):
    text = page(ann, "?sort=quality&dir=desc&show=dropped").text
    r = post(ann, "pin", {"entry_key": "k07", "sort": "quality", "dir": "desc", "show": "dropped"}, text)
    assert r.headers["location"] == f"/days/{DAY}?sort=quality&dir=desc&show=dropped"


def test_issue_edits_are_stored_as_text_and_escaped(ann):
    r = post(ann, "issue", {"subject": XSS, "preheader": "Pre & more", "intro": "Hello <b>readers</b>"})
    assert r.status_code == 303
    rows = overrides()
    assert {o.field: o.value for o in rows} == {
        "subject": XSS,
        "preheader": "Pre & more",
        "intro": "Hello <b>readers</b>",
    }
    assert {o.before for o in rows} == {""}  # no newsletter built yet
    text = page(ann).text
    assert (
        XSS not in text and "Hello <b>readers</b>" not in text and "Hello &lt;b&gt;readers&lt;/b&gt;" in text
    )
    assert "edited by ann" in text
    # the same values again: nothing to save
    assert (
        post(
            ann, "issue", {"subject": XSS, "preheader": "Pre & more", "intro": "Hello <b>readers</b>"}
        ).status_code
        == 303
    )
    assert len(overrides()) == 3
    # an empty subject or an over-long intro is refused
    assert post(ann, "issue", {"subject": " ", "preheader": "", "intro": ""}).status_code == 400
    r = post(ann, "issue", {"subject": "S", "preheader": "", "intro": "x" * 801})
    assert r.status_code == 400 and "at most 800" in r.text and len(overrides()) == 3


def test_article_edit_form(ann):
    r = ann.get(f"/days/{DAY}/articles/k01")
    assert r.status_code == 200 and 'value="Story 1"' in r.text
    form = {"title": "New <em>title</em>", "summary": XSS + " A fine summary.", "tags": "ai, chips, ai"}
    r = ann.post(
        f"/days/{DAY}/articles/k01", data={"csrf_token": csrf(r.text), "revision": revision(r.text), **form}
    )
    assert r.status_code == 303
    edits = {o.field: (o.value, o.before) for o in overrides()}
    assert edits == {
        "title": ("New <em>title</em>", "Story 1"),
        "summary": (XSS + " A fine summary.", ""),
        "tags": (["ai", "chips"], []),
    }
    page_text = ann.get(f"/days/{DAY}/articles/k01").text
    assert XSS not in page_text and "&lt;script&gt;" in page_text and "ai, chips" in page_text
    assert "edited: summary, tags, title" in page(ann).text
    # unchanged resubmission saves nothing; too many words, too many tags, a non-pick are refused
    text = ann.get(f"/days/{DAY}/articles/k01").text
    base = {"csrf_token": csrf(text), "revision": revision(text)}
    assert (
        ann.post(f"/days/{DAY}/articles/k01", data={**base, **form, "tags": "ai, chips"}).status_code == 303
    )
    assert len(overrides()) == 3
    long = ann.post(f"/days/{DAY}/articles/k01", data={**base, **form, "summary": "word " * 61})
    assert long.status_code == 400 and "61 words" in long.text
    tags = ann.post(f"/days/{DAY}/articles/k01", data={**base, **form, "tags": "a,b,c,d,e,f"})
    assert tags.status_code == 400
    other = ann.post(f"/days/{DAY}/articles/k09", data={**base, **form})
    assert other.status_code == 400 and "not a pick" in other.text
    assert ann.get(f"/days/{DAY}/articles/nope").status_code == 404
    assert len(overrides()) == 3
    # a pick without a summary yet (not enhanced): the title alone can change
    r = ann.post(
        f"/days/{DAY}/articles/k02", data={**base, "title": "Only the title", "summary": "", "tags": ""}
    )
    assert r.status_code == 303 and [o.field for o in overrides()][-1:] == ["title"]
    base["revision"] = str(int(base["revision"]) + 1)
    assert ann.post(f"/days/{DAY}/articles/k01", data={**base, **form, "summary": ""}).status_code == 400
    assert len(overrides()) == 4


def test_two_editors_saving_the_same_day_conflict(ann):
    bob = desk_client("bob")
    ann_page, bob_page = page(ann).text, page(bob).text
    assert post(ann, "pin", {"entry_key": "k07"}, ann_page).status_code == 303
    r = post(bob, "drop", {"entry_key": "k00"}, bob_page)
    assert r.status_code == 409
    assert "changed by ann" in r.text and "pin k07 by ann (revision 1)" in r.text and 'id="reload"' in r.text
    assert [o.action for o in overrides()] == ["pin"]
    # after reloading, bob's save goes through
    assert post(bob, "drop", {"entry_key": "k00"}).status_code == 303
    assert [(o.action, o.actor, o.revision) for o in overrides()] == [("pin", "ann", 1), ("drop", "bob", 2)]


def test_bad_input_is_refused_not_crashed_on(ann):
    text = page(ann).text
    token = csrf(text)
    assert ann.post(f"/days/{DAY}/pin", data={"csrf_token": token, "entry_key": "k07"}).status_code == 400
    assert ann.post(f"/days/{DAY}/pin", data={"csrf_token": token, "revision": "x"}).status_code == 400
    r = post(ann, "pin", {"entry_key": "nope"}, text)
    assert r.status_code == 400 and "no article" in r.text
    assert post(ann, "drop", {"entry_key": "k09"}, text).status_code == 400  # not a pick
    assert post(ann, "swap", {"entry_key": "k00", "candidate": "k01"}, text).status_code == 400  # both picks
    assert post(ann, "move", {"entry_key": "k00", "to": "sideways"}, text).status_code == 400
    assert post(ann, "revert", {"id": "not-an-id"}, text).status_code == 400
    r = ann.post(f"/days/{DAY}/pin", data={"revision": "0", "entry_key": "k07"})
    assert r.status_code == 403  # no CSRF token
    assert overrides() == []
    assert ann.get("/days/2026-01-01").status_code == 404
    assert post(ann, "pin", {"entry_key": "k07"}, text).status_code == 303
    r = ann.post("/days/2026-01-01/pin", data={"csrf_token": token, "revision": "0", "entry_key": "k07"})
    assert r.status_code == 404


def test_override_of_an_article_that_no_longer_exists_is_reported(ann):
    with open_desk(PostgresResource()) as db:
        EditorialStore(db.store.w).save(
            DAY, [Action("pin", "gone-article"), Action("drop", "k00")], actor="ann", base_revision=0
        )
    text = page(ann).text
    assert 'id="override-problems"' in text and "no article gone-artic" in text
    assert row_ids(text)[:4] == ["k01", "k02", "k03", "k04"]


def test_a_quiet_day_is_named_on_the_review_page(ann):
    assert 'id="quiet-day"' not in page(ann).text  # a table written before the column existed
    write_scored(scored_day(n=12, picks=4).with_columns(quiet_day=pl.lit(True)), DAY)
    text = page(ann).text
    assert 'id="quiet-day"' in text and "only 4 candidates" in text
    write_scored(scored_day(n=12, picks=4).with_columns(quiet_day=pl.lit(False)), DAY)
    assert 'id="quiet-day"' not in page(ann).text
