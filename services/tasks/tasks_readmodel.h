/* tasks_readmodel — the Redis read model of GET /api/tasks (CQRS, CONTRACT §7).
 *
 * Keys, per user U:
 *   tasks:user:U          hash   task id → the task's JSON, exactly as the API serves it
 *   tasks:user:U:order    zset   task ids scored by id (the API's order, newest first)
 *   tasks:user:U:ver      hash   task id → version applied
 *   tasks:user:U:deleted  zset   deleted task ids (tombstones, kept an hour) → deletion time
 *   tasks:user:U:built    string the epoch this user's projection was built in
 *   tasks:user:U:gen      string a counter every update bumps (a rebuild checks it)
 * and tasks:rm:epoch / tasks:rm:runid for the whole model.
 *
 * Correctness rests on four rules, each enforced inside one Lua script (atomic in Redis):
 *  1. Versioned updates: after each committed change the writer applies the task's new
 *     state with its version; a version not newer than the stored one, or any update of a
 *     deleted task, is ignored — so a late or repeated update never overwrites a newer state.
 *  2. Serve only what is complete: reads use a user's projection only when its "built"
 *     marker equals the current epoch; otherwise the user is rebuilt from PostgreSQL (or the
 *     read falls back to PostgreSQL).
 *  3. Rebuilds never lose a concurrent write: a rebuild reads the user's gen counter before
 *     its PostgreSQL snapshot, fills temporary keys in chunks, and swaps them in only if no
 *     update ran since (else it retries).
 *  4. Missed updates invalidate everything: an update that could not be applied (Redis down
 *     or failing) makes this process bump the epoch as soon as Redis answers again, and any
 *     process connecting to a Redis that restarted (its run_id changed) bumps it too, before
 *     it serves anything. The keeper thread then rebuilds every user in the background.
 *
 * Redis down: reads fall back to PostgreSQL (a breaker skips Redis for half a second after
 * a failure, so a dead Redis costs nothing per request), writes succeed, and the model is
 * repaired when Redis returns. */
#ifndef TASKS_READMODEL_H
#define TASKS_READMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"
#include "pg.h"
#include "tasks_model.h"

typedef struct tasks_readmodel tasks_readmodel_t;

typedef struct tasks_readmodel_config {
    const char *url;     /* redis://[[user]:password@]host[:port][/db] */
    int pool_size;
    int64_t timeout_ms;  /* connect and command timeout */
    pg_pool *pool;       /* for rebuilds */
    metrics_registry_t *metrics; /* NULL: none */
} tasks_readmodel_config_t;

/* Creates the read model client (nothing connected yet). 0, or -1 with err. */
int tasks_readmodel_new(const tasks_readmodel_config_t *cfg, tasks_readmodel_t **out, char *err, size_t errlen);

/* Starts the keeper: notices epoch changes and rebuilds every user in the background, and
 * reconnects (bumping the epoch if updates were missed). 0 or -1. */
int tasks_readmodel_keeper_start(tasks_readmodel_t *rm, char *err, size_t errlen);

/* Stops the keeper and frees everything. NULL is ignored. */
void tasks_readmodel_free(tasks_readmodel_t *rm);

/* Applies a committed change (t after the change; deleted: t was deleted). Never fails for
 * the caller: a failure is remembered and repaired (rule 4). */
void tasks_readmodel_apply(tasks_readmodel_t *rm, const task_t *t, bool deleted);

/* Serves a list from Redis: appends the whole response body ({"tasks":[…],"next_cursor":…})
 * to body and returns 1; returns 0 when the caller must read PostgreSQL instead, with the
 * reason ("redis_down", "not_built", "error") in *why. */
int tasks_readmodel_list(tasks_readmodel_t *rm, int64_t user_id, const task_query_t *q, buf_t *body,
            const char **why);

/* Invalidates the whole model (bumps the epoch) and rebuilds every user now. For
 * `tasks-service --rebuild-read-model`. Returns 0 with counts, or -1 with err. */
int tasks_readmodel_rebuild_all(tasks_readmodel_t *rm, long *users, long *tasks, char *err, size_t errlen);

/* True when the last Redis operation succeeded (for the dependency gauge). */
bool tasks_readmodel_up(tasks_readmodel_t *rm);

/* The JSON envelope shared by both read paths: ids[i] and docs[i] for n tasks (already
 * limited); next is the cursor or 0. */
void tasks_readmodel_render_list(buf_t *body, const char *const *docs, size_t n, int64_t next);

#endif
