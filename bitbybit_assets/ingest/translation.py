"""Translation of rows the content filter dropped only for their language. No Dagster here.

With an LLM endpoint configured, rows whose only filter reason is ``language`` and whose language is
in ``content_filter.translation.languages`` get their title and the lead of their text translated
into the newsletter's language (the first of ``allowed_languages``), many rows per call, answers
validated against :data:`~bitbybit_assets.enhance.prompts.TRANSLATION_BATCH_SCHEMA` and cached by
content hash + batch + prompt version + model (like the summaries). The content filter then runs
again over the translated entries: a translated row passes the language check, so it is deduplicated,
scored, clustered and selected like a row written in English.

Every decision is data: a translated row keeps ``original_title`` and ``original_language`` and
names the model in ``translated_by`` (its ``language`` stays the detected one, so it still counts as
another language of its story; the original text stays in ``feed_entries``). Offline (no session) the
filter's result is returned unchanged.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import polars as pl

from bitbybit_assets.enhance import prompts
from bitbybit_assets.enhance.enhance import batch_answer_check, batch_cache_hash
from bitbybit_assets.ingest.content_filter import apply_content_filter
from bitbybit_assets.text import normalize_ws, truncate_words
from bitbybit_base.settings import ContentFilterSettings, TranslationSettings
from bitbybit_base.text_safety import clean_text

PURPOSE = "translation"
COLUMNS = {"original_title": pl.String, "original_language": pl.String, "translated_by": pl.String}
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "de": "German", "fr": "French",
    "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ru": "Russian", "nl": "Dutch", "ar": "Arabic",
}  # fmt: skip
_CJK_LANGS = {"zh", "ja", "ko"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_LETTER = re.compile(r"[^\W\d_]")
MAX_TITLE_WORDS = 30
MAX_SUMMARY_WORDS = 90


class SessionLike(Protocol):
    """What translation needs from ``resources.llm_session.LLMSession``."""

    model: str
    config: Any

    def key(self, content_hash: str) -> str: ...
    def cache_get(self, key: str, *, purpose: str, partition_date: date, item_count: int = 1) -> Any: ...
    def cache_put(self, key: str, value: Any, *, purpose: str, partition_date: date) -> None: ...
    def complete_json(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Translation:
    title: str
    text: str
    source: str  # llm | llm_cache


@dataclass
class TranslationReport:
    """Counts for the asset's metadata."""

    candidates: int = 0
    over_cap: int = 0
    translated: int = 0
    from_cache: int = 0
    budget_skipped: int = 0
    failed: int = 0
    by_language: dict[str, int] = field(default_factory=dict)

    def merge(self, other: TranslationReport) -> TranslationReport:
        counts = {k: getattr(self, k) + getattr(other, k) for k in self.__dict__ if k != "by_language"}
        langs = dict(self.by_language)
        for lang, n in other.by_language.items():
            langs[lang] = langs.get(lang, 0) + n
        return TranslationReport(**counts, by_language=langs)

    def metadata(self) -> dict[str, Any]:
        return {f"translation_{k}": v for k, v in self.__dict__.items()}


def language_name(code: str | None) -> str:
    """A language's English name from its code (the code itself when unknown)."""
    code = (code or "").lower()
    return LANGUAGE_NAMES.get(code.split("-")[0], code or "another language")


def cjk_share(text: str) -> float:
    """Share of CJK characters among the letters of ``text``."""
    letters = _LETTER.findall(text)
    return sum(bool(_CJK.match(ch)) for ch in letters) / len(letters) if letters else 0.0


def candidates(filtered: pl.DataFrame, cfg: TranslationSettings) -> tuple[pl.DataFrame, int]:
    """Rows to translate: dropped for ``language`` only, in one of ``cfg.languages``; at most
    ``cfg.max_per_day`` a day (most trusted feeds first, then feed order). Also how many were left out."""
    langs = [lang.lower() for lang in cfg.languages]
    if filtered.is_empty() or not langs:
        return filtered.head(0), 0
    eligible = filtered.filter(
        (pl.col("filter_reason") == "language")
        & pl.col("language").fill_null("").str.to_lowercase().is_in(langs)
    )
    ranked = eligible.sort(
        ["partition_date", "feed_trust", "feed_name", "position"],
        descending=[False, True, False, False],
        nulls_last=True,
    ).with_columns(pl.int_range(pl.len()).over("partition_date").alias("_n"))
    kept = ranked.filter(pl.col("_n") < cfg.max_per_day).drop("_n")
    return kept, eligible.height - kept.height


def _plain(value: Any) -> str:
    text = clean_text(html.unescape(clean_text(value)), strip_markup=True)
    return normalize_ws(re.sub(r"[*_`#]+", "", text)).replace("\n", " ").strip()


def accept(answer: Any, source_language: str) -> tuple[str, str] | None:
    """Normalised (title, text) from one item of an answer, or ``None`` when unusable: an empty
    title, or one still in the source script (a CJK source translated into a non-CJK language)."""
    if not isinstance(answer, dict):
        return None
    title = truncate_words(_plain(answer.get("title")), MAX_TITLE_WORDS).strip()
    text = truncate_words(_plain(answer.get("summary")), MAX_SUMMARY_WORDS).strip()
    if not title:
        return None
    if source_language in _CJK_LANGS and (cjk_share(title) >= 0.3 or cjk_share(text) >= 0.3):
        return None
    return title, text


def _lead(row: dict, max_chars: int) -> str:
    return normalize_ws(clean_text(row.get("clean_text")) or "")[:max_chars]


def content_hash(row: dict, target: str, max_chars: int) -> str:
    """Hash of exactly what the prompt shows of a row (and the languages asked)."""
    payload = "\x1f".join([row.get("language") or "", target, row.get("title") or "", _lead(row, max_chars)])
    return hashlib.sha256(payload.encode()).hexdigest()


def _batches(rows: list[dict], size: int) -> list[list[dict]]:
    """Deterministic batches per day and language, in the given order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["partition_date"], (r.get("language") or "").lower()), []).append(r)
    return [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]


def translate_rows(
    rows: Sequence[dict],
    session: SessionLike,
    cfg: TranslationSettings,
    *,
    target: str,
    report: TranslationReport,
) -> dict[str, Translation]:
    """entry_key -> :class:`Translation` for the rows the LLM (or its cache) translated."""
    target_name = language_name(target)
    out: dict[str, Translation] = {}
    todo: list[list[tuple[dict, str, tuple[str, str] | None]]] = []
    for batch in _batches(list(rows), cfg.batch_size):
        hashes = [content_hash(r, target, cfg.max_chars) for r in batch]
        keyed = []
        for r, own in zip(batch, hashes, strict=True):
            key = session.key(batch_cache_hash(own, hashes))
            cached = session.cache_get(key, purpose=PURPOSE, partition_date=r["partition_date"])
            lang = (r.get("language") or "").lower()
            keyed.append((r, key, accept(cached, lang) if cached is not None else None))
        if all(a is not None for _, _, a in keyed):
            out.update({r["entry_key"]: Translation(*a, "llm_cache") for r, _, a in keyed})  # type: ignore[misc]
        else:
            todo.append(keyed)

    def run(batch: list[tuple[dict, str, tuple[str, str] | None]]) -> tuple[dict[str, Translation], str]:
        ids = [f"t{i + 1}" for i in range(len(batch))]
        lang = (batch[0][0].get("language") or "").lower()
        items = [
            {"id": i, "title": r.get("title") or "", "text": _lead(r, cfg.max_chars)}
            for i, (r, _, _) in zip(ids, batch, strict=True)
        ]
        messages = prompts.translation_messages(
            items, source=language_name(lang), target=target_name, max_chars=cfg.max_chars
        )

        validate = batch_answer_check(ids, "items", lambda a: accept(a, lang), "untranslated or empty title")
        result = session.complete_json(
            purpose=PURPOSE,
            messages=messages,
            schema=prompts.TRANSLATION_BATCH_SCHEMA,
            partition_date=batch[0][0]["partition_date"],
            item_count=len(batch),
            validate=validate,
        )
        if not result.ok:
            return {r["entry_key"]: Translation(*a, "llm_cache") for r, _, a in batch if a is not None}, (
                "budget_skipped" if result.status == "budget_skipped" else "failed"
            )
        by_id = {str(a["id"]): a for a in result.data["items"]}
        done: dict[str, Translation] = {}
        for i, (r, key, cached) in zip(ids, batch, strict=True):
            if cached is not None:  # asked again only for its batch-mates: keep the stored answer
                done[r["entry_key"]] = Translation(*cached, "llm_cache")
                continue
            accepted = accept(by_id.get(i), lang)
            if accepted is None:
                continue
            session.cache_put(
                key,
                {"title": accepted[0], "summary": accepted[1]},
                purpose=PURPOSE,
                partition_date=r["partition_date"],
            )
            done[r["entry_key"]] = Translation(*accepted, "llm")
        return done, "ok"

    workers = max(1, min(int(getattr(session.config, "concurrency", 2)), len(todo) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch, (done, status) in zip(todo, pool.map(run, todo), strict=True):
            out.update(done)
            left = sum(1 for r, _, _ in batch if r["entry_key"] not in done)
            if status == "budget_skipped":
                report.budget_skipped += left
            else:
                report.failed += left
    return out


def apply_translations(
    entries: pl.DataFrame, translations: dict[str, Translation], model: str
) -> pl.DataFrame:
    """``entries`` with translated titles and text (``clean_text`` becomes the translated lead) and
    the provenance columns of :data:`COLUMNS` (null on rows left as they were)."""
    if not translations:
        return entries
    keys = list(translations)
    tr = pl.DataFrame(
        {
            "entry_key": keys,
            "_title": [translations[k].title for k in keys],
            "_text": [translations[k].text for k in keys],
        },
        schema={"entry_key": pl.String, "_title": pl.String, "_text": pl.String},
    )
    done = pl.col("_title").is_not_null()
    return (
        entries.join(tr, on="entry_key", how="left")
        .with_columns(
            pl.when(done).then(pl.col("title")).alias("original_title"),
            pl.when(done).then(pl.col("language")).alias("original_language"),
            pl.when(done).then(pl.lit(model)).alias("translated_by"),
            pl.when(done).then(pl.col("_title")).otherwise(pl.col("title")).alias("title"),
            pl.when(done).then(pl.col("_text")).otherwise(pl.col("clean_text")).alias("clean_text"),
        )
        .drop("_title", "_text")
    )


def filter_and_translate(
    entries: pl.DataFrame, day: date, cfg: ContentFilterSettings, session: SessionLike | None
) -> tuple[pl.DataFrame, TranslationReport]:
    """The content filter's result for one day's entries; with a session, language-only drops in
    ``cfg.translation.languages`` are translated and the filter runs again over the translated entries."""
    decided = apply_content_filter(entries, day, cfg)
    report = TranslationReport()
    if session is None or not cfg.translation.languages or not cfg.allowed_languages:
        return decided, report
    todo, report.over_cap = candidates(decided, cfg.translation)
    report.candidates = todo.height
    if todo.is_empty():
        return decided, report
    target = cfg.allowed_languages[0].lower()
    translations = translate_rows(todo.to_dicts(), session, cfg.translation, target=target, report=report)
    report.translated = len(translations)
    report.from_cache = sum(t.source == "llm_cache" for t in translations.values())
    langs = todo.filter(pl.col("entry_key").is_in(list(translations))).group_by("language").len()
    report.by_language = {r["language"]: r["len"] for r in langs.iter_rows(named=True)}
    if not translations:
        return decided, report
    return apply_content_filter(apply_translations(entries, translations, session.model), day, cfg), report
