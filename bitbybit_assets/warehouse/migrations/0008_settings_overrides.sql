-- dialects: postgres duckdb
-- Settings edited in the desk (admins): a few thresholds of config/production.yaml overridden, one row
-- per key (a dotted path such as curation.top_n; the allow-list is bitbybit_assets/settings_overrides.py),
-- the value as JSON text. Runs merge them on top of the YAML when they read their settings, so a change
-- applies from the next run. settings_events keeps every change (before/after as JSON text; after is null
-- when the override was removed and the YAML value applies again). Ids are application-made UUIDs.

CREATE TABLE settings_overrides (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,                   -- JSON
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE settings_events (
    id UUID PRIMARY KEY,
    key TEXT NOT NULL,
    before TEXT,                           -- JSON: the override before (null: the YAML value applied)
    after TEXT,                            -- JSON: the override after (null: removed, back to the YAML)
    actor TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX settings_events_created ON settings_events (created_at);
