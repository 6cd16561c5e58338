"""Column contracts of the lakehouse tables (polars schemas).

Every table is a Delta table partitioned by ``partition_date`` (``pl.Date``). Stages add their own
schema here; tests check that each asset's output matches its contract.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

RAW_FEEDS = {
    "partition_date": pl.Date,
    "feed_name": pl.String,
    "feed_url": pl.String,
    "source": pl.String,  # archive | http
    "fetch_status": pl.String,  # ok | not_modified | missing | error
    "http_status": pl.Int32,
    "etag": pl.String,
    "last_modified": pl.String,
    "content": pl.Binary,  # the raw bytes, kept so any day can be re-parsed
    "sha256": pl.String,
    "size_bytes": pl.Int64,
    "error": pl.String,
    "fetched_at": UTC_TS,
    "elapsed_ms": pl.Int64,
    "entry_count": pl.Int32,
    "entry_ids": pl.List(pl.String),  # ids of every entry in the document (for day assignment)
}

# One row per entry first seen in that feed on partition_date (the day-assignment rule).
FEED_ENTRIES = {
    "partition_date": pl.Date,
    "entry_key": pl.String,  # sha256(feed_name + "\x1f" + entry_id)[:32]: unique row id
    "article_id": pl.String,  # sha256(canonical_url)[:32]: the same article across feeds
    "feed_name": pl.String,
    "feed_category": pl.String,
    "feed_trust": pl.Float64,
    "entry_id": pl.String,  # guid / atom id, else link (as the feed gives it)
    "url": pl.String,
    "canonical_url": pl.String,
    "domain": pl.String,
    "title": pl.String,
    "author": pl.String,
    "published_at": UTC_TS,
    "published_raw": pl.String,
    "date_quality": pl.String,  # exact | midnight | missing | invalid
    "summary_html": pl.String,
    "content_html": pl.String,
    "clean_text": pl.String,  # title excluded; summary + content as plain text
    "word_count": pl.Int32,
    "language": pl.String,
    "language_confidence": pl.Float64,
    "image_url": pl.String,
    "categories": pl.List(pl.String),
    "first_seen_date": pl.Date,
    "position": pl.Int32,  # index of the entry in the feed document
}

# Every entry of the day with the content filter's decision.
FILTERED_ARTICLES = {
    **FEED_ENTRIES,
    "passed_filter": pl.Boolean,
    "filter_reason": pl.String,  # null when passed; else missing_title | missing_url | too_short |
    # outside_day | duplicate_url | language | blocked_domain | blocked_keyword | blocked_title
    "duplicate_of": pl.String,  # entry_key of the kept copy, for duplicate_url drops
    # set only on rows translated into the newsletter's language (ingest/translation.py, LLM only):
    # title and clean_text are then the translation; language stays the detected one
    "original_title": pl.String,
    "original_language": pl.String,
    "translated_by": pl.String,  # the LLM model that translated the row
}


def empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """Select and cast ``df`` to ``schema`` (missing columns become nulls); raise on extra-typed data."""
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype, strict=True))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)


# ---------------------------------------------------------------- enhance / publish (issue 4)

_ALSO_COVERED = pl.List(pl.Struct({"feed_name": pl.String, "title": pl.String, "url": pl.String}))

# One row per picked article (scored_articles.selected), ordered by rank.
ENHANCED_ARTICLES = {
    "partition_date": pl.Date,
    "entry_key": pl.String,
    "article_id": pl.String,
    "rank": pl.Int32,
    "feed_name": pl.String,
    "title": pl.String,
    "url": pl.String,
    "domain": pl.String,
    "published_at": UTC_TS,
    "content_type": pl.String,
    "topics": pl.List(pl.String),
    "quality_score": pl.Float64,
    "tech_relevance_score": pl.Float64,
    "cluster_id": pl.String,
    "also_covered_by": _ALSO_COVERED,
    "image_url": pl.String,
    "summary": pl.String,  # plain text, 2-3 sentences, <= enhancement.summary_max_words
    "summary_source": pl.String,  # llm | llm_cache | offline | offline_fallback
    "tags": pl.List(pl.String),  # 3-5
    "preview": pl.String,  # <= enhancement.preview_max_chars
    "reading_time_minutes": pl.Int32,
    "word_count": pl.Int32,
    "llm_model": pl.String,  # null unless summary_source is llm / llm_cache
    "pick_source": pl.String,  # pipeline | pin (an editor's pin or swap) | replacement (for a dropped pick)
    "edited_fields": pl.List(pl.String),  # title / summary / tags an editor overrode (summary_source "editor")
    "quiet_day": pl.Boolean,  # scored_articles.quiet_day of the day: the newsletter says it is a quiet day
    "original_title": pl.String,  # a translated pick (filtered_articles): its title as published
    "original_language": pl.String,
    "translated_by": pl.String,
}

# One row per day: the rendered newsletter.
NEWSLETTERS = {
    "partition_date": pl.Date,
    "newsletter_id": pl.String,  # uuid5 of the day + content
    "subject_line": pl.String,
    "subject_candidates": pl.List(pl.String),
    "preheader": pl.String,
    "intro": pl.String,
    "sections_json": pl.String,  # [{"key", "title", "entry_keys": [...]}, ...]
    "html": pl.String,
    "text": pl.String,
    "article_ids": pl.List(pl.String),  # entry_keys in newsletter order
    "article_count": pl.Int32,
    "html_bytes": pl.Int64,
    "generated_at": UTC_TS,
    "llm_cost_usd": pl.Float64,
    "copy_source": pl.String,  # llm | llm_cache | offline | offline_fallback (subject/preheader/intro)
    "list_unsubscribe": pl.String,  # value for the List-Unsubscribe header
    "trimmed": pl.List(pl.String),  # steps taken to fit max_html_bytes (empty when none)
    "edited_fields": pl.List(pl.String),  # subject / preheader / intro an editor overrode
}

# LLM ledger: one row per API call attempt (and per call skipped by the budget cap).
LLM_CALLS = {
    "partition_date": pl.Date,
    "run_id": pl.String,
    "call_id": pl.String,
    "purpose": pl.String,  # article_summaries | newsletter_copy | translation
    "model": pl.String,
    "prompt_version": pl.String,
    "input_tokens": pl.Int64,
    "output_tokens": pl.Int64,
    "latency_ms": pl.Int64,
    "cost_usd": pl.Float64,
    "status": pl.String,  # ok | rate_limited | server_error | timeout | connection_error |
    # invalid_json | schema_invalid | client_error | budget_skipped
    "error": pl.String,
    "cache_hit": pl.Boolean,
    "attempt": pl.Int32,
    "item_count": pl.Int32,  # articles in the batch
    "called_at": UTC_TS,
}

# LLM answer cache. partition_date = the day the entry was first written; read across all days.
LLM_CACHE = {
    "partition_date": pl.Date,
    "cache_key": pl.String,  # sha256(content hash + prompt version + model)
    "purpose": pl.String,
    "model": pl.String,
    "prompt_version": pl.String,
    "response_json": pl.String,
    "created_at": UTC_TS,
}


# ---------------------------------------------------------------- curation (curate stage)

# One embedding per distinct embedded text and model (the re-encoding cache).
ARTICLE_EMBEDDINGS = {
    "partition_date": pl.Date,
    "text_hash": pl.String,  # sha256 of the exact text embedded (title + lead)[:32]
    "model": pl.String,
    "dim": pl.Int32,
    "embedding": pl.List(pl.Float32),  # L2-normalised
}

COVERAGE = pl.Struct({"feed_name": pl.String, "title": pl.String, "url": pl.String})

# Every filtered_articles row with its scores, story cluster and the selection decision.
SCORED_ARTICLES = {
    **FILTERED_ARTICLES,
    "text_hash": pl.String,
    "is_advertisement": pl.Boolean,
    "ad_score": pl.Float64,  # 0..1
    "ad_reason": pl.String,  # strongest ad signal; null when not an ad
    "quality_score": pl.Float64,  # 0..10, 2 decimals
    "tech_relevance_score": pl.Float64,  # 0..10, 2 decimals
    "content_type": pl.String,  # news | research | tutorial | opinion | release | funding | other
    "topics": pl.List(pl.String),
    "cluster_id": pl.String,  # same-story cluster (stable across the rolling window)
    "cluster_size": pl.Int32,  # rows in the cluster over the window, this day included
    "is_canonical": pl.Boolean,  # the day's representative of its cluster
    "canonical_entry_key": pl.String,
    "also_covered_by": pl.List(COVERAGE),  # other members of the cluster (canonical row only)
    "previously_sent": pl.Boolean,  # the story was selected on an earlier day
    "final_score": pl.Float64,
    "rank": pl.Int32,  # MMR order among eligible rows; null for ineligible
    "selected": pl.Boolean,
    "selection_reason": pl.String,
    # The learned ranker's inputs and output (bitbybit_assets/curate/ranker.py): with feed_category and
    # content_type these columns alone reproduce model_score and explain every pick.
    "f_topic_similarity": pl.Float64,
    "f_offtopic_similarity": pl.Float64,
    "f_keyword_points": pl.Float64,
    "f_source_trust": pl.Float64,
    "f_coverage_feeds": pl.Float64,
    "f_coverage_languages": pl.Float64,
    "f_story_age_days": pl.Float64,
    "f_text_words": pl.Float64,
    "f_title_only": pl.Float64,
    "f_title_words": pl.Float64,
    "f_cjk_share": pl.Float64,
    "f_ad_score": pl.Float64,
    "f_title_version": pl.Float64,  # 1 when the title names a versioned thing (curate.pipeline.has_version)
    "f_text_score": pl.Float64,  # null without a ranker that has a text map (curate/text_score.py)
    "model_score": pl.Float64,  # 0..1; final_score = 10 * best model_score of the story * (1 - ad_score)
    "score_explanation": pl.String,  # the largest feature contributions
    "ranker_version": pl.String,  # null: the hand-weighted formula
    "quiet_day": pl.Boolean,  # fewer than top_n rows passed the quality floor (the newsletter says so)
}


# ---------------------------------------------------------------- editorial desk

# The day's editorial_overrides rows (desk actions), snapshotted from the database for each run.
EDITORIAL_OVERRIDES = {
    "partition_date": pl.Date,
    "id": pl.String,  # uuid
    "revision": pl.Int32,  # 1, 2, 3, ... per day
    "action": pl.String,  # pin | drop | swap | reorder | edit | revert
    "entry_key": pl.String,  # the article acted on; null for issue-level edits and reorders
    "field": pl.String,  # edits: title | summary | tags | subject | preheader | intro
    "value": pl.String,  # JSON: the after
    "before": pl.String,  # JSON: what the editor saw before
    "actor": pl.String,
    "created_at": UTC_TS,
    "reverted_by": pl.String,  # id of the revert row that undid this one
}
