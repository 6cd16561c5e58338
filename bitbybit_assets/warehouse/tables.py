"""What the warehouse reads and writes, declared once.

* ``UPSTREAM_COLUMNS``: the lakehouse tables the loads read and the columns they use (typed by the
  lakehouse contracts in :mod:`bitbybit_assets.schemas`);
* ``TABLE_SOURCES``: which of them each warehouse table is built from (the warehouse assets'
  lineage, :mod:`bitbybit_assets.warehouse.assets`);
* ``SEED_COLUMN_TYPES``: the seed tables' columns, in the order the loader and the SQL export
  write them, with their SQL types. The migrations (``migrations/*.sql``) stay SQL; a test checks
  the migrated database has exactly these types (``tests/warehouse/test_migrate.py``).
"""

from __future__ import annotations

from bitbybit_assets import schemas

STAGING_TABLES = ("stg_loads", "stg_feed_fetches", "stg_articles", "stg_llm_calls", "stg_newsletters")
SEED_DAY_TABLES = ("articles", "newsletters")
LOAD_ORDER = STAGING_TABLES + SEED_DAY_TABLES


def _project(schema: dict, columns: str) -> dict:
    """The columns (space-separated) the warehouse reads from an upstream table, typed by its
    contract in schemas.py."""
    return {c: schema[c] for c in columns.split()}


RAW_FEEDS_COLS = _project(
    schemas.RAW_FEEDS,
    "partition_date feed_name feed_url source fetch_status http_status error size_bytes "
    "elapsed_ms entry_count fetched_at",
)
FILTERED_COLS = _project(
    schemas.FILTERED_ARTICLES,
    "partition_date entry_key article_id feed_name title url domain published_at word_count "
    "language clean_text passed_filter filter_reason duplicate_of",
)
SCORED_COLS = _project(
    schemas.SCORED_ARTICLES,
    "partition_date entry_key is_advertisement ad_score ad_reason quality_score "
    "tech_relevance_score content_type topics cluster_id cluster_size is_canonical "
    "canonical_entry_key previously_sent final_score rank selected selection_reason",
)
ENHANCED_COLS = _project(
    schemas.ENHANCED_ARTICLES,
    "partition_date entry_key article_id rank feed_name title url domain published_at "
    "content_type topics quality_score tech_relevance_score cluster_id also_covered_by "
    "image_url summary summary_source tags preview reading_time_minutes word_count llm_model "
    "original_title original_language translated_by",
)
NEWSLETTER_COLS = _project(
    schemas.NEWSLETTERS,
    "partition_date newsletter_id subject_line subject_candidates preheader intro "
    "sections_json html text article_ids article_count html_bytes generated_at llm_cost_usd "
    "copy_source",
)
LLM_CALLS_COLS = _project(
    schemas.LLM_CALLS,
    "partition_date call_id run_id purpose model prompt_version input_tokens output_tokens "
    "latency_ms cost_usd status error cache_hit attempt item_count called_at",
)
# The lakehouse tables each warehouse table is built from (by build_day_tables): the lineage of the
# warehouse assets. stg_loads records which run loaded the day's pipeline tables.
TABLE_SOURCES: dict[str, tuple[str, ...]] = {
    "stg_loads": ("filtered_articles", "scored_articles", "enhanced_articles", "newsletters"),
    "stg_feed_fetches": ("raw_feeds",),
    "stg_articles": ("filtered_articles", "scored_articles", "enhanced_articles", "newsletters"),
    "stg_llm_calls": ("llm_calls",),
    "stg_newsletters": ("newsletters",),
    "articles": ("enhanced_articles", "filtered_articles", "scored_articles"),
    "newsletters": ("newsletters",),
}
UPSTREAM_COLUMNS = {
    "raw_feeds": RAW_FEEDS_COLS,
    "filtered_articles": FILTERED_COLS,
    "scored_articles": SCORED_COLS,
    "enhanced_articles": ENHANCED_COLS,
    "newsletters": NEWSLETTER_COLS,
    "llm_calls": LLM_CALLS_COLS,
}

# SQL types of the seed-table columns the loader and the SQL export write (checked against the
# migrated database by the tests).
SEED_COLUMN_TYPES: dict[str, dict[str, str]] = {
    "pipeline_runs": {
        "id": "uuid",
        "dagster_run_id": "text",
        "job_name": "text",
        "started_at": "timestamp with time zone",
        "status": "character varying(20)",
    },
    "articles": {
        "id": "uuid",
        "pipeline_run_id": "uuid",
        "title": "text",
        "content": "text",
        "summary": "text",
        "url": "text",
        "feed_name": "text",
        "published_date": "timestamp with time zone",
        "quality_score": "numeric(4,2)",
        "content_type": "character varying(50)",
        "tech_relevance_score": "numeric(4,2)",
        "is_advertisement": "boolean",
        "partition_date": "date",
        "entry_key": "text",
        "article_id": "text",
        "newsletter_rank": "integer",
        "domain": "text",
        "image_url": "text",
        "preview": "text",
        "tags": "text[]",
        "topics": "text[]",
        "reading_time_minutes": "integer",
        "word_count": "integer",
        "summary_source": "text",
        "llm_model": "text",
        "cluster_id": "text",
        "also_covered_by": "jsonb",
        # translation provenance (migration 0010): NULL unless ingest translated the pick
        "original_title": "text",
        "original_language": "text",
        "translated_by": "text",
    },
    "newsletters": {
        "id": "uuid",
        "pipeline_run_id": "uuid",
        "subject_line": "text",
        "html_content": "text",
        "text_content": "text",
        "article_ids": "uuid[]",
        "generated_at": "timestamp with time zone",
        "partition_date": "date",
        "preheader": "text",
        "subject_candidates": "text[]",
        "intro": "text",
        "sections_json": "jsonb",
        "article_count": "integer",
        "html_bytes": "bigint",
        "llm_cost_usd": "numeric(12,6)",
        "copy_source": "text",
    },
    "feed_statistics": {
        "id": "uuid",
        "pipeline_run_id": "uuid",
        "feed_name": "text",
        "feed_url": "text",
        "total_articles": "integer",
        "passed_content_filter": "integer",
        "passed_ad_detection": "integer",
        "passed_quality_scoring": "integer",
        "final_articles": "integer",
        "processing_time_seconds": "numeric(8,2)",
        "created_at": "timestamp with time zone",
        "partition_date": "date",
        "fetch_status": "text",
        "fetch_errors": "integer",
        "duplicates": "integer",
        "duplicate_rate": "numeric(5,4)",
        "advertisements": "integer",
        "ad_rate": "numeric(5,4)",
    },
}
