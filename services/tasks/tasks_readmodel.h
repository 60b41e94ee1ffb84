/* tasks_readmodel — the Redis read model of GET /api/tasks (CQRS, CONTRACT §7).
 *
 * Keys, per user U:
 *   tasks:user:U             hash   task id → the task's JSON, exactly as the API serves it
 *   tasks:user:U:order       zset   task ids scored by id (the API's order, newest first)
 *   tasks:user:U:ver         hash   task id → version applied
 *   tasks:user:U:deleted     zset   deleted task ids (tombstones, kept an hour) → deletion time
 *   tasks:user:U:built       string the epoch this user's projection was built in
 *   tasks:user:U:rebuilding  string the lease of the rebuild under way (its token; expires)
 *   tasks:user:U:stage:T:*   the same four structures, filled by the rebuild holding lease T
 * and tasks:rm:epoch / tasks:rm:runid for the whole model.
 *
 * Correctness rests on these rules, each enforced inside one Lua script (atomic in Redis):
 *  1. Versioned updates: after each committed change the writer applies the task's new
 *     state with its version; a version not newer than the stored one, or any update of a
 *     deleted task, is ignored — so a late or repeated update never overwrites a newer state.
 *  2. Serve only what is complete: reads use a user's projection only when its "built"
 *     marker equals the current epoch; otherwise the read falls back to PostgreSQL and asks
 *     for a rebuild of that user, which runs in the background (never in a request).
 *  3. A rebuild never loses a concurrent write, and never installs an older state: it takes
 *     the user's lease (one rebuild per user in the whole system) before its PostgreSQL
 *     snapshot; while the lease exists every update is applied to the lease's stage too, by
 *     rule 1; the snapshot is written into the stage page by page under the same rule (a
 *     staged newer version or tombstone wins); the swap installs the stage only while the
 *     lease is still this rebuild's and the epoch has not moved. A rebuild whose lease was lost
 *     (expired, or taken by an invalidation) cannot swap, so an older rebuild never replaces a
 *     newer one (issue 13, item 5). Tombstones survive a swap except for the ids the new
 *     projection holds.
 *  4. Missed updates invalidate the user: a change whose update could not be applied (Redis
 *     down, hung or failing), or whose COMMIT's outcome is unknown, marks its user in
 *     PostgreSQL (table readmodel_dirty; in memory until PostgreSQL takes it). A sweep about
 *     once a second invalidates every marked user in Redis (drops "built" and any lease) and
 *     deletes the marks it handled; a process serves nothing from Redis before its first
 *     sweep, so a restart does not forget a mark (issue 13, item 6). A process connecting to
 *     a Redis that restarted (its run_id changed) moves the epoch, invalidating everyone.
 *  5. Bounded work: a rebuild holds one page of tasks in memory; a filtered list decodes at
 *     most TASKS_READMODEL_SCAN_MAX documents in Redis and otherwise falls back to PostgreSQL
 *     (issue 13, item 1).
 *
 * Threads: the rebuilder takes users from a bounded queue (reads of users not built, updates
 * that found their user not built, swept marks) and sweeps the marks; the keeper rebuilds
 * every user after the epoch moved. Redis down: reads fall back to PostgreSQL (a breaker
 * skips Redis for TASKS_REDIS_BREAKER_MS after a failure, so a dead Redis costs a request
 * nothing), writes succeed, and the marked users are repaired when Redis returns. */
#ifndef TASKS_READMODEL_H
#define TASKS_READMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"
#include "pg.h"
#include "tasks_model.h"

/* Documents a filtered list may decode in Redis before it gives up to PostgreSQL. */
#define TASKS_READMODEL_SCAN_MAX 1000
/* Tasks a rebuild reads and writes at a time. */
#define TASKS_READMODEL_PAGE 500

typedef struct tasks_readmodel tasks_readmodel_t;

typedef struct tasks_readmodel_config {
    const char *url;     /* redis://[[user]:password@]host[:port][/db] */
    int pool_size;
    int64_t timeout_ms;  /* connect and command timeout */
    pg_pool *pool;       /* for rebuilds and marks */
    metrics_registry_t *metrics; /* NULL: none */
} tasks_readmodel_config_t;

/* Creates the read model client (nothing connected yet). 0, or -1 with err. */
int tasks_readmodel_new(const tasks_readmodel_config_t *cfg, tasks_readmodel_t **out, char *err, size_t errlen);

/* Starts the keeper and the rebuilder threads (rebuilds, marks; reconnecting to Redis). Until
 * the rebuilder's first sweep of the marks, lists fall back to PostgreSQL. 0 or -1. */
int tasks_readmodel_keeper_start(tasks_readmodel_t *rm, char *err, size_t errlen);

/* Stops the threads and frees everything. NULL is ignored. */
void tasks_readmodel_free(tasks_readmodel_t *rm);

/* Applies a committed change (t after the change; deleted: t was deleted). Never fails for
 * the caller: a failure marks the user (rule 4). */
void tasks_readmodel_apply(tasks_readmodel_t *rm, const task_t *t, bool deleted);

/* A change of user_id may have committed without its update (a COMMIT whose outcome is
 * unknown): invalidates the user in Redis now if it can, and marks it (rule 4), so that the
 * projection is rebuilt once the outcome is settled. */
void tasks_readmodel_invalidate(tasks_readmodel_t *rm, int64_t user_id);

/* Serves a list from Redis: appends the whole response body ({"tasks":[…],"next_cursor":…})
 * to body and returns 1; returns 0 when the caller must read PostgreSQL instead, with the
 * reason in *why ("redis_down", "busy", "not_built" — a rebuild was asked for —,
 * "scan_limit", "starting", "error"). Never rebuilds. */
int tasks_readmodel_list(tasks_readmodel_t *rm, int64_t user_id, const task_query_t *q, buf_t *body,
            const char **why);

/* Invalidates the whole model (moves the epoch) and rebuilds every user now, in pages. For
 * `tasks-service --rebuild-read-model`. Returns 0 with counts, or -1 with err. */
int tasks_readmodel_rebuild_all(tasks_readmodel_t *rm, long *users, long *tasks, char *err, size_t errlen);

/* True when the last Redis operation succeeded (for the dependency gauge). */
bool tasks_readmodel_up(tasks_readmodel_t *rm);

/* The JSON envelope shared by both read paths: docs[i] for n tasks (already limited); next
 * is the cursor or 0. */
void tasks_readmodel_render_list(buf_t *body, const char *const *docs, size_t n, int64_t next);

#endif
