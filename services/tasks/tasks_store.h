/* tasks_store — the tasks, tags and task_tags tables: every change runs in one transaction
 * together with its outbox row (tasks_outbox.h), so an event exists exactly when the change
 * committed. All functions take the user id: a task of another user is "not found".
 *
 * Return values: 1 done (or found), 0 not found, -1 database error in *err. */
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

/* Creates a task from a validated input (tasks_model_input_parse with create=true). */
int tasks_store_create(pg_pool *pool, int64_t user_id, const task_input_t *in,
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

/* Every task of a user (for rebuilding the read model) in a malloc'd array (free()). 0/-1. */
int tasks_store_user_tasks(pg_pool *pool, int64_t user_id, task_t **out, size_t *n, pg_err *err);

/* Up to max user ids that own tasks, ascending, greater than after. 0/-1. */
int tasks_store_users_after(pg_pool *pool, int64_t after, int64_t *ids, size_t max, size_t *n,
                      pg_err *err);

#endif
