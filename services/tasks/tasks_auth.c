/* tasks_auth — the ValidateToken client on the gRPC core C API, and its cache; see
 * tasks_auth.h.
 *
 * gRPC core 1.51: one channel for the process (created once, through channel_create, the
 * only place that knows how this release spells it), one pluck completion queue per call.
 * HTTP handlers run one thread per connection, so a call simply blocks its thread until the
 * batch completes, which the call's deadline bounds. */
#include "tasks_auth.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "proto/auth/v1/auth.pb-c.h"
#include "trace.h"

#define VALIDATE_METHOD "/todo.auth.v1.AuthService/ValidateToken"
#define CACHE_LOCKS 64

struct auth_cache {
    size_t n;
    struct entry {
        uint64_t hash;
        char *token;
        size_t len;
        int64_t until_ms;
        auth_user_t user;
    } *e;
    pthread_mutex_t locks[CACHE_LOCKS];
};

struct auth_client {
    grpc_channel *channel;
    int64_t deadline_ms;
    int64_t cache_ttl_ms;
    auth_cache_t *cache;
    metrics_series_t *m_valid, *m_invalid, *m_unavailable, *m_cached, *m_seconds;
};

static grpc_channel *channel_create(const char *target);

/* ==== pure parts ======================================================================== */

static bool token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

int auth_bearer_token(const char *header, const char **tok, size_t *len)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return -1;
    const char *p = header + 7;
    while (*p == ' ') p++;
    size_t n = 0;
    while (token_char(p[n])) {
        if (++n > AUTH_TOKEN_MAX) return -1;
    }
    const char *end = p + n;
    while (*end == ' ') end++;
    if (n == 0 || *end) return -1;
    *tok = p;
    *len = n;
    return 0;
}

auth_result_t auth_map_answer(int grpc_status, bool decoded, bool valid, int64_t user_id)
{
    if (grpc_status == GRPC_STATUS_UNAUTHENTICATED || grpc_status == GRPC_STATUS_INVALID_ARGUMENT)
        return AUTH_INVALID;
    if (grpc_status != GRPC_STATUS_OK || !decoded) return AUTH_UNAVAILABLE;
    if (!valid) return AUTH_INVALID;
    return user_id > 0 ? AUTH_OK : AUTH_UNAVAILABLE; /* "valid" without a user: a broken peer */
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

auth_cache_t *auth_cache_new(size_t n)
{
    auth_cache_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n = n ? n : 1;
    c->e = calloc(c->n, sizeof *c->e);
    if (!c->e) {
        free(c);
        return NULL;
    }
    for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void auth_cache_free(auth_cache_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->e[i].token);
    for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_destroy(&c->locks[i]);
    free(c->e);
    free(c);
}

void auth_cache_put(auth_cache_t *c, const char *token, size_t len, const auth_user_t *u,
                    int64_t now_ms, int64_t ttl_ms)
{
    if (!c || ttl_ms <= 0) return;
    int64_t until = now_ms + ttl_ms;
    int64_t exp_ms = u->expires_at > 0 ? u->expires_at * 1000 : 0;
    if (exp_ms < until) until = exp_ms; /* never outlive the token */
    if (until <= now_ms) return;
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, token, len);
    copy[len] = '\0';
    uint64_t h = fnv1a(token, len);
    size_t slot = (size_t)(h % c->n);
    pthread_mutex_t *mu = &c->locks[slot % CACHE_LOCKS];
    pthread_mutex_lock(mu);
    struct entry *e = &c->e[slot];
    free(e->token);
    e->token = copy;
    e->len = len;
    e->hash = h;
    e->until_ms = until;
    e->user = *u;
    pthread_mutex_unlock(mu);
}

bool auth_cache_get(auth_cache_t *c, const char *token, size_t len, int64_t now_ms,
                    auth_user_t *u)
{
    if (!c) return false;
    uint64_t h = fnv1a(token, len);
    size_t slot = (size_t)(h % c->n);
    pthread_mutex_t *mu = &c->locks[slot % CACHE_LOCKS];
    bool hit = false;
    pthread_mutex_lock(mu);
    struct entry *e = &c->e[slot];
    if (e->token && e->hash == h && e->len == len && memcmp(e->token, token, len) == 0) {
        if (now_ms < e->until_ms) {
            *u = e->user;
            hit = true;
        } else { /* expired: free it now rather than keep a dead token in memory */
            free(e->token);
            e->token = NULL;
        }
    }
    pthread_mutex_unlock(mu);
    return hit;
}

/* ==== the client ======================================================================== */

/* The one place that creates a channel. Reconnect backoff is kept short (100 ms .. 1 s) so a
 * restarted auth-service is used again within about a second, not the default two minutes.
 * (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: gRPC also uses it as the connect
 * timeout, and a slow but healthy auth-service must not be given up on after 100 ms.) */
static grpc_channel *channel_create(const char *target)
{
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, .value.integer = 100},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, .value.integer = 1000},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_RETRIES, .value.integer = 0},
    };
    grpc_channel_args ca = {.num_args = sizeof args / sizeof args[0], .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

int auth_client_new(const auth_client_config_t *cfg, auth_client_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    auth_client_t *c = calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), -1;
    c->deadline_ms = cfg->deadline_ms;
    c->cache_ttl_ms = cfg->cache_ttl_ms;
    if (cfg->cache_ttl_ms > 0 && !(c->cache = auth_cache_new((size_t)cfg->cache_size))) {
        free(c);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    grpc_init();
    c->channel = channel_create(cfg->target);
    if (!c->channel) {
        auth_cache_free(c->cache);
        free(c);
        grpc_shutdown();
        return snprintf(err, errlen, "AUTH_GRPC_ADDR: cannot create a channel to %s", cfg->target),
               -1;
    }
    if (cfg->metrics) {
        char e[256];
        metrics_family_t *f = metrics_counter(cfg->metrics, "tasks_auth_validations_total",
                                              "Bearer token checks, by result.", "result", e,
                                              sizeof e);
        c->m_valid = metrics_series(f, METRICS_LABELS("valid"));
        c->m_invalid = metrics_series(f, METRICS_LABELS("invalid"));
        c->m_unavailable = metrics_series(f, METRICS_LABELS("unavailable"));
        c->m_cached = metrics_series(f, METRICS_LABELS("cached"));
        static const double b[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
        f = metrics_histogram(cfg->metrics, "tasks_auth_validate_seconds",
                              "ValidateToken call latency (cache hits excluded).", NULL, b,
                              sizeof b / sizeof b[0], e, sizeof e);
        c->m_seconds = metrics_series(f, NULL);
    }
    *out = c;
    return 0;
}

void auth_client_free(auth_client_t *c)
{
    if (!c) return;
    grpc_channel_destroy(c->channel);
    auth_cache_free(c->cache);
    free(c);
    grpc_shutdown();
}

const char *auth_channel_state(auth_client_t *c)
{
    switch (grpc_channel_check_connectivity_state(c->channel, 0)) {
    case GRPC_CHANNEL_IDLE: return "IDLE";
    case GRPC_CHANNEL_CONNECTING: return "CONNECTING";
    case GRPC_CHANNEL_READY: return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE: return "TRANSIENT_FAILURE";
    default: return "SHUTDOWN";
    }
}

static const char *status_name(grpc_status_code s)
{
    static const char *const names[] = {
        "OK",        "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",   "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",      "DATA_LOSS",
        "UNAUTHENTICATED"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "UNKNOWN";
}

/* One unary call. Returns the status; *resp is the decoded answer (caller frees) or NULL. */
static grpc_status_code call_validate(auth_client_t *c, const char *token, size_t len,
                                      const char *traceparent,
                                      Todo__Auth__V1__ValidateTokenResponse **resp)
{
    *resp = NULL;
    char *tok = malloc(len + 1);
    if (!tok) return GRPC_STATUS_RESOURCE_EXHAUSTED;
    memcpy(tok, token, len);
    tok[len] = '\0';
    Todo__Auth__V1__ValidateTokenRequest req = TODO__AUTH__V1__VALIDATE_TOKEN_REQUEST__INIT;
    req.token = tok;
    size_t n = todo__auth__v1__validate_token_request__get_packed_size(&req);
    uint8_t *packed = malloc(n ? n : 1);
    if (!packed) {
        free(tok);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    todo__auth__v1__validate_token_request__pack(&req, packed);
    free(tok);
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)packed, n);
    free(packed);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);

    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(c->deadline_ms, GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_static_string(VALIDATE_METHOD);
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               method, NULL, deadline, NULL);
    grpc_metadata md[1];
    size_t nmd = 0;
    if (traceparent) {
        md[0].key = grpc_slice_from_static_string("traceparent");
        md[0].value = grpc_slice_from_copied_string(traceparent);
        nmd = 1;
    }
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_byte_buffer *recv = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = nmd ? md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;

    void *tag = (void *)1;
    if (grpc_call_start_batch(call, ops, 6, tag, NULL) == GRPC_CALL_OK) {
        /* the call's deadline ends the batch; the extra second only guards a stuck core */
        gpr_timespec guard = gpr_time_add(deadline, gpr_time_from_millis(1000, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_pluck(cq, tag, guard, NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
            grpc_call_cancel(call, NULL);
            grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            status = GRPC_STATUS_DEADLINE_EXCEEDED;
        }
    } else {
        status = GRPC_STATUS_INTERNAL;
    }
    if (status == GRPC_STATUS_OK && recv) {
        grpc_byte_buffer_reader reader;
        if (grpc_byte_buffer_reader_init(&reader, recv)) {
            grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
            *resp = todo__auth__v1__validate_token_response__unpack(
                NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
            grpc_slice_unref(all);
            grpc_byte_buffer_reader_destroy(&reader);
        }
    }
    if (nmd) grpc_slice_unref(md[0].value);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_byte_buffer_destroy(send);
    if (recv) grpc_byte_buffer_destroy(recv);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return status;
}

auth_result_t auth_validate(auth_client_t *c, const char *token, size_t len, auth_user_t *user,
                            char *why, size_t whylen)
{
    why[0] = '\0';
    if (auth_cache_get(c->cache, token, len, clock_wall_ms(), user)) {
        metrics_add(c->m_cached, 1);
        return AUTH_OK;
    }
    trace_span_t *span = trace_span_start("todo.auth.v1.AuthService/ValidateToken",
                                          TRACE_KIND_CLIENT, NULL);
    trace_span_set_str(span, "rpc.system", "grpc");
    trace_span_set_str(span, "rpc.service", "todo.auth.v1.AuthService");
    trace_span_set_str(span, "rpc.method", "ValidateToken");
    trace_ctx_t ctx;
    char tp[TRACE_PARENT_LEN + 1];
    bool has_tp = trace_span_ctx(span, &ctx) == 0;
    if (has_tp) trace_parent_format(&ctx, tp);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Todo__Auth__V1__ValidateTokenResponse *resp = NULL;
    grpc_status_code st = call_validate(c, token, len, has_tp ? tp : NULL, &resp);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_observe(c->m_seconds,
                    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

    auth_result_t res = auth_map_answer(st, resp != NULL, resp && resp->valid,
                                        resp ? resp->user_id : 0);
    trace_span_set_int(span, "rpc.grpc.status_code", st);
    switch (res) {
    case AUTH_OK:
        memset(user, 0, sizeof *user);
        user->user_id = resp->user_id;
        user->expires_at = resp->expires_at;
        snprintf(user->email, sizeof user->email, "%s", resp->email ? resp->email : "");
        auth_cache_put(c->cache, token, len, user, clock_wall_ms(), c->cache_ttl_ms);
        metrics_add(c->m_valid, 1);
        break;
    case AUTH_INVALID:
        snprintf(why, whylen, "%s",
                 resp && resp->reason && *resp->reason ? resp->reason : status_name(st));
        metrics_add(c->m_invalid, 1);
        break;
    case AUTH_UNAVAILABLE:
        snprintf(why, whylen, "%s", st == GRPC_STATUS_OK ? "malformed answer" : status_name(st));
        trace_span_set_status(span, TRACE_STATUS_ERROR, why);
        metrics_add(c->m_unavailable, 1);
        break;
    }
    if (resp) todo__auth__v1__validate_token_response__free_unpacked(resp, NULL);
    trace_span_end(span);
    return res;
}
