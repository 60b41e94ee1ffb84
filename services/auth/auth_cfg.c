/* auth_cfg — the settings table; see auth_cfg.h. */
#include "auth_cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define F(field) offsetof(auth_cfg_t, field)
#define MS_DAY 86400000LL

static const cfg_entry_t rows[] = {
    CFG_ROW("AUTH_GRPC_LISTEN", CFG_HOSTPORT, "127.0.0.1:28051", 0, 0, F(grpc_listen),
            "gRPC listen address host:port (ValidateToken, health)", false),
    CFG_ROW("AUTH_STATE_DIR", CFG_STRING, "/var/lib/auth-service", 0, 0, F(state_dir),
            "where the signing key is created on first start (0700, key file 0600)", false),
    CFG_ROW("AUTH_JWT_PRIVATE_KEY", CFG_STRING, "", 0, 0, F(jwt_private_key),
            "PEM EC P-256 private key; overrides the key file in AUTH_STATE_DIR", true),
    CFG_ROW("AUTH_ACCESS_TTL", CFG_DURATION, "15m", 1000, MS_DAY, F(access_ttl_ms),
            "access token lifetime", false),
    CFG_ROW("AUTH_REFRESH_TTL", CFG_DURATION, "30d", 60000, 365 * MS_DAY, F(refresh_ttl_ms),
            "refresh token lifetime (each rotation starts a new one)", false),
    CFG_ROW("AUTH_ISSUER", CFG_STRING, "auth-service", 0, 0, F(issuer), "iss claim written and required",
            false),
    CFG_ROW("AUTH_AUDIENCE", CFG_STRING, "todo-system", 0, 0, F(audience),
            "aud claim written and required", false),
    CFG_ROW("AUTH_CLOCK_SKEW", CFG_DURATION, "30s", 0, 300000, F(clock_skew_ms),
            "tolerance on exp, nbf and iat", false),
    CFG_ROW("AUTH_LOGIN_MAX_FAILURES", CFG_INT, "5", 1, 1000, F(login_max_failures),
            "failed logins for one email that lock it", false),
    CFG_ROW("AUTH_LOGIN_FAILURE_WINDOW", CFG_DURATION, "15m", 1000, MS_DAY, F(login_failure_window_ms),
            "window in which failed logins are counted", false),
    CFG_ROW("AUTH_LOGIN_LOCKOUT", CFG_DURATION, "15m", 1000, MS_DAY, F(login_lockout_ms),
            "how long a locked email is refused (429 with Retry-After)", false),
    CFG_ROW("AUTH_ARGON2_OPSLIMIT", CFG_INT, "2", 1, 20, F(argon2_opslimit),
            "argon2id passes for new hashes (older hashes are upgraded at login)", false),
    CFG_ROW("AUTH_ARGON2_MEMLIMIT_KIB", CFG_INT, "65536", 8, 4194304, F(argon2_memlimit_kib),
            "argon2id memory for new hashes, KiB", false),
    CFG_ROW("AUTH_HASH_CONCURRENCY", CFG_INT, "0", 0, 256, F(hash_concurrency),
            "argon2id computations at once (0: number of CPUs)", false),
    CFG_ROW("AUTH_GRPC_THREADS", CFG_INT, "2", 1, 64, F(grpc_threads),
            "gRPC completion-queue worker threads", false),
    CFG_ROW("AUTH_GRPC_MAX_INFLIGHT", CFG_INT, "64", 1, 4096, F(grpc_max_inflight),
            "ValidateToken calls handled at once; more wait in gRPC until their deadline", false),
};

static int check(const void *cfg, char *err, size_t errlen)
{
    const auth_cfg_t *c = cfg;
    if (c->access_ttl_ms % 1000 || c->refresh_ttl_ms % 1000)
        return snprintf(err, errlen, "%s: must be whole seconds",
                        c->access_ttl_ms % 1000 ? "AUTH_ACCESS_TTL" : "AUTH_REFRESH_TTL"),
               -1;
    if (!*c->issuer || !*c->audience)
        return snprintf(err, errlen, "%s: must not be empty",
                        *c->issuer ? "AUTH_AUDIENCE" : "AUTH_ISSUER"),
               -1;
    return 0;
}

const cfg_table_t auth_cfg = {rows, sizeof rows / sizeof rows[0], check};
