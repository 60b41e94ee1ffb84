/* tasks_app — the run function of each tasks-service mode; see tasks_app.h. lib/svc has
 * already loaded the settings, set up logs, signals and tracing, and closes the pool. */
#include "tasks_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shutdown.h"
#include "tasks_outbox.h"
#include "tasks_routes.h"

#define STATS_PERIOD_MS 2000

/* ==== the outbox gauges ================================================================= */

static double g_backlog(void *ctx)
{
    return (double)atomic_load(&((tasks_app_t *)ctx)->backlog);
}

static double g_dead(void *ctx)
{
    return (double)atomic_load(&((tasks_app_t *)ctx)->dead);
}

static double g_oldest(void *ctx)
{
    return (double)atomic_load(&((tasks_app_t *)ctx)->oldest_age_ms) / 1000.0;
}

static double g_redis_up(void *ctx)
{
    return tasks_readmodel_up(((tasks_app_t *)ctx)->rm) ? 1 : 0;
}

static int register_gauges(tasks_app_t *app, char *err, size_t errlen)
{
    metrics_registry_t *reg = app->svc->metrics;
    if (metrics_callback(reg, METRICS_GAUGE, "outbox_backlog",
                         "Outbox rows waiting to be published (not dead).", g_backlog, app, err,
                         errlen) < 0 ||
        metrics_callback(reg, METRICS_GAUGE, "outbox_oldest_unpublished_age_seconds",
                         "Age of the oldest row waiting to be published.", g_oldest, app, err,
                         errlen) < 0 ||
        metrics_callback(reg, METRICS_GAUGE, "outbox_dead_rows",
                         "Outbox rows in the dead state (waiting for a replay).", g_dead, app, err,
                         errlen) < 0)
        return -1;
    if (app->rm &&
        metrics_callback(reg, METRICS_GAUGE, "tasks_read_model_redis_up",
                         "1 when the last Redis operation of the read model succeeded.",
                         g_redis_up, app, err, errlen) < 0)
        return -1;
    return 0;
}

static void refresh_stats(tasks_app_t *app)
{
    pg_err e;
    PGconn *c = pg_acquire(app->svc->pool, &e);
    if (!c) return;
    tasks_outbox_stats_t s;
    if (tasks_outbox_stats_read(c, &s, &e) == 0) {
        atomic_store(&app->backlog, s.backlog);
        atomic_store(&app->dead, s.dead);
        atomic_store(&app->oldest_age_ms, (long long)(s.oldest_unpublished_age_s * 1000));
    }
    pg_release(app->svc->pool, c);
}

/* ==== the worker (after the migrations) ================================================= */

/* Service mode: the relay thread and the read model keeper, then the outbox gauges every
 * STATS_PERIOD_MS. Its queries never run in a /metrics request. */
static void work(svc_t *s, void *arg)
{
    tasks_app_t *app = arg;
    char err[256];
    if (app->relay_thread && tasks_relay_start_thread(app->relay, err, sizeof err) < 0) {
        log_error("relay not started", LOG_STR("error", err));
        shutdown_request();
        return;
    }
    if (app->rm && tasks_readmodel_keeper_start(app->rm, err, sizeof err) < 0) {
        log_error("read model keeper not started", LOG_STR("error", err));
        shutdown_request();
        return;
    }
    do
        refresh_stats(app);
    while (!svc_sleep(s, STATS_PERIOD_MS));
}

/* ==== parts ============================================================================= */

/* pool_size 0: TASKS_DB_POOL_SIZE. */
static int open_db(svc_t *s, tasks_app_t *app, unsigned pool_size, char *err, size_t errlen)
{
    app->svc = s;
    return svc_migrations_find(s, err, errlen) < 0 || svc_pg_open(s, pool_size, err, errlen) < 0
               ? -1
               : 0;
}

static int make_relay(tasks_app_t *app, char *err, size_t errlen)
{
    const tasks_cfg_t *c = &app->cfg;
    tasks_relay_config_t rc = {.database_url = app->svc->settings.database_url,
                         .brokers = app->svc->settings.kafka_brokers,
                         .batch_size = c->relay_batch_size,
                         .poll_interval_ms = c->relay_poll_interval_ms,
                         .linger_ms = c->relay_linger_ms,
                         .max_attempts = c->relay_max_attempts,
                         .retry_backoff_ms = c->relay_retry_backoff_ms,
                         .delivery_timeout_ms = c->relay_delivery_timeout_ms,
                         .lease_ms = c->relay_lease_ms,
                         .queue_max = c->relay_queue_max,
                         .retention_ms = c->outbox_retention_ms,
                         .metrics = app->svc->metrics};
    return tasks_relay_new(&rc, &app->relay, err, errlen);
}

static int make_read_model(tasks_app_t *app, int pool_size, int64_t timeout_ms, char *err,
                           size_t errlen)
{
    tasks_readmodel_config_t rc = {.url = app->cfg.redis_url,
                      .pool_size = pool_size,
                      .timeout_ms = timeout_ms,
                      .pool = app->svc->pool,
                      .metrics = app->svc->metrics};
    return tasks_readmodel_new(&rc, &app->rm, err, errlen);
}

/* What any mode made, in reverse order (the pool is lib/svc's). */
static void free_parts(tasks_app_t *app)
{
    tasks_relay_free(app->relay);
    app->relay = NULL;
    tasks_readmodel_free(app->rm);
    app->rm = NULL;
    if (app->notifier) tasks_outbox_notifier_stop();
    app->notifier = false;
}

/* ==== the service ======================================================================= */

int tasks_app_serve(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    tasks_app_t *app = s->def->app;
    const tasks_cfg_t *c = &app->cfg;
    int status = 1;
    if (open_db(s, app, 0, err, errlen) < 0) goto out;
    if (svc_auth_open(s, err, errlen) < 0) goto out;
    if (c->read_model && make_read_model(app, c->redis_pool_size, c->redis_timeout_ms, err,
                                         errlen) < 0)
        goto out;
    if (c->relay_enabled) {
        if (make_relay(app, err, errlen) < 0) goto out;
        app->relay_thread = true;
    }
    if (register_gauges(app, err, errlen) < 0) goto out;
    if (tasks_outbox_notifier_start(s->settings.database_url, err, errlen) < 0) goto out;
    app->notifier = true;
    svc_http_t h = {.routes = tasks_routes, .nroutes = tasks_routes_count, .max_body = 64 * 1024,
                    .user = app};
    if (svc_start_worker(s, work, app, err, errlen) < 0 || svc_http_start(s, &h, err, errlen) < 0)
        goto out;
    log_info("tasks-service listening", LOG_STR("http", s->settings.http_listen.text),
             LOG_STR("auth", s->settings.auth_grpc_addr.text), LOG_BOOL("relay", c->relay_enabled),
             LOG_BOOL("read_model", c->read_model));
    svc_wait(s);
    status = 0;
out:
    svc_stop_serving(s);
    free_parts(app);
    return status;
}

/* ==== a relay process =================================================================== */

int tasks_app_relay_only(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    tasks_app_t *app = s->def->app;
    const tasks_cfg_t *c = &app->cfg;
    int status = 1;
    if (open_db(s, app, 2, err, errlen) < 0 || make_relay(app, err, errlen) < 0 ||
        register_gauges(app, err, errlen) < 0)
        goto out;
    if (*c->relay_http_listen.text) {
        svc_http_t h = {.listen = &c->relay_http_listen, .setting = "TASKS_RELAY_HTTP_LISTEN",
                        .max_connections = 16, .user = app};
        if (svc_http_start(s, &h, err, errlen) < 0) goto out;
    }
    status = 0;
    if (svc_migrate_wait(s) < 0) goto out; /* stopped while waiting for the database */
    /* the worker only refreshes the gauges here: the relay runs on this thread */
    if (svc_start_worker(s, work, app, err, errlen) < 0) {
        status = 1;
        goto out;
    }
    log_info("relay process started", LOG_INT("pid", getpid()));
    tasks_relay_run(app->relay); /* until SIGTERM/SIGINT */
out:
    svc_stop_serving(s);
    free_parts(app);
    return status;
}

/* ==== one-shot commands ================================================================= */

static int one_shot_setup(svc_t *s, tasks_app_t *app, char *err, size_t errlen)
{
    return open_db(s, app, 4, err, errlen) < 0 || svc_migrate_now(s, err, errlen) < 0 ? -1 : 0;
}

int tasks_app_rebuild_read_model(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    tasks_app_t *app = s->def->app;
    int status = 1;
    /* a rebuild waits on Redis longer than a request does */
    int64_t timeout = app->cfg.redis_timeout_ms < 2000 ? 2000 : app->cfg.redis_timeout_ms;
    if (one_shot_setup(s, app, err, errlen) == 0 &&
        make_read_model(app, 2, timeout, err, errlen) == 0) {
        long users = 0, tasks = 0;
        char why[256];
        if (tasks_readmodel_rebuild_all(app->rm, &users, &tasks, why, sizeof why) == 0) {
            printf("{\"rebuilt_users\":%ld,\"tasks\":%ld}\n", users, tasks);
            status = 0;
        } else {
            snprintf(err, errlen, "rebuild failed: %s", why);
        }
    }
    free_parts(app);
    return status;
}

int tasks_app_outbox_stats(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    tasks_app_t *app = s->def->app;
    if (one_shot_setup(s, app, err, errlen) < 0) return 1;
    pg_err e;
    PGconn *c = pg_acquire(s->pool, &e);
    tasks_outbox_stats_t st;
    int status = 1;
    if (c && tasks_outbox_stats_read(c, &st, &e) == 0) {
        char json[256];
        tasks_outbox_stats_json(&st, json, sizeof json);
        printf("%s\n", json);
        status = 0;
    } else {
        snprintf(err, errlen, "%s", e.msg);
    }
    pg_release(s->pool, c);
    return status;
}

/* An outbox id argument: a positive decimal integer. */
static int parse_id(const char *s, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 1) return -1;
    *out = v;
    return 0;
}

static int replay(svc_t *s, char **args, int nargs, bool published, char *err, size_t errlen)
{
    tasks_app_t *app = s->def->app;
    long long from = 0, to = 0;
    if (parse_id(args[0], &from) < 0 || (nargs > 1 && (parse_id(args[1], &to) < 0 || to < from)))
        return svc_usage_error(s, "FROM and TO are outbox ids, 1 or more, FROM <= TO");
    if (one_shot_setup(s, app, err, errlen) < 0) return 1;
    pg_err e;
    PGconn *c = pg_acquire(s->pool, &e);
    long long n = c ? tasks_outbox_replay(c, from, to, published, &e) : -1;
    pg_release(s->pool, c);
    if (n < 0) return snprintf(err, errlen, "replay failed: %s", e.msg), 1;
    printf("{\"replayed\":%lld}\n", n);
    return 0;
}

int tasks_app_outbox_replay(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    return replay(s, args, nargs, false, err, errlen);
}

int tasks_app_outbox_replay_all(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    return replay(s, args, nargs, true, err, errlen);
}
