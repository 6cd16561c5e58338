-- dialects: postgres
-- Columns the pipeline needs on top of the seed tables: the day each row belongs to (a day is
-- replaced as a unit), the Dagster run id, and the article/newsletter fields the API export reads.

ALTER TABLE pipeline_runs
    ADD COLUMN dagster_run_id TEXT,
    ADD COLUMN job_name TEXT,
    ADD COLUMN partition_key TEXT,
    ADD COLUMN partition_start DATE,
    ADD COLUMN partition_end DATE,
    ADD COLUMN updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    ADD CONSTRAINT pipeline_runs_dagster_run_id_key UNIQUE (dagster_run_id);

ALTER TABLE articles
    ADD COLUMN partition_date DATE,
    ADD COLUMN entry_key TEXT,
    ADD COLUMN article_id TEXT,
    ADD COLUMN newsletter_rank INTEGER,
    ADD COLUMN domain TEXT,
    ADD COLUMN image_url TEXT,
    ADD COLUMN preview TEXT,
    ADD COLUMN tags TEXT[],
    ADD COLUMN topics TEXT[],
    ADD COLUMN reading_time_minutes INTEGER,
    ADD COLUMN word_count INTEGER,
    ADD COLUMN summary_source TEXT,
    ADD COLUMN llm_model TEXT,
    ADD COLUMN cluster_id TEXT,
    ADD COLUMN also_covered_by JSONB;
CREATE INDEX articles_partition_date_idx ON articles (partition_date);
CREATE UNIQUE INDEX articles_entry_key_idx ON articles (entry_key);

ALTER TABLE feed_statistics
    ADD COLUMN partition_date DATE,
    ADD COLUMN fetch_status TEXT,
    ADD COLUMN fetch_errors INTEGER,
    ADD COLUMN duplicates INTEGER,
    ADD COLUMN duplicate_rate DECIMAL(5,4),
    ADD COLUMN advertisements INTEGER,
    ADD COLUMN ad_rate DECIMAL(5,4);
CREATE UNIQUE INDEX feed_statistics_day_feed_idx ON feed_statistics (partition_date, feed_name);

ALTER TABLE newsletters
    ADD COLUMN partition_date DATE,
    ADD COLUMN preheader TEXT,
    ADD COLUMN subject_candidates TEXT[],
    ADD COLUMN intro TEXT,
    ADD COLUMN sections_json JSONB,
    ADD COLUMN article_count INTEGER,
    ADD COLUMN html_bytes BIGINT,
    ADD COLUMN llm_cost_usd DECIMAL(12,6),
    ADD COLUMN copy_source TEXT;
CREATE UNIQUE INDEX newsletters_partition_date_idx ON newsletters (partition_date);
