/* auth_cfg — auth-service's settings: one table of environment variables (lib/cfg), the
 * single source for loading, validation, the start-up log line and --help. */
#ifndef AUTH_CFG_H
#define AUTH_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

typedef struct auth_cfg {
    cfg_hostport_t grpc_listen;
    const char *state_dir;
    const char *jwt_private_key; /* PEM, secret */
    int64_t access_ttl_ms;
    int64_t refresh_ttl_ms;
    const char *issuer;
    const char *audience;
    int64_t clock_skew_ms;
    int login_max_failures;
    int64_t login_failure_window_ms;
    int64_t login_lockout_ms;
    int argon2_opslimit;
    int argon2_memlimit_kib;
    int hash_concurrency;
    int grpc_threads;
    int grpc_max_inflight;
} auth_cfg_t;

/* The service's own settings (lib/svc loads them after its standard ones — AUTH_HTTP_LISTEN,
 * AUTH_DATABASE_URL, … — logs them and prints them for --help). */
extern const cfg_table_t auth_cfg;

#endif
