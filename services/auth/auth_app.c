/* auth_app — start and stop of the whole service; see auth_app.h. */
#include "auth_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_pass.h"
#include "auth_refresh.h"
#include "auth_routes.h"
#include "log.h"

#define JANITOR_PERIOD_MS (10 * 60 * 1000)
/* Expired refresh tokens are kept this long after expiry (a late reuse is still detected). */
#define REFRESH_KEEP_S (7 * 86400)

/* After the migrations: prunes expired refresh tokens and stale failed-login counters every
 * JANITOR_PERIOD_MS. */
static void janitor(svc_t *s, void *arg)
{
    auth_app_t *app = arg;
    pg_err e;
    while (!svc_sleep(s, JANITOR_PERIOD_MS)) {
        long long tokens = 0, counters = 0;
        if (auth_refresh_prune(app->pool, REFRESH_KEEP_S, &tokens, &e) < 0 ||
            auth_limit_prune(app->pool, &app->limit, &counters, &e) < 0)
            log_warn("janitor: pruning failed", LOG_STR("error", e.msg));
        else if (tokens || counters)
            log_info("janitor: pruned", LOG_INT("refresh_tokens", tokens),
                     LOG_INT("login_counters", counters));
    }
}

static void stop_parts(auth_app_t *app)
{
    svc_stop_serving(app->svc);
    auth_grpc_stop(app->grpc, (unsigned)app->svc->settings.shutdown_drain_ms);
    app->grpc = NULL;
    auth_jwt_free(app->jwt);
    app->jwt = NULL;
    auth_pass_shutdown();
}

int auth_app_serve(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    auth_app_t *app = s->def->app;
    const auth_cfg_t *c = &app->cfg;
    app->svc = s;
    app->limit = (auth_limit_cfg_t){c->login_max_failures, c->login_failure_window_ms / 1000,
                                    c->login_lockout_ms / 1000};
    app->refresh_ttl_s = c->refresh_ttl_ms / 1000;
    int status = 1;
    if (auth_pass_init((unsigned long long)c->argon2_opslimit, (size_t)c->argon2_memlimit_kib,
                       (unsigned)c->hash_concurrency, err, errlen) < 0)
        goto out;

    char *pem = NULL;
    bool created = false;
    if (auth_jwt_key_load(c->jwt_private_key, c->state_dir, &pem, &created, err, errlen) < 0)
        goto out;
    auth_jwt_opts_t jo = {c->issuer, c->audience, c->access_ttl_ms / 1000, c->clock_skew_ms / 1000};
    int rc = auth_jwt_new(pem, strlen(pem), &jo, &app->jwt, err, errlen);
    auth_jwt_pem_free(pem);
    if (rc < 0) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s: %s",
                 *c->jwt_private_key ? "AUTH_JWT_PRIVATE_KEY" : "signing key file", tmp);
        goto out;
    }
    log_info("signing key ready", LOG_STR("kid", auth_jwt_kid(app->jwt)), LOG_STR("alg", "ES256"),
             LOG_STR("source", *c->jwt_private_key ? "AUTH_JWT_PRIVATE_KEY"
                               : created           ? "generated into AUTH_STATE_DIR"
                                                   : "AUTH_STATE_DIR"));
    if (svc_migrations_find(s, err, errlen) < 0 || svc_pg_open(s, 0, err, errlen) < 0 ||
        auth_metrics_init(&app->m, s->metrics, err, errlen) < 0)
        goto out;
    app->pool = s->pool;

    auth_grpc_config_t gc = {.listen = c->grpc_listen.text,
                             .threads = (unsigned)c->grpc_threads,
                             .max_inflight = (unsigned)c->grpc_max_inflight,
                             .jwt = app->jwt,
                             .metrics = &app->m};
    if (auth_grpc_start(&gc, &app->grpc, err, errlen) < 0) goto out;
    const http_check grpc = {"grpc", auth_grpc_ready_check, app->grpc};
    svc_http_t h = {.routes = auth_routes, .nroutes = auth_routes_count, .max_body = 16 * 1024,
                    .checks = &grpc, .nchecks = 1, .user = app};
    if (svc_http_start(s, &h, err, errlen) < 0 || svc_start_worker(s, janitor, app, err, errlen) < 0)
        goto out;
    log_info("auth-service listening", LOG_STR("http", s->settings.http_listen.text),
             LOG_STR("grpc", c->grpc_listen.text), LOG_INT("grpc_port", auth_grpc_port(app->grpc)));
    svc_wait(s);
    status = 0;
out:
    stop_parts(app);
    return status;
}
