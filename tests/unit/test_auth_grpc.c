/* Unit tests for services/auth/auth_grpc.c: the ValidateToken message logic, and the real
 * server on an ephemeral port called by a gRPC core client in the same process
 * (ValidateToken, Health/Check, an unknown method, traceparent, metrics, clean stop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>

#include "../../services/auth/auth_db.c"
#include "../../services/auth/auth_grpc.c"
#include "../../services/auth/auth_jwt.c"
#include "../../services/auth/auth_metrics.c"
#include "../../services/auth/auth_refresh.c"
#include "rpc.h"
#include "proto/grpc/health/v1/health.pb-c.c"

static auth_jwt_t *g_jwt;
static char *g_pem;

static int setup(void **state)
{
    (void)state;
    char err[256];
    g_pem = auth_jwt_generate_pem();
    auth_jwt_opts_t o = {"auth-service", "todo-system", 900, 30};
    return g_pem && auth_jwt_new(g_pem, strlen(g_pem), &o, &g_jwt, err, sizeof err) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    auth_jwt_free(g_jwt);
    auth_jwt_pem_free(g_pem);
    return 0;
}

static size_t pack_request(const char *token, size_t len, uint8_t *out)
{
    Todo__Auth__V1__ValidateTokenRequest r = TODO__AUTH__V1__VALIDATE_TOKEN_REQUEST__INIT;
    char *t = malloc(len + 1);
    memcpy(t, token, len);
    t[len] = 0;
    r.token = t;
    size_t n = todo__auth__v1__validate_token_request__pack(&r, out);
    /* a NUL inside: protobuf-c packs strlen bytes, so write the real bytes by hand */
    if (strlen(t) != len) {
        out[0] = 0x0a;
        out[1] = (uint8_t)len; /* tests keep len < 128 here */
        memcpy(out + 2, token, len);
        n = len + 2;
    }
    free(t);
    return n;
}

static Todo__Auth__V1__ValidateTokenResponse *call_msg(const char *token, size_t len, int64_t now,
                                                       auth_tok_status_t *st)
{
    uint8_t in[8192], *out;
    size_t outlen, inlen = pack_request(token, len, in);
    assert_int_equal(auth_grpc_validate_msg(g_jwt, in, inlen, now, &out, &outlen, st), 0);
    Todo__Auth__V1__ValidateTokenResponse *r =
        todo__auth__v1__validate_token_response__unpack(NULL, outlen, out);
    free(out);
    assert_non_null(r);
    return r;
}

static void test_validate_msg(void **state)
{
    (void)state;
    char *tok, err[128];
    int64_t exp, now = 1800000000;
    assert_int_equal(auth_jwt_issue(g_jwt, 9, "c@example.com", now, &tok, &exp, err, sizeof err),
                     0);
    auth_tok_status_t st;
    Todo__Auth__V1__ValidateTokenResponse *r = call_msg(tok, strlen(tok), now, &st);
    assert_true(r->valid);
    assert_int_equal(r->user_id, 9);
    assert_string_equal(r->email, "c@example.com");
    assert_int_equal(r->expires_at, exp);
    assert_string_equal(r->reason, "");
    todo__auth__v1__validate_token_response__free_unpacked(r, NULL);

    r = call_msg(tok, strlen(tok), now + 3600, &st);
    assert_false(r->valid);
    assert_int_equal(r->user_id, 0);
    assert_string_equal(r->reason, "expired");
    todo__auth__v1__validate_token_response__free_unpacked(r, NULL);

    r = call_msg("", 0, now, &st);
    assert_false(r->valid);
    assert_string_equal(r->reason, "missing");
    todo__auth__v1__validate_token_response__free_unpacked(r, NULL);
    free(tok);

    /* a NUL byte inside the token is never cut off into a shorter valid token */
    char shorty[100];
    snprintf(shorty, sizeof shorty, "a.b.c");
    char with_nul[] = "a.b.c\0tail";
    r = call_msg(with_nul, sizeof with_nul - 1, now, &st);
    assert_false(r->valid);
    assert_string_equal(r->reason, "malformed");
    todo__auth__v1__validate_token_response__free_unpacked(r, NULL);
}

static void test_validate_msg_rejects_non_messages(void **state)
{
    (void)state;
    uint8_t *out;
    size_t outlen;
    auth_tok_status_t st;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(auth_grpc_validate_msg(g_jwt, junk, sizeof junk, 0, &out, &outlen, &st), -1);
    const uint8_t wrong_type[] = {0x08, 0x01}; /* field 1 as a varint, not a string */
    assert_int_equal(auth_grpc_validate_msg(g_jwt, wrong_type, 2, 0, &out, &outlen, &st), -1);
}

static void test_deadline_passed(void **state)
{
    (void)state;
    gpr_timespec past =
        gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(5, GPR_TIMESPAN));
    gpr_timespec future =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(5, GPR_TIMESPAN));
    assert_true(deadline_passed(past));
    assert_false(deadline_passed(future));
    assert_false(deadline_passed(gpr_inf_future(GPR_CLOCK_REALTIME)));
}

/* ---- the real server, called through gRPC core's client API ------------------------------ */

typedef struct reply {
    grpc_status_code code;
    uint8_t data[4096];
    size_t len;
    bool has_message;
} reply_t;

/* One call through lib/rpc, the client every program of the system uses. */
static void rpc(rpc_channel_t *ch, const char *method, const uint8_t *req, size_t reqlen,
                const char *traceparent, reply_t *out)
{
    void *resp = NULL;
    size_t n = 0;
    out->code = (grpc_status_code)rpc_unary(ch, method, req, reqlen, 5000, traceparent, &resp, &n);
    out->has_message = resp != NULL;
    out->len = n;
    assert_true(n <= sizeof out->data);
    if (n) memcpy(out->data, resp, n);
    free(resp);
}

static double metric_value(metrics_registry_t *reg, const char *line_prefix)
{
    buf_t b = BUF_INIT;
    metrics_render(reg, &b);
    const char *p = strstr(buf_str(&b), line_prefix);
    double v = p ? strtod(p + strlen(line_prefix), NULL) : -1;
    buf_free(&b);
    return v;
}

/* True once the sample reaches min, polled for up to five seconds. */
static bool metric_at_least(metrics_registry_t *reg, const char *line_prefix, double min)
{
    int64_t until = clock_mono_ms() + 5000;
    while (metric_value(reg, line_prefix) < min) {
        if (clock_mono_ms() > until) return false;
        poll(NULL, 0, 10);
    }
    return true;
}

static void test_server_end_to_end(void **state)
{
    (void)state;
    char err[256];
    metrics_registry_t *reg = metrics_registry_new();
    auth_metrics_t m;
    assert_int_equal(auth_metrics_init(&m, reg, err, sizeof err), 0);
    auth_grpc_config_t cfg = {
        .listen = "127.0.0.1:0", .threads = 2, .max_inflight = 4, .jwt = g_jwt, .metrics = &m};
    auth_grpc_t *srv;
    assert_int_equal(auth_grpc_start(&cfg, &srv, err, sizeof err), 0);
    assert_true(auth_grpc_port(srv) > 0);
    assert_int_equal(auth_grpc_ready_check(srv, err, sizeof err), 0);

    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", auth_grpc_port(srv));
    rpc_channel_t *ch = rpc_channel_new(target, err, sizeof err);
    assert_non_null(ch);

    /* ValidateToken with a good token, 20 times (more than the 4 slots, so slots recycle) */
    char *tok;
    int64_t exp;
    assert_int_equal(
        auth_jwt_issue(g_jwt, 5, "d@example.com", (int64_t)time(NULL), &tok, &exp, err, sizeof err),
        0);
    uint8_t req[2048];
    size_t reqlen = pack_request(tok, strlen(tok), req);
    reply_t r;
    for (int i = 0; i < 20; i++) {
        rpc(ch, VALIDATE_METHOD, req, reqlen,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &r);
        assert_int_equal(r.code, GRPC_STATUS_OK);
        Todo__Auth__V1__ValidateTokenResponse *v =
            todo__auth__v1__validate_token_response__unpack(NULL, r.len, r.data);
        assert_non_null(v);
        assert_true(v->valid);
        assert_int_equal(v->user_id, 5);
        todo__auth__v1__validate_token_response__free_unpacked(v, NULL);
    }
    /* garbage token: OK status, valid=false */
    reqlen = pack_request("garbage", 7, req);
    rpc(ch, VALIDATE_METHOD, req, reqlen, NULL, &r);
    assert_int_equal(r.code, GRPC_STATUS_OK);
    Todo__Auth__V1__ValidateTokenResponse *v =
        todo__auth__v1__validate_token_response__unpack(NULL, r.len, r.data);
    assert_false(v->valid);
    assert_string_equal(v->reason, "malformed");
    todo__auth__v1__validate_token_response__free_unpacked(v, NULL);
    /* bytes that are not a request message */
    rpc(ch, VALIDATE_METHOD, (const uint8_t *)"\xff\xff", 2, NULL, &r);
    assert_int_equal(r.code, GRPC_STATUS_INVALID_ARGUMENT);

    /* Health/Check: SERVING for "" and our service, NOT_FOUND for others */
    uint8_t hreq[64];
    Grpc__Health__V1__HealthCheckRequest h = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    size_t hlen = grpc__health__v1__health_check_request__pack(&h, hreq);
    rpc(ch, HEALTH_METHOD, hreq, hlen, NULL, &r);
    assert_int_equal(r.code, GRPC_STATUS_OK);
    Grpc__Health__V1__HealthCheckResponse *hr =
        grpc__health__v1__health_check_response__unpack(NULL, r.len, r.data);
    assert_int_equal(hr->status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    grpc__health__v1__health_check_response__free_unpacked(hr, NULL);
    h.service = "todo.auth.v1.AuthService";
    hlen = grpc__health__v1__health_check_request__pack(&h, hreq);
    rpc(ch, HEALTH_METHOD, hreq, hlen, NULL, &r);
    assert_int_equal(r.code, GRPC_STATUS_OK);
    h.service = "something.Else";
    hlen = grpc__health__v1__health_check_request__pack(&h, hreq);
    rpc(ch, HEALTH_METHOD, hreq, hlen, NULL, &r);
    assert_int_equal(r.code, GRPC_STATUS_NOT_FOUND);

    /* unknown methods are answered, not left to their deadline; the call's span (and so its
     * log line) continues the caller's traceparent */
    FILE *logf = tmpfile();
    log_set_output(logf);
    rpc(ch, "/todo.auth.v1.AuthService/Nope", req, reqlen,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &r);
    log_set_output(NULL);
    assert_int_equal(r.code, GRPC_STATUS_UNIMPLEMENTED);
    char line[1024] = "";
    rewind(logf);
    assert_non_null(fgets(line, sizeof line, logf));
    fclose(logf);
    assert_non_null(strstr(line, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""));
    assert_non_null(strstr(line, "/todo.auth.v1.AuthService/Nope"));
    rpc(ch, "/other.Service/Method", req, reqlen, NULL, &r);
    assert_int_equal(r.code, GRPC_STATUS_UNIMPLEMENTED);

    /* a call is counted when the server has finished it, which may be just after the client
     * has its answer: wait for the counts (bounded) instead of reading them at once */
    assert_true(metric_at_least(reg, "grpc_server_handled_total{grpc_method=\"" VALIDATE_METHOD
                                     "\",grpc_code=\"OK\"} ", 21));
    assert_true(metric_at_least(reg, "grpc_server_handled_total{grpc_method=\"unknown\","
                                     "grpc_code=\"UNIMPLEMENTED\"} ", 2));
    assert_true(metric_at_least(
        reg, "auth_token_validations_total{via=\"grpc\",outcome=\"valid\"} ", 20));

    rpc_channel_free(ch);
    free(tok);
    auth_grpc_stop(srv, 1000);
    metrics_registry_free(reg);
}

static void test_start_fails_on_bad_address(void **state)
{
    (void)state;
    char err[256];
    auth_grpc_config_t cfg = {.listen = "256.1.1.1:99999", .jwt = g_jwt};
    auth_grpc_t *srv = NULL;
    assert_int_equal(auth_grpc_start(&cfg, &srv, err, sizeof err), -1);
    assert_null(srv);
    assert_non_null(strstr(err, "256.1.1.1:99999"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_msg),
        cmocka_unit_test(test_validate_msg_rejects_non_messages),
        cmocka_unit_test(test_deadline_passed),
        cmocka_unit_test(test_server_end_to_end),
        cmocka_unit_test(test_start_fails_on_bad_address),
    };
    return cmocka_run_group_tests_name("auth_grpc", tests, setup, teardown);
}
