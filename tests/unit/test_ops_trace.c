/* Unit tests for lib/ops/ops_trace: the trace model built from Jaeger JSON as /api/traces
 * returns it — tree and depth, a missing parent, clock skew, self time, the critical path,
 * the async hops, and hostile input (cycles, wrong types, truncation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "ops_trace.h"

/* ---- building Jaeger JSON -------------------------------------------------------------- */

typedef struct spec {
    const char *id, *parent, *svc, *name, *kind;
    int64_t start, dur; /* µs relative to T0 */
    const char *extra_tag; /* "outbox.id" or "error" or NULL */
    const char *ref;       /* "CHILD_OF" (default) or "FOLLOWS_FROM" */
} spec_t;

#define T0 1700000000000000LL

static char *jaeger(const spec_t *s, size_t n)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"data\":[{\"traceID\":\"0af7651916cd43dd8448eb211c80319c\",\"spans\":[");
    const char *svcs[8];
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < ns && strcmp(svcs[k], s[i].svc)) k++;
        if (k == ns) svcs[ns++] = s[i].svc;
        buf_printf(&b, "%s{\"traceID\":\"0af7651916cd43dd8448eb211c80319c\",\"spanID\":\"%s\","
                       "\"operationName\":\"%s\",\"references\":[",
                   i ? "," : "", s[i].id, s[i].name);
        if (s[i].parent)
            buf_printf(&b, "{\"refType\":\"%s\",\"traceID\":\"0af7651916cd43dd8448eb211c80319c\","
                           "\"spanID\":\"%s\"}",
                       s[i].ref ? s[i].ref : "CHILD_OF", s[i].parent);
        buf_printf(&b, "],\"startTime\":%lld,\"duration\":%lld,\"tags\":[{\"key\":\"span.kind\","
                       "\"type\":\"string\",\"value\":\"%s\"}",
                   (long long)(T0 + s[i].start), (long long)s[i].dur, s[i].kind);
        if (s[i].extra_tag && !strcmp(s[i].extra_tag, "error"))
            buf_puts(&b, ",{\"key\":\"error\",\"type\":\"bool\",\"value\":true}");
        else if (s[i].extra_tag)
            buf_printf(&b, ",{\"key\":\"%s\",\"type\":\"int64\",\"value\":42}", s[i].extra_tag);
        buf_printf(&b, "],\"logs\":[],\"processID\":\"p%zu\",\"warnings\":null}", k + 1);
    }
    buf_puts(&b, "],\"processes\":{");
    for (size_t k = 0; k < ns; k++)
        buf_printf(&b, "%s\"p%zu\":{\"serviceName\":\"%s\",\"tags\":[]}", k ? "," : "", k + 1, svcs[k]);
    buf_puts(&b, "},\"warnings\":null}],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}");
    assert_false(b.oom);
    return b.data;
}

static const ops_span_t *by_id(const ops_trace_t *t, const char *id)
{
    char norm[17];
    size_t l = strlen(id);
    memset(norm, '0', 16 - l);
    memcpy(norm + 16 - l, id, l + 1);
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->spans[i].span_id, norm)) return &t->spans[i];
    fail_msg("span %s not in the trace", id);
    return NULL;
}

static void parse_ok(const char *json, ops_trace_t *t)
{
    ops_err_t e = OPS_ERR_INIT;
    ops_status_t st = ops_trace_parse(json, strlen(json), t, &e);
    if (st != OPS_OK) fail_msg("parse failed: %s", e.msg);
}

/* The system's own shape: console → gateway-less tasks-service → auth, pg; relay publish; a
 * notification consumer. */
static const spec_t flow[] = {
    {"a1", NULL, "todo-console", "todo-console tasks add", "internal", 0, 20000, NULL, NULL},
    {"a2", "a1", "todo-console", "POST /api/tasks", "client", 100, 19000, NULL, NULL},
    {"b1", "a2", "tasks-service", "POST /api/tasks", "server", 1000, 15000, NULL, NULL},
    {"b2", "b1", "tasks-service", "ValidateToken", "client", 1100, 2000, NULL, NULL},
    {"c1", "b2", "auth-service", "ValidateToken", "server", 1300, 1500, NULL, NULL},
    {"b3", "b1", "tasks-service", "INSERT tasks", "client", 4000, 3000, NULL, NULL},
    {"b4", "b1", "tasks-service", "COMMIT", "client", 8000, 4000, NULL, NULL},
    {"b5", "b1", "tasks-service", "task-events publish", "producer", 30000, 5000, "outbox.id", NULL},
    {"d1", "b5", "notification-service", "task-events process", "consumer", 45000, 7000, NULL, NULL},
};

static void test_tree_depth_offsets(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    assert_int_equal(t.n, 9);
    assert_string_equal(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_int_equal(t.roots, 1);
    assert_int_equal(t.orphans, 0);
    assert_int_equal(t.services, 4);
    assert_int_equal(by_id(&t, "a1")->depth, 0);
    assert_int_equal(by_id(&t, "c1")->depth, 4);
    assert_int_equal(by_id(&t, "d1")->depth, 4);
    assert_int_equal(by_id(&t, "b3")->offset_us, 4000);
    assert_int_equal(t.end_us - t.start_us, 52000);
    /* display order is depth-first with children by start time */
    const char *want[] = {"00000000000000a1", "00000000000000a2", "00000000000000b1",
                          "00000000000000b2", "00000000000000c1", "00000000000000b3",
                          "00000000000000b4", "00000000000000b5", "00000000000000d1"};
    for (size_t k = 0; k < t.n; k++) assert_string_equal(t.spans[t.order[k]].span_id, want[k]);
    assert_string_equal(by_id(&t, "b1")->service, "tasks-service");
    assert_int_equal(by_id(&t, "b5")->kind, OPS_SPAN_PRODUCER);
    ops_trace_free(&t);
    free(json);
}

static void test_self_time_and_slowest(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    /* b1: 15000 long, children b2 (2000), b3 (3000), b4 (4000) inside it; b5 starts after */
    assert_int_equal(by_id(&t, "b1")->self_us, 15000 - 2000 - 3000 - 4000);
    assert_int_equal(by_id(&t, "b2")->self_us, 2000 - 1500);
    /* a1 is 20000 with a2 (19000) inside: 1000 of its own; d1 has 7000 and no children */
    assert_int_equal(by_id(&t, "a1")->self_us, 1000);
    assert_string_equal(t.spans[t.slowest].span_id, "00000000000000d1");
    ops_trace_free(&t);
    free(json);
}

static void test_async_hops(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    const ops_span_t *pub = by_id(&t, "b5"), *con = by_id(&t, "d1");
    /* the outbox wait starts when the request's last work (the COMMIT, ending at 12000) ended */
    assert_int_equal(pub->hop, OPS_HOP_OUTBOX);
    assert_int_equal(pub->hop_start_us - t.start_us, 12000);
    assert_int_equal(pub->hop_dur_us, 30000 - 12000);
    /* time on the broker: from the publish's acknowledgement (35000) to the consumer (45000) */
    assert_int_equal(con->hop, OPS_HOP_BROKER);
    assert_int_equal(con->hop_start_us - t.start_us, 35000);
    assert_int_equal(con->hop_dur_us, 10000);
    assert_int_equal(by_id(&t, "b3")->hop, OPS_HOP_NONE);
    ops_trace_free(&t);
    free(json);
}

static void test_critical_path_follows_the_async_chain(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    /* the trace ends with the consumer: root → a2 → b1 → b5 → d1 is the path; within b1, the
       last child to finish before the publish started is the COMMIT, then the INSERT, then
       the token check */
    const char *on[] = {"a1", "a2", "b1", "b5", "d1", "b4", "b3", "b2", "c1"};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
        assert_true(by_id(&t, on[i])->critical);
    ops_trace_free(&t);
    free(json);

    /* two parallel children: only the later-finishing one is critical */
    static const spec_t par[] = {
        {"1", NULL, "s", "root", "server", 0, 1000, NULL, NULL},
        {"2", "1", "s", "fast", "client", 100, 200, NULL, NULL},
        {"3", "1", "s", "slow", "client", 100, 800, NULL, NULL},
    };
    json = jaeger(par, 3);
    parse_ok(json, &t);
    assert_true(by_id(&t, "3")->critical);
    assert_false(by_id(&t, "2")->critical);
    ops_trace_free(&t);
    free(json);
}

static void test_missing_parent_becomes_an_orphan_root(void **state)
{
    static const spec_t s[] = {
        {"1", NULL, "tasks-service", "GET /api/tasks", "server", 0, 5000, NULL, NULL},
        {"2", "1", "tasks-service", "SELECT", "client", 100, 1000, NULL, NULL},
        /* its parent was dropped by an exporter */
        {"3", "ffff", "auth-service", "ValidateToken", "server", 2000, 500, NULL, NULL},
        {"4", "3", "auth-service", "SELECT users", "client", 2100, 200, NULL, NULL},
    };
    char *json = jaeger(s, 4);
    ops_trace_t t;
    parse_ok(json, &t);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.orphans, 1);
    assert_int_equal(t.roots, 2);
    const ops_span_t *o = by_id(&t, "3");
    assert_true(o->orphan);
    assert_int_equal(o->parent, -1);
    assert_int_equal(o->depth, 0);
    assert_int_equal(by_id(&t, "4")->depth, 1);
    assert_string_equal(o->parent_id, "000000000000ffff"); /* still says what it pointed at */
    assert_string_equal(t.spans[ops_trace_root(&t)].span_id, "0000000000000001");
    ops_trace_free(&t);
    free(json);
}

static void test_clock_skew_is_corrected(void **state)
{
    /* auth-service's clock runs 50 ms behind: its server span "starts" before the client call */
    static const spec_t s[] = {
        {"1", NULL, "tasks-service", "POST /api/tasks", "server", 100000, 10000, NULL, NULL},
        {"2", "1", "tasks-service", "ValidateToken", "client", 101000, 4000, NULL, NULL},
        {"3", "2", "auth-service", "ValidateToken", "server", 51500, 3000, NULL, NULL},
        {"4", "3", "auth-service", "SELECT users", "client", 52000, 1000, NULL, NULL},
    };
    char *json = jaeger(s, 4);
    ops_trace_t t;
    parse_ok(json, &t);
    const ops_span_t *client = by_id(&t, "2"), *server = by_id(&t, "3"), *child = by_id(&t, "4");
    /* centred inside the client span: (4000 - 3000) / 2 after its start */
    assert_int_equal(server->start_us - client->start_us, 500);
    assert_int_equal(server->skew_us, (T0 + 101500) - (T0 + 51500));
    /* its own child moved with it, keeping their relative timing */
    assert_int_equal(child->start_us - server->start_us, 500);
    assert_int_equal(child->skew_us, server->skew_us);
    assert_int_equal(t.skewed, 1);
    /* the trace starts with the real root, not at the skewed time */
    assert_int_equal(t.start_us, T0 + 100000);
    assert_int_equal(by_id(&t, "2")->self_us, 1000);
    ops_trace_free(&t);
    free(json);

    /* an async consumer may end long after its producer: that is not skew */
    static const spec_t a[] = {
        {"1", NULL, "tasks-service", "publish", "producer", 0, 1000, NULL, NULL},
        {"2", "1", "notification-service", "process", "consumer", 5000, 3000, NULL, NULL},
    };
    json = jaeger(a, 2);
    parse_ok(json, &t);
    assert_int_equal(by_id(&t, "2")->skew_us, 0);
    assert_int_equal(by_id(&t, "2")->offset_us, 5000);
    assert_int_equal(t.skewed, 0);
    ops_trace_free(&t);
    free(json);
}

static void test_follows_from_reference_is_a_parent(void **state)
{
    static const spec_t s[] = {
        {"1", NULL, "tasks-service", "publish", "producer", 0, 1000, NULL, NULL},
        {"2", "1", "notification-service", "process", "consumer", 3000, 1000, "error", "FOLLOWS_FROM"},
    };
    char *json = jaeger(s, 2);
    ops_trace_t t;
    parse_ok(json, &t);
    assert_int_equal(by_id(&t, "2")->depth, 1);
    assert_true(by_id(&t, "2")->follows_from);
    assert_true(by_id(&t, "2")->error);
    assert_int_equal(by_id(&t, "2")->hop, OPS_HOP_BROKER);
    ops_trace_free(&t);
    free(json);
}

static void expect_error(const char *json, const char *needle)
{
    ops_trace_t t;
    ops_err_t e = OPS_ERR_INIT;
    assert_int_equal(ops_trace_parse(json, strlen(json), &t, &e), OPS_FAIL);
    if (!strstr(e.msg, needle)) fail_msg("error '%s' does not mention '%s'", e.msg, needle);
    assert_null(t.spans);
}

static void test_hostile_input_gives_clear_errors(void **state)
{
    expect_error("{\"data\":[{\"spans\":[", "invalid JSON");
    expect_error("[1,2,3]", "not a JSON object");
    expect_error("{\"data\":[]}", "no trace");
    expect_error("{\"data\":[{\"spans\":[]}]}", "no spans");
    expect_error("{\"data\":[{\"spans\":{}}]}", "not an array");
    expect_error("{\"data\":[{\"spans\":[{\"spanID\":\"01\",\"startTime\":\"yesterday\","
                 "\"duration\":5}]}]}",
                 "startTime");
    expect_error("{\"data\":[{\"spans\":[{\"spanID\":\"zz\",\"startTime\":1,\"duration\":5}]}]}",
                 "spanID");
    expect_error("{\"data\":[{\"spans\":[{\"spanID\":\"01\",\"startTime\":1,\"duration\":-5}]}]}",
                 "duration");
    /* a cycle: 1 → 2 → 1, nothing is a root */
    static const spec_t cyc[] = {
        {"1", "2", "s", "a", "server", 0, 10, NULL, NULL},
        {"2", "1", "s", "b", "server", 0, 10, NULL, NULL},
    };
    char *json = jaeger(cyc, 2);
    expect_error(json, "cycle");
    free(json);
    static const spec_t self[] = {{"1", "1", "s", "a", "server", 0, 10, NULL, NULL}};
    json = jaeger(self, 1);
    expect_error(json, "cycle");
    free(json);
    static const spec_t dup[] = {
        {"1", NULL, "s", "a", "server", 0, 10, NULL, NULL},
        {"1", NULL, "s", "b", "server", 0, 10, NULL, NULL},
    };
    json = jaeger(dup, 2);
    expect_error(json, "twice");
    free(json);
}

/* A long chain must not exhaust the stack (every pass is iterative). */
static void test_deep_chain(void **state)
{
    enum { N = 50000 };
    spec_t *s = calloc(N, sizeof *s);
    char (*ids)[17] = calloc(N, 17);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], 17, "%x", i + 1);
        s[i] = (spec_t){ids[i], i ? ids[i - 1] : NULL, "s", "op", "internal", i, N - i, NULL, NULL};
    }
    char *json = jaeger(s, N);
    ops_trace_t t;
    parse_ok(json, &t);
    assert_int_equal(t.n, N);
    assert_int_equal(t.spans[t.order[N - 1]].depth, N - 1);
    assert_true(t.spans[t.order[N - 1]].critical);
    cJSON *j = ops_trace_json(&t);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "spans")), N);
    cJSON_Delete(j);
    ops_trace_free(&t);
    free(json);
    free(s);
    free(ids);
}

static void test_layout_json(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    cJSON *j = ops_trace_json(&t);
    assert_string_equal(cJSON_GetObjectItem(j, "slowest_span")->valuestring, "00000000000000d1");
    cJSON *spans = cJSON_GetObjectItem(j, "spans");
    cJSON *pub = cJSON_GetArrayItem(spans, 7);
    assert_string_equal(cJSON_GetObjectItem(pub, "name")->valuestring, "task-events publish");
    assert_string_equal(cJSON_GetObjectItem(pub, "hop")->valuestring, "outbox");
    assert_int_equal((int)cJSON_GetObjectItem(pub, "hop_duration_us")->valuedouble, 18000);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pub, "critical")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(spans, 0), "hop")));
    cJSON_Delete(j);
    ops_trace_free(&t);
    free(json);
}

/* ---- a trace saved from the real stack (`todo-console tasks add`, Jaeger's /api/traces/{id}) */

#define SAVED "tests/unit/data/jaeger_tasks_add.json"

static char *read_saved(void)
{
    FILE *f = fopen(SAVED, "r");
    if (!f) fail_msg("%s: run the unit tests from the repository root", SAVED);
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    return b.data;
}

static const ops_span_t *by_name(const ops_trace_t *t, const char *service, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->spans[i].service, service) && !strcmp(t->spans[i].name, name))
            return &t->spans[i];
    fail_msg("no span %s/%s", service, name);
    return NULL;
}

static void test_saved_trace(void **state)
{
    char *json = read_saved();
    ops_trace_t t;
    parse_ok(json, &t);
    assert_int_equal(t.n, 10);
    assert_int_equal(t.services, 3);
    assert_int_equal(t.orphans, 0);
    const ops_span_t *root = &t.spans[ops_trace_root(&t)];
    assert_string_equal(root->service, "todo-console");
    assert_string_equal(root->name, "todo-console tasks add");
    assert_int_equal(root->depth, 0);
    const ops_span_t *server = by_name(&t, "tasks-service", "POST /api/tasks");
    assert_int_equal(server->kind, OPS_SPAN_SERVER);
    assert_int_equal(server->depth, 2);
    assert_int_equal(by_name(&t, "auth-service", "/todo.auth.v1.AuthService/ValidateToken")->depth, 4);
    const ops_span_t *pub = by_name(&t, "tasks-service", "task-events publish");
    assert_int_equal(pub->kind, OPS_SPAN_PRODUCER);
    assert_int_equal(pub->hop, OPS_HOP_OUTBOX);
    /* the outbox wait starts at the end of the COMMIT, the request's last work before it */
    const ops_span_t *commit = by_name(&t, "tasks-service", "COMMIT tasks");
    assert_int_equal(pub->hop_start_us, commit->start_us + commit->dur_us);
    assert_true(pub->critical && root->critical);
    assert_string_equal(t.spans[t.order[0]].span_id, root->span_id);
    ops_trace_free(&t);
    free(json);
}

/* The saved trace with auth-service's clock 80 ms behind and the client span of the token
 * check lost: the server span becomes an orphan root, and skew is corrected where a parent is
 * known. */
static void test_saved_trace_skewed_and_incomplete(void **state)
{
    char *text = read_saved();
    cJSON *doc = cJSON_Parse(text);
    free(text);
    cJSON *trace = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "data"), 0);
    cJSON *spans = cJSON_GetObjectItem(trace, "spans"), *procs = cJSON_GetObjectItem(trace, "processes");
    const char *lost = NULL;
    int lost_at = -1, i = 0;
    cJSON *s;
    cJSON_ArrayForEach(s, spans)
    {
        const char *svc = cJSON_GetObjectItem(cJSON_GetObjectItem(procs, cJSON_GetObjectItem(s, "processID")->valuestring),
                                              "serviceName")->valuestring;
        cJSON *start = cJSON_GetObjectItem(s, "startTime");
        if (!strcmp(svc, "auth-service")) cJSON_SetNumberValue(start, start->valuedouble - 80000);
        if (!strcmp(cJSON_GetObjectItem(s, "operationName")->valuestring, "todo.auth.v1.AuthService/ValidateToken")) {
            lost = cJSON_GetObjectItem(s, "spanID")->valuestring;
            lost_at = i;
        }
        i++;
    }
    assert_non_null(lost);
    char lost_id[17];
    snprintf(lost_id, sizeof lost_id, "%s", lost);
    /* complete but skewed: the server span is put back inside its client span */
    char *json = cJSON_PrintUnformatted(doc);
    ops_trace_t t;
    parse_ok(json, &t);
    const ops_span_t *client = by_name(&t, "tasks-service", "todo.auth.v1.AuthService/ValidateToken");
    const ops_span_t *srv = by_name(&t, "auth-service", "/todo.auth.v1.AuthService/ValidateToken");
    assert_true(srv->start_us >= client->start_us);
    assert_true(srv->start_us + srv->dur_us <= client->start_us + client->dur_us);
    assert_true(srv->skew_us > 70000 && srv->skew_us < 90000);
    assert_int_equal(t.skewed, 1);
    assert_string_equal(t.spans[ops_trace_root(&t)].service, "todo-console");
    ops_trace_free(&t);
    free(json);
    /* and without the client span */
    cJSON_DeleteItemFromArray(spans, lost_at);
    json = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    parse_ok(json, &t);
    assert_int_equal(t.n, 9);
    assert_int_equal(t.orphans, 1);
    assert_int_equal(t.roots, 2);
    const ops_span_t *auth = by_name(&t, "auth-service", "/todo.auth.v1.AuthService/ValidateToken");
    assert_true(auth->orphan);
    assert_string_equal(auth->parent_id, lost_id);
    assert_int_equal(auth->depth, 0);
    /* an orphan has no parent to correct against: it keeps its (skewed) time, and the trace
       now starts there; the real root is still the console's span */
    assert_int_equal(t.start_us, auth->start_us);
    assert_string_equal(t.spans[ops_trace_root(&t)].service, "auth-service");
    ops_trace_free(&t);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_depth_offsets),
        cmocka_unit_test(test_self_time_and_slowest),
        cmocka_unit_test(test_async_hops),
        cmocka_unit_test(test_critical_path_follows_the_async_chain),
        cmocka_unit_test(test_missing_parent_becomes_an_orphan_root),
        cmocka_unit_test(test_clock_skew_is_corrected),
        cmocka_unit_test(test_follows_from_reference_is_a_parent),
        cmocka_unit_test(test_hostile_input_gives_clear_errors),
        cmocka_unit_test(test_deep_chain),
        cmocka_unit_test(test_layout_json),
        cmocka_unit_test(test_saved_trace),
        cmocka_unit_test(test_saved_trace_skewed_and_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
