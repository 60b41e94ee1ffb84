/* ops_trace_fixture — Jaeger JSON built from a table of spans, for the unit tests of the trace
 * model (test_ops_trace.c) and of the waterfall laid out from it (test_ops_waterfall.c). Each
 * test file includes it once; it needs cmocka and lib/buf. */
#ifndef OPS_TRACE_FIXTURE_H
#define OPS_TRACE_FIXTURE_H

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

#endif
