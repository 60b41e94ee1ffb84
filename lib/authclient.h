/* authclient — bearer tokens validated by auth-service's gRPC ValidateToken (CONTRACT §4),
 * with a deadline, failing closed, and a short bounded cache of positive answers. Every
 * service that accepts bearer tokens (tasks-service, notification-service) uses this one
 * client; the call itself is lib/rpc's.
 *
 *   authclient_t *ac;  authclient_new(&(authclient_config_t){.target = "127.0.0.1:28051",
 *       .deadline_ms = 1000, .cache_ttl_ms = 10000, .cache_size = 8192,
 *       .metrics = reg, .metrics_prefix = "tasks"}, &ac, err, sizeof err);
 *   const char *tok; size_t len;   (http_req_bearer finds the token of a request)
 *   switch (authclient_validate(ac, tok, len, &user, why, sizeof why)) {
 *   case AUTHCLIENT_OK: ...  case AUTHCLIENT_INVALID: 401  case AUTHCLIENT_UNAVAILABLE: 503 }
 *
 * The cache trades revocation latency for load and availability: a token validated once is
 * accepted on this replica for up to TASKS_AUTH_CACHE_TTL (never past its own expiry) without
 * asking auth-service, so a token revoked meanwhile keeps working that long here, and a
 * request with a cached token is served even while auth-service is down. Negative answers
 * are never cached. Size is bounded: a direct-mapped table, a new entry overwrites its slot. */
#ifndef TODO_AUTHCLIENT_H
#define TODO_AUTHCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "metrics.h"

#define AUTHCLIENT_EMAIL_MAX 320

typedef enum {
    AUTHCLIENT_OK,          /* valid: *user filled */
    AUTHCLIENT_INVALID,     /* the token is not valid: 401 */
    AUTHCLIENT_UNAVAILABLE, /* auth-service did not answer in time or answered wrongly: 503 */
} authclient_result_t;

typedef struct authclient_user {
    int64_t user_id;
    int64_t expires_at; /* Unix seconds */
    char email[AUTHCLIENT_EMAIL_MAX + 1];
} authclient_user_t;

typedef struct authclient authclient_t;

typedef struct authclient_config {
    const char *target;     /* host:port of auth-service's gRPC server */
    int64_t deadline_ms;    /* per call */
    int64_t cache_ttl_ms;   /* 0: no cache */
    int cache_size;
    metrics_registry_t *metrics; /* NULL: none */
    const char *metrics_prefix;  /* PREFIX_auth_validations_total, PREFIX_authclient_validate_seconds */
} authclient_config_t;

/* Creates the channel (lib/rpc; it connects lazily) and the cache. 0, or -1 with err. */
int authclient_new(const authclient_config_t *cfg, authclient_t **out, char *err,
                    size_t errlen);

/* Destroys the channel and the cache. NULL is ignored. */
void authclient_free(authclient_t *c);

/* Validates token (len bytes). Blocks at most the deadline. why gets a short reason for
 * AUTHCLIENT_INVALID ("expired", …) or AUTHCLIENT_UNAVAILABLE ("DEADLINE_EXCEEDED", …); never the token. */
authclient_result_t authclient_validate(authclient_t *c, const char *token, size_t len, authclient_user_t *user,
                            char *why, size_t whylen);

/* The whole bearer step of a protected route: reads the request's token (lib/http's one
 * reader) and validates it. On success fills *user, tags the request's span with enduser.id
 * and returns true. Otherwise answers the request itself and returns false: 401
 * "unauthorized" without a bearer token, 401 "invalid_token" for a refused one (with
 * WWW-Authenticate), 503 "auth_unavailable" when auth-service cannot answer (fail closed). */
bool authclient_authenticate(authclient_t *c, http_req *req, authclient_user_t *user);

/* Readiness-style probe: the channel's connectivity, as text ("READY", …). */
const char *authclient_state(authclient_t *c);

/* ---- pure parts, exposed for the unit tests ------------------------------------------ */

/* What a finished call means: grpc status code, whether the response decoded, and its
 * fields. Anything but a decoded OK answer fails closed (unavailable), except the statuses
 * that say the token itself is bad (UNAUTHENTICATED, INVALID_ARGUMENT) and a well-formed
 * valid=false. */
authclient_result_t authclient_map_answer(int grpc_status, bool decoded, bool valid,
                                          int64_t user_id);

typedef struct authclient_cache authclient_cache_t;

/* A cache of n slots; NULL if memory ran out. */
authclient_cache_t *authclient_cache_new(size_t n);
void authclient_cache_free(authclient_cache_t *c);

/* Stores a positive answer until min(now_ms + ttl_ms, expires_at in ms); nothing if that is
 * already past. */
void authclient_cache_put(authclient_cache_t *c, const char *token, size_t len, const authclient_user_t *u,
                    int64_t now_ms, int64_t ttl_ms);

/* True and *u when token has a live entry at now_ms. */
bool authclient_cache_get(authclient_cache_t *c, const char *token, size_t len, int64_t now_ms,
                    authclient_user_t *u);

#endif
