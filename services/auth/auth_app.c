/* auth_app — start and stop of the whole service; see auth_app.h. */
#include "auth_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_db.h"
#include "cfg.h"
#include "auth_pass.h"
#include "auth_refresh.h"
#include "auth_routes.h"
#include "log.h"
#include "shutdown.h"
#include "trace.h"

#define JANITOR_PERIOD_MS (10 * 60 * 1000)
#define MIGRATE_RETRY_MS 1000
/* Expired refresh tokens are kept this long after expiry (a late reuse is still detected). */
#define REFRESH_KEEP_S (7 * 86400)

static int schema_check(void *arg, char *err, size_t errlen);
static void *janitor(void *arg);

/* /ready: the tables exist. */
static int schema_check(void *arg, char *err, size_t errlen)
{
    auth_app_t *app = arg;
    if (atomic_load(&app->schema_ready)) return 0;
    snprintf(err, errlen, "migrations not applied yet");
    return -1;
}

/* Applies the migrations (retrying while the database is unreachable), then prunes expired
 * refresh tokens and stale failed-login counters every JANITOR_PERIOD_MS. */
static void *janitor(void *arg)
{
    auth_app_t *app = arg;
    pg_err e;
    bool said = false;
    while (!atomic_load(&app->schema_ready)) {
        int applied = 0;
        if (pg_migrate(app->pool, app->migrations_dir, &applied, &e) == 0) {
            log_info("migrations applied", LOG_INT("applied", applied),
                     LOG_STR("dir", app->migrations_dir));
            atomic_store(&app->schema_ready, true);
            break;
        }
        if (!said) /* once, not every second */
            log_error("migrations failed; retrying", LOG_STR("sqlstate", e.sqlstate),
                      LOG_STR("error", e.msg));
        said = true;
        if (shutdown_sleep_ms(MIGRATE_RETRY_MS)) return NULL;
    }
    while (!shutdown_sleep_ms(JANITOR_PERIOD_MS)) {
        long long tokens = 0, counters = 0;
        if (auth_refresh_prune(app->pool, REFRESH_KEEP_S, &tokens, &e) < 0 ||
            auth_limit_prune(app->pool, &app->limit, &counters, &e) < 0)
            log_warn("janitor: pruning failed", LOG_STR("error", e.msg));
        else if (tokens || counters)
            log_info("janitor: pruned", LOG_INT("refresh_tokens", tokens),
                     LOG_INT("login_counters", counters));
    }
    return NULL;
}

int auth_app_start(auth_app_t *app, char *err, size_t errlen)
{
    const auth_cfg_t *c = &app->cfg;
    atomic_init(&app->schema_ready, false);
    app->limit = (auth_limit_cfg_t){c->login_max_failures, c->login_failure_window_ms / 1000,
                                    c->login_lockout_ms / 1000};
    app->refresh_ttl_s = c->refresh_ttl_ms / 1000;

    if (*c->otlp_endpoint) {
        char terr[256];
        if (trace_exporter_start("auth-service", c->otlp_endpoint, terr, sizeof terr) == 0)
            app->tracing = true;
        else
            log_warn("trace export disabled", LOG_STR("error", terr));
    }
    if (auth_pass_init((unsigned long long)c->argon2_opslimit, (size_t)c->argon2_memlimit_kib,
                       (unsigned)c->hash_concurrency, err, errlen) < 0)
        goto fail;

    char *pem = NULL;
    bool created = false;
    if (auth_jwt_key_load(c->jwt_private_key, c->state_dir, &pem, &created, err, errlen) < 0)
        goto fail;
    auth_jwt_opts_t jo = {c->issuer, c->audience, c->access_ttl_ms / 1000, c->clock_skew_ms / 1000};
    int rc = auth_jwt_new(pem, strlen(pem), &jo, &app->jwt, err, errlen);
    auth_jwt_pem_free(pem);
    if (rc < 0) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s: %s",
                 *c->jwt_private_key ? "AUTH_JWT_PRIVATE_KEY" : "signing key file", tmp);
        goto fail;
    }
    log_info("signing key ready", LOG_STR("kid", auth_jwt_kid(app->jwt)), LOG_STR("alg", "ES256"),
             LOG_STR("source", *c->jwt_private_key ? "AUTH_JWT_PRIVATE_KEY"
                               : created           ? "generated into AUTH_STATE_DIR"
                                                   : "AUTH_STATE_DIR"));

    if (auth_db_migrations_dir(c->migrations_dir, app->migrations_dir, sizeof app->migrations_dir,
                               err, errlen) < 0)
        goto fail;
    pg_err pe;
    pg_pool_config pc = {.url = c->database_url,
                         .size = (unsigned)c->db_pool_size,
                         .acquire_timeout_ms = 5000,
                         .connect_timeout_s = 3,
                         .statement_timeout_ms = (unsigned)c->db_statement_timeout_ms,
                         .application_name = "auth-service"};
    if (pg_pool_open(&pc, &app->pool, &pe) < 0) {
        snprintf(err, errlen, "AUTH_DATABASE_URL: %s", pe.msg);
        goto fail;
    }

    if (!(app->registry = metrics_registry_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (auth_metrics_init(&app->m, app->registry, err, errlen) < 0) goto fail;

    auth_grpc_config_t gc = {.listen = c->grpc_listen,
                             .threads = (unsigned)c->grpc_threads,
                             .max_inflight = (unsigned)c->grpc_max_inflight,
                             .jwt = app->jwt,
                             .metrics = &app->m};
    if (auth_grpc_start(&gc, &app->grpc, err, errlen) < 0) goto fail;

    char host[256];
    uint16_t port;
    cfg_split_hostport(c->http_listen, host, sizeof host, &port);
    const http_check checks[] = {
        {"postgres", pg_ready_check, app->pool},
        {"schema", schema_check, app},
        {"grpc", auth_grpc_ready_check, app->grpc},
    };
    http_config hc = {.address = host,
                      .port = port,
                      .max_body = 16 * 1024,
                      .max_connections = (unsigned)c->http_max_connections,
                      .drain_timeout_ms = (unsigned)c->shutdown_drain_ms,
                      .routes = auth_routes,
                      .nroutes = auth_routes_count,
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
    log_info("auth-service listening", LOG_STR("http", c->http_listen),
             LOG_STR("grpc", c->grpc_listen), LOG_INT("grpc_port", auth_grpc_port(app->grpc)));
    return 0;
fail:
    auth_app_stop(app);
    return -1;
}

void auth_app_stop(auth_app_t *app)
{
    http_server_stop(app->http);
    app->http = NULL;
    auth_grpc_stop(app->grpc, (unsigned)app->cfg.shutdown_drain_ms);
    app->grpc = NULL;
    if (app->janitor_started) {
        shutdown_request(); /* wakes the janitor's sleep */
        pthread_join(app->janitor, NULL);
        app->janitor_started = false;
    }
    if (app->pool) pg_pool_close(app->pool);
    app->pool = NULL;
    auth_jwt_free(app->jwt);
    app->jwt = NULL;
    auth_pass_shutdown();
    if (app->tracing) {
        trace_exporter_flush(2000);
        trace_exporter_stop();
        app->tracing = false;
    }
    metrics_registry_free(app->registry);
    app->registry = NULL;
}
