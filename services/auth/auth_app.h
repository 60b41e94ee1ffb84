/* auth_app — the running service: its settings and every long-lived part (signing key,
 * metrics, HTTP and gRPC servers, the janitor), started and stopped in one place; lib/svc
 * runs the boot sequence around it and owns the pool. The route handlers get the app as
 * their user pointer. */
#ifndef AUTH_APP_H
#define AUTH_APP_H

#include <stdbool.h>

#include "auth_cfg.h"
#include "auth_grpc.h"
#include "auth_jwt.h"
#include "auth_limit.h"
#include "auth_metrics.h"
#include "pg.h"
#include "svc.h"

typedef struct auth_app {
    auth_cfg_t cfg;
    svc_t *svc;   /* the pool, metrics, HTTP server and schema state (lib/svc) */
    pg_pool *pool; /* = svc->pool, the handlers' database */
    auth_jwt_t *jwt;
    auth_limit_cfg_t limit;
    int64_t refresh_ttl_s;
    auth_metrics_t m;
    auth_grpc_t *grpc;
} auth_app_t;

/* The service (the only mode): HTTP and gRPC servers answer at once; migrations run in the
 * background worker, retried until the database takes them, and /ready says 503 until
 * then; the worker then prunes old tokens and counters every 10 minutes. Until SIGTERM. */
int auth_app_serve(svc_t *s, char **args, int nargs, char *err, size_t errlen);

#endif
