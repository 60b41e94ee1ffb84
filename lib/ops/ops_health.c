/* ops_health — parallel liveness/readiness checks of every part; see ops_health.h. */
#include "ops_health.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ops_http.h"
#include "ops_kafka.h"
#include "ops_metrics.h"
#include "ops_rm.h"
#include "pg.h"

typedef struct figure_spec {
    const char *label;   /* shown name */
    const char *metric;  /* Prometheus name */
    const char *match;   /* label substring, NULL: all series summed */
} figure_spec_t;

typedef struct part_spec {
    const char *name;
    ops_key_t key;
    void (*check)(const struct part_spec *spec, const char *addr, ops_part_t *out);
    const char *path;    /* for HTTP checks: the readiness path */
    const figure_spec_t *figures;
} part_spec_t;

static const figure_spec_t auth_figs[] = {
    {"requests", "http_requests_total", NULL},
    {"5xx", "http_requests_total", "status=\"5"},
    {"logins", "auth_logins_total", NULL},
    {NULL, NULL, NULL},
};
static const figure_spec_t tasks_figs[] = {
    {"requests", "http_requests_total", NULL},
    {"5xx", "http_requests_total", "status=\"5"},
    {"outbox_backlog", "outbox_backlog", NULL},
    {"oldest_unpublished_s", "outbox_oldest_unpublished_age_seconds", NULL},
    {"dead_rows", "outbox_dead_rows", NULL},
    {"published", "outbox_published_total", NULL},
    {"redis_up", "tasks_read_model_redis_up", NULL},
    {"rm_fallbacks", "tasks_read_model_fallbacks_total", NULL},
    {NULL, NULL, NULL},
};
static const figure_spec_t notify_figs[] = {
    {"requests", "http_requests_total", NULL},
    {"5xx", "http_requests_total", "status=\"5"},
    {"consumer_lag", "notify_consumer_lag", NULL},
    {"events", "notify_events_processed_total", NULL},
    {"duplicates", "notify_duplicates_total", NULL},
    {"dead_lettered", "notify_dead_lettered_total", NULL},
    {"deliveries_pending", "notify_deliveries_pending", NULL},
    {NULL, NULL, NULL},
};

static void check_service(const part_spec_t *spec, const char *addr, ops_part_t *out);
static void check_http(const part_spec_t *spec, const char *addr, ops_part_t *out);
static void check_pg(const part_spec_t *spec, const char *addr, ops_part_t *out);
static void check_redis(const part_spec_t *spec, const char *addr, ops_part_t *out);
static void check_kafka(const part_spec_t *spec, const char *addr, ops_part_t *out);

static const part_spec_t parts_table[] = {
    {"gateway", OPS_GATEWAY_URL, check_http, "/gateway/health", NULL},
    {"auth-service", OPS_AUTH_HTTP_URL, check_service, "/ready", auth_figs},
    {"tasks-service", OPS_TASKS_HTTP_URL, check_service, "/ready", tasks_figs},
    {"notification-service", OPS_NOTIFY_HTTP_URL, check_service, "/ready", notify_figs},
    {"postgres", OPS_TASKS_DATABASE_URL, check_pg, NULL, NULL},
    {"redis", OPS_REDIS_URL, check_redis, NULL, NULL},
    {"kafka", OPS_KAFKA_BROKERS, check_kafka, NULL, NULL},
    {"jaeger", OPS_JAEGER_QUERY_URL, check_http, "/api/services", NULL},
    {"prometheus", OPS_PROMETHEUS_URL, check_http, "/-/ready", NULL},
};
#define NPARTS (sizeof parts_table / sizeof parts_table[0])

/* GET base+path: 0 with the status (and body) or -1 with detail filled. */
static int get(ops_http_t *h, const char *base, const char *path, ops_http_resp_t *r,
               ops_part_t *out)
{
    char url[600];
    snprintf(url, sizeof url, "%s%s", base, path);
    ops_err_t e = OPS_ERR_INIT;
    if (ops_http_do(h, "GET", url, NULL, NULL, 0, r, &e) != OPS_OK) {
        snprintf(out->detail, sizeof out->detail, "%.250s", e.msg);
        return -1;
    }
    return 0;
}

static void check_http(const part_spec_t *spec, const char *addr, ops_part_t *out)
{
    ops_http_t *h = ops_http_new(2000, 2000);
    ops_http_resp_t r = OPS_HTTP_RESP_INIT;
    int64_t t0 = clock_mono_ms();
    if (h && get(h, addr, spec->path, &r, out) == 0) {
        out->alive = true;
        out->ready = r.status == 200;
        if (!out->ready) snprintf(out->detail, sizeof out->detail, "%s: HTTP %ld", spec->path, r.status);
    }
    out->latency_ms = (long)(clock_mono_ms() - t0);
    ops_http_resp_free(&r);
    ops_http_free(h);
}

static void check_service(const part_spec_t *spec, const char *addr, ops_part_t *out)
{
    ops_http_t *h = ops_http_new(2000, 2000);
    ops_http_resp_t r = OPS_HTTP_RESP_INIT;
    if (!h) return;
    if (get(h, addr, "/health", &r, out) == 0) {
        out->alive = r.status == 200;
        int64_t t0 = clock_mono_ms();
        if (get(h, addr, "/ready", &r, out) == 0) {
            out->latency_ms = (long)(clock_mono_ms() - t0);
            out->ready = r.status == 200;
            if (!out->ready) {
                /* the 503 body names the failing dependency: keep it, one line */
                cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
                char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
                snprintf(out->detail, sizeof out->detail, "/ready: HTTP %ld %s", r.status,
                         txt ? txt : "");
                free(txt);
                cJSON_Delete(j);
            }
        }
        if (out->alive && get(h, addr, "/metrics", &r, out) == 0 && r.status == 200) {
            ops_metrics_t m;
            if (ops_metrics_parse(buf_str(&r.body), &m) == 0) {
                for (size_t i = 0; spec->figures && spec->figures[i].label &&
                                   out->nfigures < OPS_FIGURES_MAX; i++) {
                    const figure_spec_t *f = &spec->figures[i];
                    double v;
                    if (!ops_metrics_get(&m, f->metric, f->match, &v)) continue;
                    out->figures[out->nfigures].name = f->label;
                    out->figures[out->nfigures++].value = ops_metrics_sum(&m, f->metric, f->match);
                }
                ops_metrics_free(&m);
            }
        }
    }
    ops_http_resp_free(&r);
    ops_http_free(h);
}

static void check_pg(const part_spec_t *spec, const char *addr, ops_part_t *out)
{
    (void)spec;
    int64_t t0 = clock_mono_ms();
    const char *kw[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *val[] = {addr, "2", "todo-console", NULL};
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (c && PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "SELECT 1");
        out->alive = out->ready = PQresultStatus(r) == PGRES_TUPLES_OK;
        snprintf(out->detail, sizeof out->detail, "PostgreSQL %d", PQserverVersion(c) / 10000);
        PQclear(r);
    } else {
        const char *m = c ? PQerrorMessage(c) : "out of memory";
        snprintf(out->detail, sizeof out->detail, "%.*s", (int)strcspn(m, "\n"), m);
    }
    out->latency_ms = (long)(clock_mono_ms() - t0);
    PQfinish(c);
}

static void check_redis(const part_spec_t *spec, const char *addr, ops_part_t *out)
{
    (void)spec;
    redisurl_t a;
    char why[128];
    if (redisurl_parse(addr, &a, why, sizeof why) < 0) {
        snprintf(out->detail, sizeof out->detail, "REDIS_URL: %s", why);
        return;
    }
    int64_t t0 = clock_mono_ms();
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(a.host, a.port, tv);
    if (c && !c->err) {
        redisSetTimeout(c, tv);
        redisReply *r = a.password[0] ? (a.user[0] ? redisCommand(c, "AUTH %s %s", a.user, a.password)
                                                   : redisCommand(c, "AUTH %s", a.password))
                                      : NULL;
        if (r) freeReplyObject(r);
        r = redisCommand(c, "PING");
        out->alive = r != NULL;
        out->ready = r && r->type == REDIS_REPLY_STATUS;
        if (r && r->type == REDIS_REPLY_ERROR) snprintf(out->detail, sizeof out->detail, "%s", r->str);
        if (r) freeReplyObject(r);
    } else {
        snprintf(out->detail, sizeof out->detail, "%s", c ? c->errstr : "out of memory");
    }
    out->latency_ms = (long)(clock_mono_ms() - t0);
    if (c) redisFree(c);
    memset(a.password, 0, sizeof a.password);
}

static void check_kafka(const part_spec_t *spec, const char *addr, ops_part_t *out)
{
    (void)spec;
    int64_t t0 = clock_mono_ms();
    ops_err_t e = OPS_ERR_INIT;
    int brokers = 0;
    if (ops_kafka_ping(addr, 2000, &brokers, &e) == OPS_OK) {
        out->alive = out->ready = true;
        snprintf(out->detail, sizeof out->detail, "%d broker%s", brokers, brokers == 1 ? "" : "s");
    } else {
        snprintf(out->detail, sizeof out->detail, "%.250s", e.msg);
    }
    out->latency_ms = (long)(clock_mono_ms() - t0);
}

typedef struct job {
    const part_spec_t *spec;
    const char *addr;
    ops_part_t *out;
} job_t;

static void *run_job(void *arg)
{
    job_t *j = arg;
    j->spec->check(j->spec, j->addr, j->out);
    return NULL;
}

size_t ops_health_check(const ops_cfg_t *cfg, ops_part_t *parts, size_t max)
{
    size_t n = NPARTS < max ? NPARTS : max;
    job_t jobs[NPARTS];
    pthread_t th[NPARTS];
    bool started[NPARTS] = {false};
    for (size_t i = 0; i < n; i++) {
        memset(&parts[i], 0, sizeof parts[i]);
        parts[i].name = parts_table[i].name;
        const char *addr = ops_cfg_get(cfg, parts_table[i].key);
        if (!addr) {
            snprintf(parts[i].detail, sizeof parts[i].detail, "%s is not set",
                     ops_cfg_key_name(parts_table[i].key));
            continue;
        }
        parts[i].configured = true;
        ops_url_redact(addr, parts[i].address, sizeof parts[i].address);
        jobs[i] = (job_t){&parts_table[i], addr, &parts[i]};
        started[i] = pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0;
        if (!started[i]) run_job(&jobs[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i]) pthread_join(th[i], NULL);
    return n;
}

cJSON *ops_health_json(const ops_part_t *parts, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "parts");
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        const ops_part_t *p = &parts[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", p->name);
        cJSON_AddStringToObject(x, "address", p->address);
        cJSON_AddBoolToObject(x, "configured", p->configured);
        cJSON_AddBoolToObject(x, "alive", p->alive);
        cJSON_AddBoolToObject(x, "ready", p->ready);
        cJSON_AddNumberToObject(x, "latency_ms", (double)p->latency_ms);
        cJSON_AddStringToObject(x, "detail", p->detail);
        cJSON *f = cJSON_AddObjectToObject(x, "figures");
        for (size_t k = 0; k < p->nfigures; k++)
            cJSON_AddNumberToObject(f, p->figures[k].name, p->figures[k].value);
        cJSON_AddItemToArray(a, x);
        if (p->configured && !p->ready) all = false;
    }
    cJSON_AddBoolToObject(o, "ready", all);
    return o;
}
