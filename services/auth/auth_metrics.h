/* auth_metrics — the service's own Prometheus metrics, next to the http_* ones that the
 * http layer records in the same registry:
 *
 *   auth_logins_total{outcome}                    success, invalid_credentials, locked,
 *                                                 invalid_request, error
 *   auth_registrations_total{outcome}             created, email_taken, invalid, error
 *   auth_refreshes_total{outcome}                 rotated, unknown, expired, revoked, reused, error
 *   auth_logouts_total
 *   auth_tokens_issued_total{kind}                access, refresh
 *   auth_token_validations_total{via,outcome}     via http|grpc; outcome = auth_tok_reason
 *   auth_password_hash_seconds                    argon2id time (hash or verify), histogram
 *   auth_password_hash_inflight                   argon2id calls running or queued, gauge
 *   grpc_server_handled_total{method,code}        code as its canonical name (OK, UNIMPLEMENTED …)
 *   grpc_server_handling_seconds{method}          histogram
 *   grpc_server_inflight_calls                    gauge
 *
 * Series with fixed label values are created once at start, so hot paths never take the
 * family lock. */
#ifndef AUTH_METRICS_H
#define AUTH_METRICS_H

#include <stdbool.h>

#include "auth_jwt.h"
#include "auth_refresh.h"
#include "metrics.h"

typedef enum { AUTH_VIA_HTTP, AUTH_VIA_GRPC, AUTH_VIA_COUNT } auth_via_t;

typedef enum {
    AUTH_LOGIN_SUCCESS,
    AUTH_LOGIN_INVALID_CREDENTIALS,
    AUTH_LOGIN_LOCKED,
    AUTH_LOGIN_INVALID_REQUEST,
    AUTH_LOGIN_ERROR,
    AUTH_LOGIN_OUTCOME_COUNT
} auth_login_outcome_t;

typedef enum {
    AUTH_REG_CREATED,
    AUTH_REG_EMAIL_TAKEN,
    AUTH_REG_INVALID,
    AUTH_REG_ERROR,
    AUTH_REG_OUTCOME_COUNT
} auth_reg_outcome_t;

typedef struct auth_metrics {
    metrics_series_t *logins[AUTH_LOGIN_OUTCOME_COUNT];
    metrics_series_t *registrations[AUTH_REG_OUTCOME_COUNT];
    metrics_series_t *refreshes[AUTH_RT_OUTCOME_COUNT];
    metrics_series_t *refresh_errors;
    metrics_series_t *logouts;
    metrics_series_t *issued_access;
    metrics_series_t *issued_refresh;
    metrics_series_t *validations[AUTH_VIA_COUNT][AUTH_TOK_STATUS_COUNT];
    metrics_series_t *hash_seconds;
    metrics_series_t *hash_inflight;
    metrics_family_t *grpc_handled; /* {method, code} */
    metrics_family_t *grpc_seconds; /* {method} */
    metrics_series_t *grpc_inflight;
} auth_metrics_t;

/* Registers every family in reg and creates the fixed series. 0, or -1 with err. */
int auth_metrics_init(auth_metrics_t *m, metrics_registry_t *reg, char *err, size_t errlen);

#endif
