-- dialects: postgres duckdb
-- Staging tables loaded by the warehouse_load asset, one day at a time, read by dbt as sources.
-- Portable SQL: the same file builds the local DuckDB warehouse.

-- Which run loaded each day (processing time of the day's run, FK target for dbt models).
CREATE TABLE stg_loads (
    partition_date DATE PRIMARY KEY,
    pipeline_run_id UUID,
    dagster_run_id TEXT,
    job_name TEXT,
    run_started_at TIMESTAMP WITH TIME ZONE,
    days_in_run INTEGER NOT NULL,
    loaded_at TIMESTAMP WITH TIME ZONE NOT NULL
);

-- One row per configured feed per day: the fetch outcome (raw_feeds without the bytes).
CREATE TABLE stg_feed_fetches (
    partition_date DATE NOT NULL,
    feed_name TEXT NOT NULL,
    feed_url TEXT,
    source TEXT,
    fetch_status TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    size_bytes BIGINT,
    elapsed_ms BIGINT,
    entry_count INTEGER,
    fetched_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (partition_date, feed_name)
);

-- One row per entry new that day: every decision and score along the funnel.
CREATE TABLE stg_articles (
    partition_date DATE NOT NULL,
    entry_key TEXT NOT NULL,
    article_id TEXT,
    feed_name TEXT NOT NULL,
    title TEXT,
    url TEXT,
    domain TEXT,
    published_at TIMESTAMP WITH TIME ZONE,
    word_count INTEGER,
    language TEXT,
    passed_filter BOOLEAN NOT NULL,
    filter_reason TEXT,
    duplicate_of TEXT,
    scored BOOLEAN NOT NULL,
    is_advertisement BOOLEAN,
    ad_score FLOAT8,
    ad_reason TEXT,
    passed_ad_detection BOOLEAN NOT NULL,
    quality_score FLOAT8,
    tech_relevance_score FLOAT8,
    passed_quality_scoring BOOLEAN NOT NULL,
    content_type TEXT,
    topics TEXT[],
    cluster_id TEXT,
    cluster_size INTEGER,
    is_canonical BOOLEAN,
    canonical_entry_key TEXT,
    is_duplicate BOOLEAN NOT NULL,
    previously_sent BOOLEAN,
    final_score FLOAT8,
    selection_rank INTEGER,
    selected BOOLEAN NOT NULL,
    selection_reason TEXT,
    in_newsletter BOOLEAN NOT NULL,
    tags TEXT[],
    summary_source TEXT,
    PRIMARY KEY (partition_date, entry_key)
);

-- The LLM ledger: one row per call attempt (cache hits and budget skips included).
CREATE TABLE stg_llm_calls (
    partition_date DATE NOT NULL,
    call_id TEXT NOT NULL,
    run_id TEXT,
    purpose TEXT,
    model TEXT,
    prompt_version TEXT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    latency_ms BIGINT,
    cost_usd FLOAT8,
    status TEXT,
    error TEXT,
    cache_hit BOOLEAN,
    attempt INTEGER,
    item_count INTEGER,
    called_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (partition_date, call_id)
);

-- One row per day with a newsletter (metadata only; the HTML lives in newsletters / the lakehouse).
CREATE TABLE stg_newsletters (
    partition_date DATE PRIMARY KEY,
    newsletter_id TEXT NOT NULL,
    subject_line TEXT,
    preheader TEXT,
    article_count INTEGER,
    html_bytes BIGINT,
    generated_at TIMESTAMP WITH TIME ZONE,
    llm_cost_usd FLOAT8,
    copy_source TEXT,
    article_ids TEXT[]
);
