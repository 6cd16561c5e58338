-- dialects: postgres duckdb
-- Editorial overrides: one row per action an editor takes on a day in the desk (pin, drop, swap,
-- reorder, edit, revert), with who, when, the value before and after (JSON text). The pipeline reads
-- them as an input (the editorial_overrides asset snapshots a day's rows into the lakehouse).
-- revision numbers a day's actions 1, 2, 3, ...: a save names the revision the editor saw and gets
-- the next one, so two editors saving the same day conflict instead of overwriting each other.
-- An action is undone by a new 'revert' row (value = the reverted row's id); the reverted row
-- points back at it through reverted_by. Ids are application-made UUIDs; no foreign keys (DuckDB).

CREATE TABLE editorial_overrides (
    id UUID PRIMARY KEY,
    partition_date DATE NOT NULL,
    revision INTEGER NOT NULL,
    action VARCHAR(16) NOT NULL CHECK (action IN ('pin', 'drop', 'swap', 'reorder', 'edit', 'revert')),
    entry_key TEXT,                        -- the article acted on; null for issue-level edits and reorders
    field VARCHAR(16) CHECK (field IS NULL OR field IN ('title', 'summary', 'tags', 'subject', 'preheader', 'intro')),
    value TEXT,                            -- JSON: the after (swap: the entry_key brought in; reorder: the order)
    before TEXT,                           -- JSON: what the editor saw before
    actor TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    reverted_by UUID,                      -- the 'revert' row that undid this one
    UNIQUE (partition_date, revision)
);
