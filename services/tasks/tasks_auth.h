/* tasks_auth — bearer tokens validated by auth-service's gRPC ValidateToken (CONTRACT §4),
 * with a deadline, failing closed, and a short bounded cache of positive answers.
 *
 * The cache trades revocation latency for load and availability: a token validated once is
 * accepted on this replica for up to TASKS_AUTH_CACHE_TTL (never past its own expiry) without
 * asking auth-service, so a token revoked meanwhile keeps working that long here, and a
 * request with a cached token is served even while auth-service is down. Negative answers
 * are never cached. Size is bounded: a direct-mapped table, a new entry overwrites its slot. */
#ifndef TASKS_AUTH_H
#define TASKS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define AUTH_TOKEN_MAX 4096
#define AUTH_EMAIL_MAX 320

typedef enum {
    AUTH_OK,          /* valid: *user filled */
    AUTH_INVALID,     /* the token is not valid: 401 */
    AUTH_UNAVAILABLE, /* auth-service did not answer in time or answered wrongly: 503 */
} auth_result_t;

typedef struct auth_user {
    int64_t user_id;
    int64_t expires_at; /* Unix seconds */
    char email[AUTH_EMAIL_MAX + 1];
} auth_user_t;

typedef struct auth_client auth_client_t;

typedef struct auth_client_config {
    const char *target;     /* host:port of auth-service's gRPC server */
    int64_t deadline_ms;    /* per call */
    int64_t cache_ttl_ms;   /* 0: no cache */
    int cache_size;
    metrics_registry_t *metrics; /* NULL: none */
} auth_client_config_t;

/* Initialises gRPC and creates the channel (it connects lazily). 0, or -1 with err. */
int auth_client_new(const auth_client_config_t *cfg, auth_client_t **out, char *err,
                    size_t errlen);

/* Destroys the channel and shuts gRPC down. NULL is ignored. */
void auth_client_free(auth_client_t *c);

/* Validates token (len bytes). Blocks at most the deadline. why gets a short reason for
 * AUTH_INVALID ("expired", …) or AUTH_UNAVAILABLE ("DEADLINE_EXCEEDED", …); never the token. */
auth_result_t auth_validate(auth_client_t *c, const char *token, size_t len, auth_user_t *user,
                            char *why, size_t whylen);

/* Readiness-style probe: the channel's connectivity, as text ("READY", …). */
const char *auth_channel_state(auth_client_t *c);

/* ---- pure parts, exposed for the unit tests ------------------------------------------ */

/* Finds the token in an Authorization header value: "Bearer <token>" (scheme in any case),
 * the token 1..AUTH_TOKEN_MAX characters of RFC 6750's token68 set (letters, digits and
 * - . _ ~ + / =). Returns 0 and points tok and len at it, or -1. */
int auth_bearer_token(const char *header, const char **tok, size_t *len);

/* What a finished call means: grpc status code, whether the response decoded, and its
 * fields. Anything but a decoded OK answer fails closed (unavailable), except the statuses
 * that say the token itself is bad (UNAUTHENTICATED, INVALID_ARGUMENT) and a well-formed
 * valid=false. */
auth_result_t auth_map_answer(int grpc_status, bool decoded, bool valid, int64_t user_id);

typedef struct auth_cache auth_cache_t;

/* A cache of n slots; NULL if memory ran out. */
auth_cache_t *auth_cache_new(size_t n);
void auth_cache_free(auth_cache_t *c);

/* Stores a positive answer until min(now_ms + ttl_ms, expires_at in ms); nothing if that is
 * already past. */
void auth_cache_put(auth_cache_t *c, const char *token, size_t len, const auth_user_t *u,
                    int64_t now_ms, int64_t ttl_ms);

/* True and *u when token has a live entry at now_ms. */
bool auth_cache_get(auth_cache_t *c, const char *token, size_t len, int64_t now_ms,
                    auth_user_t *u);

#endif
