-- tasks-service schema: tasks with first-class tags, and the transactional outbox
-- (CONTRACT §6). Applied by the service at start-up (lib/pg.h pg_migrate), one transaction.

-- A task belongs to one user (auth-service's user id; no foreign key: that table lives in
-- another service's database). Times are stored to the millisecond, as the API shows them,
-- so what a client reads back is exactly what is stored. version starts at 1 and grows by
-- one on every change; the outbox events carry it, and the read model orders updates by it.
CREATE TABLE tasks (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL CHECK (user_id > 0),
    title        TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    priority     SMALLINT NOT NULL CHECK (priority BETWEEN 1 AND 5),
    done         BOOLEAN NOT NULL DEFAULT false,
    due_at       TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    version      BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    CHECK (done = (completed_at IS NOT NULL))
);
-- Every read is one user's tasks, newest first (the API's stable order is id descending).
CREATE INDEX tasks_user_id_idx ON tasks (user_id, id DESC);

-- A user's tag vocabulary: a name exists once per user.
CREATE TABLE tags (
    id      BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL CHECK (user_id > 0),
    name    TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    UNIQUE (user_id, name)
);

CREATE TABLE task_tags (
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    tag_id  BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, tag_id)
);
CREATE INDEX task_tags_tag_id_idx ON task_tags (tag_id);

-- Case-insensitive title search folds ASCII letters only, exactly as the Redis read model
-- does (Lua's string.lower in the C locale), so both read paths agree on every title.
CREATE FUNCTION ascii_lower(s TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');

-- The outbox: one row per task change, written in the change's transaction.
--   aggregate_id  the task id: the Kafka key (as decimal text, in "key") and the unit of order
--   version       the task's version after the change; per task, id order = version order
--                 because a task's changes serialise on its row lock
--   shard         which relay may publish the row: relays split the 64 shards between them
--                 with advisory locks (see services/tasks/tasks_relay.c)
--   attempts, last_error, next_attempt_at, dead
--                 delivery failures; a row whose message Kafka rejects for good becomes
--                 dead after TASKS_RELAY_MAX_ATTEMPTS and waits for a replay
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        UUID NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    aggregate_id    BIGINT NOT NULL CHECK (aggregate_id >= 0),
    version         BIGINT NOT NULL,
    shard           SMALLINT GENERATED ALWAYS AS ((aggregate_id % 64)::smallint) STORED,
    topic           TEXT NOT NULL DEFAULT 'task-events',
    key             TEXT NOT NULL,
    payload         JSONB NOT NULL,
    traceparent     TEXT,
    published       BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    published_at    TIMESTAMPTZ,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ,
    dead            BOOLEAN NOT NULL DEFAULT false,
    dead_at         TIMESTAMPTZ
);
-- The relay's scan (unpublished rows in id order) and the backlog gauges.
CREATE INDEX idx_outbox_unpublished ON outbox (id) WHERE published = false;
-- "Is this row its task's oldest pending one?" — the relay sends only those (per-task order).
CREATE INDEX idx_outbox_pending_task ON outbox (aggregate_id, id) WHERE published = false;
-- Pruning published rows past the retention period.
CREATE INDEX idx_outbox_published_at ON outbox (published_at) WHERE published;
-- The dead-letter view and replays.
CREATE INDEX idx_outbox_dead ON outbox (id) WHERE dead;
