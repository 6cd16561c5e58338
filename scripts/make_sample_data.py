"""Build the bundled demo days (sample_data/feeds) from the full snapshot corpus.

Copies a few consecutive days from ``../shared/data/feeds`` and trims every RSS document to its
first ``--max-items`` <item> elements (the bytes of the kept items and of the channel are left
untouched), so the demo stays small while every byte still comes from a real feed.

    python scripts/make_sample_data.py --source ../shared/data/feeds --days 2026-08-03 2026-08-07
"""

from __future__ import annotations

import argparse
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

ITEM = re.compile(rb"<item[\s>].*?</item>\s*", re.DOTALL)


def trim(document: bytes, max_items: int) -> bytes:
    matches = list(ITEM.finditer(document))
    if len(matches) <= max_items:
        return document
    cut_from, cut_to = matches[max_items].start(), matches[-1].end()
    return document[:cut_from] + document[cut_to:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path("../shared/data/feeds"))
    parser.add_argument("--target", type=Path, default=Path("sample_data/feeds"))
    parser.add_argument("--days", nargs=2, metavar=("FIRST", "LAST"), default=["2026-08-03", "2026-08-07"])
    parser.add_argument("--max-items", type=int, default=30)
    args = parser.parse_args()
    first, last = (date.fromisoformat(d) for d in args.days)
    if args.target.exists():
        shutil.rmtree(args.target)
    day = first
    while day <= last:
        src, dst = args.source / day.isoformat(), args.target / day.isoformat()
        dst.mkdir(parents=True)
        for path in sorted(src.glob("*.xml")):
            (dst / path.name).write_bytes(trim(path.read_bytes(), args.max_items))
        day += timedelta(days=1)
    readme = args.target / "README.md"
    readme.write_text(
        "# Sample feed days\n\nReal RSS/Atom snapshots of the bitbybit feed list for "
        f"{first}..{last}, copied from the full corpus with `scripts/make_sample_data.py` and trimmed to "
        f"the first {args.max_items} items per feed (kept bytes are unchanged). Layout: `YYYY-MM-DD/<feed>.xml`.\n"
        "All article content belongs to the original publishers; used here only as demo and test fixtures.\n"
    )


if __name__ == "__main__":
    main()
