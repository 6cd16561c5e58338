"""The editorial_overrides table on DuckDB and PostgreSQL: actions as rows, revisions, conflicts on a
stale base revision (also under a real race on PostgreSQL), reverts."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg2
import pytest

from bitbybit_assets.editorial.overrides import effective_overrides
from bitbybit_assets.editorial.store import Action, EditConflict, EditorialStore, InvalidAction
from bitbybit_assets.warehouse.migrate import migrate
from resources.warehouse_db import PostgresWarehouse
from tests.editorial.conftest import DAY


def test_actions_are_rows_with_who_when_before_after(store):
    assert store.revision(DAY) == 0 and store.overrides(DAY) == []
    saved = store.save(
        DAY,
        [
            Action("edit", "k01", "summary", "<script>x</script>", "old summary"),
            Action("edit", "k01", "tags", ["a", "b"], ["x"]),
        ],
        actor="ann",
        base_revision=0,
    )
    assert [o.revision for o in saved] == [1, 2] and store.revision(DAY) == 2
    rows = store.overrides(DAY)
    assert [(o.action, o.field, o.value, o.before, o.actor) for o in rows] == [
        ("edit", "summary", "<script>x</script>", "old summary", "ann"),
        ("edit", "tags", ["a", "b"], ["x"], "ann"),
    ]
    assert rows[0].created_at is not None and rows[0].id == saved[0].id
    assert store.overrides(DAY + timedelta(days=1)) == [] and store.revision(DAY + timedelta(days=1)) == 0
    assert len(store.overrides_between(DAY, DAY + timedelta(days=1))) == 2


def test_stale_revision_is_a_conflict_naming_who_saved(store):
    store.save(DAY, [Action("pin", "k01")], actor="ann", base_revision=0)
    store.save(DAY, [Action("drop", "k02")], actor="bob", base_revision=1)
    with pytest.raises(EditConflict) as err:
        store.save(DAY, [Action("drop", "k03")], actor="cy", base_revision=1)
    assert "bob" in str(err.value) and "ann" not in str(err.value) and err.value.current == 2
    assert [o.actor for o in err.value.by] == ["bob"]
    assert store.revision(DAY) == 2 and len(store.overrides(DAY)) == 2  # nothing written
    # another day is independent
    store.save(DAY + timedelta(days=1), [Action("pin", "k09")], actor="cy", base_revision=0)


def test_revert_is_a_new_row_and_is_honoured(store):
    (drop,) = store.save(DAY, [Action("drop", "k01")], actor="ann", base_revision=0)
    (revert,) = store.save(DAY, [Action("revert", value=drop.id)], actor="bob", base_revision=1)
    rows = store.overrides(DAY)
    assert rows[0].reverted_by == revert.id and rows[1].action == "revert"
    assert not effective_overrides(rows).selection
    with pytest.raises(InvalidAction, match="already reverted"):
        store.save(DAY, [Action("revert", value=drop.id)], actor="bob", base_revision=2)
    with pytest.raises(InvalidAction, match="cannot be reverted"):
        store.save(DAY, [Action("revert", value=revert.id)], actor="bob", base_revision=2)
    with pytest.raises(InvalidAction, match="no action"):
        store.save(
            DAY, [Action("revert", value="00000000-0000-4000-8000-000000000000")], actor="b", base_revision=2
        )
    assert store.revision(DAY) == 2  # the failed saves wrote nothing


@pytest.mark.parametrize(
    "action",
    [
        Action("pin"),
        Action("swap", "k01", value="k01"),
        Action("reorder", value="k01"),
        Action("edit", "k01", "subject", "x"),
        Action("edit", None, "title", "x"),
        Action("edit", "k01", "body", "x"),
        Action("drop", "k01", field="title"),
        Action("undo", "k01"),
    ],
)
def test_malformed_actions_are_refused(store, action):
    with pytest.raises(InvalidAction):
        store.save(DAY, [action], actor="ann", base_revision=0)
    assert store.revision(DAY) == 0


def test_two_editors_racing_on_postgres_one_wins_one_conflicts(pg_dsn):
    stores = []
    for _ in range(2):
        w = PostgresWarehouse(psycopg2.connect(pg_dsn))
        migrate(w)
        stores.append(EditorialStore(w))
    barrier = threading.Barrier(2)
    results: list[str] = []

    def save(s: EditorialStore, who: str) -> None:
        barrier.wait()
        try:
            s.save(DAY, [Action("drop", f"k-{who}")], actor=who, base_revision=0)
            results.append("saved")
        except EditConflict as exc:
            results.append(f"conflict: {exc}")

    threads = [
        threading.Thread(target=save, args=(s, who)) for s, who in zip(stores, ["ann", "bob"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.split(":")[0] for r in results) == ["conflict", "saved"]
    assert stores[0].revision(DAY) == 1 and len(stores[0].overrides(DAY)) == 1
    for s in stores:
        s.w.close()
