/* notify_store — notification-service's SQL; see notify_store.h.
 *
 * A batch costs a fixed number of statements whatever its size: every list of values goes
 * to PostgreSQL as one array parameter and is spread by unnest(), so thousands of events a
 * second need tens of round trips, not thousands. */
#include "notify_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rfc3339.h"

/* The API shape of a notification, rendered by PostgreSQL from a row n (and its deliveries),
 * so the list, the read route, the webhook body and the log agree by construction. */
#define NOTIFICATION_JSON                                                                          \
    "json_build_object('id', n.id, 'kind', n.kind, 'title', n.title, 'body', n.body, "             \
    "'task_id', n.task_id, 'event_id', n.event_id, "                                               \
    "'created_at', to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    "'remind_at', to_char(n.remind_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "  \
    "'read_at', to_char(n.read_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "      \
    "'delivery', jsonb_build_object('log', 'delivered') || COALESCE((SELECT "                       \
    "jsonb_object_agg(d.channel, d.status) FROM deliveries d WHERE d.notification_id = n.id), "    \
    "'{}'))::text"

static const char *const outcome_names[] = {"notified", "ignored", "stale", "duplicate"};

const char *notify_store_outcome_name(notify_outcome_t o)
{
    return (unsigned)o < sizeof outcome_names / sizeof outcome_names[0] ? outcome_names[o] : "?";
}

/* ==== array parameters ================================================================== */

/* PostgreSQL array literals: {1,2,3} and {"a","b"} (elements quoted, \ and " escaped). */
static void arr_open(buf_t *b)
{
    buf_reset(b);
    buf_putc(b, '{');
}

static void arr_int(buf_t *b, int64_t v)
{
    if (b->len > 1) buf_putc(b, ',');
    buf_printf(b, "%lld", (long long)v);
}

static void arr_str(buf_t *b, const char *s)
{
    if (b->len > 1) buf_putc(b, ',');
    if (!s) {
        buf_puts(b, "NULL");
        return;
    }
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static const char *arr_close(buf_t *b)
{
    buf_putc(b, '}');
    return buf_str(b);
}

/* ==== applying a batch ================================================================== */

typedef struct apply_ctx {
    const notify_event_t *evs;
    size_t n;
    bool webhook;
    notify_outcome_t *out;
    int64_t *ids;
    notify_action_t *actions; /* n */
} apply_ctx_t;

/* The newest version known for task (from the table and from this batch so far). */
typedef struct task_ver {
    int64_t task_id, version;
    bool changed; /* this batch moved it */
    int last;     /* index of the last event of the task in the batch, for its reminder */
} task_ver_t;

static task_ver_t *find_task(task_ver_t *t, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].task_id == id) return &t[i];
    return NULL;
}

static int apply_tx(PGconn *c, void *arg, pg_err *err)
{
    apply_ctx_t *x = arg;
    int rc = -1;
    buf_t a[8];
    for (int i = 0; i < 8; i++) a[i] = (buf_t)BUF_INIT;
    task_ver_t *tv = calloc(x->n ? x->n : 1, sizeof *tv);
    size_t ntv = 0;
    PGresult *r = NULL;
    if (!tv) goto oom;
    for (size_t i = 0; i < x->n; i++) { /* pg_tx may run this twice: start clean */
        x->out[i] = NOTIFY_OUT_IGNORED;
        x->ids[i] = 0;
    }

    /* 1. duplicates: ids recorded before, or repeated inside this batch */
    arr_open(&a[0]);
    for (size_t i = 0; i < x->n; i++) arr_str(&a[0], x->evs[i].id);
    const char *p1[] = {arr_close(&a[0])};
    if (!(r = pg_query(c, "SELECT event_id::text FROM processed_events WHERE event_id = ANY($1::uuid[])",
                       1, p1, err)))
        goto out;
    for (size_t i = 0; i < x->n; i++) {
        for (int k = 0; k < PQntuples(r); k++)
            if (!strcmp(PQgetvalue(r, k, 0), x->evs[i].id)) x->out[i] = NOTIFY_OUT_DUPLICATE;
        for (size_t j = 0; j < i && x->out[i] != NOTIFY_OUT_DUPLICATE; j++)
            if (!strcmp(x->evs[j].id, x->evs[i].id)) x->out[i] = NOTIFY_OUT_DUPLICATE;
    }
    PQclear(r);
    r = NULL;

    /* 2. the newest versions processed, locked for the rest of the transaction */
    arr_open(&a[0]);
    for (size_t i = 0; i < x->n; i++) arr_int(&a[0], x->evs[i].task_id);
    const char *p2[] = {arr_close(&a[0])};
    if (!(r = pg_query(c, "SELECT task_id, version FROM task_versions WHERE task_id = ANY($1::bigint[]) "
                          "ORDER BY task_id FOR UPDATE",
                       1, p2, err)))
        goto out;
    for (int k = 0; k < PQntuples(r); k++)
        tv[ntv++] = (task_ver_t){strtoll(PQgetvalue(r, k, 0), NULL, 10),
                                 strtoll(PQgetvalue(r, k, 1), NULL, 10), false, -1};
    PQclear(r);
    r = NULL;

    /* 3. each new event in order: stale, or its rules */
    size_t nrec = 0, nnote = 0;
    for (size_t i = 0; i < x->n; i++) {
        const notify_event_t *e = &x->evs[i];
        if (x->out[i] == NOTIFY_OUT_DUPLICATE) continue;
        nrec++;
        task_ver_t *t = find_task(tv, ntv, e->task_id);
        if (t && e->version <= t->version) {
            x->out[i] = NOTIFY_OUT_STALE;
            continue;
        }
        if (!t) {
            t = &tv[ntv++];
            *t = (task_ver_t){e->task_id, 0, false, -1};
        }
        t->version = e->version;
        t->changed = true;
        notify_event_rules(e, &x->actions[i]);
        if (x->actions[i].reminder != NOTIFY_REMINDER_KEEP) t->last = (int)i;
        if (x->actions[i].notify) {
            x->out[i] = NOTIFY_OUT_NOTIFIED;
            nnote++;
        }
    }
    if (nrec == 0) {
        rc = 0;
        goto out;
    }

    /* 4. the record of every new event; fewer rows than sent means another instance recorded
     * one of them meanwhile: retry the batch from a fresh snapshot */
    for (int k = 0; k < 8; k++) arr_open(&a[k]);
    for (size_t i = 0; i < x->n; i++) {
        const notify_event_t *e = &x->evs[i];
        if (x->out[i] == NOTIFY_OUT_DUPLICATE) continue;
        arr_str(&a[0], e->id);
        arr_str(&a[1], notify_event_type_name(e->type));
        arr_int(&a[2], e->task_id);
        arr_int(&a[3], e->user_id);
        arr_int(&a[4], e->version);
        arr_str(&a[5], notify_store_outcome_name(x->out[i]));
        arr_int(&a[6], e->partition);
        arr_int(&a[7], e->offset);
    }
    const char *p4[8];
    for (int k = 0; k < 8; k++) p4[k] = arr_close(&a[k]);
    long long got = pg_command(
        c,
        "INSERT INTO processed_events (event_id, event_type, task_id, user_id, version, outcome, "
        "kafka_partition, kafka_offset) SELECT * FROM unnest($1::uuid[], $2::text[], "
        "$3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::int[], $8::bigint[]) "
        "ON CONFLICT (event_id) DO NOTHING",
        8, p4, err);
    if (got < 0) goto out;
    if ((size_t)got != nrec) {
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", PG_SQLSTATE_SERIALIZATION_FAILURE);
        snprintf(err->msg, sizeof err->msg, "another instance recorded an event of the batch");
        goto out;
    }

    /* 5. the newest version per task the batch moved */
    for (int k = 0; k < 3; k++) arr_open(&a[k]);
    for (size_t k = 0; k < ntv; k++) {
        if (!tv[k].changed) continue;
        int64_t uid = 0;
        for (size_t i = 0; i < x->n; i++)
            if (x->evs[i].task_id == tv[k].task_id) uid = x->evs[i].user_id;
        arr_int(&a[0], tv[k].task_id);
        arr_int(&a[1], uid);
        arr_int(&a[2], tv[k].version);
    }
    const char *p5[] = {arr_close(&a[0]), arr_close(&a[1]), arr_close(&a[2])};
    if (pg_command(c,
                   "INSERT INTO task_versions (task_id, user_id, version) SELECT * FROM "
                   "unnest($1::bigint[], $2::bigint[], $3::bigint[]) ON CONFLICT (task_id) DO "
                   "UPDATE SET version = GREATEST(task_versions.version, EXCLUDED.version)",
                   3, p5, err) < 0)
        goto out;

    /* 6. reminders: each task's last reminder operation in the batch wins */
    for (int k = 0; k < 5; k++) arr_open(&a[k]);
    for (size_t k = 0; k < ntv; k++) {
        if (tv[k].last < 0) continue;
        const notify_event_t *e = &x->evs[tv[k].last];
        const notify_action_t *act = &x->actions[tv[k].last];
        if (act->reminder == NOTIFY_REMINDER_SCHEDULE) {
            arr_int(&a[0], e->task_id);
            arr_int(&a[1], e->user_id);
            arr_str(&a[2], e->title);
            arr_int(&a[3], act->remind_ms);
        } else {
            arr_int(&a[4], e->task_id);
        }
    }
    const char *p6[] = {arr_close(&a[0]), arr_close(&a[1]), arr_close(&a[2]), arr_close(&a[3])};
    const char *p6c[] = {arr_close(&a[4])};
    if (pg_command(c,
                   "INSERT INTO reminders (task_id, user_id, title, remind_at, status) "
                   "SELECT t, u, ti, to_timestamp(ms / 1000.0), 'pending' FROM unnest($1::bigint[], "
                   "$2::bigint[], $3::text[], $4::bigint[]) AS x(t, u, ti, ms) "
                   "ON CONFLICT (task_id) DO UPDATE SET remind_at = EXCLUDED.remind_at, "
                   "title = EXCLUDED.title, user_id = EXCLUDED.user_id, status = 'pending'",
                   4, p6, err) < 0 ||
        pg_command(c,
                   "UPDATE reminders SET status = 'cancelled' WHERE task_id = ANY($1::bigint[]) "
                   "AND status = 'pending'",
                   1, p6c, err) < 0)
        goto out;

    /* 7. the notifications, with ids taken first so each event knows its own */
    if (nnote > 0) {
        char count[24];
        snprintf(count, sizeof count, "%zu", nnote);
        const char *p7[] = {count};
        if (!(r = pg_query(c, "SELECT nextval('notifications_id_seq') FROM generate_series(1, $1::int)",
                           1, p7, err)))
            goto out;
        for (int k = 0; k < 8; k++) arr_open(&a[k]);
        size_t at = 0;
        for (size_t i = 0; i < x->n; i++) {
            if (x->out[i] != NOTIFY_OUT_NOTIFIED) continue;
            const notify_event_t *e = &x->evs[i];
            const notify_action_t *act = &x->actions[i];
            x->ids[i] = strtoll(PQgetvalue(r, (int)at++, 0), NULL, 10);
            arr_int(&a[0], x->ids[i]);
            arr_int(&a[1], e->user_id);
            arr_str(&a[2], e->id);
            arr_int(&a[3], e->task_id);
            arr_str(&a[4], act->kind);
            arr_str(&a[5], act->title);
            arr_str(&a[6], act->body);
            arr_int(&a[7], act->remind_ms); /* 0: none */
        }
        PQclear(r);
        r = NULL;
        buf_t tp = BUF_INIT;
        arr_open(&tp);
        for (size_t i = 0; i < x->n; i++)
            if (x->out[i] == NOTIFY_OUT_NOTIFIED)
                arr_str(&tp, x->evs[i].traceparent[0] ? x->evs[i].traceparent : NULL);
        const char *p7i[9];
        for (int k = 0; k < 8; k++) p7i[k] = arr_close(&a[k]);
        p7i[8] = arr_close(&tp);
        long long ins = pg_command(
            c,
            "INSERT INTO notifications (id, user_id, event_id, task_id, kind, title, body, "
            "remind_at, traceparent) SELECT id, u, ev, t, k, ti, bo, "
            "CASE WHEN ms > 0 THEN to_timestamp(ms / 1000.0) END, tp FROM unnest($1::bigint[], "
            "$2::bigint[], $3::uuid[], $4::bigint[], $5::text[], $6::text[], $7::text[], "
            "$8::bigint[], $9::text[]) AS x(id, u, ev, t, k, ti, bo, ms, tp)",
            9, p7i, err);
        buf_free(&tp);
        if (ins < 0) goto out;
        /* 8. the webhook's queue (the log channel is delivered with the notification itself,
         * so it needs no row: the API shows it delivered) */
        if (x->webhook) {
            arr_open(&a[0]);
            for (size_t i = 0; i < x->n; i++)
                if (x->ids[i]) arr_int(&a[0], x->ids[i]);
            const char *p8[] = {arr_close(&a[0])};
            if (pg_command(c,
                           "INSERT INTO deliveries (notification_id, channel, status) "
                           "SELECT id, 'webhook', 'pending' FROM unnest($1::bigint[]) AS id",
                           1, p8, err) < 0)
                goto out;
        }
    }
    rc = 0;
    goto out;
oom:
    snprintf(err->msg, sizeof err->msg, "out of memory");
    err->sqlstate[0] = '\0';
out:
    if (r) PQclear(r);
    for (int k = 0; k < 8; k++) {
        if (a[k].oom && rc == 0) {
            rc = -1;
            snprintf(err->msg, sizeof err->msg, "out of memory");
        }
        buf_free(&a[k]);
    }
    free(tv);
    return rc;
}

int notify_store_apply(pg_pool *pool, const notify_event_t *evs, size_t n, bool webhook,
                       notify_outcome_t *out, int64_t *ids, pg_err *err)
{
    if (n == 0) return 0;
    notify_action_t *actions = calloc(n, sizeof *actions);
    if (!actions) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        err->sqlstate[0] = '\0';
        return -1;
    }
    apply_ctx_t x = {evs, n, webhook, out, ids, actions};
    int rc = pg_tx(pool, apply_tx, &x, err);
    free(actions);
    return rc;
}

/* ==== reminders ========================================================================= */

typedef struct fire_ctx {
    int limit;
    bool webhook;
    long fired;
    int64_t (*made)[3]; /* id, user, task of each notification made */
} fire_ctx_t;

static int fire_tx(PGconn *c, void *arg, pg_err *err)
{
    fire_ctx_t *x = arg;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", x->limit);
    const char *p[] = {limit, x->webhook ? "true" : "false"};
    /* one statement: the due reminders are marked fired and become notifications, and the
     * deliveries follow, so a crash leaves either all of it or none */
    PGresult *r = pg_query(
        c,
        "WITH due AS (UPDATE reminders SET status = 'fired' WHERE task_id IN (SELECT task_id "
        "FROM reminders WHERE status = 'pending' AND remind_at <= now() ORDER BY remind_at "
        "LIMIT $1::int FOR UPDATE SKIP LOCKED) RETURNING task_id, user_id, title, remind_at), "
        "made AS (INSERT INTO notifications (user_id, task_id, kind, title, body, remind_at) "
        "SELECT user_id, task_id, 'reminder_due', 'Reminder: ' || title, '\"' || title || "
        "'\" is due now.', remind_at FROM due RETURNING id, user_id, task_id), "
        "hooks AS (INSERT INTO deliveries (notification_id, channel, status) "
        "SELECT id, 'webhook', 'pending' FROM made WHERE $2::bool RETURNING 1) "
        "SELECT id, user_id, task_id FROM made",
        2, p, err);
    if (!r) return -1;
    x->fired = PQntuples(r) < x->limit ? PQntuples(r) : x->limit;
    for (long i = 0; i < x->fired; i++)
        for (int k = 0; k < 3; k++) x->made[i][k] = strtoll(PQgetvalue(r, (int)i, k), NULL, 10);
    PQclear(r);
    return 0;
}

int notify_store_fire_reminders(pg_pool *pool, int limit, bool webhook, long *fired, pg_err *err)
{
    fire_ctx_t x = {limit, webhook, 0, calloc((size_t)(limit > 0 ? limit : 1), sizeof *x.made)};
    if (!x.made) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        err->sqlstate[0] = '\0';
        return -1;
    }
    int rc = pg_tx(pool, fire_tx, &x, err);
    *fired = rc == 0 ? x.fired : 0;
    for (long i = 0; i < *fired; i++) /* the log channel, once committed */
        log_info("notification", LOG_INT("notification_id", x.made[i][0]),
                 LOG_INT("user_id", x.made[i][1]), LOG_INT("task_id", x.made[i][2]),
                 LOG_STR("kind", "reminder_due"), LOG_STR("channel", "log"));
    free(x.made);
    return rc;
}

/* ==== the API =========================================================================== */

int notify_store_list(pg_pool *pool, int64_t user_id, int64_t cursor, int limit, buf_t *body,
                      pg_err *err)
{
    PGconn *c = pg_acquire(pool, err);
    if (!c) return -1;
    char uid[24], cur[24], lim[16];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(cur, sizeof cur, "%lld", (long long)(cursor > 0 ? cursor : INT64_MAX));
    snprintf(lim, sizeof lim, "%d", limit + 1); /* one more: is there a next page? */
    const char *p[] = {uid, cur, lim};
    PGresult *r = pg_query(c,
                           "SELECT n.id, " NOTIFICATION_JSON " FROM notifications n "
                           "WHERE n.user_id = $1::bigint AND n.id < $2::bigint "
                           "ORDER BY n.id DESC LIMIT $3::int",
                           3, p, err);
    pg_release(pool, c);
    if (!r) return -1;
    int rows = PQntuples(r);
    int shown = rows > limit ? limit : rows;
    buf_puts(body, "{\"notifications\":[");
    for (int i = 0; i < shown; i++) {
        if (i) buf_putc(body, ',');
        buf_puts(body, PQgetvalue(r, i, 1));
    }
    if (rows > limit)
        buf_printf(body, "],\"next_cursor\":\"%s\"}", PQgetvalue(r, shown - 1, 0));
    else
        buf_puts(body, "],\"next_cursor\":null}");
    PQclear(r);
    return body->oom ? -1 : 0;
}

int notify_store_mark_read(pg_pool *pool, int64_t user_id, int64_t id, buf_t *body, pg_err *err)
{
    PGconn *c = pg_acquire(pool, err);
    if (!c) return -1;
    char uid[24], nid[24];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(nid, sizeof nid, "%lld", (long long)id);
    const char *p[] = {nid, uid};
    PGresult *r = pg_query(c,
                           "WITH upd AS (UPDATE notifications SET read_at = COALESCE(read_at, now()) "
                           "WHERE id = $1::bigint AND user_id = $2::bigint RETURNING *) "
                           "SELECT " NOTIFICATION_JSON " FROM upd n",
                           2, p, err);
    pg_release(pool, c);
    if (!r) return -1;
    int found = PQntuples(r) == 1;
    if (found) buf_puts(body, PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

/* ==== the webhook queue ================================================================= */

int notify_store_claim_webhooks(pg_pool *pool, int max, int64_t lease_ms,
                                notify_delivery_t *out, int *n, pg_err *err)
{
    *n = 0;
    PGconn *c = pg_acquire(pool, err);
    if (!c) return -1;
    char lim[16], lease[24];
    snprintf(lim, sizeof lim, "%d", max);
    snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
    const char *p[] = {lim, lease};
    PGresult *r = pg_query(
        c,
        "WITH claimed AS (UPDATE deliveries d SET attempts = d.attempts + 1, "
        "next_attempt_at = now() + make_interval(secs => $2::bigint / 1000.0) "
        "WHERE (d.notification_id, d.channel) IN (SELECT notification_id, channel FROM "
        "deliveries WHERE channel = 'webhook' AND status = 'pending' AND next_attempt_at <= "
        "now() ORDER BY next_attempt_at LIMIT $1::int FOR UPDATE SKIP LOCKED) "
        "RETURNING d.notification_id, d.attempts) "
        "SELECT n.id, cl.attempts, COALESCE(n.traceparent, ''), " NOTIFICATION_JSON
        " FROM claimed cl JOIN notifications n ON n.id = cl.notification_id ORDER BY n.id",
        2, p, err);
    pg_release(pool, c);
    if (!r) return -1;
    int rows = PQntuples(r);
    for (int i = 0; i < rows && i < max; i++) {
        notify_delivery_t *d = &out[*n];
        d->notification_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        d->attempts = atoi(PQgetvalue(r, i, 1));
        snprintf(d->traceparent, sizeof d->traceparent, "%s", PQgetvalue(r, i, 2));
        if (!(d->json = strdup(PQgetvalue(r, i, 3)))) break;
        (*n)++;
    }
    PQclear(r);
    return 0;
}

void notify_store_deliveries_free(notify_delivery_t *d, int n)
{
    for (int i = 0; i < n; i++) {
        free(d[i].json);
        d[i].json = NULL;
    }
}

int notify_store_webhook_result(pg_pool *pool, int64_t notification_id, bool delivered,
                                const char *error, bool final, int64_t retry_ms, pg_err *err)
{
    PGconn *c = pg_acquire(pool, err);
    if (!c) return -1;
    char nid[24], retry[24];
    snprintf(nid, sizeof nid, "%lld", (long long)notification_id);
    snprintf(retry, sizeof retry, "%lld", (long long)retry_ms);
    const char *status = delivered ? "delivered" : final ? "failed" : "pending";
    const char *p[] = {nid, status, error, retry};
    long long n = pg_command(
        c,
        "UPDATE deliveries SET status = $2, last_error = $3, "
        "delivered_at = CASE WHEN $2 = 'delivered' THEN now() END, "
        "next_attempt_at = now() + make_interval(secs => $4::bigint / 1000.0) "
        "WHERE notification_id = $1::bigint AND channel = 'webhook'",
        4, p, err);
    pg_release(pool, c);
    return n < 0 ? -1 : 0;
}

int notify_store_backlog(pg_pool *pool, long long *webhook_pending, long long *reminders,
                         pg_err *err)
{
    PGconn *c = pg_acquire(pool, err);
    if (!c) return -1;
    PGresult *r = pg_query(c,
                           "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'), "
                           "(SELECT count(*) FROM reminders WHERE status = 'pending')",
                           0, NULL, err);
    pg_release(pool, c);
    if (!r) return -1;
    *webhook_pending = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *reminders = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return 0;
}
