-- notification-service schema: what it did with each event (exactly once in effect), the
-- notifications it made, and their delivery through each channel. Applied at start-up by
-- lib/svc (lib/pg's migrations runner), one transaction.

-- Every event id seen, with what became of it. The primary key is the exactly-once record:
-- an event's notification is written in the same transaction as its row here, so a
-- duplicate delivery (a relay re-sent a row, a consumer died before committing its offset,
-- a rebalance handed the partition on) finds the row and changes nothing.
--   outcome  notified | ignored (nothing to tell) | stale (an older version than one already
--            processed for the task: a replayed or re-sent outbox row)
CREATE TABLE processed_events (
    event_id     UUID PRIMARY KEY,
    event_type   TEXT NOT NULL,
    task_id      BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('notified', 'ignored', 'stale')),
    kafka_partition INT NOT NULL,
    kafka_offset BIGINT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The newest version processed per task: an event whose version is not newer is stale.
CREATE TABLE task_versions (
    task_id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    version BIGINT NOT NULL
);

-- A notification for a user. kind: task_done | reminder_scheduled | reminder_due.
CREATE TABLE notifications (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    event_id   UUID,               -- the event that made it (NULL: a fired reminder)
    task_id    BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    remind_at  TIMESTAMPTZ,
    traceparent TEXT,              -- the trace the event carried: deliveries continue it
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at    TIMESTAMPTZ
);
-- GET /api/notifications: one user's, newest first, keyset by id.
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);

-- One row per notification and channel. The log channel is delivered in the transaction
-- that makes the notification; the webhook channel by a worker that retries with backoff
-- (status pending until delivered or failed for good).
CREATE TABLE deliveries (
    notification_id BIGINT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL CHECK (channel IN ('log', 'webhook')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    PRIMARY KEY (notification_id, channel)
);
-- The webhook worker's queue: only what is still to be sent is indexed.
CREATE INDEX deliveries_pending_idx ON deliveries (next_attempt_at) WHERE status = 'pending';

-- Reminders of tasks with a due time: scheduled by task.created/updated, cancelled by
-- task.completed/deleted, fired (a reminder_due notification) by the service when due.
CREATE TABLE reminders (
    task_id   BIGINT PRIMARY KEY,
    user_id   BIGINT NOT NULL,
    title     TEXT NOT NULL,
    remind_at TIMESTAMPTZ NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled'))
);
CREATE INDEX reminders_due_idx ON reminders (remind_at) WHERE status = 'pending';
