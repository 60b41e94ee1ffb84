/* tasks_app — start and stop of tasks-service in each of its modes; see tasks_app.h. */
#include "tasks_app.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "shutdown.h"
#include "tasks_outbox.h"
#include "tasks_routes.h"
#include "trace.h"

#define MIGRATE_RETRY_MS 1000
#define STATS_PERIOD_MS 2000

static void *janitor(void *arg);

/* ==== helpers =========================================================================== */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* TASKS_MIGRATIONS_DIR, else services/tasks/migrations found from the executable (bin/ and
 * build/<variant>/bin/ of a checkout), else the packaged location. */
static int migrations_dir(const char *override, char *out, size_t outlen, char *err,
                          size_t errlen)
{
    if (override && *override) {
        if (!is_dir(override))
            return snprintf(err, errlen, "TASKS_MIGRATIONS_DIR: %s is not a directory", override),
                   -1;
        snprintf(out, outlen, "%s", override);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return snprintf(err, errlen, "cannot find the executable; set TASKS_MIGRATIONS_DIR"), -1;
    exe[n] = '\0';
    const char *dir = dirname(exe);
    const char *rel[] = {"/../services/tasks/migrations", "/../../../services/tasks/migrations"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX + 64], real[PATH_MAX];
        snprintf(cand, sizeof cand, "%s%s", dir, rel[i]);
        if (is_dir(cand) && realpath(cand, real)) {
            snprintf(out, outlen, "%s", real);
            return 0;
        }
    }
    if (is_dir("/usr/share/tasks-service/migrations")) {
        snprintf(out, outlen, "/usr/share/tasks-service/migrations");
        return 0;
    }
    snprintf(err, errlen,
             "no migrations directory next to %s (tried ../services/tasks/migrations); set "
             "TASKS_MIGRATIONS_DIR", dir);
    return -1;
}

static int open_pool(tasks_app_t *app, unsigned size, char *err, size_t errlen)
{
    pg_err pe;
    pg_pool_config pc = {.url = app->cfg.database_url,
                         .size = size,
                         .acquire_timeout_ms = 5000,
                         .connect_timeout_s = 3,
                         .statement_timeout_ms = (unsigned)app->cfg.db_statement_timeout_ms,
                         .application_name = "tasks-service"};
    if (pg_pool_open(&pc, &app->pool, &pe) < 0)
        return snprintf(err, errlen, "TASKS_DATABASE_URL: %.400s", pe.msg), -1;
    return 0;
}

/* Applies the migrations, retrying while the database is unreachable; false on shutdown. */
static bool migrate(tasks_app_t *app)
{
    bool said = false;
    while (!atomic_load(&app->schema_ready)) {
        pg_err e;
        int applied = 0;
        if (pg_migrate(app->pool, app->migrations_dir, &applied, &e) == 0) {
            log_info("migrations applied", LOG_INT("applied", applied),
                     LOG_STR("dir", app->migrations_dir));
            atomic_store(&app->schema_ready, true);
            return true;
        }
        if (!said)
            log_error("migrations failed; retrying", LOG_STR("sqlstate", e.sqlstate),
                      LOG_STR("error", e.msg));
        said = true;
        if (shutdown_sleep_ms(MIGRATE_RETRY_MS) || atomic_load(&app->stopping)) return false;
    }
    return true;
}

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
    return rm_up(((tasks_app_t *)ctx)->rm) ? 1 : 0;
}

static int register_gauges(tasks_app_t *app, char *err, size_t errlen)
{
    metrics_registry_t *reg = app->registry;
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
    PGconn *c = pg_acquire(app->pool, &e);
    if (!c) return;
    outbox_stats_t s;
    if (outbox_stats_read(c, &s, &e) == 0) {
        atomic_store(&app->backlog, s.backlog);
        atomic_store(&app->dead, s.dead);
        atomic_store(&app->oldest_age_ms, (long long)(s.oldest_unpublished_age_s * 1000));
    }
    pg_release(app->pool, c);
}

/* Migrations first; then (service mode) the relay thread and the read model keeper; then the
 * outbox gauges every STATS_PERIOD_MS. Its queries never run in a /metrics request. */
static void *janitor(void *arg)
{
    tasks_app_t *app = arg;
    if (!migrate(app)) return NULL;
    char err[256];
    if (app->relay_thread && app->relay && relay_start_thread(app->relay, err, sizeof err) < 0) {
        log_error("relay not started", LOG_STR("error", err));
        shutdown_request();
        return NULL;
    }
    if (app->rm && rm_keeper_start(app->rm, err, sizeof err) < 0) {
        log_error("read model keeper not started", LOG_STR("error", err));
        shutdown_request();
        return NULL;
    }
    do
        refresh_stats(app);
    while (!shutdown_sleep_ms(STATS_PERIOD_MS) && !atomic_load(&app->stopping));
    return NULL;
}

static int schema_check(void *arg, char *err, size_t errlen)
{
    tasks_app_t *app = arg;
    if (atomic_load(&app->schema_ready)) return 0;
    snprintf(err, errlen, "migrations not applied yet");
    return -1;
}

static int start_tracing(tasks_app_t *app, const char *service)
{
    if (!*app->cfg.otlp_endpoint) return 0;
    char terr[256];
    if (trace_exporter_start(service, app->cfg.otlp_endpoint, terr, sizeof terr) == 0)
        app->tracing = true;
    else
        log_warn("trace export disabled", LOG_STR("error", terr));
    return 0;
}

static relay_config_t relay_config(tasks_app_t *app)
{
    const tasks_cfg_t *c = &app->cfg;
    return (relay_config_t){.database_url = c->database_url,
                            .brokers = c->kafka_brokers,
                            .batch_size = c->relay_batch_size,
                            .poll_interval_ms = c->relay_poll_interval_ms,
                            .linger_ms = c->relay_linger_ms,
                            .max_attempts = c->relay_max_attempts,
                            .retry_backoff_ms = c->relay_retry_backoff_ms,
                            .delivery_timeout_ms = c->relay_delivery_timeout_ms,
                            .queue_max = c->relay_queue_max,
                            .retention_ms = c->outbox_retention_ms,
                            .metrics = app->registry};
}

/* ==== the service ======================================================================= */

int tasks_app_start(tasks_app_t *app, char *err, size_t errlen)
{
    const tasks_cfg_t *c = &app->cfg;
    atomic_init(&app->schema_ready, false);
    atomic_init(&app->stopping, false);
    start_tracing(app, "tasks-service");
    if (migrations_dir(c->migrations_dir, app->migrations_dir, sizeof app->migrations_dir, err,
                       errlen) < 0 ||
        open_pool(app, (unsigned)c->db_pool_size, err, errlen) < 0)
        goto fail;
    if (!(app->registry = metrics_registry_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    auth_client_config_t ac = {.target = c->auth_grpc_addr,
                               .deadline_ms = c->auth_deadline_ms,
                               .cache_ttl_ms = c->auth_cache_ttl_ms,
                               .cache_size = c->auth_cache_size,
                               .metrics = app->registry};
    if (auth_client_new(&ac, &app->auth, err, errlen) < 0) goto fail;
    if (c->read_model) {
        rm_config_t rc = {.url = c->redis_url,
                          .pool_size = c->redis_pool_size,
                          .timeout_ms = c->redis_timeout_ms,
                          .pool = app->pool,
                          .metrics = app->registry};
        if (rm_new(&rc, &app->rm, err, errlen) < 0) goto fail;
    }
    if (c->relay_enabled) {
        relay_config_t rc = relay_config(app);
        if (relay_new(&rc, &app->relay, err, errlen) < 0) goto fail;
        app->relay_thread = true;
    }
    if (register_gauges(app, err, errlen) < 0) goto fail;
    if (outbox_notifier_start(c->database_url, err, errlen) < 0) goto fail;
    app->notifier = true;

    char host[256];
    uint16_t port;
    cfg_split_hostport(c->http_listen, host, sizeof host, &port);
    const http_check checks[] = {
        {"postgres", pg_ready_check, app->pool},
        {"schema", schema_check, app},
    };
    http_config hc = {.address = host,
                      .port = port,
                      .max_body = 64 * 1024,
                      .max_connections = (unsigned)c->http_max_connections,
                      .drain_timeout_ms = (unsigned)c->shutdown_drain_ms,
                      .routes = tasks_routes,
                      .nroutes = tasks_routes_count,
                      .checks = checks,
                      .nchecks = sizeof checks / sizeof checks[0],
                      .metrics = app->registry,
                      .user = app};
    if (http_server_start(&hc, &app->http, err, errlen) < 0) goto fail;
    if (pthread_create(&app->janitor, NULL, janitor, app) != 0) {
        snprintf(err, errlen, "cannot start the janitor thread");
        goto fail;
    }
    app->janitor_started = true;
    log_info("tasks-service listening", LOG_STR("http", c->http_listen),
             LOG_STR("auth", c->auth_grpc_addr), LOG_BOOL("relay", c->relay_enabled),
             LOG_BOOL("read_model", c->read_model));
    return 0;
fail:
    tasks_app_stop(app);
    return -1;
}

void tasks_app_stop(tasks_app_t *app)
{
    atomic_store(&app->stopping, true);
    http_server_stop(app->http); /* first: no request may still use what follows */
    app->http = NULL;
    if (app->janitor_started) {
        shutdown_request(); /* wakes the janitor's sleeps */
        pthread_join(app->janitor, NULL);
        app->janitor_started = false;
    }
    relay_free(app->relay);
    app->relay = NULL;
    rm_free(app->rm);
    app->rm = NULL;
    if (app->notifier) outbox_notifier_stop();
    app->notifier = false;
    auth_client_free(app->auth);
    app->auth = NULL;
    if (app->pool) pg_pool_close(app->pool);
    app->pool = NULL;
    if (app->tracing) {
        trace_exporter_flush(2000);
        trace_exporter_stop();
        app->tracing = false;
    }
    metrics_registry_free(app->registry);
    app->registry = NULL;
}

/* ==== a relay process =================================================================== */

int tasks_app_relay_only(tasks_app_t *app, char *err, size_t errlen)
{
    const tasks_cfg_t *c = &app->cfg;
    atomic_init(&app->schema_ready, false);
    atomic_init(&app->stopping, false);
    start_tracing(app, "outbox-relay");
    int status = 1;
    if (migrations_dir(c->migrations_dir, app->migrations_dir, sizeof app->migrations_dir, err,
                       errlen) < 0 ||
        open_pool(app, 2, err, errlen) < 0)
        goto out;
    if (!(app->registry = metrics_registry_new())) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    relay_config_t rc = relay_config(app);
    if (relay_new(&rc, &app->relay, err, errlen) < 0 || register_gauges(app, err, errlen) < 0)
        goto out;
    if (*c->relay_http_listen) {
        char host[256];
        uint16_t port;
        cfg_split_hostport(c->relay_http_listen, host, sizeof host, &port);
        const http_check checks[] = {{"postgres", pg_ready_check, app->pool},
                                     {"schema", schema_check, app}};
        http_config hc = {.address = host, .port = port, .max_connections = 16,
                          .checks = checks, .nchecks = 2, .metrics = app->registry, .user = app};
        if (http_server_start(&hc, &app->http, err, errlen) < 0) goto out;
    }
    if (!migrate(app)) {
        status = 0; /* stopped while waiting for the database */
        goto out;
    }
    if (pthread_create(&app->janitor, NULL, janitor, app) == 0) app->janitor_started = true;
    log_info("relay process started", LOG_INT("pid", getpid()));
    relay_run(app->relay); /* until SIGTERM/SIGINT */
    status = 0;
out:
    tasks_app_stop(app);
    return status;
}

/* ==== one-shot commands ================================================================= */

static int one_shot_setup(tasks_app_t *app, bool want_rm)
{
    char err[512];
    atomic_init(&app->schema_ready, false);
    atomic_init(&app->stopping, false);
    if (migrations_dir(app->cfg.migrations_dir, app->migrations_dir, sizeof app->migrations_dir,
                       err, sizeof err) < 0 ||
        open_pool(app, 4, err, sizeof err) < 0) {
        fprintf(stderr, "tasks-service: %s\n", err);
        return -1;
    }
    pg_err pe;
    if (pg_migrate(app->pool, app->migrations_dir, NULL, &pe) < 0) {
        fprintf(stderr, "tasks-service: migrations: %s\n", pe.msg);
        return -1;
    }
    atomic_store(&app->schema_ready, true);
    if (want_rm) {
        rm_config_t rc = {.url = app->cfg.redis_url,
                          .pool_size = 2,
                          .timeout_ms = app->cfg.redis_timeout_ms < 2000 ? 2000 : app->cfg.redis_timeout_ms,
                          .pool = app->pool};
        if (rm_new(&rc, &app->rm, err, sizeof err) < 0) {
            fprintf(stderr, "tasks-service: %s\n", err);
            return -1;
        }
    }
    return 0;
}

int tasks_app_rebuild_read_model(tasks_app_t *app)
{
    int status = 1;
    if (one_shot_setup(app, true) == 0) {
        long users = 0, tasks = 0;
        char err[256];
        if (rm_rebuild_all(app->rm, &users, &tasks, err, sizeof err) == 0) {
            printf("{\"rebuilt_users\":%ld,\"tasks\":%ld}\n", users, tasks);
            status = 0;
        } else {
            fprintf(stderr, "tasks-service: rebuild failed: %s\n", err);
        }
    }
    tasks_app_stop(app);
    return status;
}

int tasks_app_outbox_stats(tasks_app_t *app)
{
    int status = 1;
    if (one_shot_setup(app, false) == 0) {
        pg_err e;
        PGconn *c = pg_acquire(app->pool, &e);
        outbox_stats_t s;
        if (c && outbox_stats_read(c, &s, &e) == 0) {
            char json[256];
            outbox_stats_json(&s, json, sizeof json);
            printf("%s\n", json);
            status = 0;
        } else {
            fprintf(stderr, "tasks-service: %s\n", e.msg);
        }
        pg_release(app->pool, c);
    }
    tasks_app_stop(app);
    return status;
}

int tasks_app_outbox_replay(tasks_app_t *app, long long from, long long to, bool published)
{
    int status = 1;
    if (one_shot_setup(app, false) == 0) {
        pg_err e;
        PGconn *c = pg_acquire(app->pool, &e);
        long long n = c ? outbox_replay(c, from, to, published, &e) : -1;
        pg_release(app->pool, c);
        if (n >= 0) {
            printf("{\"replayed\":%lld}\n", n);
            status = 0;
        } else {
            fprintf(stderr, "tasks-service: replay failed: %s\n", e.msg);
        }
    }
    tasks_app_stop(app);
    return status;
}
