"""Enhanced-article rows and an HTML inspector for publishing tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html.parser import HTMLParser

from tests.enhance.helpers import DAY

CONTENT_TYPES = ["news", "research", "release", "tutorial", "opinion", "funding", "other"]


def enhanced_row(i: int, *, day: date = DAY, **over) -> dict:
    """One ``enhanced_articles`` row (plain dict)."""
    row = {
        "partition_date": day,
        "entry_key": f"key{i:03d}",
        "article_id": f"art{i:03d}",
        "rank": i + 1,
        "feed_name": ["techcrunch", "hackernews-frontpage-fulltext", "deepmind-blog"][i % 3],
        "title": f"Story number {i + 1} about compilers, GPUs and the art of shipping software",
        "url": f"https://news{i % 4}.example.com/2026/08/05/story-{i + 1}",
        "domain": f"news{i % 4}.example.com",
        "published_at": datetime(2026, 8, 5, 7, tzinfo=UTC),
        "content_type": CONTENT_TYPES[i % len(CONTENT_TYPES)],
        "topics": ["developer tools"],
        "quality_score": 7.0,
        "tech_relevance_score": 8.0,
        "cluster_id": f"c{i}",
        "also_covered_by": (
            [
                {"feed_name": "the-verge", "title": "Verge take", "url": f"https://verge.example/{i}"},
                {"feed_name": "ars-technica", "title": "Ars take", "url": f"https://ars.example/{i}"},
            ]
            if i % 2 == 0
            else []
        ),
        "image_url": "https://img.example.com/lead.jpg" if i == 0 else None,
        "summary": (
            f"Story {i + 1} explains a change that matters to engineers who build and run software. "
            "It covers what shipped, who is affected and what to do next. Benchmarks are included."
        ),
        "summary_source": "offline",
        "tags": ["compilers", "gpus", "shipping"],
        "preview": "A preview.",
        "reading_time_minutes": 4,
        "word_count": 900,
        "llm_model": None,
    }
    row.update(over)
    return row


def enhanced_rows(n: int, *, day: date = DAY) -> list[dict]:
    return [enhanced_row(i, day=day) for i in range(n)]


class Inspector(HTMLParser):
    """Collects every start tag with its attributes, the text nodes and the <style> contents."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.comments: list[str] = []
        self._stack: list[str] = []
        self.doctype: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self._stack and self._stack.pop() != tag:
            pass

    def handle_data(self, data):
        if self._stack and self._stack[-1] == "style":
            self.styles.append(data)
        else:
            self.text.append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    def handle_decl(self, decl):
        self.doctype = decl

    def find(self, tag: str, **attrs: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def inspect(html: str) -> Inspector:
    p = Inspector()
    p.feed(html)
    p.close()
    return p
