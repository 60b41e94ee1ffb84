/* tasks_store — the tasks, tags and task_tags tables: every change runs in one transaction
 * together with its outbox row (tasks_outbox.h), so an event exists exactly when the change
 * committed. All functions take the user id: a task of another user is "not found".
 *
 * Return values: 1 done (or found), 0 not found, -1 database error in *err (a COMMIT whose
 * outcome is unknown: PG_SQLSTATE_COMMIT_UNKNOWN, the change may have been made). */
#ifndef TASKS_STORE_H
#define TASKS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pg.h"
#include "tasks_model.h"

/* Where the change's event goes: the topic and the request's W3C traceparent (may be NULL). */
typedef struct tasks_store_event_ctx {
    const char *topic;
    const char *traceparent;
} tasks_store_event_ctx_t;

/* tasks_store_create's answer when the user already has max_tasks tasks. */
#define TASKS_STORE_LIMIT (-2)

/* Creates a task from a validated input (tasks_model_input_parse with create=true), unless
 * the user already has max_tasks tasks (0: no limit): then TASKS_STORE_LIMIT and nothing is
 * written. The count is the task_counts rows of the user (migration 003), kept in the same
 * transaction as every create and delete. */
int tasks_store_create(pg_pool *pool, int64_t user_id, int64_t max_tasks, const task_input_t *in,
                 const tasks_store_event_ctx_t *ev, task_t *out, pg_err *err);

/* Reads one task. */
int tasks_store_get(pg_pool *pool, int64_t user_id, int64_t id, task_t *out, pg_err *err);

/* Applies a validated PATCH; version + 1. *ev_out says which event was written
 * (task.completed when done went from false to true, else task.updated). */
int tasks_store_update(pg_pool *pool, int64_t user_id, int64_t id, const task_input_t *in,
                 const tasks_store_event_ctx_t *ev, task_t *out, task_event_t *ev_out, pg_err *err);

/* Marks a task done. Completing a done task changes nothing (*changed = 0, no event). */
int tasks_store_complete(pg_pool *pool, int64_t user_id, int64_t id, const tasks_store_event_ctx_t *ev,
                   task_t *out, int *changed, pg_err *err);

/* Deletes a task; *out is its last state with the deletion's version and time, as the
 * task.deleted event carries it. */
int tasks_store_delete(pg_pool *pool, int64_t user_id, int64_t id, const tasks_store_event_ctx_t *ev,
                 task_t *out, pg_err *err);

/* One page of the user's tasks, newest first (id descending), filtered as q says: up to
 * q->limit + 1 tasks into out (room for limit + 1), the count in *n. Returns 0 or -1. */
int tasks_store_list(pg_pool *pool, int64_t user_id, const task_query_t *q, task_t *out, size_t *n,
               pg_err *err);

/* One page of a user's tasks for a read model rebuild: up to max tasks with id < before (0:
 * from the newest), newest first, into out, the count in *n. Runs on the caller's connection,
 * so that a caller inside a REPEATABLE READ transaction reads every page from one snapshot
 * while holding one page in memory (a user with 100,000 tasks is never loaded at once).
 * 0 or -1. */
int tasks_store_user_page(PGconn *c, int64_t user_id, int64_t before, size_t max, task_t *out,
                          size_t *n, pg_err *err);

/* ---- read model marks (migration 003: readmodel_dirty) ---------------------------------- */

/* Marks the n users as "the read model may have missed a change" (durably). 0 or -1. */
int tasks_store_mark_dirty(pg_pool *pool, const int64_t *user_ids, size_t n, pg_err *err);

/* Up to max marks, oldest first: user ids and the marks' times as text (for the clear), each
 * time at most 40 bytes. 0 or -1. */
int tasks_store_dirty_list(pg_pool *pool, size_t max, int64_t *user_ids, char (*marked_at)[40],
                           size_t *n, pg_err *err);

/* Deletes the mark of user_id if it is still the one read (marked_at unchanged). 0 or -1. */
int tasks_store_dirty_clear(pg_pool *pool, int64_t user_id, const char *marked_at, pg_err *err);

/* Up to max user ids that own tasks, ascending, greater than after. 0/-1. */
int tasks_store_users_after(pg_pool *pool, int64_t after, int64_t *ids, size_t max, size_t *n,
                      pg_err *err);

#endif
