-- dialects: postgres duckdb
-- The feed list, when BITBYBIT_FEEDS_SOURCE=database (the default in production): one row per feed,
-- edited from the desk's Feeds page. Seeded once from config/feeds.yaml when the table is empty (the
-- seed is recorded in feed_events by actor 'seed:feeds.yaml'); from then on this table is the list.
-- Feeds are never deleted (their name is feed_name in the lakehouse): they are disabled.

CREATE TABLE feeds (
    name TEXT PRIMARY KEY,                 -- stable slug, feed_name everywhere
    url TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    category TEXT NOT NULL,
    trust DOUBLE PRECISION NOT NULL CHECK (trust >= 0 AND trust <= 1),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_by TEXT NOT NULL
);

-- Every change of a feed, with who made it and the feed before and after (JSON text).
CREATE TABLE feed_events (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    action VARCHAR(16) NOT NULL CHECK (action IN ('add', 'edit', 'disable', 'enable', 'seed')),
    before TEXT,
    after TEXT,
    actor TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX feed_events_name ON feed_events (name, created_at);
