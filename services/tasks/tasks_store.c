/* tasks_store — SQL for tasks and tags; see tasks_store.h.
 *
 * Each change is one pg_tx: BEGIN, the change, its tags, its outbox row, COMMIT. A task's
 * changes serialise on the task's row lock (UPDATE / DELETE take it), so its outbox rows get
 * ids in version order — the relay relies on that for per-task order in Kafka. Times are
 * truncated to the millisecond in SQL, the precision the API shows. */
#include "tasks_store.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tasks_outbox.h"

#define NOW_MS "date_trunc('milliseconds', now())"

/* The columns row_to_task reads, in its order; the table is aliased t. */
#define TASK_COLS                                                                                \
    "t.id, t.user_id, t.title, t.priority, t.done, "                                             \
    "(extract(epoch FROM t.due_at) * 1000)::bigint, "                                            \
    "(extract(epoch FROM t.created_at) * 1000)::bigint, "                                        \
    "(extract(epoch FROM t.updated_at) * 1000)::bigint, "                                        \
    "(extract(epoch FROM t.completed_at) * 1000)::bigint, t.version, "                           \
    "COALESCE((SELECT json_agg(g.name ORDER BY g.name COLLATE \"C\") FROM task_tags tt "         \
    "JOIN tags g ON g.id = tt.tag_id WHERE tt.task_id = t.id), '[]')"
#define TASK_NCOLS 11

typedef struct tx_arg {
    int64_t user_id;
    int64_t id;
    int64_t max_tasks;
    bool over_limit;
    const task_input_t *in;
    const tasks_store_event_ctx_t *ev;
    task_t *out;
    task_event_t ev_type;
    int found;
    int changed;
} tx_arg;

static int row_to_task(const PGresult *r, int row, int col, task_t *t);
static int set_tags(PGconn *c, int64_t user_id, int64_t task_id, const task_input_t *in,
                    pg_err *err);

/* ==== helpers =========================================================================== */

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Fills t from TASK_COLS starting at column col. Returns 0, or -1 for a row that does not
 * fit (it cannot happen with the schema's checks; a guard, not a path). */
static int row_to_task(const PGresult *r, int row, int col, task_t *t)
{
    memset(t, 0, sizeof *t);
    t->id = col_i64(r, row, col + 0);
    t->user_id = col_i64(r, row, col + 1);
    const char *title = PQgetvalue(r, row, col + 2);
    if (strlen(title) > TASK_TITLE_BYTES) return -1;
    strcpy(t->title, title);
    t->priority = (int)col_i64(r, row, col + 3);
    t->done = PQgetvalue(r, row, col + 4)[0] == 't';
    t->has_due = !PQgetisnull(r, row, col + 5);
    if (t->has_due) t->due_ms = col_i64(r, row, col + 5);
    t->created_ms = col_i64(r, row, col + 6);
    t->updated_ms = col_i64(r, row, col + 7);
    t->has_completed = !PQgetisnull(r, row, col + 8);
    if (t->has_completed) t->completed_ms = col_i64(r, row, col + 8);
    t->version = col_i64(r, row, col + 9);
    cJSON *tags = cJSON_Parse(PQgetvalue(r, row, col + 10));
    const cJSON *e;
    int rc = cJSON_IsArray(tags) ? 0 : -1;
    cJSON_ArrayForEach(e, tags)
    {
        if (!cJSON_IsString(e) || t->ntags >= TASK_TAGS_MAX ||
            strlen(e->valuestring) > TASK_TAG_BYTES) {
            rc = -1;
            break;
        }
        strcpy(t->tags[t->ntags++], e->valuestring);
    }
    cJSON_Delete(tags);
    return rc;
}

static void bad_row(pg_err *err)
{
    snprintf(err->sqlstate, sizeof err->sqlstate, "XX000");
    snprintf(err->msg, sizeof err->msg, "a stored task does not fit the model");
}

/* Links the task to the input's tags, creating the user's tag names that are new. Two
 * statements on purpose: the insert of new names (DO NOTHING leaves existing names unlocked,
 * so writers of one user sharing a tag do not queue on its row until each commits; a name
 * another transaction is inserting makes this one wait for it, not fail), then the links,
 * in a new statement whose snapshot sees names committed meanwhile. Names go in sorted
 * order, so two writers inserting the same new names cannot deadlock. */
static int set_tags(PGconn *c, int64_t user_id, int64_t task_id, const task_input_t *in,
                    pg_err *err)
{
    if (in->ntags == 0) return 0;
    buf_t names = BUF_INIT;
    buf_putc(&names, '[');
    for (size_t i = 0; i < in->ntags; i++) {
        if (i) buf_putc(&names, ',');
        buf_json_str(&names, in->tags[i]);
    }
    buf_putc(&names, ']');
    if (names.oom) {
        buf_free(&names);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    char uid[24], tid[24];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(tid, sizeof tid, "%lld", (long long)task_id);
    const char *p[] = {uid, buf_str(&names), tid};
    long long n = pg_command(
        c,
        "INSERT INTO tags (user_id, name) "
        "SELECT $1, name FROM (SELECT DISTINCT value AS name "
        "                      FROM json_array_elements_text($2::json)) n "
        "ORDER BY name COLLATE \"C\" ON CONFLICT (user_id, name) DO NOTHING",
        2, p, err);
    if (n >= 0)
        n = pg_command(c,
                       "INSERT INTO task_tags (task_id, tag_id) SELECT $3, id FROM tags "
                       "WHERE user_id = $1 AND name IN "
                       "  (SELECT value FROM json_array_elements_text($2::json))",
                       3, p, err);
    buf_free(&names);
    if (n >= 0 && (size_t)n != in->ntags) {
        snprintf(err->sqlstate, sizeof err->sqlstate, "XX000");
        snprintf(err->msg, sizeof err->msg, "linked %lld of %zu tags", n, in->ntags);
        return -1;
    }
    return n < 0 ? -1 : 0;
}

static void copy_tags(task_t *t, const task_input_t *in)
{
    t->ntags = in->ntags;
    memcpy(t->tags, in->tags, sizeof t->tags);
}

/* Adds delta to the user's task count, in the slot of this session (task_counts in migration
 * 003: two pooled connections of one user rarely share a slot, so they rarely wait on each
 * other's row lock until commit). */
static int count_add(PGconn *c, const char *uid, const char *delta, pg_err *err)
{
    const char *p[] = {uid, delta};
    return pg_command(c,
                      "INSERT INTO task_counts AS k (user_id, slot, n) "
                      "VALUES ($1, pg_backend_pid() % 8, $2) ON CONFLICT (user_id, slot) "
                      "DO UPDATE SET n = k.n + EXCLUDED.n",
                      2, p, err) < 0
               ? -1
               : 0;
}

/* ==== changes =========================================================================== */

static int create_tx(PGconn *c, void *arg, pg_err *err)
{
    tx_arg *a = arg;
    const task_input_t *in = a->in;
    char uid[24], prio[8], due[TASK_TIME_LEN + 1];
    snprintf(uid, sizeof uid, "%lld", (long long)a->user_id);
    if (a->max_tasks > 0) {
        const char *up[] = {uid};
        PGresult *r = pg_query(c, "SELECT coalesce(sum(n), 0) FROM task_counts WHERE user_id = $1",
                               1, up, err);
        if (!r) return -1;
        a->over_limit = col_i64(r, 0, 0) >= a->max_tasks;
        PQclear(r);
        if (a->over_limit) return snprintf(err->msg, sizeof err->msg, "task limit"), -1;
    }
    if (count_add(c, uid, "1", err) < 0) return -1;
    snprintf(prio, sizeof prio, "%d", in->priority);
    bool has_due = in->has_due && !in->due_null;
    if (has_due) rfc3339_format(in->due_ms, due);
    const char *p[] = {uid, in->title, prio, has_due ? due : NULL};
    PGresult *r = pg_query(c,
                           "INSERT INTO tasks AS t (user_id, title, priority, due_at, created_at, "
                           "updated_at) VALUES ($1, $2, $3, $4::timestamptz, " NOW_MS ", " NOW_MS
                           ") RETURNING " TASK_COLS,
                           4, p, err);
    if (!r) return -1;
    int rc = row_to_task(r, 0, 0, a->out);
    PQclear(r);
    if (rc < 0) return bad_row(err), -1;
    if (set_tags(c, a->user_id, a->out->id, in, err) < 0) return -1;
    copy_tags(a->out, in);
    return tasks_outbox_insert(c, a->ev->topic, TASK_EV_CREATED, a->out, a->ev->traceparent, err);
}

int tasks_store_create(pg_pool *pool, int64_t user_id, int64_t max_tasks, const task_input_t *in,
                 const tasks_store_event_ctx_t *ev, task_t *out, pg_err *err)
{
    tx_arg a = {.user_id = user_id, .max_tasks = max_tasks, .in = in, .ev = ev, .out = out};
    if (pg_tx(pool, create_tx, &a, err) == 0) return 1;
    return a.over_limit ? TASKS_STORE_LIMIT : -1;
}

/* One UPDATE both checks ownership and applies the patch; the CTE locks the row first and
 * keeps the old done flag, which decides between task.updated and task.completed. */
static int update_tx(PGconn *c, void *arg, pg_err *err)
{
    tx_arg *a = arg;
    const task_input_t *in = a->in;
    char id[24], uid[24], prio[8], due[TASK_TIME_LEN + 1];
    snprintf(id, sizeof id, "%lld", (long long)a->id);
    snprintf(uid, sizeof uid, "%lld", (long long)a->user_id);
    snprintf(prio, sizeof prio, "%d", in->priority);
    bool has_due = in->has_due && !in->due_null;
    if (has_due) rfc3339_format(in->due_ms, due);
    const char *p[] = {id,
                       uid,
                       in->has_title ? in->title : NULL,
                       in->has_priority ? prio : NULL,
                       in->has_done ? (in->done ? "true" : "false") : NULL,
                       in->has_due ? "true" : "false",
                       has_due ? due : NULL};
    PGresult *r = pg_query(
        c,
        "WITH old AS (SELECT id, done FROM tasks WHERE id = $1 AND user_id = $2 FOR UPDATE) "
        "UPDATE tasks t SET title = COALESCE($3, t.title), "
        "  priority = COALESCE($4::smallint, t.priority), "
        "  done = COALESCE($5::boolean, t.done), "
        "  completed_at = CASE WHEN $5::boolean IS NULL THEN t.completed_at "
        "                      WHEN $5::boolean THEN COALESCE(t.completed_at, " NOW_MS ") "
        "                      ELSE NULL END, "
        "  due_at = CASE WHEN $6::boolean THEN $7::timestamptz ELSE t.due_at END, "
        "  updated_at = " NOW_MS ", version = t.version + 1 "
        "FROM old WHERE t.id = old.id RETURNING old.done, " TASK_COLS,
        7, p, err);
    if (!r) return -1;
    a->found = PQntuples(r) == 1;
    int rc = 0;
    if (a->found) {
        bool was_done = PQgetvalue(r, 0, 0)[0] == 't';
        rc = row_to_task(r, 0, 1, a->out);
        a->ev_type = (!was_done && a->out->done) ? TASK_EV_COMPLETED : TASK_EV_UPDATED;
    }
    PQclear(r);
    if (rc < 0) return bad_row(err), -1;
    if (!a->found) return 0;
    if (in->has_tags) {
        const char *dp[] = {id};
        if (pg_command(c, "DELETE FROM task_tags WHERE task_id = $1", 1, dp, err) < 0) return -1;
        if (set_tags(c, a->user_id, a->id, in, err) < 0) return -1;
        copy_tags(a->out, in);
    }
    return tasks_outbox_insert(c, a->ev->topic, a->ev_type, a->out, a->ev->traceparent, err);
}

int tasks_store_update(pg_pool *pool, int64_t user_id, int64_t id, const task_input_t *in,
                 const tasks_store_event_ctx_t *ev, task_t *out, task_event_t *ev_out, pg_err *err)
{
    tx_arg a = {.user_id = user_id, .id = id, .in = in, .ev = ev, .out = out};
    if (pg_tx(pool, update_tx, &a, err) < 0) return -1;
    *ev_out = a.ev_type;
    return a.found;
}

static int complete_tx(PGconn *c, void *arg, pg_err *err)
{
    tx_arg *a = arg;
    char id[24], uid[24];
    snprintf(id, sizeof id, "%lld", (long long)a->id);
    snprintf(uid, sizeof uid, "%lld", (long long)a->user_id);
    const char *p[] = {id, uid};
    PGresult *r = pg_query(c,
                           "UPDATE tasks t SET done = true, completed_at = " NOW_MS
                           ", updated_at = " NOW_MS ", version = t.version + 1 "
                           "WHERE t.id = $1 AND t.user_id = $2 AND NOT t.done RETURNING " TASK_COLS,
                           2, p, err);
    if (!r) return -1;
    a->changed = PQntuples(r) == 1;
    int rc = a->changed ? row_to_task(r, 0, 0, a->out) : 0;
    PQclear(r);
    if (rc < 0) return bad_row(err), -1;
    if (a->changed) {
        a->found = 1;
        return tasks_outbox_insert(c, a->ev->topic, TASK_EV_COMPLETED, a->out, a->ev->traceparent, err);
    }
    /* not changed: already done (answer it as it is) or not this user's task */
    r = pg_query(c, "SELECT " TASK_COLS " FROM tasks t WHERE t.id = $1 AND t.user_id = $2", 2, p,
                 err);
    if (!r) return -1;
    a->found = PQntuples(r) == 1;
    rc = a->found ? row_to_task(r, 0, 0, a->out) : 0;
    PQclear(r);
    return rc < 0 ? (bad_row(err), -1) : 0;
}

int tasks_store_complete(pg_pool *pool, int64_t user_id, int64_t id, const tasks_store_event_ctx_t *ev,
                   task_t *out, int *changed, pg_err *err)
{
    tx_arg a = {.user_id = user_id, .id = id, .ev = ev, .out = out};
    if (pg_tx(pool, complete_tx, &a, err) < 0) return -1;
    *changed = a.changed;
    return a.found;
}

/* RETURNING sees the task's tags: the ON DELETE CASCADE of task_tags runs after the row. */
static int delete_tx(PGconn *c, void *arg, pg_err *err)
{
    tx_arg *a = arg;
    char id[24], uid[24];
    snprintf(id, sizeof id, "%lld", (long long)a->id);
    snprintf(uid, sizeof uid, "%lld", (long long)a->user_id);
    const char *p[] = {id, uid};
    PGresult *r = pg_query(c,
                           "DELETE FROM tasks t WHERE t.id = $1 AND t.user_id = $2 RETURNING " TASK_COLS
                           ", (extract(epoch FROM " NOW_MS ") * 1000)::bigint",
                           2, p, err);
    if (!r) return -1;
    a->found = PQntuples(r) == 1;
    int rc = 0;
    if (a->found) {
        rc = row_to_task(r, 0, 0, a->out);
        a->out->version += 1; /* the deletion is a change too */
        a->out->updated_ms = col_i64(r, 0, TASK_NCOLS);
    }
    PQclear(r);
    if (rc < 0) return bad_row(err), -1;
    if (!a->found) return 0;
    if (count_add(c, uid, "-1", err) < 0) return -1;
    return tasks_outbox_insert(c, a->ev->topic, TASK_EV_DELETED, a->out, a->ev->traceparent, err);
}

int tasks_store_delete(pg_pool *pool, int64_t user_id, int64_t id, const tasks_store_event_ctx_t *ev,
                 task_t *out, pg_err *err)
{
    tx_arg a = {.user_id = user_id, .id = id, .ev = ev, .out = out};
    if (pg_tx(pool, delete_tx, &a, err) < 0) return -1;
    return a.found;
}

/* ==== reads ============================================================================= */

/* Runs a one-statement read on a pooled connection. */
static PGresult *read_query(pg_pool *pool, const char *sql, int n, const char *const *p,
                            pg_err *err)
{
    PGconn *c = pg_acquire(pool, err);
    if (!c) return NULL;
    PGresult *r = pg_query(c, sql, n, p, err);
    pg_release(pool, c);
    return r;
}

int tasks_store_get(pg_pool *pool, int64_t user_id, int64_t id, task_t *out, pg_err *err)
{
    char sid[24], uid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *p[] = {sid, uid};
    PGresult *r =
        read_query(pool, "SELECT " TASK_COLS " FROM tasks t WHERE t.id = $1 AND t.user_id = $2",
                   2, p, err);
    if (!r) return -1;
    int found = PQntuples(r) == 1;
    int rc = found ? row_to_task(r, 0, 0, out) : 0;
    PQclear(r);
    if (rc < 0) return bad_row(err), -1;
    return found;
}

int tasks_store_list(pg_pool *pool, int64_t user_id, const task_query_t *q, task_t *out, size_t *n,
               pg_err *err)
{
    char uid[24], cur[24], lim[16];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(cur, sizeof cur, "%lld", (long long)q->cursor);
    snprintf(lim, sizeof lim, "%d", q->limit + 1);
    const char *p[] = {uid,
                       q->done < 0 ? NULL : (q->done ? "true" : "false"),
                       q->has_tag ? q->tag : NULL,
                       q->has_q ? q->q : NULL,
                       q->cursor ? cur : NULL,
                       lim};
    PGresult *r = read_query(
        pool,
        "SELECT " TASK_COLS " FROM tasks t WHERE t.user_id = $1 "
        "AND ($2::boolean IS NULL OR t.done = $2) "
        "AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM task_tags tt JOIN tags g "
        "     ON g.id = tt.tag_id WHERE tt.task_id = t.id AND g.name = $3)) "
        "AND ($4::text IS NULL OR strpos(ascii_lower(t.title), $4) > 0) "
        "AND ($5::bigint IS NULL OR t.id < $5) "
        "ORDER BY t.id DESC LIMIT $6",
        6, p, err);
    if (!r) return -1;
    int rows = PQntuples(r);
    *n = 0;
    for (int i = 0; i < rows && i < q->limit + 1; i++) {
        if (row_to_task(r, i, 0, &out[*n]) < 0) {
            PQclear(r);
            return bad_row(err), -1;
        }
        (*n)++;
    }
    PQclear(r);
    return 0;
}

int tasks_store_user_page(PGconn *c, int64_t user_id, int64_t before, size_t max, task_t *out,
                          size_t *n, pg_err *err)
{
    char uid[24], bef[24], lim[24];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(bef, sizeof bef, "%lld", (long long)before);
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[] = {uid, before > 0 ? bef : NULL, lim};
    *n = 0;
    PGresult *r = pg_query(c,
                           "SELECT " TASK_COLS " FROM tasks t WHERE t.user_id = $1 "
                           "AND ($2::bigint IS NULL OR t.id < $2) ORDER BY t.id DESC LIMIT $3",
                           3, p, err);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r) && *n < max; i++) {
        if (row_to_task(r, i, 0, &out[*n]) < 0) {
            PQclear(r);
            return bad_row(err), -1;
        }
        (*n)++;
    }
    PQclear(r);
    return 0;
}

/* A loose index scan: one index probe per distinct user instead of reading every task. */
int tasks_store_users_after(pg_pool *pool, int64_t after, int64_t *ids, size_t max, size_t *n,
                      pg_err *err)
{
    char a[24], lim[24];
    snprintf(a, sizeof a, "%lld", (long long)after);
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[] = {a, lim};
    PGresult *r = read_query(pool,
                             "WITH RECURSIVE u AS ("
                             "  SELECT min(user_id) AS id FROM tasks WHERE user_id > $1 "
                             "  UNION ALL "
                             "  SELECT (SELECT min(user_id) FROM tasks WHERE user_id > u.id) "
                             "  FROM u WHERE u.id IS NOT NULL) "
                             "SELECT id FROM u WHERE id IS NOT NULL LIMIT $2",
                             2, p, err);
    if (!r) return -1;
    *n = 0;
    for (int i = 0; i < PQntuples(r) && *n < max; i++)
        ids[(*n)++] = col_i64(r, i, 0);
    PQclear(r);
    return 0;
}

/* ==== read model marks ================================================================== */

int tasks_store_mark_dirty(pg_pool *pool, const int64_t *user_ids, size_t n, pg_err *err)
{
    if (n == 0) return 0;
    buf_t ids = BUF_INIT;
    buf_putc(&ids, '{');
    for (size_t i = 0; i < n; i++) buf_printf(&ids, "%s%lld", i ? "," : "", (long long)user_ids[i]);
    buf_putc(&ids, '}');
    if (ids.oom) {
        buf_free(&ids);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    const char *p[] = {buf_str(&ids)};
    PGconn *c = pg_acquire(pool, err);
    long long rc = c ? pg_command(c,
                                  "INSERT INTO readmodel_dirty (user_id) "
                                  "SELECT DISTINCT u FROM unnest($1::bigint[]) u ORDER BY u "
                                  "ON CONFLICT (user_id) DO UPDATE SET marked_at = clock_timestamp()",
                                  1, p, err)
                     : -1;
    pg_release(pool, c);
    buf_free(&ids);
    return rc < 0 ? -1 : 0;
}

int tasks_store_dirty_list(pg_pool *pool, size_t max, int64_t *user_ids, char (*marked_at)[40],
                           size_t *n, pg_err *err)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", max);
    const char *p[] = {lim};
    *n = 0;
    PGresult *r = read_query(pool,
                             "SELECT user_id, marked_at::text FROM readmodel_dirty "
                             "ORDER BY marked_at LIMIT $1",
                             1, p, err);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r) && *n < max; i++) {
        user_ids[*n] = col_i64(r, i, 0);
        snprintf(marked_at[*n], 40, "%s", PQgetvalue(r, i, 1));
        (*n)++;
    }
    PQclear(r);
    return 0;
}

int tasks_store_dirty_clear(pg_pool *pool, int64_t user_id, const char *marked_at, pg_err *err)
{
    char uid[24];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    const char *p[] = {uid, marked_at};
    PGconn *c = pg_acquire(pool, err);
    long long rc = c ? pg_command(c,
                                  "DELETE FROM readmodel_dirty WHERE user_id = $1 "
                                  "AND marked_at = $2::timestamptz",
                                  2, p, err)
                     : -1;
    pg_release(pool, c);
    return rc < 0 ? -1 : 0;
}
