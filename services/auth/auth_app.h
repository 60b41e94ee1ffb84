/* auth_app — the running service: its settings and every long-lived part (database pool,
 * signing key, metrics, HTTP and gRPC servers, the janitor thread), started and stopped in
 * one place. The route handlers get the app as their user pointer. */
#ifndef AUTH_APP_H
#define AUTH_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "auth_cfg.h"
#include "auth_grpc.h"
#include "auth_jwt.h"
#include "auth_limit.h"
#include "auth_metrics.h"
#include "http.h"
#include "pg.h"

typedef struct auth_app {
    auth_cfg_t cfg;
    pg_pool *pool;
    auth_jwt_t *jwt;
    auth_limit_cfg_t limit;
    int64_t refresh_ttl_s;
    metrics_registry_t *registry;
    auth_metrics_t m;
    http_server *http;
    auth_grpc_t *grpc;
    atomic_bool schema_ready; /* migrations applied: the handlers may use the tables */
    char migrations_dir[4096];
    pthread_t janitor;
    bool janitor_started;
    bool tracing;
} auth_app_t;

/* Starts everything from app->cfg (already loaded). The HTTP and gRPC servers answer at
 * once; migrations run in the janitor thread, retried until the database takes them, and
 * /ready says 503 until then. Returns 0, or -1 with err after undoing what had started. */
int auth_app_start(auth_app_t *app, char *err, size_t errlen);

/* Stops the servers (draining requests in progress), the janitor and the exporter, and
 * frees everything. */
void auth_app_stop(auth_app_t *app);

#endif
