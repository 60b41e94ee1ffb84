/* ops_rm — the read model reader and its diff; see ops_rm.h. */
#include "ops_rm.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops_http.h"
#include "pg.h"

struct ops_rm {
    redisurl_t addr;
    redisContext *rc;
    pg_pool *pool;
    char db_safe[512];
};

ops_status_t ops_rm_open(ops_rm_t **out, const char *redis_url, const char *db_url,
                         ops_err_t *err)
{
    ops_rm_t *rm = calloc(1, sizeof *rm);
    if (!rm) return ops_fail(err, OPS_FAIL, "out of memory");
    char why[128];
    if (redisurl_parse(redis_url, &rm->addr, why, sizeof why) < 0) {
        free(rm);
        return ops_fail(err, OPS_USAGE, "REDIS_URL: %s", why);
    }
    if (db_url) {
        ops_url_redact(db_url, rm->db_safe, sizeof rm->db_safe);
        pg_pool_config pc = {.url = db_url, .size = 1, .connect_timeout_s = 3,
                             .statement_timeout_ms = 10000, .application_name = "todo-console"};
        pg_err pe;
        if (pg_pool_open(&pc, &rm->pool, &pe) < 0) {
            free(rm);
            return ops_fail(err, OPS_USAGE, "TASKS_DATABASE_URL: %s", pe.msg);
        }
    }
    *out = rm;
    return OPS_OK;
}

void ops_rm_close(ops_rm_t *rm)
{
    if (!rm) return;
    if (rm->rc) redisFree(rm->rc);
    if (rm->pool) pg_pool_close(rm->pool);
    memset(rm->addr.password, 0, sizeof rm->addr.password);
    free(rm);
}

static ops_status_t redis_fail(ops_rm_t *rm, const char *what, ops_err_t *err)
{
    ops_status_t st = ops_fail(err, OPS_UNREACHABLE, "redis %s:%d: %s", rm->addr.host,
                               rm->addr.port, what);
    if (rm->rc) redisFree(rm->rc);
    rm->rc = NULL;
    return st;
}

/* Runs one command (argv form: no quoting issues); NULL with err on any failure. */
static redisReply *cmd(ops_rm_t *rm, ops_err_t *err, int argc, const char **argv)
{
    if (!rm->rc) {
        struct timeval tv = {2, 0};
        rm->rc = redisConnectWithTimeout(rm->addr.host, rm->addr.port, tv);
        if (!rm->rc || rm->rc->err) {
            char why[160];
            snprintf(why, sizeof why, "%s", rm->rc ? rm->rc->errstr : "out of memory");
            redis_fail(rm, why, err);
            return NULL;
        }
        redisSetTimeout(rm->rc, tv);
        redisReply *r = NULL;
        if (rm->addr.password[0]) {
            r = rm->addr.user[0]
                    ? redisCommand(rm->rc, "AUTH %s %s", rm->addr.user, rm->addr.password)
                    : redisCommand(rm->rc, "AUTH %s", rm->addr.password);
            if (!r || r->type == REDIS_REPLY_ERROR) {
                bool refused = r != NULL;
                if (r) freeReplyObject(r);
                if (refused) {
                    ops_fail(err, OPS_AUTH, "redis %s:%d: authentication refused", rm->addr.host,
                             rm->addr.port);
                    redisFree(rm->rc);
                    rm->rc = NULL;
                } else {
                    redis_fail(rm, "AUTH failed", err);
                }
                return NULL;
            }
            freeReplyObject(r);
        }
        if (rm->addr.db) {
            r = redisCommand(rm->rc, "SELECT %d", rm->addr.db);
            if (!r || r->type == REDIS_REPLY_ERROR) {
                if (r) freeReplyObject(r);
                redis_fail(rm, "SELECT failed", err);
                return NULL;
            }
            freeReplyObject(r);
        }
    }
    redisReply *r = redisCommandArgv(rm->rc, argc, argv, NULL);
    if (!r) {
        redis_fail(rm, rm->rc->errstr[0] ? rm->rc->errstr : "no answer", err);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        bool noauth = !strncmp(r->str, "NOAUTH", 6) || !strncmp(r->str, "WRONGPASS", 9);
        ops_fail(err, noauth ? OPS_AUTH : OPS_FAIL, "redis %s: %s", argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int cmp_task_desc(const void *a, const void *b)
{
    const ops_rm_task_t *x = a, *y = b;
    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

static void str_of(redisReply *r, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
}

ops_status_t ops_rm_user_read(ops_rm_t *rm, int64_t user_id, ops_rm_user_t *out, ops_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->user_id = user_id;
    char k[64], kv[80], kb[80], kd[80];
    snprintf(k, sizeof k, "tasks:user:%lld", (long long)user_id);
    snprintf(kv, sizeof kv, "%s:ver", k);
    snprintf(kb, sizeof kb, "%s:built", k);
    snprintf(kd, sizeof kd, "%s:deleted", k);
    /* one MULTI so the docs, versions and marker are read at one instant */
    redisReply *r = cmd(rm, err, 1, (const char *[]){"MULTI"});
    if (!r) return err->st;
    freeReplyObject(r);
    const char *cmds[][2] = {{"HGETALL", k}, {"HGETALL", kv}, {"GET", kb}, {"ZCARD", kd}};
    for (int i = 0; i < 4; i++) {
        if (!(r = cmd(rm, err, 2, cmds[i]))) return err->st;
        freeReplyObject(r);
    }
    if (!(r = cmd(rm, err, 2, (const char *[]){"GET", "tasks:rm:epoch"}))) return err->st;
    freeReplyObject(r);
    redisReply *x = cmd(rm, err, 1, (const char *[]){"EXEC"});
    if (!x) return err->st;
    if (x->type != REDIS_REPLY_ARRAY || x->elements != 5) {
        freeReplyObject(x);
        return ops_fail(err, OPS_FAIL, "redis: unexpected EXEC answer");
    }
    redisReply *docs = x->element[0], *vers = x->element[1];
    str_of(x->element[2], out->built, sizeof out->built);
    out->tombstones = x->element[3]->type == REDIS_REPLY_INTEGER ? x->element[3]->integer : 0;
    str_of(x->element[4], out->epoch, sizeof out->epoch);
    out->built_current = out->built[0] && !strcmp(out->built, out->epoch);
    size_t nd = docs->type == REDIS_REPLY_ARRAY ? docs->elements / 2 : 0;
    out->exists = nd > 0 || out->built[0] || out->tombstones > 0;
    out->tasks = calloc(nd ? nd : 1, sizeof *out->tasks);
    if (!out->tasks) {
        freeReplyObject(x);
        return ops_fail(err, OPS_FAIL, "out of memory");
    }
    for (size_t i = 0; i < nd; i++) {
        ops_rm_task_t *t = &out->tasks[out->n];
        t->id = strtoll(docs->element[2 * i]->str, NULL, 10);
        t->doc = strdup(docs->element[2 * i + 1]->str ? docs->element[2 * i + 1]->str : "");
        t->version = -1;
        cJSON *j = t->doc ? cJSON_Parse(t->doc) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
        if (cJSON_IsNumber(v)) t->version = (int64_t)v->valuedouble;
        cJSON_Delete(j);
        t->ver_index = -1;
        for (size_t w = 0; vers->type == REDIS_REPLY_ARRAY && w + 1 < vers->elements; w += 2)
            if (strtoll(vers->element[w]->str, NULL, 10) == t->id)
                t->ver_index = strtoll(vers->element[w + 1]->str, NULL, 10);
        out->n++;
    }
    freeReplyObject(x);
    qsort(out->tasks, out->n, sizeof *out->tasks, cmp_task_desc);
    return OPS_OK;
}

void ops_rm_user_free(ops_rm_user_t *u)
{
    for (size_t i = 0; i < u->n; i++) free(u->tasks[i].doc);
    free(u->tasks);
    u->tasks = NULL;
    u->n = 0;
}

cJSON *ops_rm_user_json(const ops_rm_user_t *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "user_id", (double)u->user_id);
    cJSON_AddBoolToObject(o, "exists", u->exists);
    cJSON_AddStringToObject(o, "built", u->built);
    cJSON_AddStringToObject(o, "epoch", u->epoch);
    cJSON_AddBoolToObject(o, "current", u->built_current);
    cJSON_AddNumberToObject(o, "tombstones", (double)u->tombstones);
    cJSON *a = cJSON_AddArrayToObject(o, "tasks");
    for (size_t i = 0; i < u->n; i++) {
        cJSON *d = u->tasks[i].doc ? cJSON_Parse(u->tasks[i].doc) : NULL;
        cJSON_AddItemToArray(a, d ? d : cJSON_CreateString(u->tasks[i].doc ? u->tasks[i].doc : ""));
    }
    return o;
}

const char *ops_drift_kind_name(ops_drift_kind_t k)
{
    static const char *const n[] = {"missing", "extra", "older", "newer", "differs"};
    return (unsigned)k < 5 ? n[k] : "?";
}

cJSON *ops_drift_json(const ops_drift_t *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "user_id", (double)d->user_id);
    cJSON_AddNumberToObject(o, "task_id", (double)d->task_id);
    cJSON_AddStringToObject(o, "kind", ops_drift_kind_name(d->kind));
    cJSON_AddNumberToObject(o, "postgres_version", (double)d->pg_version);
    cJSON_AddNumberToObject(o, "redis_version", (double)d->rm_version);
    if (d->kind == OPS_DRIFT_DIFFERS) cJSON_AddStringToObject(o, "field", d->field);
    return o;
}

static ops_status_t pg_fail(ops_rm_t *rm, const pg_err *pe, ops_err_t *err)
{
    bool down = !strncmp(pe->sqlstate, "08", 2) || !strcmp(pe->sqlstate, "53300");
    return ops_fail(err, down ? OPS_UNREACHABLE : OPS_FAIL, "tasks database (%s): %s",
                    rm->db_safe, pe->msg);
}

/* PostgreSQL's (id, version) of the user's tasks, id descending. */
static ops_status_t pg_versions(ops_rm_t *rm, int64_t user_id, PGresult **out, ops_err_t *err)
{
    if (!rm->pool) return ops_fail(err, OPS_USAGE, "TASKS_DATABASE_URL is not set");
    pg_err pe;
    PGconn *c = pg_acquire(rm->pool, &pe);
    if (!c) return pg_fail(rm, &pe, err);
    char p1[24];
    snprintf(p1, sizeof p1, "%lld", (long long)user_id);
    const char *params[] = {p1};
    /* the served fields rendered as tasks-service renders them (tasks_store.c): times to the
     * millisecond in UTC, tags sorted bytewise */
#define PG_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    *out = pg_query(c,
                    "SELECT t.id, t.version, t.title, t.priority, t.done, " PG_TS("t.due_at") ", "
                    PG_TS("t.completed_at") ", COALESCE((SELECT json_agg(g.name ORDER BY g.name "
                    "COLLATE \"C\") FROM task_tags tt JOIN tags g ON g.id = tt.tag_id "
                    "WHERE tt.task_id = t.id), '[]')::text "
                    "FROM tasks t WHERE t.user_id = $1 ORDER BY t.id DESC",
                    1, params, &pe);
    pg_release(rm->pool, c);
    return *out ? OPS_OK : pg_fail(rm, &pe, err);
}

/* The first served field on which PostgreSQL's row i and the Redis JSON doc disagree, or NULL. */
static const char *differing_field(PGresult *pr, int i, const char *doc)
{
    cJSON *j = doc ? cJSON_Parse(doc) : NULL;
    if (!j) return "json";
    const char *bad = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "title");
    if (!cJSON_IsString(v) || strcmp(v->valuestring, PQgetvalue(pr, i, 2))) bad = "title";
    v = cJSON_GetObjectItemCaseSensitive(j, "priority");
    if (!bad && (!cJSON_IsNumber(v) || v->valuedouble != strtod(PQgetvalue(pr, i, 3), NULL)))
        bad = "priority";
    v = cJSON_GetObjectItemCaseSensitive(j, "done");
    if (!bad && (!cJSON_IsBool(v) || cJSON_IsTrue(v) != (PQgetvalue(pr, i, 4)[0] == 't')))
        bad = "done";
    static const struct { const char *key; int col; } times[] = {{"due_at", 5}, {"completed_at", 6}};
    for (int k = 0; k < 2 && !bad; k++) {
        v = cJSON_GetObjectItemCaseSensitive(j, times[k].key);
        bool pg_null = PQgetisnull(pr, i, times[k].col);
        if (pg_null ? !cJSON_IsNull(v)
                    : !cJSON_IsString(v) || strcmp(v->valuestring, PQgetvalue(pr, i, times[k].col)))
            bad = times[k].key;
    }
    if (!bad) {
        cJSON *tags = cJSON_Parse(PQgetvalue(pr, i, 7));
        if (!cJSON_Compare(tags, cJSON_GetObjectItemCaseSensitive(j, "tags"), true)) bad = "tags";
        cJSON_Delete(tags);
    }
    cJSON_Delete(j);
    return bad;
}

/* One comparison pass; appends to *d. */
static ops_status_t diff_once(ops_rm_t *rm, int64_t user_id, ops_drift_t **d, size_t *n,
                              bool *compared, ops_err_t *err)
{
    *d = NULL;
    *n = 0;
    PGresult *pr;
    ops_status_t st = pg_versions(rm, user_id, &pr, err);
    if (st != OPS_OK) return st;
    ops_rm_user_t u;
    if ((st = ops_rm_user_read(rm, user_id, &u, err)) != OPS_OK) {
        PQclear(pr);
        return st;
    }
    *compared = u.built_current;
    size_t np = (size_t)PQntuples(pr);
    if (u.built_current) {
        *d = calloc(np + u.n + 1, sizeof **d);
        if (!*d) st = ops_fail(err, OPS_FAIL, "out of memory");
        /* both sides are id-descending: one merge walk */
        size_t i = 0, j = 0;
        while (*d && (i < np || j < u.n)) {
            int64_t pid = i < np ? strtoll(PQgetvalue(pr, (int)i, 0), NULL, 10) : INT64_MIN;
            int64_t rid = j < u.n ? u.tasks[j].id : INT64_MIN;
            ops_drift_t x = {.user_id = user_id};
            if (pid > rid) {
                x.task_id = pid;
                x.kind = OPS_DRIFT_MISSING;
                x.pg_version = strtoll(PQgetvalue(pr, (int)i, 1), NULL, 10);
                (*d)[(*n)++] = x;
                i++;
            } else if (rid > pid) {
                x.task_id = rid;
                x.kind = OPS_DRIFT_EXTRA;
                x.rm_version = u.tasks[j].version;
                (*d)[(*n)++] = x;
                j++;
            } else {
                int64_t pv = strtoll(PQgetvalue(pr, (int)i, 1), NULL, 10), rv = u.tasks[j].version;
                x.task_id = pid;
                x.pg_version = pv;
                x.rm_version = rv;
                const char *field;
                if (pv != rv) {
                    x.kind = rv < pv ? OPS_DRIFT_OLDER : OPS_DRIFT_NEWER;
                    (*d)[(*n)++] = x;
                } else if ((field = differing_field(pr, (int)i, u.tasks[j].doc))) {
                    x.kind = OPS_DRIFT_DIFFERS;
                    snprintf(x.field, sizeof x.field, "%s", field);
                    (*d)[(*n)++] = x;
                }
                i++, j++;
            }
        }
    }
    PQclear(pr);
    ops_rm_user_free(&u);
    return st;
}

ops_status_t ops_rm_diff(ops_rm_t *rm, int64_t user_id, ops_drift_t **out, size_t *n,
                         bool *compared, ops_err_t *err)
{
    ops_status_t st = diff_once(rm, user_id, out, n, compared, err);
    if (st != OPS_OK || *n == 0) return st;
    /* confirm: keep only what a second look, a moment later, still shows the same way */
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    ops_drift_t *again;
    size_t n2;
    bool compared2;
    st = diff_once(rm, user_id, &again, &n2, &compared2, err);
    if (st != OPS_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
        return st;
    }
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        for (size_t j = 0; j < n2; j++)
            if (again[j].task_id == (*out)[i].task_id && again[j].kind == (*out)[i].kind) {
                (*out)[k++] = again[j];
                break;
            }
    *n = k;
    *compared = *compared && compared2;
    free(again);
    return OPS_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

ops_status_t ops_rm_users(ops_rm_t *rm, int64_t **out, size_t *n, ops_err_t *err)
{
    *out = NULL;
    *n = 0;
    if (!rm->pool) return ops_fail(err, OPS_USAGE, "TASKS_DATABASE_URL is not set");
    pg_err pe;
    PGconn *c = pg_acquire(rm->pool, &pe);
    if (!c) return pg_fail(rm, &pe, err);
    PGresult *pr = pg_query(c, "SELECT DISTINCT user_id FROM tasks", 0, NULL, &pe);
    pg_release(rm->pool, c);
    if (!pr) return pg_fail(rm, &pe, err);
    size_t cap = (size_t)PQntuples(pr) + 64, cnt = 0;
    int64_t *ids = malloc(cap * sizeof *ids);
    if (!ids) {
        PQclear(pr);
        return ops_fail(err, OPS_FAIL, "out of memory");
    }
    for (int i = 0; i < PQntuples(pr); i++) ids[cnt++] = strtoll(PQgetvalue(pr, i, 0), NULL, 10);
    PQclear(pr);
    /* projections without tasks in PostgreSQL: SCAN (never KEYS, which blocks Redis) */
    char cursor[32] = "0";
    do {
        redisReply *r = cmd(rm, err, 6,
                            (const char *[]){"SCAN", cursor, "MATCH", "tasks:user:*:built",
                                             "COUNT", "1000"});
        if (!r) {
            free(ids);
            return err->st;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            free(ids);
            return ops_fail(err, OPS_FAIL, "redis: unexpected SCAN answer");
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            if (cnt == cap) {
                int64_t *g = realloc(ids, (cap *= 2) * sizeof *ids);
                if (!g) {
                    freeReplyObject(r);
                    free(ids);
                    return ops_fail(err, OPS_FAIL, "out of memory");
                }
                ids = g;
            }
            ids[cnt++] = strtoll(keys->element[i]->str + strlen("tasks:user:"), NULL, 10);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    qsort(ids, cnt, sizeof *ids, cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++)
        if (ids[i] > 0 && (k == 0 || ids[k - 1] != ids[i])) ids[k++] = ids[i];
    *out = ids;
    *n = k;
    return OPS_OK;
}
