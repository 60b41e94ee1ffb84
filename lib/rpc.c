/* rpc — gRPC unary calls on the core C API; see rpc.h. */
#include "rpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the watcher looks at the channel's state (and how long rpc_channel_free waits
 * for it to notice the stop). */
#define WATCH_MS 200

struct rpc_channel {
    grpc_channel *ch;
    pthread_t watcher;
    bool watching;
    atomic_bool stop;
};

static const char *const status_names[] = {
    "OK",                 "CANCELLED",         "UNKNOWN",     "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",  "NOT_FOUND",         "ALREADY_EXISTS", "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",   "OUT_OF_RANGE",
    "UNIMPLEMENTED",      "INTERNAL",          "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED"};

const char *rpc_status_name(int code)
{
    return (unsigned)code < sizeof status_names / sizeof status_names[0] ? status_names[code]
                                                                         : "UNKNOWN";
}

/* The channel's connection is driven from a thread of its own. gRPC core makes I/O progress
 * only while some thread polls a completion queue that the channel's sockets belong to: a
 * call waiting for its answer does, but a call made while the channel is in
 * TRANSIENT_FAILURE fails at once and polls nothing, so a reconnection attempt to a server
 * that came back was noticed only by gRPC's backup poller, every 5 s (tasks-service answered
 * 503 for 4 to 12 s after auth-service returned; issue 13, item 2). The watcher keeps a
 * connectivity watch on its own completion queue, which puts the channel's sockets in a
 * polled set, and asks the channel to connect whenever it is idle. */
static void *watch_main(void *arg)
{
    rpc_channel_t *c = arg;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    while (!atomic_load(&c->stop)) {
        grpc_connectivity_state st = grpc_channel_check_connectivity_state(c->ch, 1);
        gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                          gpr_time_from_millis(WATCH_MS, GPR_TIMESPAN));
        grpc_channel_watch_connectivity_state(c->ch, st, until, cq, NULL);
        /* a state change or the watch's deadline: either way one event */
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return NULL;
}

/* The one place that creates a channel (the core API changed across releases).
 *
 * Reconnecting after the server returns (issue 13, item 2) is bounded by the reconnect
 * settings together with the watcher above: gRPC 1.51 makes one connection attempt per
 * period of max(current backoff, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS), that minimum being also
 * the first attempt's connect timeout (default 20 s). Backoff 100 ms doubling to 500 ms
 * (±20 % jitter) with a 250 ms minimum: a server that returns is connected to within about
 * 0.6 s. Later attempts get the current backoff as their connect timeout, up to 500 ms, so a
 * server whose TCP and HTTP/2 handshake takes longer than that counts as down. */
rpc_channel_t *rpc_channel_new(const char *target, char *err, size_t errlen)
{
    rpc_channel_t *c = calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), NULL;
    grpc_init();
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, .value.integer = 100},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, .value.integer = 250},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, .value.integer = 500},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_RETRIES, .value.integer = 0},
        /* each channel its own connection: two clients in one process (the bench's callers)
         * do not end up multiplexed on one HTTP/2 connection behind each other's backs */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
    };
    grpc_channel_args ca = {.num_args = sizeof args / sizeof args[0], .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    if (!c->ch) {
        grpc_shutdown();
        free(c);
        return snprintf(err, errlen, "cannot create a gRPC channel to %s", target), NULL;
    }
    atomic_init(&c->stop, false);
    if (pthread_create(&c->watcher, NULL, watch_main, c) != 0) {
        rpc_channel_free(c);
        return snprintf(err, errlen, "cannot start the gRPC channel's watcher thread"), NULL;
    }
    c->watching = true;
    return c;
}

void rpc_channel_free(rpc_channel_t *c)
{
    if (!c) return;
    if (c->watching) {
        atomic_store(&c->stop, true);
        pthread_join(c->watcher, NULL); /* within WATCH_MS: its watch times out */
    }
    grpc_channel_destroy(c->ch);
    free(c);
    grpc_shutdown();
}

const char *rpc_channel_state(rpc_channel_t *c)
{
    switch (grpc_channel_check_connectivity_state(c->ch, 0)) {
    case GRPC_CHANNEL_IDLE: return "IDLE";
    case GRPC_CHANNEL_CONNECTING: return "CONNECTING";
    case GRPC_CHANNEL_READY: return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE: return "TRANSIENT_FAILURE";
    default: return "SHUTDOWN";
    }
}

/* The whole answer of a received byte buffer, malloc'd. */
static int read_all(grpc_byte_buffer *bb, void **out, size_t *len)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) return -1;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    size_t n = GRPC_SLICE_LENGTH(all);
    void *copy = malloc(n ? n : 1);
    if (copy) memcpy(copy, GRPC_SLICE_START_PTR(all), n);
    grpc_slice_unref(all);
    grpc_byte_buffer_reader_destroy(&reader);
    if (!copy) return -1;
    *out = copy;
    *len = n;
    return 0;
}

int rpc_unary(rpc_channel_t *c, const char *method, const void *req, size_t len,
              int64_t deadline_ms, const char *traceparent, void **resp, size_t *resp_len)
{
    *resp = NULL;
    *resp_len = 0;
    grpc_slice body = grpc_slice_from_copied_buffer(req, len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);

    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string(method), NULL,
                                               deadline, NULL);
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
    if (status == GRPC_STATUS_OK && recv && read_all(recv, resp, resp_len) < 0)
        status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    if (nmd) grpc_slice_unref(md[0].value);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_byte_buffer_destroy(send);
    if (recv) grpc_byte_buffer_destroy(recv);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return (int)status;
}
