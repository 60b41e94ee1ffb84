/* auth_cfg — auth-service's settings: one table of environment variables (lib/cfg), the
 * single source for loading, validation, the start-up log line and --help. */
#ifndef AUTH_CFG_H
#define AUTH_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct auth_cfg {
    const char *http_listen; /* host:port */
    const char *grpc_listen; /* host:port */
    const char *database_url;
    int db_pool_size;
    int64_t db_statement_timeout_ms;
    const char *migrations_dir;
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
    int http_max_connections;
    int grpc_threads;
    int grpc_max_inflight;
    int64_t shutdown_drain_ms;
    const char *otlp_endpoint;
    const char *log_level;
} auth_cfg_t;

/* Loads every setting from the environment. Returns 0, or -1 with a message naming the
 * offending variable. */
int auth_cfg_load(auth_cfg_t *cfg, char *err, size_t errlen);

/* Logs the effective settings (secrets masked). */
void auth_cfg_log(const auth_cfg_t *cfg);

/* Prints the settings table for --help. */
void auth_cfg_usage(FILE *f);


#endif
