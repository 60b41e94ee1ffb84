-- Issue 13, items 6 and 1.

-- Users whose Redis projection may have missed a committed change: the read model's update
-- failed after the commit (Redis down or hung), or the COMMIT's outcome was unknown. The mark
-- is written where it survives a restart of the service; every replica's read model sweeps
-- this table about once a second, invalidates the user's projection in Redis (so reads fall
-- back to PostgreSQL and a rebuild is made) and deletes the row it handled. marked_at moves
-- when a user is marked again, so a sweep deletes only the mark it read.
CREATE TABLE readmodel_dirty (
    user_id   BIGINT PRIMARY KEY CHECK (user_id > 0),
    marked_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- How many tasks each user has, for the per-user limit (TASKS_MAX_PER_USER): a create reads
-- the sum of the user's rows and refuses past the limit; a create adds 1 and a delete
-- subtracts 1 in the same transaction as the change. A user's count is spread over a few
-- slots (the writer's backend pid modulo 8), so two writers of one user on different pooled
-- connections rarely queue on one row lock until commit; the sum is what counts. Concurrent
-- creates can pass the limit by at most the number of writers of that user at that moment.
CREATE TABLE task_counts (
    user_id BIGINT NOT NULL CHECK (user_id > 0),
    slot    SMALLINT NOT NULL CHECK (slot BETWEEN 0 AND 7),
    n       BIGINT NOT NULL,
    PRIMARY KEY (user_id, slot)
);
INSERT INTO task_counts (user_id, slot, n)
    SELECT user_id, 0, count(*) FROM tasks GROUP BY user_id;
