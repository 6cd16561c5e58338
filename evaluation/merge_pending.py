"""Move labelled days from ``evaluation/labels/pending/`` into the merged label files, in date order.

    python -m evaluation.merge_pending 2026-07-30 2026-07-31

For each day, ``pending/<day>_{items,labels,ideal}.tsv`` must exist with the merged files' header.
The day's rows are inserted into ``evaluation/labels/{items,labels,ideal}.tsv`` so that the files stay
sorted by date (rows of one day keep their order); a day already in a merged file is refused. The
pending files of a merged day are deleted (its notes, ``<day>_notes.md``, are left for the README).
Nothing is written unless every day passes the checks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LABELS = Path(__file__).resolve().parent / "labels"
KINDS = ("items", "labels", "ideal")


def _read(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError(f"{path}: empty")
    return lines[0], [line for line in lines[1:] if line.strip()]


def _column(header: str, name: str) -> int:
    return header.split("\t").index(name)


def _check_day(day: str, headers: dict[str, str], rows: dict[str, list[str]]) -> None:
    for kind, lines in rows.items():
        bad = [line for line in lines if line.split("\t", 1)[0] != day]
        if bad:
            raise ValueError(f"pending/{day}_{kind}.tsv: {len(bad)} rows of another date, e.g. {bad[0][:80]!r}")

    def keys(kind: str) -> list[tuple[str, str]]:
        feed, entry = _column(headers[kind], "feed_slug"), _column(headers[kind], "entry_id")
        return [(f[feed], f[entry]) for f in (line.split("\t") for line in rows[kind])]

    if keys("items") != keys("labels"):
        raise ValueError(f"pending/{day}: items and labels do not list the same (feed_slug, entry_id) in order")
    story_l, story_i = _column(headers["labels"], "story"), _column(headers["ideal"], "story")
    stories = {line.split("\t")[story_l] for line in rows["labels"]}
    missing = [s for s in (line.split("\t")[story_i] for line in rows["ideal"]) if s not in stories]
    if missing:
        raise ValueError(f"pending/{day}_ideal.tsv: stories without a labelled item that day: {missing}")


def merge(days: list[str], root: Path = LABELS) -> dict[str, int]:
    """Insert the pending days into the merged files; the number of rows added per file."""
    merged = {kind: _read(root / f"{kind}.tsv") for kind in KINDS}
    pending: dict[str, dict[str, list[str]]] = {}
    for day in sorted(set(days)):
        rows = {}
        for kind in KINDS:
            header, lines = _read(root / "pending" / f"{day}_{kind}.tsv")
            if header != merged[kind][0]:
                raise ValueError(f"pending/{day}_{kind}.tsv: header differs from {kind}.tsv")
            if any(line.split("\t", 1)[0] == day for line in merged[kind][1]):
                raise ValueError(f"{kind}.tsv already holds {day}")
            rows[kind] = lines
        _check_day(day, {kind: merged[kind][0] for kind in KINDS}, rows)
        pending[day] = rows
    added = {}
    for kind in KINDS:
        header, lines = merged[kind]
        new = [line for day in pending for line in pending[day][kind]]
        # a stable sort by date keeps each day's own order
        out = sorted(lines + new, key=lambda line: line.split("\t", 1)[0])
        (root / f"{kind}.tsv").write_text("\n".join([header, *out]) + "\n", encoding="utf-8")
        added[kind] = len(new)
    for day in pending:
        for kind in KINDS:
            (root / "pending" / f"{day}_{kind}.tsv").unlink()
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("days", nargs="+", help="YYYY-MM-DD days in evaluation/labels/pending/")
    args = parser.parse_args(argv)
    try:
        added = merge(args.days)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(", ".join(f"{kind}.tsv +{n}" for kind, n in added.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
