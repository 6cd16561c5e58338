-- dialects: postgres duckdb
-- Delivery: subscribers, approvals, send editions and the send ledger (exactly-once sending).
-- Ids are UUIDs made by the application (DuckDB has no serial columns). No foreign keys: DuckDB
-- refuses updates of referenced rows; the delivery store keeps the references consistent.

CREATE TABLE subscribers (
    id UUID PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,            -- normalised: NFC, domain lower-cased (IDNA), trimmed
    name TEXT,
    status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
    source VARCHAR(32) NOT NULL,           -- cli, import, desk, signup
    secret TEXT NOT NULL,                  -- per-subscriber key of signed links: rotating it revokes them
    status_reason TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    confirmed_at TIMESTAMP WITH TIME ZONE,
    unsubscribed_at TIMESTAMP WITH TIME ZONE
);

-- Every change of a subscriber's status, with who or what caused it.
CREATE TABLE subscriber_events (
    id UUID PRIMARY KEY,
    subscriber_id UUID NOT NULL,
    event VARCHAR(32) NOT NULL,            -- added, confirmed, unsubscribed, bounced, complained, removed, reactivated, secret_rotated
    old_status VARCHAR(16),
    new_status VARCHAR(16),
    actor TEXT NOT NULL,
    detail TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX subscriber_events_created ON subscriber_events (created_at);

-- A day's newsletter is a draft until approved; the approval names the exact content it covers.
CREATE TABLE newsletter_approvals (
    partition_date DATE PRIMARY KEY,
    status VARCHAR(16) NOT NULL CHECK (status IN ('draft', 'approved')),
    newsletter_id TEXT,
    content_sha256 TEXT,
    approved_by TEXT,
    approved_at TIMESTAMP WITH TIME ZONE,
    mode VARCHAR(8),                       -- manual | auto
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL
);

CREATE TABLE approval_events (
    id UUID PRIMARY KEY,
    partition_date DATE NOT NULL,
    action VARCHAR(16) NOT NULL,           -- approved, revoked
    actor TEXT NOT NULL,
    content_sha256 TEXT,
    note TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL
);

-- One edition per send of a day: edition 1 is the normal send; a recorded --resend adds the next.
CREATE TABLE send_editions (
    partition_date DATE NOT NULL,
    edition INTEGER NOT NULL,
    content_sha256 TEXT NOT NULL,
    newsletter_id TEXT,
    requested_by TEXT NOT NULL,
    reason TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (partition_date, edition)
);

-- The send ledger: one row per day x edition x subscriber. A row is claimed (pending -> sending) by
-- one conditional UPDATE before the message goes out, so two runs never send to the same address.
CREATE TABLE send_ledger (
    partition_date DATE NOT NULL,
    edition INTEGER NOT NULL,
    subscriber_id UUID NOT NULL,
    email TEXT NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'deferred', 'failed', 'suppressed')),
    attempts INTEGER NOT NULL,
    message_id TEXT,                       -- our Message-ID header
    provider_message_id TEXT,              -- SMTP queue id or SES MessageId
    error TEXT,
    claimed_by TEXT,                       -- the Dagster run (or CLI invocation) holding the claim
    claimed_at TIMESTAMP WITH TIME ZONE,
    sent_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (partition_date, edition, subscriber_id)
);
