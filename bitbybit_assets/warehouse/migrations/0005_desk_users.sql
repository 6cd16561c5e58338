-- dialects: postgres duckdb
-- The editorial desk: its users, failed logins (rate limit) and the runs it launched.
-- Ids are UUIDs made by the application (DuckDB has no serial columns); no foreign keys (DuckDB).

-- Who may log in to the desk. Passwords are argon2id hashes (never the password). session_epoch is
-- part of every session cookie: bumping it (disable, password change) ends that user's sessions.
CREATE TABLE desk_users (
    id UUID PRIMARY KEY,
    username VARCHAR(64) NOT NULL UNIQUE,  -- lower-case, [a-z0-9._-]
    password_hash TEXT NOT NULL,
    role VARCHAR(16) NOT NULL CHECK (role IN ('editor', 'admin')),
    disabled BOOLEAN NOT NULL,
    session_epoch INTEGER NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_login_at TIMESTAMP WITH TIME ZONE
);

-- One row per failed login; the desk refuses a username + address pair after too many recent ones.
CREATE TABLE desk_login_failures (
    id UUID PRIMARY KEY,
    username VARCHAR(64) NOT NULL,
    client_ip TEXT NOT NULL,
    attempted_at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX desk_login_failures_key ON desk_login_failures (username, client_ip, attempted_at);

-- Every Dagster run the desk launched (re-run a day, send a day): who, when, how; the run's status
-- itself is read from the Dagster instance by run_id.
CREATE TABLE desk_run_launches (
    run_id TEXT PRIMARY KEY,
    kind VARCHAR(16) NOT NULL CHECK (kind IN ('pipeline', 'delivery')),
    partition_date DATE NOT NULL,
    job_name TEXT NOT NULL,
    via VARCHAR(16) NOT NULL,              -- graphql | subprocess
    requested_by TEXT NOT NULL,
    requested_at TIMESTAMP WITH TIME ZONE NOT NULL,
    log_path TEXT,                         -- subprocess launches: its output
    error TEXT                             -- the launch itself failed
);
CREATE INDEX desk_run_launches_day ON desk_run_launches (partition_date, requested_at);
