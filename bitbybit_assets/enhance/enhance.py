"""Enhance the day's picks: summary, tags, preview, reading time — by LLM or offline.

Per article the result records which path produced it (``summary_source``): ``llm`` (answered in
this run), ``llm_cache`` (an earlier answer for the same content, prompt version and model),
``offline`` (no endpoint configured, or the budget cap was reached) or ``offline_fallback`` (the
endpoint kept failing). Previews and reading times are always computed locally from the lead.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import polars as pl

from bitbybit_assets.enhance import prompts
from bitbybit_assets.enhance.summary import (
    article_text,
    compose_summary,
    make_preview,
    reading_time_minutes,
    source_label,
    summary_inputs,
)
from bitbybit_assets.enhance.tags import (
    DEFAULT_TOPIC_LABELS,
    LabelIndex,
    TagConfig,
    make_tags,
    merge_tags,
    tag_inputs,
)
from bitbybit_assets.enhance.vectors import BatchedEncoder, Encoder
from bitbybit_assets.schemas import ENHANCED_ARTICLES
from bitbybit_assets.text import normalize_ws, split_sentences, truncate_words, word_count
from bitbybit_base.settings import EnhancementSettings
from bitbybit_base.text_safety import clean_raw, clean_text

log = logging.getLogger(__name__)

SOURCES = ("llm", "llm_cache", "offline", "offline_fallback")
PURPOSE = "article_summaries"


class LLMSessionLike(Protocol):
    """What enhancement needs from ``resources.llm_session.LLMSession``."""

    model: str
    config: Any

    def key(self, content_hash: str) -> str: ...
    def cache_get(self, key: str, *, purpose: str, partition_date: date, item_count: int = 1) -> Any: ...
    def cache_put(self, key: str, value: Any, *, purpose: str, partition_date: date) -> None: ...
    def complete_json(self, **kwargs: Any) -> Any: ...


@dataclass
class Prepared:
    """One pick with the text the enhancers read."""

    row: dict
    title: str
    text: str
    source: str
    domain: str | None


def _plain(value: Any) -> str:
    """Model output as one line of plain text (the shared sanitiser, tags and markdown stripped)."""
    text = clean_text(html.unescape(clean_text(value)), strip_markup=True)
    return re.sub(r"[*_`#]+", "", text).strip()


def fit_summary(text: str, *, max_words: int, max_sentences: int) -> str:
    """At most ``max_sentences`` sentences and ``max_words`` words, cut at a sentence end when possible."""
    sentences = split_sentences(_plain(text))[:max_sentences]
    out: list[str] = []
    for s in sentences:
        if word_count(" ".join(out + [s])) > max_words:
            break
        out.append(s)
    if not out and sentences:
        return truncate_words(sentences[0], max_words)
    return " ".join(out)


def content_hash(p: Prepared, max_chars: int) -> str:
    """Hash of exactly what the prompt shows of an article."""
    payload = "\x1f".join([p.title, p.source, p.text[:max_chars]])
    return hashlib.sha256(payload.encode()).hexdigest()


def batch_cache_hash(own: str, members: Sequence[str]) -> str:
    """The cache identity of one article's answer: its own content hash plus the exact batch it was
    asked in (every member's content hash, in prompt order).

    Articles that share a prompt can influence each other's answers (a hostile article can try to
    steer its batch-mates). Keying each answer by the whole batch means an answer is reused only
    in the very context that produced it, so a poisoned answer never outlives the batch that
    poisoned it: once the hostile article is gone, its former batch-mates are asked afresh.
    With ``llm.batch_size: 1`` every article is asked alone and keyed by its own content."""
    payload = "\x1e".join([own, *members])
    return hashlib.sha256(payload.encode()).hexdigest()


def batch_answer_check(
    ids: Sequence[str], list_key: str, usable: Callable[[dict], object], problem: str
) -> Callable[[dict], None]:
    """The ``validate`` of a batched JSON answer: every asked id answered under ``list_key``, and
    each answer for an asked id ``usable`` (not None); otherwise a ValueError naming the id."""

    def validate(data: dict) -> None:
        got = {str(a.get("id")) for a in data[list_key]}
        missing = [i for i in ids if i not in got]
        if missing:
            raise ValueError(f"answer lacks ids {missing}")
        for a in data[list_key]:
            if a["id"] in ids and usable(a) is None:
                raise ValueError(f"{problem} for id {a['id']}")

    return validate


class Enhancer:
    """Offline enhancement with an encoder and the topic label vectors built once."""

    def __init__(self, settings: EnhancementSettings, encode: Encoder | None = None):
        self.settings = settings
        self.encode = BatchedEncoder(encode) if encode is not None else None
        labels = (
            {
                k: (v, tuple(w.lower() for w in re.findall(r"[A-Za-z][\w-]+", v)))
                for k, v in settings.topic_labels.items()
            }
            if settings.topic_labels
            else DEFAULT_TOPIC_LABELS
        )
        self.label_index = LabelIndex(labels, self.encode)
        self.tag_config = TagConfig(
            tags_min=settings.tags_min,
            tags_max=settings.tags_max,
            max_topic_labels=settings.max_topic_labels,
            label_threshold=settings.topic_label_threshold if encode is not None else 0.0,
            labels=labels,
        )

    def prime(self, items: Sequence[Prepared]) -> None:
        """Encode, in one call, every text the offline summaries and tags of ``items`` will ask for
        (the vectors of an earlier ``prime`` are dropped)."""
        if self.encode is None:
            return
        self.encode.clear()
        max_words = self.settings.summary_max_words
        texts: list[str] = []
        for p in items:
            texts += summary_inputs(p.title, p.text, max_words=max_words) + tag_inputs(p.title, p.text)
        self.encode.prime(texts)

    def summary(self, p: Prepared) -> str:
        s = self.settings
        return compose_summary(
            p.title,
            p.text,
            source=p.source,
            domain=p.domain,
            encode=self.encode,
            max_sentences=s.summary_sentences,
            max_words=s.summary_max_words,
        )

    def tags(self, p: Prepared, extra: Sequence[str] = ()) -> list[str]:
        base = make_tags(
            p.title,
            p.text,
            topics=[t for t in (p.row.get("topics") or []) if t],
            content_type=p.row.get("content_type"),
            source=p.source,
            label_index=self.label_index,
            encode=self.encode,
            config=self.tag_config,
        )
        if not extra:
            return base
        merged = merge_tags(extra, base, tags_max=self.settings.tags_max)
        return merged

    def preview(self, p: Prepared) -> str:
        return make_preview(
            p.title, p.text, source=p.source, max_chars=self.settings.preview_max_chars
        )


def prepare(row: dict) -> Prepared:
    title = clean_text(normalize_ws(clean_text(row.get("title")))) or "Untitled"
    if row.get("translated_by"):  # translated in ingest: clean_text is the translated lead, the HTML the original
        text = article_text(None, None, clean_raw(row.get("clean_text")))
    else:
        text = article_text(
            clean_raw(row.get("content_html")), clean_raw(row.get("summary_html")), clean_raw(row.get("clean_text"))
        )
    domain = clean_text(row.get("domain")).removeprefix("www.") or None
    return Prepared(
        row=row,
        title=title,
        text=text,
        source=source_label(row.get("feed_name"), domain),
        domain=domain,
    )


# ---------------------------------------------------------------- LLM path


def _batches(items: list[Prepared], size: int) -> list[list[Prepared]]:
    """Deterministic batches: per day, in the given (rank) order, ``size`` articles each, so a
    day gets the same batches whether it runs alone or inside a backfill."""
    by_day: dict[Any, list[Prepared]] = {}
    for p in items:
        by_day.setdefault(p.row["partition_date"], []).append(p)
    return [group[i : i + size] for group in by_day.values() for i in range(0, len(group), size)]


def _llm_answers(
    items: list[Prepared],
    session: LLMSessionLike,
    settings: EnhancementSettings,
) -> tuple[dict[str, tuple[str, list[str], str]], set[str]]:
    """entry_key -> (summary, tags, source) for the articles the LLM (or its cache) answered, and
    the entry_keys left unanswered because of the budget cap.

    Answers are cached per article under :func:`batch_cache_hash` (own content + batch
    composition): a batch whose every member is cached costs nothing; otherwise the whole batch is
    asked again, so every answer used was produced in exactly that company."""
    cfg = session.config
    max_chars = int(getattr(cfg, "max_article_chars", 3000))
    size = max(1, int(getattr(cfg, "batch_size", 8)))
    out: dict[str, tuple[str, list[str], str]] = {}
    todo: list[list[tuple[Prepared, str, Any]]] = []
    for batch in _batches(items, size):
        hashes = [content_hash(p, max_chars) for p in batch]
        keyed = []
        for p, own in zip(batch, hashes, strict=True):
            key = session.key(batch_cache_hash(own, hashes))
            cached = session.cache_get(key, purpose=PURPOSE, partition_date=p.row["partition_date"])
            keyed.append((p, key, _accept(cached, settings) if cached is not None else None))
        if all(answer is not None for _, _, answer in keyed):
            out.update({p.row["entry_key"]: (*answer, "llm_cache") for p, _, answer in keyed})
        else:
            todo.append(keyed)
    if not todo:
        return out, set()

    def run(batch: list[tuple[Prepared, str, Any]]) -> tuple[list[tuple[str, tuple[str, list[str], str]]], bool]:
        ids = [f"a{i + 1}" for i in range(len(batch))]
        payload = [
            {
                "id": i,
                "title": p.title,
                "source": f"{p.source} ({p.domain})" if p.domain else p.source,
                "text": p.text,
            }
            for i, (p, _, _) in zip(ids, batch, strict=True)
        ]
        messages = prompts.article_messages(
            payload,
            max_words=settings.summary_max_words,
            tags_min=settings.tags_min,
            tags_max=settings.tags_max,
            max_chars=max_chars,
        )

        validate = batch_answer_check(ids, "articles", lambda a: _accept(a, settings), "unusable summary")
        result = session.complete_json(
            purpose=PURPOSE,
            messages=messages,
            schema=prompts.ARTICLE_BATCH_SCHEMA,
            partition_date=batch[0][0].row["partition_date"],
            item_count=len(batch),
            validate=validate,
        )
        if not result.ok:
            return [], result.status == "budget_skipped"
        by_id = {str(a["id"]): a for a in result.data["articles"]}
        answered = []
        for i, (p, key, cached) in zip(ids, batch, strict=True):
            if cached is not None:  # asked again only for its batch-mates: keep the stored answer
                answered.append((p.row["entry_key"], (*cached, "llm_cache")))
                continue
            accepted = _accept(by_id[i], settings)
            if accepted is None:
                continue
            summary, tags = accepted
            session.cache_put(
                key,
                {"summary": summary, "tags": tags},
                purpose=PURPOSE,
                partition_date=p.row["partition_date"],
            )
            answered.append((p.row["entry_key"], (summary, tags, "llm")))
        return answered, False

    workers = max(1, min(int(getattr(cfg, "concurrency", 2)), len(todo)))
    skipped: set[str] = set()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch, (answered, budget) in zip(todo, pool.map(run, todo), strict=True):
            out.update(dict(answered))
            if budget:
                skipped.update(p.row["entry_key"] for p, _, _ in batch)
    return out, skipped


def _accept(answer: Any, settings: EnhancementSettings) -> tuple[str, list[str]] | None:
    """Normalised (summary, tags) from one model answer, or ``None`` when unusable."""
    if not isinstance(answer, dict):
        return None
    summary = fit_summary(
        answer.get("summary") or "",
        max_words=settings.summary_max_words,
        max_sentences=settings.summary_sentences,
    )
    if word_count(summary) < 5:
        return None
    tags = merge_tags(
        [_plain(t) for t in answer.get("tags") or [] if _plain(t)], tags_max=settings.tags_max
    )
    return summary, tags


# ---------------------------------------------------------------- the table


def select_picks(scored: pl.DataFrame) -> pl.DataFrame:
    """The selected rows of ``scored_articles``, by day and rank."""
    if scored.is_empty() or "selected" not in scored.columns:
        return scored.head(0)
    return scored.filter(pl.col("selected").fill_null(False)).sort(["partition_date", "rank"])


def enhance_articles(
    scored: pl.DataFrame,
    *,
    settings: EnhancementSettings | None = None,
    session: LLMSessionLike | None = None,
    encode: Encoder | None = None,
) -> pl.DataFrame:
    """``enhanced_articles`` for the picks of ``scored`` (any number of days)."""
    settings = settings or EnhancementSettings()
    picks = select_picks(scored)
    if picks.is_empty():
        return pl.DataFrame(schema=ENHANCED_ARTICLES)
    prepared = [prepare(r) for r in picks.iter_rows(named=True)]
    enhancer = Enhancer(settings, encode)
    answers, budget_skipped = (
        _llm_answers(prepared, session, settings) if session is not None else ({}, set())
    )
    rows = []
    day = None
    for p in prepared:
        r = p.row
        if r["partition_date"] != day:  # picks come by day: one encoder call per day
            day = r["partition_date"]
            enhancer.prime([q for q in prepared if q.row["partition_date"] == day and q.row["entry_key"] not in answers])
        answer = answers.get(r["entry_key"])
        if answer is not None:
            summary, llm_tags, source = answer
            tags = enhancer.tags(p, extra=llm_tags) if len(llm_tags) < settings.tags_min else llm_tags
            model = session.model if session is not None else None
        else:
            summary, tags, model = enhancer.summary(p), enhancer.tags(p), None
            # no endpoint or over budget: the offline path by design; else the endpoint failed
            by_design = session is None or r["entry_key"] in budget_skipped
            source = "offline" if by_design else "offline_fallback"
        wc = r.get("word_count")
        wc = int(wc) if wc is not None else word_count(r.get("clean_text") or "")
        rows.append(
            {
                **{k: r.get(k) for k in ENHANCED_ARTICLES},
                "title": p.title,
                "summary": summary,
                "summary_source": source,
                "tags": tags[: settings.tags_max],
                "preview": enhancer.preview(p),
                "reading_time_minutes": reading_time_minutes(wc, settings.words_per_minute),
                "word_count": wc,
                "llm_model": model,
            }
        )
    return pl.DataFrame(rows, schema=ENHANCED_ARTICLES)
