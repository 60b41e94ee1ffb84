/* auth_metrics — registration of the service's metrics; see auth_metrics.h. */
#include "auth_metrics.h"

#include <stdio.h>

static const char *const login_names[AUTH_LOGIN_OUTCOME_COUNT] = {
    "success", "invalid_credentials", "locked", "invalid_request", "error"};
static const char *const reg_names[AUTH_REG_OUTCOME_COUNT] = {"created", "email_taken", "invalid",
                                                              "error"};
static const char *const via_names[AUTH_VIA_COUNT] = {"http", "grpc"};

/* argon2id at interactive cost takes ~0.1 s; queueing behind the hash semaphore adds more. */
static const double hash_buckets[] = {.025, .05, .075, .1, .15, .2, .3, .5, 1, 2, 5};
/* ValidateToken takes ~0.1 ms of CPU. */
static const double grpc_buckets[] = {.0001, .00025, .0005, .001, .0025, .005,
                                      .01,   .025,   .05,   .1,   .25,   1};

#define FAMILY(call)                                                                               \
    do {                                                                                           \
        if (!(call)) return -1;                                                                    \
    } while (0)

int auth_metrics_init(auth_metrics_t *m, metrics_registry_t *reg, char *err, size_t errlen)
{
    metrics_family_t *f;
    FAMILY(f = metrics_counter(reg, "auth_logins_total", "Login attempts by outcome.", "outcome",
                               err, errlen));
    for (int i = 0; i < AUTH_LOGIN_OUTCOME_COUNT; i++)
        m->logins[i] = metrics_series(f, METRICS_LABELS(login_names[i]));

    FAMILY(f = metrics_counter(reg, "auth_registrations_total", "Registrations by outcome.",
                               "outcome", err, errlen));
    for (int i = 0; i < AUTH_REG_OUTCOME_COUNT; i++)
        m->registrations[i] = metrics_series(f, METRICS_LABELS(reg_names[i]));

    FAMILY(f = metrics_counter(reg, "auth_refreshes_total",
                               "Refresh token presentations by outcome.", "outcome", err, errlen));
    for (int i = 0; i < AUTH_RT_OUTCOME_COUNT; i++)
        m->refreshes[i] = metrics_series(f, METRICS_LABELS(auth_rt_outcome_name(i)));
    m->refresh_errors = metrics_series(f, METRICS_LABELS("error"));

    FAMILY(f = metrics_counter(reg, "auth_logouts_total", "Logout requests.", NULL, err, errlen));
    m->logouts = metrics_series(f, NULL);

    FAMILY(f = metrics_counter(reg, "auth_tokens_issued_total", "Tokens issued by kind.", "kind",
                               err, errlen));
    m->issued_access = metrics_series(f, METRICS_LABELS("access"));
    m->issued_refresh = metrics_series(f, METRICS_LABELS("refresh"));

    FAMILY(f = metrics_counter(reg, "auth_token_validations_total",
                               "Access token validations by interface and outcome.", "via,outcome",
                               err, errlen));
    for (int v = 0; v < AUTH_VIA_COUNT; v++)
        for (int s = 0; s < AUTH_TOK_STATUS_COUNT; s++)
            m->validations[v][s] =
                metrics_series(f, METRICS_LABELS(via_names[v], auth_tok_reason(s)));

    FAMILY(f = metrics_histogram(reg, "auth_password_hash_seconds",
                                 "Time spent in argon2id (hash or verify), including waiting "
                                 "for a hashing slot.",
                                 NULL, hash_buckets, sizeof hash_buckets / sizeof *hash_buckets,
                                 err, errlen));
    m->hash_seconds = metrics_series(f, NULL);
    FAMILY(f = metrics_gauge(reg, "auth_password_hash_inflight",
                             "argon2id computations running or waiting for a slot.", NULL, err,
                             errlen));
    m->hash_inflight = metrics_series(f, NULL);

    FAMILY(m->grpc_handled = metrics_counter(reg, "grpc_server_handled_total",
                                             "gRPC calls completed, by method and status code.",
                                             "grpc_method,grpc_code", err, errlen));
    FAMILY(m->grpc_seconds = metrics_histogram(
               reg, "grpc_server_handling_seconds",
               "Time from receiving a gRPC call to sending its status.", "grpc_method",
               grpc_buckets, sizeof grpc_buckets / sizeof *grpc_buckets, err, errlen));
    FAMILY(f = metrics_gauge(reg, "grpc_server_inflight_calls", "gRPC calls being processed now.",
                             NULL, err, errlen));
    m->grpc_inflight = metrics_series(f, NULL);
    return 0;
}
