"""Moving labelled days from evaluation/labels/pending/ into the merged files (evaluation.merge_pending)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.merge_pending import main, merge

HEADERS = {
    "items": "date\tfeed_slug\tentry_id\tlink\ttitle\tpublished\texcerpt",
    "labels": "date\tfeed_slug\tentry_id\tlink\ttitle\tad\trelevance\tstory\tlang\tnote",
    "ideal": "date\trank\tstory\tfeed_slug\tentry_id\ttitle",
}


def item(day: str, n: int) -> str:
    return f"{day}\tfeed\tid-{n}\thttps://x/{n}\tTitle {n}\tWed\texcerpt {n}"


def label(day: str, n: int, story: str) -> str:
    return f"{day}\tfeed\tid-{n}\thttps://x/{n}\tTitle {n}\t0\t2\t{story}\ten\t"


def ideal(day: str, rank: int, story: str, n: int) -> str:
    return f"{day}\t{rank}\t{story}\tfeed\tid-{n}\tTitle {n}"


def write(path: Path, kind: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADERS[kind], *rows]) + "\n", encoding="utf-8")


def rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[1:]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path / "items.tsv", "items", [item("2026-07-29", 1), item("2026-08-01", 2)])
    write(tmp_path / "labels.tsv", "labels", [label("2026-07-29", 1, "a"), label("2026-08-01", 2, "b")])
    write(tmp_path / "ideal.tsv", "ideal", [ideal("2026-07-29", 1, "a", 1), ideal("2026-08-01", 1, "b", 2)])
    day = "2026-07-30"
    write(tmp_path / "pending" / f"{day}_items.tsv", "items", [item(day, 4), item(day, 3)])
    write(tmp_path / "pending" / f"{day}_labels.tsv", "labels", [label(day, 4, "c"), label(day, 3, "d")])
    write(tmp_path / "pending" / f"{day}_ideal.tsv", "ideal", [ideal(day, 1, "d", 3)])
    (tmp_path / "pending" / f"{day}_notes.md").write_text("## part I\n", encoding="utf-8")
    return tmp_path


def test_a_day_goes_in_date_order_keeping_its_own_order(root: Path) -> None:
    assert merge(["2026-07-30"], root) == {"items": 2, "labels": 2, "ideal": 1}
    assert [r.split("\t")[2] for r in rows(root / "labels.tsv")] == ["id-1", "id-4", "id-3", "id-2"]
    assert [r.split("\t")[2] for r in rows(root / "items.tsv")] == ["id-1", "id-4", "id-3", "id-2"]
    assert [r.split("\t")[2] for r in rows(root / "ideal.tsv")] == ["a", "d", "b"]
    assert sorted(p.name for p in (root / "pending").iterdir()) == ["2026-07-30_notes.md"]  # notes stay for the README


def test_a_day_already_merged_is_refused_and_nothing_is_written(root: Path) -> None:
    merge(["2026-07-30"], root)
    before = {k: (root / f"{k}.tsv").read_text() for k in HEADERS}
    for kind, rows_ in (("items", [item("2026-07-30", 9)]), ("labels", [label("2026-07-30", 9, "e")]),
                        ("ideal", [])):
        write(root / "pending" / f"2026-07-30_{kind}.tsv", kind, rows_)
    with pytest.raises(ValueError, match="already holds 2026-07-30"):
        merge(["2026-07-30"], root)
    assert {k: (root / f"{k}.tsv").read_text() for k in HEADERS} == before


def test_items_and_labels_must_list_the_same_entries(root: Path) -> None:
    write(root / "pending" / "2026-07-30_labels.tsv", "labels", [label("2026-07-30", 3, "d"), label("2026-07-30", 4, "c")])
    with pytest.raises(ValueError, match="same \\(feed_slug, entry_id\\)"):
        merge(["2026-07-30"], root)
    assert (root / "pending" / "2026-07-30_items.tsv").exists()


def test_an_ideal_story_needs_a_labelled_item_and_rows_their_own_date(root: Path) -> None:
    write(root / "pending" / "2026-07-30_ideal.tsv", "ideal", [ideal("2026-07-30", 1, "zzz", 3)])
    with pytest.raises(ValueError, match="zzz"):
        merge(["2026-07-30"], root)
    write(root / "pending" / "2026-07-30_ideal.tsv", "ideal", [ideal("2026-07-31", 1, "d", 3)])
    with pytest.raises(ValueError, match="another date"):
        merge(["2026-07-30"], root)


def test_the_command_reports_a_missing_day(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["1999-01-01"]) == 1
    assert "1999-01-01_items.tsv" in capsys.readouterr().err
