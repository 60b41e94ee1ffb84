/* auth_cfg — the settings table; see auth_cfg.h. */
#include "auth_cfg.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define F(field) offsetof(auth_cfg_t, field)
#define MS_DAY 86400000LL

static const cfg_entry_t table[] = {
    {"AUTH_HTTP_LISTEN", CFG_STRING, "127.0.0.1:28081", 0, 0, F(http_listen),
     "HTTP listen address host:port (REST API, /health, /ready, /metrics)", false},
    {"AUTH_GRPC_LISTEN", CFG_STRING, "127.0.0.1:28051", 0, 0, F(grpc_listen),
     "gRPC listen address host:port (ValidateToken, health)", false},
    {"AUTH_DATABASE_URL", CFG_STRING, NULL, 0, 0, F(database_url),
     "PostgreSQL URL of the auth database", false},
    {"AUTH_DB_POOL_SIZE", CFG_INT, "16", 1, 200, F(db_pool_size),
     "PostgreSQL connections in the pool", false},
    {"AUTH_DB_STATEMENT_TIMEOUT", CFG_DURATION, "5s", 100, 600000, F(db_statement_timeout_ms),
     "server-side limit per SQL statement", false},
    {"AUTH_MIGRATIONS_DIR", CFG_STRING, "", 0, 0, F(migrations_dir),
     "migrations directory (default: services/auth/migrations next to the binary)", false},
    {"AUTH_STATE_DIR", CFG_STRING, "/var/lib/auth-service", 0, 0, F(state_dir),
     "where the signing key is created on first start (0700, key file 0600)", false},
    {"AUTH_JWT_PRIVATE_KEY", CFG_STRING, "", 0, 0, F(jwt_private_key),
     "PEM EC P-256 private key; overrides the key file in AUTH_STATE_DIR", true},
    {"AUTH_ACCESS_TTL", CFG_DURATION, "15m", 1000, MS_DAY, F(access_ttl_ms),
     "access token lifetime", false},
    {"AUTH_REFRESH_TTL", CFG_DURATION, "30d", 60000, 365 * MS_DAY, F(refresh_ttl_ms),
     "refresh token lifetime (each rotation starts a new one)", false},
    {"AUTH_ISSUER", CFG_STRING, "auth-service", 0, 0, F(issuer), "iss claim written and required",
     false},
    {"AUTH_AUDIENCE", CFG_STRING, "todo-system", 0, 0, F(audience),
     "aud claim written and required", false},
    {"AUTH_CLOCK_SKEW", CFG_DURATION, "30s", 0, 300000, F(clock_skew_ms),
     "tolerance on exp, nbf and iat", false},
    {"AUTH_LOGIN_MAX_FAILURES", CFG_INT, "5", 1, 1000, F(login_max_failures),
     "failed logins for one email that lock it", false},
    {"AUTH_LOGIN_FAILURE_WINDOW", CFG_DURATION, "15m", 1000, MS_DAY, F(login_failure_window_ms),
     "window in which failed logins are counted", false},
    {"AUTH_LOGIN_LOCKOUT", CFG_DURATION, "15m", 1000, MS_DAY, F(login_lockout_ms),
     "how long a locked email is refused (429 with Retry-After)", false},
    {"AUTH_ARGON2_OPSLIMIT", CFG_INT, "2", 1, 20, F(argon2_opslimit),
     "argon2id passes for new hashes (older hashes are upgraded at login)", false},
    {"AUTH_ARGON2_MEMLIMIT_KIB", CFG_INT, "65536", 8, 4194304, F(argon2_memlimit_kib),
     "argon2id memory for new hashes, KiB", false},
    {"AUTH_HASH_CONCURRENCY", CFG_INT, "0", 0, 256, F(hash_concurrency),
     "argon2id computations at once (0: number of CPUs)", false},
    {"AUTH_HTTP_MAX_CONNECTIONS", CFG_INT, "512", 1, 10000, F(http_max_connections),
     "concurrent HTTP connections (one thread each)", false},
    {"AUTH_GRPC_THREADS", CFG_INT, "2", 1, 64, F(grpc_threads),
     "gRPC completion-queue worker threads", false},
    {"AUTH_GRPC_MAX_INFLIGHT", CFG_INT, "64", 1, 4096, F(grpc_max_inflight),
     "ValidateToken calls handled at once; more wait in gRPC until their deadline", false},
    {"AUTH_SHUTDOWN_DRAIN", CFG_DURATION, "10s", 0, 120000, F(shutdown_drain_ms),
     "how long a stop waits for requests in progress", false},
    {"OTLP_ENDPOINT", CFG_STRING, "", 0, 0, F(otlp_endpoint),
     "OTLP/HTTP collector base URL for traces (empty: no export)", false},
    {"LOG_LEVEL", CFG_STRING, "info", 0, 0, F(log_level), "debug, info, warn or error", false},
};
#define NTABLE (sizeof table / sizeof table[0])

int auth_cfg_load(auth_cfg_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (cfg_load(table, NTABLE, cfg, err, errlen) < 0) return -1;
    char host[256];
    uint16_t port;
    if (cfg_split_hostport(cfg->http_listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "AUTH_HTTP_LISTEN: '%s' is not host:port", cfg->http_listen);
        return -1;
    }
    if (cfg_split_hostport(cfg->grpc_listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "AUTH_GRPC_LISTEN: '%s' is not host:port", cfg->grpc_listen);
        return -1;
    }
    if (cfg->access_ttl_ms % 1000 || cfg->refresh_ttl_ms % 1000) {
        snprintf(err, errlen, "%s: must be whole seconds",
                 cfg->access_ttl_ms % 1000 ? "AUTH_ACCESS_TTL" : "AUTH_REFRESH_TTL");
        return -1;
    }
    if (!*cfg->issuer || !*cfg->audience) {
        snprintf(err, errlen, "%s: must not be empty",
                 *cfg->issuer ? "AUTH_AUDIENCE" : "AUTH_ISSUER");
        return -1;
    }
    return 0;
}

void auth_cfg_log(const auth_cfg_t *cfg)
{
    cfg_log(table, NTABLE, cfg);
}

void auth_cfg_usage(FILE *f)
{
    cfg_usage(f, table, NTABLE);
}
