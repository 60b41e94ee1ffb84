/* Unit tests for lib/trace: traceparent parsing, span ids and the current-span
 * stack, the OTLP/JSON encoder (a pure function, reached by including the .c
 * file), and the exporter against a small HTTP collector run by the test. */
#include "../../lib/trace.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

static const char *const valid_tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static uint64_t now_ms(void)
{
    return (uint64_t)clock_mono_ms();
}

/* ---- traceparent ------------------------------------------------------------- */

static void test_parse_and_format_round_trip(void **state)
{
    trace_ctx_t c;
    assert_int_equal(trace_parent_parse(valid_tp, &c), 0);
    assert_int_equal(c.trace_id[0], 0x4b);
    assert_int_equal(c.trace_id[15], 0x36);
    assert_int_equal(c.span_id[0], 0x00);
    assert_int_equal(c.span_id[7], 0xb7);
    assert_int_equal(c.flags, 0x01);
    char out[TRACE_PARENT_LEN + 1];
    trace_parent_format(&c, out);
    assert_string_equal(out, valid_tp);

    assert_int_equal(
        trace_parent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c), 0);
    assert_int_equal(c.flags, 0);
}

static void test_parse_rejects_malformed_values(void **state)
{
    static const char *const bad[] = {
        "",
        "00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",     /* short flags */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",     /* short trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e47360-0f067aa0ba902b7-01",    /* dash misplaced */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",   /* 00 with extra */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  /* 00 with extra field */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",   /* trailing blank */
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* leading blank */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    /* uppercase trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",    /* uppercase span id */
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    /* uppercase version */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0F",    /* uppercase flags */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    /* forbidden version */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    /* zero span id */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    /* not hex */
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    /* separators */
        "0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   /* future, no dash */
        "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    trace_ctx_t c = {.flags = 0x7e};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (trace_parent_parse(bad[i], &c) != -1)
            fail_msg("accepted: '%s'", bad[i]);
    }
    assert_int_equal(trace_parent_parse(NULL, &c), -1);
    assert_int_equal(c.flags, 0x7e); /* untouched on failure */
}

static void test_parse_accepts_future_versions(void **state)
{
    trace_ctx_t c;
    assert_int_equal(
        trace_parent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c), 0);
    assert_int_equal(
        trace_parent_parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-ever",
                           &c),
        0);
    assert_int_equal(c.flags, 3);
}

/* Every single-character corruption and every truncation must be refused, and
 * random bytes must never crash the parser or be accepted. */
static void test_parse_fuzz(void **state)
{
    trace_ctx_t c;
    char s[64];
    for (size_t i = 0; i < TRACE_PARENT_LEN; i++) {
        for (const char *bad = "X- g\x80"; *bad; bad++) {
            strcpy(s, valid_tp);
            if (s[i] == *bad || (*bad == '-' && (i == 2 || i == 35 || i == 52)))
                continue;
            s[i] = *bad;
            if (trace_parent_parse(s, &c) != -1)
                fail_msg("accepted corruption at %zu: '%s'", i, s);
        }
        strcpy(s, valid_tp);
        s[i] = '\0';
        assert_int_equal(trace_parent_parse(s, &c), -1);
    }
    uint8_t rnd[64];
    for (int round = 0; round < 20000; round++) {
        random_bytes(rnd, sizeof rnd);
        size_t len = rnd[0] % 60;
        memcpy(s, rnd + 1, len);
        s[len] = '\0';
        assert_int_equal(trace_parent_parse(s, &c), -1);
    }
}

/* ---- spans and the current-span stack ---------------------------------------- */

static void test_root_span_gets_fresh_ids(void **state)
{
    trace_span_t *a = trace_span_start("a", TRACE_KIND_INTERNAL, NULL);
    trace_span_t *b = trace_span_start("b", TRACE_KIND_INTERNAL, NULL);
    assert_false(all_zero(a->ctx.trace_id, 16));
    assert_false(all_zero(a->ctx.span_id, 8));
    assert_true(all_zero(a->parent_id, 8));
    assert_int_equal(a->ctx.flags, TRACE_FLAG_SAMPLED);
    assert_memory_not_equal(a->ctx.trace_id, b->ctx.trace_id, 16);
    assert_false(a->recording); /* no exporter: ids only */
    trace_span_set_str(a, "k", "v");
    trace_span_add_event(a, "e");
    trace_span_set_status(a, TRACE_STATUS_ERROR, "boom");
    assert_int_equal(a->nattrs, 0);
    assert_int_equal(a->nevents, 0);
    assert_null(a->status_msg);
    trace_span_end(a);
    trace_span_end(b);
    trace_span_end(NULL); /* NULL-safe, like every span function */
    trace_span_activate(NULL);
    trace_span_set_int(NULL, "k", 1);
}

static void test_children_inherit_the_trace(void **state)
{
    trace_ctx_t remote;
    assert_int_equal(trace_parent_parse(valid_tp, &remote), 0);
    trace_span_t *server = trace_span_start("server", TRACE_KIND_SERVER, &remote);
    assert_memory_equal(server->ctx.trace_id, remote.trace_id, 16);
    assert_memory_equal(server->parent_id, remote.span_id, 8);
    assert_memory_not_equal(server->ctx.span_id, remote.span_id, 8);

    trace_span_activate(server);
    trace_span_t *child = trace_span_start("db", TRACE_KIND_CLIENT, NULL);
    assert_memory_equal(child->ctx.trace_id, remote.trace_id, 16);
    assert_memory_equal(child->parent_id, server->ctx.span_id, 8);

    trace_ctx_t c;
    assert_int_equal(trace_span_ctx(child, &c), 0);
    assert_memory_equal(c.span_id, child->ctx.span_id, 8);
    assert_int_equal(trace_span_ctx(NULL, &c), -1);
    trace_span_end(child);
    trace_span_end(server);
    assert_false(trace_current_ctx(&c));
}

static void test_unsampled_parent_is_not_recorded(void **state)
{
    trace_ctx_t remote;
    assert_int_equal(
        trace_parent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &remote), 0);
    char err[128];
    assert_int_equal(trace_exporter_start("t", "http://127.0.0.1:9", err, sizeof err), 0);
    trace_span_t *s = trace_span_start("x", TRACE_KIND_SERVER, &remote);
    assert_false(s->recording);
    assert_int_equal(s->ctx.flags, 0);
    trace_span_t *sampled = trace_span_start("y", TRACE_KIND_SERVER, NULL);
    assert_true(sampled->recording);
    span_free(sampled);
    trace_span_end(s);
    trace_exporter_stop();
}

static void test_current_span_stack(void **state)
{
    char tid[33] = "untouched", sid[17] = "untouched";
    assert_false(trace_current_ids(tid, sid));
    assert_string_equal(tid, "untouched");

    trace_span_t *outer = trace_span_start("outer", TRACE_KIND_SERVER, NULL);
    trace_span_t *inner = trace_span_start("inner", TRACE_KIND_INTERNAL, NULL);
    trace_span_activate(outer);
    trace_span_activate(inner);
    assert_true(trace_current_ids(tid, sid));
    char expect[17];
    hex_encode(inner->ctx.span_id, 8, expect);
    assert_string_equal(sid, expect);
    assert_int_equal(strlen(tid), 32);

    trace_span_deactivate(outer); /* not on top: ignored */
    assert_true(trace_current_ids(tid, sid));
    assert_string_equal(sid, expect);
    trace_span_deactivate(inner);
    hex_encode(outer->ctx.span_id, 8, expect);
    assert_true(trace_current_ids(tid, sid));
    assert_string_equal(sid, expect);

    /* Deeper than the stack: pushes are counted, so pops stay balanced. */
    for (int i = 0; i < STACK_DEPTH + 5; i++)
        trace_span_activate(inner);
    for (int i = 0; i < STACK_DEPTH + 5; i++)
        trace_span_deactivate(inner);
    assert_true(trace_current_ids(tid, sid));
    assert_string_equal(sid, expect);

    trace_span_end(inner);
    trace_span_end(outer);
    assert_false(trace_current_ids(tid, sid));
}

static void *other_thread(void *arg)
{
    trace_ctx_t c;
    return (void *)(intptr_t)trace_current_ctx(&c);
}

static void test_current_span_is_per_thread(void **state)
{
    trace_span_t *s = trace_span_start("s", TRACE_KIND_INTERNAL, NULL);
    trace_span_activate(s);
    pthread_t t;
    void *seen;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &seen);
    assert_null(seen);
    trace_span_end(s);
}

/* ---- OTLP/JSON encoding ------------------------------------------------------ */

/* A recording span with fixed ids and times, so the JSON is predictable. */
static trace_span_t *fixed_span(const char *name, trace_kind_t kind, const trace_ctx_t *parent,
                                uint8_t id)
{
    trace_span_t *s = trace_span_start(name, kind, parent);
    memset(s->ctx.span_id, id, 8);
    s->recording = true;
    s->start_ns = 1700000000123456789u;
    s->end_ns = 1700000000223456789u;
    return s;
}

static void test_otlp_encoding_exact(void **state)
{
    trace_ctx_t remote;
    assert_int_equal(trace_parent_parse(valid_tp, &remote), 0);
    trace_span_t *spans[2];
    spans[0] = fixed_span("GET /tasks", TRACE_KIND_SERVER, &remote, 0x11);
    trace_span_set_str(spans[0], "http.route", "/tasks \"q\"");
    trace_span_set_int(spans[0], "http.response.status_code", 500);
    trace_span_set_bool(spans[0], "retried", false);
    trace_span_set_double(spans[0], "ratio", 0.1);
    trace_span_set_double(spans[0], "nan", NAN);
    trace_span_add_event(spans[0], "retry");
    spans[0]->events[0].time_ns = 1700000000200000000u;
    trace_span_set_status(spans[0], TRACE_STATUS_ERROR, "db down");

    trace_ctx_t root = {.flags = 1};
    memset(root.trace_id, 0xab, 16);
    spans[1] = fixed_span("relay", TRACE_KIND_PRODUCER, NULL, 0x22);
    memcpy(spans[1]->ctx.trace_id, root.trace_id, 16); /* a root: no parentSpanId */

    buf_t b = BUF_INIT;
    assert_int_equal(otlp_encode(&b, "tasks-service", spans, 2), 0);
    const char *expected =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"tasks-service\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
        "\"todo-system\"},\"spans\":["
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"1111111111111111\","
        "\"parentSpanId\":\"00f067aa0ba902b7\",\"name\":\"GET /tasks\",\"kind\":2,"
        "\"startTimeUnixNano\":\"1700000000123456789\",\"endTimeUnixNano\":\"1700000000223456789\","
        "\"attributes\":["
        "{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/tasks \\\"q\\\"\"}},"
        "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"500\"}},"
        "{\"key\":\"retried\",\"value\":{\"boolValue\":false}},"
        "{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.1}},"
        "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}}],"
        "\"events\":[{\"timeUnixNano\":\"1700000000200000000\",\"name\":\"retry\"}],"
        "\"status\":{\"code\":2,\"message\":\"db down\"}},"
        "{\"traceId\":\"abababababababababababababababab\",\"spanId\":\"2222222222222222\","
        "\"name\":\"relay\",\"kind\":4,"
        "\"startTimeUnixNano\":\"1700000000123456789\",\"endTimeUnixNano\":\"1700000000223456789\","
        "\"attributes\":[],\"events\":[],\"status\":{\"code\":0}}"
        "]}]}]}";
    assert_string_equal(buf_str(&b), expected);
    cJSON *j = cJSON_Parse(buf_str(&b));
    assert_non_null(j);
    cJSON_Delete(j);
    buf_free(&b);
    span_free(spans[0]);
    span_free(spans[1]);
}

static void test_setting_a_key_again_replaces_it(void **state)
{
    trace_span_t *s = fixed_span("s", TRACE_KIND_INTERNAL, NULL, 1);
    trace_span_set_str(s, "k", "first");
    trace_span_set_str(s, "other", "x");
    trace_span_set_str(s, "k", "second");
    trace_span_set_int(s, "k", 7); /* a string value replaced by an int is released */
    assert_int_equal(s->nattrs, 2);
    assert_int_equal(s->attrs[0].type, ATTR_INT);
    assert_int_equal(s->attrs[0].v.i, 7);
    span_free(s);
}

static void test_attribute_and_event_limits(void **state)
{
    trace_span_t *s = fixed_span("s", TRACE_KIND_INTERNAL, NULL, 1);
    for (int i = 0; i < MAX_ATTRS + 10; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        trace_span_set_int(s, key, i);
    }
    for (int i = 0; i < MAX_EVENTS + 10; i++)
        trace_span_add_event(s, "e");
    trace_span_set_str(s, NULL, "ignored");
    assert_int_equal(s->nattrs, MAX_ATTRS);
    assert_int_equal(s->nevents, MAX_EVENTS);
    span_free(s);
}

/* ---- a collector for the exporter tests -------------------------------------- */

/* Accepts connections one at a time and answers every POST with `status`,
 * keeping the bodies it received. Enough HTTP/1.1 for libcurl's requests. */
static struct collector {
    int fd, port, status;
    pthread_t thread;
    pthread_mutex_t lock;
    int posts, spans;
    char path[64], content_type[64];
    char *last_body;
} col = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void collector_record(const char *head, char *body)
{
    cJSON *j = cJSON_Parse(body);
    cJSON *spans = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "resourceSpans"), 0),
                                "scopeSpans"),
            0),
        "spans");
    pthread_mutex_lock(&col.lock);
    col.posts++;
    col.spans += cJSON_GetArraySize(spans);
    sscanf(head, "POST %63s", col.path);
    const char *ct = strcasestr(head, "\r\nContent-Type: ");
    if (ct)
        sscanf(ct + 16, "%63[^\r]", col.content_type);
    free(col.last_body);
    col.last_body = body;
    pthread_mutex_unlock(&col.lock);
    cJSON_Delete(j);
}

static void *collector_main(void *arg)
{
    int c;
    while ((c = accept(col.fd, NULL, NULL)) >= 0) {
        char head[8192];
        size_t have = 0;
        for (;;) {
            ssize_t n = read(c, head + have, sizeof head - 1 - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            head[have] = '\0';
            char *end;
            while ((end = strstr(head, "\r\n\r\n"))) {
                const char *cl = strcasestr(head, "\r\nContent-Length: ");
                size_t len = cl ? strtoul(cl + 18, NULL, 10) : 0;
                size_t hlen = (size_t)(end + 4 - head);
                char *body = malloc(len + 1);
                size_t got = have - hlen < len ? have - hlen : len;
                memcpy(body, end + 4, got);
                while (got < len) {
                    n = read(c, body + got, len - got);
                    if (n <= 0)
                        break;
                    got += (size_t)n;
                }
                body[got] = '\0';
                size_t rest = have - hlen - (have - hlen < len ? have - hlen : len);
                end[0] = '\0';
                collector_record(head, body);
                memmove(head, head + have - rest, rest);
                have = rest;
                head[have] = '\0';
                char resp[128];
                int rn = snprintf(resp, sizeof resp,
                                  "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 2\r\n\r\n{}",
                                  col.status);
                if (write(c, resp, (size_t)rn) != rn)
                    break;
            }
        }
        close(c);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1 with an ephemeral port. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int collector_start(void **state)
{
    col.fd = listen_any(&col.port);
    col.status = 200;
    col.posts = col.spans = 0;
    assert_int_equal(pthread_create(&col.thread, NULL, collector_main, NULL), 0);
    return 0;
}

static int collector_stop(void **state)
{
    trace_exporter_stop();
    shutdown(col.fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(col.thread, NULL);
    close(col.fd);
    free(col.last_body);
    col.last_body = NULL;
    return 0;
}

static int exporter_stop(void **state)
{
    trace_exporter_stop();
    return 0;
}

static int collector_spans(void)
{
    pthread_mutex_lock(&col.lock);
    int n = col.spans;
    pthread_mutex_unlock(&col.lock);
    return n;
}

static void start_exporter(int port)
{
    char url[64], err[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port); /* trailing slash is trimmed */
    assert_int_equal(trace_exporter_start("test-service", url, err, sizeof err), 0);
}

static void end_spans(int n)
{
    for (int i = 0; i < n; i++) {
        trace_span_t *s = trace_span_start("op", TRACE_KIND_INTERNAL, NULL);
        trace_span_set_int(s, "i", i);
        trace_span_end(s);
    }
}

/* ---- the exporter ------------------------------------------------------------- */

static void test_exporter_posts_otlp_json(void **state)
{
    trace_stats_t before, after;
    trace_exporter_stats(&before);
    start_exporter(col.port);
    char err[128];
    assert_int_equal(trace_exporter_start("again", "http://127.0.0.1:1", err, sizeof err), -1);
    assert_string_equal(err, "trace exporter: already running");

    end_spans(3);
    assert_int_equal(trace_exporter_flush(5000), 0);
    assert_int_equal(collector_spans(), 3);
    pthread_mutex_lock(&col.lock);
    assert_string_equal(col.path, "/v1/traces");
    assert_string_equal(col.content_type, "application/json");
    cJSON *j = cJSON_Parse(col.last_body);
    pthread_mutex_unlock(&col.lock);
    assert_non_null(j);
    cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "resourceSpans"), 0);
    cJSON *attr = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rs, "resource"), "attributes"), 0);
    assert_string_equal(cJSON_GetObjectItem(attr, "key")->valuestring, "service.name");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(attr, "value"), "stringValue")->valuestring,
        "test-service");
    cJSON *span = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0), "spans"),
        0);
    assert_int_equal(strlen(cJSON_GetObjectItem(span, "traceId")->valuestring), 32);
    assert_int_equal(strlen(cJSON_GetObjectItem(span, "spanId")->valuestring), 16);
    const char *start = cJSON_GetObjectItem(span, "startTimeUnixNano")->valuestring;
    const char *end = cJSON_GetObjectItem(span, "endTimeUnixNano")->valuestring;
    assert_int_equal(strlen(start), 19);
    assert_true(strtoull(end, NULL, 10) >= strtoull(start, NULL, 10));
    cJSON_Delete(j);

    trace_exporter_stats(&after);
    assert_int_equal(after.exported - before.exported, 3);
    assert_int_equal(after.dropped_export - before.dropped_export, 0);
}

static void test_stop_sends_what_is_queued(void **state)
{
    start_exporter(col.port);
    end_spans(700); /* more than one batch */
    trace_exporter_stop();
    assert_int_equal(collector_spans(), 700);
    assert_int_equal(trace_exporter_flush(10), -1); /* not running any more */
    trace_span_t *late = trace_span_start("late", TRACE_KIND_INTERNAL, NULL);
    trace_span_end(late); /* freed, not queued: ASan would report a leak */
}

static void test_collector_error_drops_and_counts(void **state)
{
    trace_stats_t before, after;
    trace_exporter_stats(&before);
    col.status = 503;
    start_exporter(col.port);
    end_spans(5);
    assert_int_equal(trace_exporter_flush(5000), 0);
    trace_exporter_stats(&after);
    assert_int_equal(after.dropped_export - before.dropped_export, 5);
    assert_int_equal(after.exported - before.exported, 0);
}

static void test_dead_endpoint_never_blocks(void **state)
{
    int port, fd = listen_any(&port);
    close(fd); /* nothing listens there now: connection refused */
    trace_stats_t before, after;
    trace_exporter_stats(&before);
    start_exporter(port);
    uint64_t t0 = now_ms();
    end_spans(100);
    assert_true(now_ms() - t0 < 1000);
    assert_int_equal(trace_exporter_flush(5000), 0); /* refused batches count as done */
    trace_exporter_stats(&after);
    assert_int_equal(after.dropped_export - before.dropped_export, 100);
}

/* A collector that accepts the connection but never answers holds the
 * exporter for its request timeout; callers must not notice, and the queue
 * must overflow into the drop counter rather than grow. */
static void test_hung_collector_fills_queue_without_blocking(void **state)
{
    int port, fd = listen_any(&port); /* listening, never accepting */
    trace_stats_t before, after;
    trace_exporter_stats(&before);
    start_exporter(port);
    end_spans(1);
    assert_int_equal(trace_exporter_flush(100), -1); /* the batch is stuck in curl */
    uint64_t t0 = now_ms();
    end_spans(QUEUE_CAP + 100);
    assert_true(now_ms() - t0 < 1500);
    trace_exporter_stats(&after);
    assert_int_equal(after.dropped_queue_full - before.dropped_queue_full, 100);
    t0 = now_ms();
    trace_exporter_stop(); /* the stuck batch times out, the rest is dropped untried */
    assert_true(now_ms() - t0 < 2 * REQUEST_TIMEOUT_MS + 500);
    trace_exporter_stats(&after);
    assert_int_equal(after.dropped_export - before.dropped_export, QUEUE_CAP + 1);
    close(fd);
}

static void test_exporter_rejects_bad_arguments(void **state)
{
    char err[128];
    assert_int_equal(trace_exporter_start("svc", "", err, sizeof err), -1);
    assert_string_equal(err, "trace exporter: service and endpoint are required");
    assert_int_equal(trace_exporter_start(NULL, "http://x", err, sizeof err), -1);
    trace_exporter_stop(); /* harmless when not running */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format_round_trip),
        cmocka_unit_test(test_parse_rejects_malformed_values),
        cmocka_unit_test(test_parse_accepts_future_versions),
        cmocka_unit_test(test_parse_fuzz),
        cmocka_unit_test(test_root_span_gets_fresh_ids),
        cmocka_unit_test(test_children_inherit_the_trace),
        cmocka_unit_test(test_unsampled_parent_is_not_recorded),
        cmocka_unit_test(test_current_span_stack),
        cmocka_unit_test(test_current_span_is_per_thread),
        cmocka_unit_test(test_otlp_encoding_exact),
        cmocka_unit_test(test_setting_a_key_again_replaces_it),
        cmocka_unit_test(test_attribute_and_event_limits),
        cmocka_unit_test_setup_teardown(test_exporter_posts_otlp_json, collector_start,
                                        collector_stop),
        cmocka_unit_test_setup_teardown(test_stop_sends_what_is_queued, collector_start,
                                        collector_stop),
        cmocka_unit_test_setup_teardown(test_collector_error_drops_and_counts, collector_start,
                                        collector_stop),
        cmocka_unit_test_teardown(test_dead_endpoint_never_blocks, exporter_stop),
        cmocka_unit_test_teardown(test_hung_collector_fills_queue_without_blocking, exporter_stop),
        cmocka_unit_test(test_exporter_rejects_bad_arguments),
    };
    log_set_output(NULL);
    log_init("test-trace", LOG_ERROR); /* the exporter's warnings are expected here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
