-- dialects: postgres
-- The four core tables exactly as the seed's "Database Schema" defines them (SEED.md).
-- Extra columns are added by 0002 so this file stays a faithful copy of the seed.

-- Pipeline execution tracking
CREATE TABLE pipeline_runs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    completed_at TIMESTAMP WITH TIME ZONE,
    status VARCHAR(20) NOT NULL, -- 'running', 'completed', 'failed'
    total_articles_input INTEGER,
    articles_output INTEGER,
    processing_time_seconds INTEGER,
    s3_output_path TEXT,
    error_message TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- Curated articles
CREATE TABLE articles (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_run_id UUID REFERENCES pipeline_runs(id),
    title TEXT NOT NULL,
    content TEXT,
    summary TEXT,
    url TEXT,
    feed_name TEXT,
    published_date TIMESTAMP WITH TIME ZONE,
    quality_score DECIMAL(4,2),
    content_type VARCHAR(50),
    tech_relevance_score DECIMAL(4,2),
    is_advertisement BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- Feed performance tracking
CREATE TABLE feed_statistics (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_run_id UUID REFERENCES pipeline_runs(id),
    feed_name TEXT NOT NULL,
    feed_url TEXT,
    total_articles INTEGER,
    passed_content_filter INTEGER,
    passed_ad_detection INTEGER,
    passed_quality_scoring INTEGER,
    final_articles INTEGER,
    processing_time_seconds DECIMAL(8,2),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- Newsletter generations
CREATE TABLE newsletters (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_run_id UUID REFERENCES pipeline_runs(id),
    subject_line TEXT,
    html_content TEXT,
    text_content TEXT,
    article_ids UUID[],
    generated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);
