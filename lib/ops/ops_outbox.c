/* ops_outbox — read-mostly queries on the outbox; see ops_outbox.h. */
#include "ops_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_http.h"
#include "pg.h"

struct ops_outbox {
    pg_pool *pool;
    char url_safe[512];
};

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define ROW_COLS                                                                                 \
    "id, aggregate_id, version, event_id::text, event_type, topic, key, "                       \
    "COALESCE(traceparent, ''), published, dead, attempts, " TS("created_at") ", "              \
    "COALESCE(" TS("published_at") ", ''), last_error"
/* pg_try_advisory_lock(class, shard) of services/tasks/tasks_relay.c: ASCII "task". */
#define RELAY_LOCK_CLASS "1952543595"

/* A pg error as an ops status: connection-class errors are "unreachable". */
static ops_status_t db_fail(ops_outbox_t *ob, const pg_err *pe, ops_err_t *err)
{
    bool down = !strncmp(pe->sqlstate, "08", 2) || !strcmp(pe->sqlstate, "53300") ||
                !strcmp(pe->sqlstate, "57P03");
    return ops_fail(err, down ? OPS_UNREACHABLE : OPS_FAIL, "tasks database (%s): %s",
                    ob->url_safe, pe->msg);
}

ops_status_t ops_outbox_open(ops_outbox_t **out, const char *db_url, const char *app_name,
                             ops_err_t *err)
{
    ops_outbox_t *ob = calloc(1, sizeof *ob);
    if (!ob) return ops_fail(err, OPS_FAIL, "out of memory");
    ops_url_redact(db_url, ob->url_safe, sizeof ob->url_safe);
    pg_pool_config pc = {.url = db_url,
                         .size = 1,
                         .acquire_timeout_ms = 5000,
                         .connect_timeout_s = 3,
                         .statement_timeout_ms = 10000,
                         .application_name = app_name};
    pg_err pe;
    if (pg_pool_open(&pc, &ob->pool, &pe) < 0) {
        ops_status_t st = ops_fail(err, OPS_USAGE, "TASKS_DATABASE_URL (%s): %s", ob->url_safe,
                                   pe.msg);
        free(ob);
        return st;
    }
    *out = ob;
    return OPS_OK;
}

void ops_outbox_close(ops_outbox_t *ob)
{
    if (!ob) return;
    pg_pool_close(ob->pool);
    free(ob);
}

/* Takes the connection and makes the session read-only (idempotent, cheap). */
static PGconn *take(ops_outbox_t *ob, ops_err_t *err)
{
    pg_err pe;
    PGconn *c = pg_acquire(ob->pool, &pe);
    if (!c) {
        db_fail(ob, &pe, err);
        return NULL;
    }
    if (pg_command(c, "SET default_transaction_read_only = on", 0, NULL, &pe) < 0) {
        db_fail(ob, &pe, err);
        pg_release(ob->pool, c);
        return NULL;
    }
    return c;
}

static int64_t i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

ops_status_t ops_outbox_stats(ops_outbox_t *ob, ops_outbox_stats_t *out, ops_err_t *err)
{
    memset(out, 0, sizeof *out);
    PGconn *c = take(ob, err);
    if (!c) return err->st;
    pg_err pe;
    ops_status_t st = OPS_OK;
    PGresult *r = pg_query(
        c,
        "SELECT count(*) FILTER (WHERE NOT dead), "
        "  COALESCE(extract(epoch FROM now() - min(created_at) FILTER (WHERE NOT dead)), 0), "
        "  count(*) FILTER (WHERE dead), "
        "  (SELECT count(*) FROM outbox WHERE published "
        "     AND published_at > now() - interval '1 minute'), "
        "  (SELECT count(*) FROM outbox WHERE published "
        "     AND published_at > now() - interval '1 hour'), "
        "  (SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = 'outbox'::regclass) "
        "FROM outbox WHERE published = false",
        0, NULL, &pe);
    if (!r) goto fail;
    out->backlog = i64(r, 0, 0);
    out->oldest_unpublished_age_s = strtod(PQgetvalue(r, 0, 1), NULL);
    out->dead = i64(r, 0, 2);
    out->published_last_minute = i64(r, 0, 3);
    out->published_last_hour = i64(r, 0, 4);
    out->total = i64(r, 0, 5);
    PQclear(r);
    r = pg_query(c,
                 "SELECT event_type, count(*) FROM outbox WHERE published = false AND NOT dead "
                 "GROUP BY 1 ORDER BY 2 DESC LIMIT " /* bounded */ "16",
                 0, NULL, &pe);
    if (!r) goto fail;
    for (int i = 0; i < PQntuples(r) && i < OPS_OUTBOX_MAX_TYPES; i++) {
        snprintf(out->by_type[i].type, sizeof out->by_type[i].type, "%s", PQgetvalue(r, i, 0));
        out->by_type[i].count = i64(r, i, 1);
        out->ntypes++;
    }
    PQclear(r);
    r = pg_query(c,
                 "SELECT a.pid, count(l.objid), " TS("a.backend_start") ", "
                 "  COALESCE(host(a.client_addr), 'local') "
                 "FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid "
                 "  AND l.locktype = 'advisory' AND l.granted AND l.classid = " RELAY_LOCK_CLASS
                 " WHERE a.datname = current_database() "
                 "  AND a.application_name = 'tasks-outbox-relay' "
                 "GROUP BY 1, 3, 4 ORDER BY 1 LIMIT 64",
                 0, NULL, &pe);
    if (!r) goto fail;
    for (int i = 0; i < PQntuples(r) && i < OPS_OUTBOX_MAX_RELAYS; i++) {
        out->relays[i].pid = (int)i64(r, i, 0);
        out->relays[i].shards = (int)i64(r, i, 1);
        snprintf(out->relays[i].since, sizeof out->relays[i].since, "%s", PQgetvalue(r, i, 2));
        snprintf(out->relays[i].addr, sizeof out->relays[i].addr, "%s", PQgetvalue(r, i, 3));
        out->nrelays++;
    }
    PQclear(r);
    pg_release(ob->pool, c);
    return OPS_OK;
fail:
    st = db_fail(ob, &pe, err);
    pg_release(ob->pool, c);
    return st;
}

cJSON *ops_outbox_stats_json(const ops_outbox_stats_t *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "backlog", (double)s->backlog);
    cJSON_AddNumberToObject(o, "oldest_unpublished_age_seconds",
                            (double)(int64_t)(s->oldest_unpublished_age_s * 1000) / 1000.0);
    cJSON_AddNumberToObject(o, "dead", (double)s->dead);
    cJSON_AddNumberToObject(o, "published_last_minute", (double)s->published_last_minute);
    cJSON_AddNumberToObject(o, "published_last_hour", (double)s->published_last_hour);
    cJSON_AddNumberToObject(o, "total_estimate", (double)s->total);
    cJSON *bt = cJSON_AddObjectToObject(o, "backlog_by_type");
    for (size_t i = 0; i < s->ntypes; i++)
        cJSON_AddNumberToObject(bt, s->by_type[i].type, (double)s->by_type[i].count);
    cJSON *rl = cJSON_AddArrayToObject(o, "relays");
    for (size_t i = 0; i < s->nrelays; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "pid", s->relays[i].pid);
        cJSON_AddNumberToObject(x, "shards", s->relays[i].shards);
        cJSON_AddStringToObject(x, "since", s->relays[i].since);
        cJSON_AddStringToObject(x, "addr", s->relays[i].addr);
        cJSON_AddItemToArray(rl, x);
    }
    return o;
}

static void fill_row(PGresult *r, int i, ops_outbox_row_t *row)
{
    memset(row, 0, sizeof *row);
    row->id = i64(r, i, 0);
    row->task_id = i64(r, i, 1);
    row->version = i64(r, i, 2);
    snprintf(row->event_id, sizeof row->event_id, "%s", PQgetvalue(r, i, 3));
    snprintf(row->event_type, sizeof row->event_type, "%s", PQgetvalue(r, i, 4));
    snprintf(row->topic, sizeof row->topic, "%s", PQgetvalue(r, i, 5));
    snprintf(row->key, sizeof row->key, "%s", PQgetvalue(r, i, 6));
    snprintf(row->traceparent, sizeof row->traceparent, "%s", PQgetvalue(r, i, 7));
    row->published = PQgetvalue(r, i, 8)[0] == 't';
    row->dead = PQgetvalue(r, i, 9)[0] == 't';
    row->attempts = (int)i64(r, i, 10);
    snprintf(row->created_at, sizeof row->created_at, "%s", PQgetvalue(r, i, 11));
    snprintf(row->published_at, sizeof row->published_at, "%s", PQgetvalue(r, i, 12));
    row->last_error = PQgetisnull(r, i, 13) ? NULL : strdup(PQgetvalue(r, i, 13));
}

int ops_outbox_state_parse(const char *s, ops_outbox_state_t *out)
{
    static const struct { const char *name; ops_outbox_state_t st; } names[] = {
        {"all", OPS_OUTBOX_ALL},
        {"unpublished", OPS_OUTBOX_UNPUBLISHED},
        {"dead", OPS_OUTBOX_DEAD},
        {"published", OPS_OUTBOX_PUBLISHED},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].st;
            return 0;
        }
    return -1;
}

ops_status_t ops_outbox_list(ops_outbox_t *ob, ops_outbox_state_t state, int64_t task_id,
                             int limit, int64_t cursor, ops_outbox_row_t **rows, size_t *n,
                             ops_err_t *err)
{
    /* one statement per state, so each matches its partial index exactly */
    static const char *const sql[] = {
        [OPS_OUTBOX_ALL] = "SELECT " ROW_COLS " FROM outbox WHERE ($1::bigint = 0 OR "
                           "aggregate_id = $1) AND ($2::bigint = 0 OR id < $2) "
                           "ORDER BY id DESC LIMIT $3",
        [OPS_OUTBOX_UNPUBLISHED] = "SELECT " ROW_COLS " FROM outbox WHERE published = false "
                                   "AND NOT dead AND ($1::bigint = 0 OR aggregate_id = $1) "
                                   "AND id > $2 ORDER BY id LIMIT $3",
        [OPS_OUTBOX_DEAD] = "SELECT " ROW_COLS " FROM outbox WHERE dead AND ($1::bigint = 0 OR "
                            "aggregate_id = $1) AND id > $2 ORDER BY id LIMIT $3",
        [OPS_OUTBOX_PUBLISHED] = "SELECT " ROW_COLS " FROM outbox WHERE published AND "
                                 "($1::bigint = 0 OR aggregate_id = $1) AND ($2::bigint = 0 OR "
                                 "id < $2) ORDER BY id DESC LIMIT $3",
    };
    *rows = NULL;
    *n = 0;
    if (limit < 1 || limit > 10000)
        return ops_fail(err, OPS_USAGE, "limit %d is out of range (1..10000)", limit);
    PGconn *c = take(ob, err);
    if (!c) return err->st;
    char p1[24], p2[24], p3[16];
    snprintf(p1, sizeof p1, "%lld", (long long)task_id);
    snprintf(p2, sizeof p2, "%lld", (long long)cursor);
    snprintf(p3, sizeof p3, "%d", limit);
    const char *params[] = {p1, p2, p3};
    pg_err pe;
    PGresult *r = pg_query(c, sql[state], 3, params, &pe);
    ops_status_t st = OPS_OK;
    if (!r) {
        st = db_fail(ob, &pe, err);
    } else {
        int nt = PQntuples(r);
        *rows = calloc(nt ? (size_t)nt : 1, sizeof **rows);
        if (!*rows) {
            st = ops_fail(err, OPS_FAIL, "out of memory");
        } else {
            for (int i = 0; i < nt; i++) fill_row(r, i, &(*rows)[i]);
            *n = (size_t)nt;
        }
        PQclear(r);
    }
    pg_release(ob->pool, c);
    return st;
}

ops_status_t ops_outbox_show(ops_outbox_t *ob, int64_t id, ops_outbox_row_t *row, ops_err_t *err)
{
    memset(row, 0, sizeof *row);
    PGconn *c = take(ob, err);
    if (!c) return err->st;
    char p1[24];
    snprintf(p1, sizeof p1, "%lld", (long long)id);
    const char *params[] = {p1};
    pg_err pe;
    PGresult *r = pg_query(c, "SELECT " ROW_COLS ", payload::text FROM outbox WHERE id = $1", 1,
                           params, &pe);
    ops_status_t st = OPS_OK;
    if (!r)
        st = db_fail(ob, &pe, err);
    else if (PQntuples(r) == 0)
        st = ops_fail(err, OPS_FAIL, "no outbox row %lld", (long long)id);
    else {
        fill_row(r, 0, row);
        row->payload = strdup(PQgetvalue(r, 0, 14));
    }
    PQclear(r);
    pg_release(ob->pool, c);
    return st;
}

cJSON *ops_outbox_row_json(const ops_outbox_row_t *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddStringToObject(o, "event_id", r->event_id);
    cJSON_AddStringToObject(o, "event_type", r->event_type);
    cJSON_AddNumberToObject(o, "task_id", (double)r->task_id);
    cJSON_AddNumberToObject(o, "version", (double)r->version);
    cJSON_AddStringToObject(o, "topic", r->topic);
    cJSON_AddStringToObject(o, "key", r->key);
    const char *state = r->dead ? "dead" : r->published ? "published" : "pending";
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddBoolToObject(o, "published", r->published);
    cJSON_AddBoolToObject(o, "dead", r->dead);
    cJSON_AddNumberToObject(o, "attempts", r->attempts);
    cJSON_AddStringToObject(o, "created_at", r->created_at);
    if (r->published_at[0])
        cJSON_AddStringToObject(o, "published_at", r->published_at);
    else
        cJSON_AddNullToObject(o, "published_at");
    if (r->last_error)
        cJSON_AddStringToObject(o, "last_error", r->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    char trace_id[33] = "";
    if (strlen(r->traceparent) >= 35) snprintf(trace_id, sizeof trace_id, "%.32s", r->traceparent + 3);
    if (trace_id[0])
        cJSON_AddStringToObject(o, "trace_id", trace_id);
    else
        cJSON_AddNullToObject(o, "trace_id");
    cJSON *h = cJSON_AddObjectToObject(o, "headers");
    cJSON_AddStringToObject(h, "event_id", r->event_id);
    cJSON_AddStringToObject(h, "event_type", r->event_type);
    if (r->traceparent[0]) cJSON_AddStringToObject(h, "traceparent", r->traceparent);
    cJSON_AddStringToObject(h, "content-type", "application/json");
    if (r->payload) {
        cJSON *p = cJSON_Parse(r->payload);
        cJSON_AddItemToObject(o, "payload", p ? p : cJSON_CreateString(r->payload));
    }
    return o;
}

/* Runs sql (a data-changing statement) in its own READ WRITE transaction. */
static PGresult *write_tx(PGconn *c, const char *sql, int np, const char *const *params,
                          pg_err *pe)
{
    if (pg_command(c, "BEGIN READ WRITE", 0, NULL, pe) < 0) return NULL;
    PGresult *r = pg_query(c, sql, np, params, pe);
    if (!r) {
        pg_tx_rollback(c);
        return NULL;
    }
    if (pg_tx_commit(c, pe) < 0) {
        PQclear(r);
        return NULL;
    }
    return r;
}

ops_status_t ops_outbox_replay(ops_outbox_t *ob, int64_t from, int64_t to, bool include_published,
                               bool dry_run, int64_t *count, int64_t *tasks, size_t max_tasks,
                               size_t *ntasks, ops_err_t *err)
{
    *count = 0;
    *ntasks = 0;
    if (from < 1 || (to && to < from))
        return ops_fail(err, OPS_USAGE, "bad range %lld..%lld", (long long)from, (long long)to);
    PGconn *c = take(ob, err);
    if (!c) return err->st;
    char p1[24], p2[24];
    snprintf(p1, sizeof p1, "%lld", (long long)from);
    snprintf(p2, sizeof p2, "%lld", (long long)to);
    const char *params[] = {p1, to ? p2 : NULL, include_published ? "true" : "false"};
    /* both shapes return (count, distinct task ids) so preview and action print the same */
    static const char *const preview =
        "SELECT id, aggregate_id FROM outbox WHERE id >= $1 AND ($2::bigint IS NULL OR id <= $2) "
        "AND (dead OR ($3::boolean AND published))";
    static const char *const action =
        "UPDATE outbox SET published = false, published_at = NULL, dead = false, dead_at = NULL, "
        "attempts = 0, last_error = NULL, next_attempt_at = NULL "
        "WHERE id >= $1 AND ($2::bigint IS NULL OR id <= $2) "
        "AND (dead OR ($3::boolean AND published)) RETURNING id, aggregate_id";
    pg_err pe;
    PGresult *r = dry_run ? pg_query(c, preview, 3, params, &pe) : write_tx(c, action, 3, params, &pe);
    ops_status_t st = OPS_OK;
    if (!r) {
        st = db_fail(ob, &pe, err);
    } else {
        *count = PQntuples(r);
        for (int i = 0; i < PQntuples(r); i++) {
            int64_t t = i64(r, i, 1);
            size_t k = 0;
            while (k < *ntasks && tasks[k] != t) k++;
            if (k == *ntasks && *ntasks < max_tasks) tasks[(*ntasks)++] = t;
        }
        PQclear(r);
        if (!dry_run && *count > 0) PQclear(PQexec(c, "SELECT pg_notify('tasks_outbox', '')"));
    }
    pg_release(ob->pool, c);
    return st;
}

ops_status_t ops_outbox_prune(ops_outbox_t *ob, int64_t older_than_s, bool dry_run,
                              int64_t *count, ops_err_t *err)
{
    *count = 0;
    if (older_than_s < 0) return ops_fail(err, OPS_USAGE, "negative age");
    PGconn *c = take(ob, err);
    if (!c) return err->st;
    char p1[24];
    snprintf(p1, sizeof p1, "%lld", (long long)older_than_s);
    const char *params[] = {p1};
    pg_err pe;
    ops_status_t st = OPS_OK;
    if (dry_run) {
        PGresult *r = pg_query(c,
                               "SELECT count(*) FROM outbox WHERE published AND NOT dead AND "
                               "published_at < now() - $1::bigint * interval '1 second'",
                               1, params, &pe);
        if (!r)
            st = db_fail(ob, &pe, err);
        else
            *count = i64(r, 0, 0);
        PQclear(r);
    } else {
        for (;;) { /* short slices: the relay's marks never wait long behind a big delete */
            PGresult *r = write_tx(c,
                                   "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE "
                                   "published AND NOT dead AND published_at < now() - "
                                   "$1::bigint * interval '1 second' LIMIT 5000) RETURNING 1",
                                   1, params, &pe);
            if (!r) {
                st = db_fail(ob, &pe, err);
                break;
            }
            int n = PQntuples(r);
            PQclear(r);
            *count += n;
            if (n < 5000) break;
        }
    }
    pg_release(ob->pool, c);
    return st;
}

void ops_outbox_row_free(ops_outbox_row_t *r)
{
    if (!r) return;
    free(r->last_error);
    free(r->payload);
    r->last_error = r->payload = NULL;
}

void ops_outbox_rows_free(ops_outbox_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) ops_outbox_row_free(&rows[i]);
    free(rows);
}
