"""Write the items to label for some days: every entry new that day in its feed (labels README rules).

    python scripts/extract_label_items.py --days 2026-08-01 2026-08-02 --out evaluation/labels/items.tsv

An entry is new on day D when its id (guid / Atom id, else link) did not appear in the same feed on
any earlier day of the corpus. The excerpt is ~300 characters of plain text: the summary, followed by
the content when the summary is short or only repeats the title. Tab-separated, tabs/newlines
replaced by spaces, same columns as ../shared/data/labels/items.tsv.
"""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path

import feedparser

COLUMNS = ["date", "feed_slug", "entry_id", "link", "title", "published", "excerpt"]


def _plain(s: str) -> str:
    s = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", s or "", flags=re.S | re.I)
    s = re.sub(r"<[^>]+>", " ", s)
    return re.sub(r"\s+", " ", html.unescape(s)).strip()


def _excerpt(e, title: str, limit: int = 300) -> str:
    summary = _plain(e.get("summary", ""))
    content = " ".join(_plain(c.get("value", "")) for c in e.get("content", []) or [])
    text = summary
    if len(summary) < 120 or summary.strip().lower() == title.strip().lower():
        text = (summary + " " + content).strip() if content and content != summary else summary
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + "…"
    return text


def _clean(s: str) -> str:
    return re.sub(r"[\t\r\n]+", " ", s or "").strip()


def entry_id(e) -> str:
    return e.get("id") or e.get("link") or ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archive", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/feeds")
    ap.add_argument("--days", nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    all_days = sorted(p.name for p in args.archive.iterdir() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name))
    seen: dict[str, set[str]] = {}
    rows = []
    for day in all_days:
        if day > max(args.days):
            break
        for f in sorted((args.archive / day).glob("*.xml")):
            slug = f.stem
            parsed = feedparser.parse(f.read_bytes())
            known = seen.setdefault(slug, set())
            fresh = []
            for e in parsed.entries:
                eid = entry_id(e)
                if eid and eid not in known:
                    fresh.append(e)
            known.update(entry_id(e) for e in parsed.entries)
            if day in args.days:
                for e in fresh:
                    title = _clean(e.get("title", ""))
                    rows.append([day, slug, _clean(entry_id(e)), _clean(e.get("link", "")), title,
                                 _clean(e.get("published", e.get("updated", ""))), _clean(_excerpt(e, title))])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        fh.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
