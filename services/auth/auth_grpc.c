/* auth_grpc — the gRPC server on the gRPC core C API; see auth_grpc.h. */
#include "auth_grpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "proto/auth/v1/auth.pb-c.h"
#include "proto/grpc/health/v1/health.pb-c.h"
#include "trace.h"

#define VALIDATE_METHOD "/todo.auth.v1.AuthService/ValidateToken"
#define HEALTH_METHOD "/grpc.health.v1.Health/Check"
#define SERVICE_NAME "todo.auth.v1.AuthService"
#define HEALTH_SLOTS 4
#define GENERIC_SLOTS 4

typedef enum { KIND_VALIDATE, KIND_HEALTH, KIND_GENERIC } slot_kind_t;
typedef enum { SLOT_REQUESTED, SLOT_ANSWERING, SLOT_DEAD } slot_state_t;

/* One call in flight. The tag of every event for the call is the slot itself; events for
 * one slot never overlap, so a slot is only ever touched by one worker at a time. */
typedef struct slot {
    struct auth_grpc *srv;
    slot_kind_t kind;
    slot_state_t state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_call_details details; /* KIND_GENERIC only */
    grpc_metadata_array md;
    grpc_byte_buffer *payload;  /* the request message */
    grpc_byte_buffer *response; /* kept until the send batch completes */
    grpc_slice status_details;
    grpc_status_code code;
    int cancelled;
    int64_t started_ns; /* clock_mono_ns() */
    trace_span_t *span;
} slot_t;

struct auth_grpc {
    grpc_server *server;
    grpc_completion_queue *cq;
    void *validate_method;
    void *health_method;
    const auth_jwt_t *jwt;
    auth_metrics_t *metrics;
    metrics_series_t *handled[3][17]; /* [kind][code], created at start */
    metrics_series_t *seconds[3];
    int port;
    atomic_bool stopping;
    slot_t *slots;
    size_t nslots;
    pthread_t *threads;
    unsigned nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool shutdown_done;
};

/* The tag of grpc_server_shutdown_and_notify. */
static char shutdown_tag;

static const char *const method_names[3] = {VALIDATE_METHOD, HEALTH_METHOD, "unknown"};
static const char *const code_names[17] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

static void gpr_to_log(gpr_log_func_args *a);
static void slot_request(slot_t *s);
static void slot_answer(slot_t *s);
static void slot_finish(slot_t *s);
static void *worker(void *arg);

/* ---- the message logic (no gRPC) -------------------------------------------------------- */

int auth_grpc_validate_msg(const auth_jwt_t *jwt, const uint8_t *in, size_t inlen, int64_t now,
                           uint8_t **out, size_t *outlen, auth_tok_status_t *st)
{
    *out = NULL;
    *outlen = 0;
    Todo__Auth__V1__ValidateTokenRequest *req =
        todo__auth__v1__validate_token_request__unpack(NULL, inlen, in);
    if (!req) return -1;
    auth_claims_t claims;
    /* protobuf-c hands strings out NUL-terminated without their length: a token with a NUL
     * inside would be cut short, which re-encoding to a different size reveals. */
    if (todo__auth__v1__validate_token_request__get_packed_size(req) != inlen)
        *st = AUTH_TOK_MALFORMED;
    else
        *st = auth_jwt_verify(jwt, req->token, strlen(req->token), now, &claims);
    todo__auth__v1__validate_token_request__free_unpacked(req, NULL);

    Todo__Auth__V1__ValidateTokenResponse resp = TODO__AUTH__V1__VALIDATE_TOKEN_RESPONSE__INIT;
    if (*st == AUTH_TOK_VALID) {
        resp.valid = 1;
        resp.user_id = claims.user_id;
        resp.email = claims.email;
        resp.expires_at = claims.exp;
    } else {
        resp.reason = (char *)auth_tok_reason(*st);
    }
    size_t n = todo__auth__v1__validate_token_response__get_packed_size(&resp);
    *out = malloc(n ? n : 1);
    if (!*out) return -1;
    *outlen = todo__auth__v1__validate_token_response__pack(&resp, *out);
    return 0;
}

/* ---- one call ----------------------------------------------------------------------------- */

/* gRPC core's own log lines, as JSON lines like everything else. */
static void gpr_to_log(gpr_log_func_args *a)
{
    log_level_t lv = a->severity == GPR_LOG_SEVERITY_ERROR  ? LOG_ERROR
                     : a->severity == GPR_LOG_SEVERITY_INFO ? LOG_INFO
                                                            : LOG_DEBUG;
    log_emit(lv, "grpc core",
             (const log_field_t[]){LOG_STR("detail", a->message), LOG_STR("file", a->file),
                                   LOG_INT("line", a->line)},
             3);
}

/* Asks gRPC core for the next call of this slot's kind (or stops the slot when stopping). */
static void slot_request(slot_t *s)
{
    struct auth_grpc *g = s->srv;
    if (atomic_load(&g->stopping)) {
        s->state = SLOT_DEAD;
        return;
    }
    s->state = SLOT_REQUESTED;
    s->call = NULL;
    s->payload = NULL;
    s->response = NULL;
    s->cancelled = 0;
    s->code = GRPC_STATUS_OK;
    s->status_details = grpc_empty_slice();
    grpc_metadata_array_init(&s->md);
    grpc_call_error e;
    if (s->kind == KIND_GENERIC) {
        grpc_call_details_init(&s->details);
        e = grpc_server_request_call(g->server, &s->call, &s->details, &s->md, g->cq, g->cq, s);
    } else {
        e = grpc_server_request_registered_call(
            g->server, s->kind == KIND_VALIDATE ? g->validate_method : g->health_method, &s->call,
            &s->deadline, &s->md, &s->payload, g->cq, g->cq, s);
    }
    if (e != GRPC_CALL_OK) {
        log_error("grpc request call failed", LOG_STR("error", grpc_call_error_to_string(e)));
        s->state = SLOT_DEAD;
        grpc_metadata_array_destroy(&s->md);
        if (s->kind == KIND_GENERIC) grpc_call_details_destroy(&s->details);
    }
}

/* The caller's traceparent, if it sent a well-formed one. */
static bool remote_parent(const grpc_metadata_array *md, trace_ctx_t *out)
{
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key, *v = &md->metadata[i].value;
        if (GRPC_SLICE_LENGTH(*k) == 11 &&
            memcmp(GRPC_SLICE_START_PTR(*k), "traceparent", 11) == 0) {
            char buf[128];
            size_t n = GRPC_SLICE_LENGTH(*v);
            if (n >= sizeof buf) return false;
            memcpy(buf, GRPC_SLICE_START_PTR(*v), n);
            buf[n] = '\0';
            return trace_parent_parse(buf, out) == 0;
        }
    }
    return false;
}

static bool deadline_passed(gpr_timespec deadline)
{
    gpr_timespec now = gpr_now(deadline.clock_type);
    return gpr_time_cmp(deadline, now) < 0;
}

/* Reads the whole request message into a malloc'd buffer; -1 if there is none. */
static int read_payload(grpc_byte_buffer *bb, uint8_t **data, size_t *len)
{
    grpc_byte_buffer_reader r;
    if (!bb || !grpc_byte_buffer_reader_init(&r, bb)) return -1;
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(all);
    *data = malloc(*len ? *len : 1);
    if (*data) memcpy(*data, GRPC_SLICE_START_PTR(all), *len);
    grpc_slice_unref(all);
    return *data ? 0 : -1;
}

static void set_response(slot_t *s, const uint8_t *data, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)data, len);
    s->response = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
}

static void slot_fail(slot_t *s, grpc_status_code code, const char *msg)
{
    s->code = code;
    s->status_details = grpc_slice_from_static_string(msg);
}

static void answer_validate(slot_t *s)
{
    uint8_t *in = NULL, *out = NULL;
    size_t inlen = 0, outlen = 0;
    auth_tok_status_t st;
    if (read_payload(s->payload, &in, &inlen) < 0) {
        slot_fail(s, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
    } else if (auth_grpc_validate_msg(s->srv->jwt, in, inlen, (int64_t)time(NULL), &out, &outlen,
                                      &st) < 0) {
        slot_fail(s, GRPC_STATUS_INVALID_ARGUMENT, "not a ValidateTokenRequest");
    } else {
        set_response(s, out, outlen);
        trace_span_set_bool(s->span, "auth.token.valid", st == AUTH_TOK_VALID);
        trace_span_set_str(s->span, "auth.token.reason", auth_tok_reason(st));
        if (s->srv->metrics) metrics_add(s->srv->metrics->validations[AUTH_VIA_GRPC][st], 1);
    }
    free(in);
    free(out);
}

static void answer_health(slot_t *s)
{
    uint8_t *in = NULL;
    size_t inlen = 0;
    Grpc__Health__V1__HealthCheckRequest *req = NULL;
    if (read_payload(s->payload, &in, &inlen) < 0 ||
        !(req = grpc__health__v1__health_check_request__unpack(NULL, inlen, in))) {
        free(in);
        slot_fail(s, GRPC_STATUS_INVALID_ARGUMENT, "not a HealthCheckRequest");
        return;
    }
    free(in);
    bool known = req->service[0] == '\0' || strcmp(req->service, SERVICE_NAME) == 0;
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
    if (!known) {
        slot_fail(s, GRPC_STATUS_NOT_FOUND, "unknown service");
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = atomic_load(&s->srv->stopping)
                      ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    uint8_t buf[16];
    size_t n = grpc__health__v1__health_check_response__pack(&resp, buf);
    set_response(s, buf, n);
}

/* A call arrived on this slot: work out the answer and send it in one batch. */
static void slot_answer(slot_t *s)
{
    struct auth_grpc *g = s->srv;
    s->started_ns = clock_mono_ns();
    s->state = SLOT_ANSWERING;
    if (g->metrics) metrics_add(g->metrics->grpc_inflight, 1);

    trace_ctx_t parent;
    bool has_parent = remote_parent(&s->md, &parent);
    char name[160];
    if (s->kind == KIND_GENERIC) {
        size_t n = GRPC_SLICE_LENGTH(s->details.method);
        snprintf(name, sizeof name, "%.*s", (int)(n < 120 ? n : 120),
                 (const char *)GRPC_SLICE_START_PTR(s->details.method));
    } else {
        snprintf(name, sizeof name, "%s", method_names[s->kind]);
    }
    s->span = trace_span_start(name, TRACE_KIND_SERVER, has_parent ? &parent : NULL);
    trace_span_set_str(s->span, "rpc.system", "grpc");
    trace_span_set_str(s->span, "rpc.method", name);
    trace_span_activate(s->span);

    if (s->kind == KIND_GENERIC) {
        slot_fail(s, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
        log_info("grpc unknown method", LOG_STR("method", name));
    } else if (deadline_passed(s->deadline)) {
        slot_fail(s, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed before the call was handled");
    } else if (s->kind == KIND_VALIDATE) {
        answer_validate(s);
    } else {
        answer_health(s);
    }
    trace_span_deactivate(s->span);

    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n++].data.send_initial_metadata.count = 0;
    if (s->response) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = s->response;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.trailing_metadata_count = 0;
    ops[n].data.send_status_from_server.status = s->code;
    ops[n++].data.send_status_from_server.status_details = &s->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &s->cancelled;
    grpc_call_error e = grpc_call_start_batch(s->call, ops, n, s, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("grpc start batch failed", LOG_STR("error", grpc_call_error_to_string(e)));
        slot_finish(s); /* no event will come for this batch */
    }
}

/* The answer is sent (or the call died): record it, free it, take the next call. */
static void slot_finish(slot_t *s)
{
    struct auth_grpc *g = s->srv;
    double secs = clock_since_s(s->started_ns);
    grpc_status_code code =
        s->cancelled && s->code == GRPC_STATUS_OK ? GRPC_STATUS_CANCELLED : s->code;
    if (g->metrics) {
        metrics_add(g->metrics->grpc_inflight, -1);
        if ((unsigned)code < 17) metrics_add(g->handled[s->kind][code], 1);
        metrics_observe(g->seconds[s->kind], secs);
    }
    trace_span_set_int(s->span, "rpc.grpc.status_code", code);
    if (code != GRPC_STATUS_OK && code != GRPC_STATUS_NOT_FOUND)
        trace_span_set_status(s->span, TRACE_STATUS_ERROR,
                              (unsigned)code < 17 ? code_names[code] : NULL);
    trace_span_end(s->span);
    s->span = NULL;

    if (s->call) grpc_call_unref(s->call);
    if (s->payload) grpc_byte_buffer_destroy(s->payload);
    if (s->response) grpc_byte_buffer_destroy(s->response);
    grpc_slice_unref(s->status_details);
    grpc_metadata_array_destroy(&s->md);
    if (s->kind == KIND_GENERIC) grpc_call_details_destroy(&s->details);
    slot_request(s);
}

/* Dispatches one completion-queue event; false once the queue is shut down and drained. */
static bool handle_event(struct auth_grpc *g, grpc_event ev)
{
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return false;
    if (ev.type != GRPC_OP_COMPLETE) return true;
    if (ev.tag == &shutdown_tag) {
        pthread_mutex_lock(&g->mu);
        g->shutdown_done = true;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        return true;
    }
    slot_t *s = ev.tag;
    if (s->state == SLOT_REQUESTED) {
        if (ev.success) {
            slot_answer(s);
        } else { /* the server is shutting down: the request was never matched */
            s->state = SLOT_DEAD;
            if (s->payload) grpc_byte_buffer_destroy(s->payload);
            grpc_metadata_array_destroy(&s->md);
            if (s->kind == KIND_GENERIC) grpc_call_details_destroy(&s->details);
        }
    } else if (s->state == SLOT_ANSWERING) {
        slot_finish(s);
    }
    return true;
}

static void *worker(void *arg)
{
    struct auth_grpc *g = arg;
    while (handle_event(
        g, grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)))
        ;
    return NULL;
}

/* ---- server ----------------------------------------------------------------------------- */

int auth_grpc_start(const auth_grpc_config_t *cfg, auth_grpc_t **out, char *err, size_t errlen)
{
    *out = NULL;
    gpr_set_log_function(gpr_to_log);
    gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
    grpc_init();

    struct auth_grpc *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        grpc_shutdown();
        return -1;
    }
    g->jwt = cfg->jwt;
    g->metrics = cfg->metrics;
    atomic_init(&g->stopping, false);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    unsigned inflight = cfg->max_inflight ? cfg->max_inflight : 64;
    unsigned nthreads = cfg->threads ? cfg->threads : 2; /* g->nthreads counts started ones */

    if (g->metrics) {
        for (int k = 0; k < 3; k++) {
            for (int c = 0; c < 17; c++)
                g->handled[k][c] = metrics_series(g->metrics->grpc_handled,
                                                  METRICS_LABELS(method_names[k], code_names[c]));
            g->seconds[k] =
                metrics_series(g->metrics->grpc_seconds, METRICS_LABELS(method_names[k]));
        }
    }

    grpc_arg args[2];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)(cfg->max_message ? cfg->max_message : 256 * 1024);
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_CONCURRENT_STREAMS;
    args[1].value.integer = 256;
    grpc_channel_args chargs = {.num_args = 2, .args = args};
    g->server = grpc_server_create(&chargs, NULL);
    g->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(g->server, g->cq, NULL);
    g->validate_method = grpc_server_register_method(g->server, VALIDATE_METHOD, NULL,
                                                     GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    g->health_method = grpc_server_register_method(g->server, HEALTH_METHOD, NULL,
                                                   GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    g->port = grpc_server_add_http2_port(g->server, cfg->listen, creds);
    grpc_server_credentials_release(creds);
    if (!g->validate_method || !g->health_method || g->port <= 0) {
        snprintf(err, errlen, "gRPC cannot listen on %s (in use or not an address)", cfg->listen);
        grpc_server_shutdown_and_notify(g->server, g->cq, &shutdown_tag);
        grpc_server_cancel_all_calls(g->server);
        grpc_completion_queue_shutdown(g->cq);
        while (grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_server_destroy(g->server);
        grpc_completion_queue_destroy(g->cq);
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
        grpc_shutdown();
        return -1;
    }
    grpc_server_start(g->server);

    g->nslots = inflight + HEALTH_SLOTS + GENERIC_SLOTS;
    g->slots = calloc(g->nslots, sizeof *g->slots);
    g->threads = calloc(nthreads, sizeof *g->threads);
    if (!g->slots || !g->threads) {
        snprintf(err, errlen, "out of memory");
        auth_grpc_stop(g, 0);
        return -1;
    }
    for (size_t i = 0; i < g->nslots; i++) {
        slot_t *s = &g->slots[i];
        s->srv = g;
        s->kind = i < inflight                  ? KIND_VALIDATE
                  : i < inflight + HEALTH_SLOTS ? KIND_HEALTH
                                                : KIND_GENERIC;
        slot_request(s);
    }
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&g->threads[i], NULL, worker, g) != 0) {
            snprintf(err, errlen, "cannot start gRPC worker threads");
            auth_grpc_stop(g, 0);
            return -1;
        }
        g->nthreads = i + 1;
    }
    *out = g;
    return 0;
}

int auth_grpc_port(const auth_grpc_t *g)
{
    return g->port;
}

int auth_grpc_ready_check(void *arg, char *err, size_t errlen)
{
    auth_grpc_t *g = arg;
    if (!g || atomic_load(&g->stopping)) {
        snprintf(err, errlen, "gRPC server is not serving");
        return -1;
    }
    return 0;
}

void auth_grpc_stop(auth_grpc_t *g, unsigned drain_ms)
{
    if (!g) return;
    atomic_store(&g->stopping, true);
    grpc_server_shutdown_and_notify(g->server, g->cq, &shutdown_tag);

    /* Calls in progress may finish within drain_ms; then they are cancelled. */
    struct timespec until = clock_deadline(CLOCK_REALTIME, drain_ms); /* g->cv: default clock */
    pthread_mutex_lock(&g->mu);
    while (!g->shutdown_done && g->nthreads > 0) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0) break;
    }
    bool done = g->shutdown_done;
    pthread_mutex_unlock(&g->mu);
    if (!done) grpc_server_cancel_all_calls(g->server);

    /* Without workers (failed start) the shutdown tag must be drained here. */
    if (g->nthreads == 0) {
        grpc_server_cancel_all_calls(g->server);
        while (!g->shutdown_done)
            handle_event(
                g, grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL));
        grpc_completion_queue_shutdown(g->cq);
        while (handle_event(
            g, grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)))
            ;
    } else {
        pthread_mutex_lock(&g->mu);
        while (!g->shutdown_done)
            pthread_cond_wait(&g->cv, &g->mu);
        pthread_mutex_unlock(&g->mu);
        grpc_completion_queue_shutdown(g->cq);
        for (unsigned i = 0; i < g->nthreads; i++)
            pthread_join(g->threads[i], NULL);
    }
    grpc_server_destroy(g->server);
    grpc_completion_queue_destroy(g->cq);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g->slots);
    free(g->threads);
    free(g);
    grpc_shutdown();
}
