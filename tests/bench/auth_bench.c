/* auth-bench — drives todo.auth.v1.AuthService/ValidateToken with N concurrent callers
 * (each a thread with its own channel, one call at a time, as a service validating every
 * request would) for a fixed time, and prints calls/s and latency percentiles.
 *
 *   auth-bench --target 127.0.0.1:28051 --token JWT [--callers 16] [--seconds 10]
 *              [--deadline-ms 1000]
 *
 * Output, one line: "callers=16 calls=123456 errors=0 invalid=0 calls_per_s=12345.6
 * p50_ms=0.512 p90_ms=… p99_ms=… max_ms=…". Exit status 1 on usage errors or if no call
 * succeeded. Built by services/auth/module.mk; run by tests/bench/auth.sh. */
#include <getopt.h>
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
#include <time.h>

#include "proto/auth/v1/auth.pb-c.h"

#define METHOD "/todo.auth.v1.AuthService/ValidateToken"

typedef struct caller {
    pthread_t thread;
    const char *target;
    grpc_byte_buffer *request;
    int deadline_ms;
    double start, until; /* monotonic seconds: calls are measured between the two */
    double *lat;         /* milliseconds, one per call */
    size_t n, cap;
    long errors, invalid;
} caller_t;

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One unary call; returns 0 if it completed OK with valid=true, 1 if OK but not valid,
 * -1 on an RPC error. */
static int call_once(grpc_channel *ch, grpc_completion_queue *cq, grpc_byte_buffer *req,
                     int deadline_ms)
{
    gpr_timespec dl =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_static_string(METHOD);
    grpc_call *c =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL, dl, NULL);
    grpc_byte_buffer *send = grpc_byte_buffer_copy(req), *recv = NULL;
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int rc = -1;
    char tag;
    if (grpc_call_start_batch(c, ops, 6, &tag, NULL) == GRPC_CALL_OK) {
        grpc_event ev =
            grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_OP_COMPLETE && status == GRPC_STATUS_OK && recv) {
            grpc_byte_buffer_reader r;
            grpc_byte_buffer_reader_init(&r, recv);
            grpc_slice all = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
            Todo__Auth__V1__ValidateTokenResponse *resp =
                todo__auth__v1__validate_token_response__unpack(NULL, GRPC_SLICE_LENGTH(all),
                                                                GRPC_SLICE_START_PTR(all));
            rc = resp && resp->valid ? 0 : 1;
            if (resp) todo__auth__v1__validate_token_response__free_unpacked(resp, NULL);
            grpc_slice_unref(all);
        }
        grpc_slice_unref(details);
    }
    if (recv) grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_call_unref(c);
    return rc;
}

static void *run_caller(void *arg)
{
    caller_t *c = arg;
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    /* a channel of its own: no HTTP/2 connection sharing between callers */
    grpc_arg a = {
        .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {.num_args = 1, .args = &a};
    grpc_channel *ch = grpc_channel_create(c->target, creds, &args);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    call_once(ch, cq, c->request, 5000); /* connect; not measured */
    while (mono() < c->start) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    while (mono() < c->until) {
        double t0 = mono();
        int rc = call_once(ch, cq, c->request, c->deadline_ms);
        double ms = (mono() - t0) * 1000.0;
        if (rc < 0) {
            c->errors++;
            continue;
        }
        if (rc > 0) c->invalid++;
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 65536;
            c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
            if (!c->lat) abort();
        }
        c->lat[c->n++] = ms;
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void usage(FILE *f)
{
    fprintf(f, "usage: auth-bench --target HOST:PORT --token JWT [--callers N] [--seconds S] "
               "[--deadline-ms MS]\n");
}

int main(int argc, char **argv)
{
    const char *target = NULL, *token = NULL;
    int callers = 1, seconds = 10, deadline_ms = 1000;
    static const struct option opts[] = {{"target", required_argument, NULL, 't'},
                                         {"token", required_argument, NULL, 'k'},
                                         {"callers", required_argument, NULL, 'c'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"deadline-ms", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "t:k:c:s:d:h", opts, NULL)) != -1) {
        switch (o) {
        case 't':
            target = optarg;
            break;
        case 'k':
            token = optarg;
            break;
        case 'c':
            callers = atoi(optarg);
            break;
        case 's':
            seconds = atoi(optarg);
            break;
        case 'd':
            deadline_ms = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (!target || !token || callers < 1 || callers > 1024 || seconds < 1 || deadline_ms < 1) {
        usage(stderr);
        return 1;
    }
    grpc_init();
    Todo__Auth__V1__ValidateTokenRequest req = TODO__AUTH__V1__VALIDATE_TOKEN_REQUEST__INIT;
    req.token = (char *)token;
    size_t len = todo__auth__v1__validate_token_request__get_packed_size(&req);
    uint8_t *buf = malloc(len);
    todo__auth__v1__validate_token_request__pack(&req, buf);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    free(buf);

    caller_t *c = calloc((size_t)callers, sizeof *c);
    double start = mono() + 1.0, until = start + seconds; /* 1 s to connect every caller */
    for (int i = 0; i < callers; i++) {
        c[i] = (caller_t){.target = target,
                          .request = bb,
                          .deadline_ms = deadline_ms,
                          .start = start,
                          .until = until};
        pthread_create(&c[i].thread, NULL, run_caller, &c[i]);
    }
    size_t total = 0;
    long errors = 0, invalid = 0;
    for (int i = 0; i < callers; i++) {
        pthread_join(c[i].thread, NULL);
        total += c[i].n;
        errors += c[i].errors;
        invalid += c[i].invalid;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < callers; i++) {
        memcpy(all + k, c[i].lat, c[i].n * sizeof *all);
        k += c[i].n;
        free(c[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_double);
    double elapsed = seconds; /* every caller ran until the same instant */
    printf("callers=%d calls=%zu errors=%ld invalid=%ld calls_per_s=%.1f p50_ms=%.3f p90_ms=%.3f "
           "p99_ms=%.3f max_ms=%.3f\n",
           callers, total, errors, invalid, (double)total / elapsed, pct(all, total, 0.50),
           pct(all, total, 0.90), pct(all, total, 0.99), total ? all[total - 1] : 0.0);
    free(all);
    free(c);
    grpc_byte_buffer_destroy(bb);
    grpc_shutdown();
    return total > 0 && invalid == 0 ? 0 : 1;
}
