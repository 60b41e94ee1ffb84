/* Unit tests for lib/ops/ops_flow: a task change's time line built from a saved Jaeger trace
 * (tests/unit/data/jaeger_tasks_add.json, a real `tasks add` with its relay publish) plus a
 * consumer span added here, its outbox row, the Kafka message, the notification and the
 * read-model version — complete, with the outbox waiting (Kafka down), with Jaeger down,
 * and before any source answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops_flow.h"

#define EVENT_ID "c4914203-1a1e-406b-b48e-8e091da65c67"
#define TRACE_ID "360a78e57ec3e4b6dd7271ba41fb7db9"
#define PRODUCER_START 1796099065494873LL
#define PRODUCER_DUR 2017LL
#define COMMIT_END (1796099065493832LL + 266LL)
#define SERVER_START 1796099065492307LL
#define CONSUMER_START (PRODUCER_START + PRODUCER_DUR + 3000)

static cJSON *saved(bool with_consumer)
{
    FILE *f = fopen("tests/unit/data/jaeger_tasks_add.json", "r");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    free(buf);
    assert_non_null(doc);
    if (with_consumer) {
        cJSON *trace = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "data"), 0);
        cJSON *procs = cJSON_GetObjectItem(trace, "processes");
        cJSON_AddItemToObject(procs, "p9", cJSON_Parse("{\"serviceName\":\"notification-service\",\"tags\":[]}"));
        char span[1024];
        snprintf(span, sizeof span,
                 "{\"traceID\":\"" TRACE_ID "\",\"spanID\":\"00000000000000c1\","
                 "\"operationName\":\"task-events process\",\"references\":[{\"refType\":"
                 "\"CHILD_OF\",\"traceID\":\"" TRACE_ID "\",\"spanID\":\"b2dad132f7d0a9cf\"}],"
                 "\"startTime\":%lld,\"duration\":900,\"processID\":\"p9\",\"tags\":["
                 "{\"key\":\"span.kind\",\"type\":\"string\",\"value\":\"consumer\"},"
                 "{\"key\":\"messaging.message.id\",\"type\":\"string\",\"value\":\"" EVENT_ID "\"},"
                 "{\"key\":\"messaging.consumer.group.name\",\"type\":\"string\",\"value\":\"notification-service\"},"
                 "{\"key\":\"notify.outcome\",\"type\":\"string\",\"value\":\"notified\"}]}",
                 (long long)CONSUMER_START);
        cJSON_AddItemToArray(cJSON_GetObjectItem(trace, "spans"), cJSON_Parse(span));
    }
    return doc;
}

static ops_outbox_row_t row_of(bool published)
{
    ops_outbox_row_t r;
    memset(&r, 0, sizeof r);
    r.id = 109;
    r.task_id = 42;
    r.version = 1;
    snprintf(r.event_id, sizeof r.event_id, EVENT_ID);
    snprintf(r.event_type, sizeof r.event_type, "task.created");
    snprintf(r.topic, sizeof r.topic, "task-events");
    snprintf(r.key, sizeof r.key, "42");
    snprintf(r.traceparent, sizeof r.traceparent, "00-" TRACE_ID "-5b7cd2cb72f9edf5-01");
    /* created_at has milliseconds: the INSERT ran at ...493.683 */
    snprintf(r.created_at, sizeof r.created_at, "2026-12-01T04:24:25.493Z");
    r.published = published;
    r.attempts = published ? 1 : 3;
    if (published) snprintf(r.published_at, sizeof r.published_at, "2026-12-01T04:24:25.497Z");
    return r;
}

static void test_trace_id_of_traceparent(void **state)
{
    char id[33];
    assert_true(ops_flow_trace_id("00-" TRACE_ID "-5b7cd2cb72f9edf5-01", id));
    assert_string_equal(id, TRACE_ID);
    assert_false(ops_flow_trace_id("00-00000000000000000000000000000000-5b7cd2cb72f9edf5-01", id));
    assert_false(ops_flow_trace_id("00-XYZ", id));
    assert_false(ops_flow_trace_id("", id));
    assert_false(ops_flow_trace_id(NULL, id));
}

static void test_complete_flow(void **state)
{
    cJSON *doc = saved(true);
    ops_trace_t t;
    ops_err_t e = OPS_ERR_INIT;
    assert_int_equal(ops_trace_from_json(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "data"), 0), &t, &e), OPS_OK);
    ops_outbox_row_t row = row_of(true);
    ops_kmsg_t m = {.topic = "task-events", .partition = 4, .offset = 17, .ts_ms = 1796099065495};
    cJSON *n = cJSON_Parse("{\"id\":7,\"kind\":\"task_done\",\"title\":\"done: x\","
                           "\"created_at\":\"2026-12-01T04:24:25.501Z\",\"event_id\":\"" EVENT_ID "\"}");
    ops_flow_in_t in = OPS_FLOW_IN_INIT;
    in.row = &row;
    in.trace = &t;
    in.trace_json = doc;
    in.trace_src.looked = true;
    in.kmsg = &m;
    in.kafka_src.looked = true;
    in.notification = n;
    in.notify_src.looked = true;
    in.rm_version = 1;
    in.rm_src.looked = true;
    ops_flow_t f;
    ops_flow_build(&in, 0, &f);
    for (int k = 0; k < OPS_FLOW_STEPS; k++)
        assert_int_equal(f.step[k].state, OPS_STEP_DONE);
    assert_string_equal(f.trace_id, TRACE_ID);
    assert_int_equal(f.partition, 4);
    assert_int_equal(f.offset, 17);
    const ops_flow_step_t *req = &f.step[OPS_FLOW_REQUEST], *pub = &f.step[OPS_FLOW_PUBLISH];
    assert_int_equal(req->at_us, SERVER_START);
    assert_string_equal(req->service, "tasks-service");
    assert_non_null(strstr(req->detail, "POST /api/tasks"));
    assert_non_null(strstr(req->detail, "trace from todo-console"));
    assert_int_equal(f.step[OPS_FLOW_COMMIT].at_us, COMMIT_END);
    /* the outbox wait: from the commit to the relay taking the row */
    assert_int_equal(pub->at_us, PRODUCER_START);
    assert_int_equal(pub->dur_us, PRODUCER_DUR);
    assert_int_equal(pub->hop_us, PRODUCER_START - COMMIT_END);
    assert_string_equal(pub->hop_name, "outbox wait");
    assert_non_null(strstr(pub->detail, "partition 4 offset 17, in Kafka"));
    /* on the broker: from its acknowledgement to the consumer */
    const ops_flow_step_t *con = &f.step[OPS_FLOW_CONSUME];
    assert_int_equal(con->hop_us, 3000);
    assert_string_equal(con->service, "notification-service");
    assert_non_null(strstr(con->detail, "notified"));
    assert_non_null(strstr(f.step[OPS_FLOW_NOTIFY].detail, "notification 7 task_done"));
    assert_non_null(strstr(f.step[OPS_FLOW_READMODEL].detail, "Redis holds v1"));
    assert_int_equal(f.start_us, SERVER_START);
    cJSON *j = ops_flow_json(&f);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "steps")), OPS_FLOW_STEPS);
    cJSON_Delete(j);
    cJSON_Delete(n);
    ops_trace_free(&t);
    cJSON_Delete(doc);
}

/* Kafka was down: the relay tried twice and failed (error spans, no partition), then
 * delivered. The publish is the delivering attempt, and the outbox wait runs up to it. */
static void test_retried_publish(void **state)
{
    cJSON *doc = saved(true);
    cJSON *trace = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "data"), 0);
    for (int k = 0; k < 2; k++) {
        char span[1024];
        snprintf(span, sizeof span,
                 "{\"traceID\":\"" TRACE_ID "\",\"spanID\":\"00000000000000f%d\","
                 "\"operationName\":\"task-events publish\",\"references\":[{\"refType\":"
                 "\"CHILD_OF\",\"traceID\":\"" TRACE_ID "\",\"spanID\":\"5b7cd2cb72f9edf5\"}],"
                 "\"startTime\":%lld,\"duration\":500,\"processID\":\"p1\",\"tags\":["
                 "{\"key\":\"span.kind\",\"type\":\"string\",\"value\":\"producer\"},"
                 "{\"key\":\"messaging.message.id\",\"type\":\"string\",\"value\":\"" EVENT_ID "\"},"
                 "{\"key\":\"error\",\"type\":\"bool\",\"value\":true},"
                 "{\"key\":\"otel.status_description\",\"type\":\"string\",\"value\":\"Message timed out\"}]}",
                 k, (long long)(PRODUCER_START - 1000 + 400 * k));
        /* the failures first in the JSON, as Jaeger lists spans by arrival */
        cJSON_InsertItemInArray(cJSON_GetObjectItem(trace, "spans"), 0, cJSON_Parse(span));
    }
    ops_trace_t t;
    ops_err_t e = OPS_ERR_INIT;
    assert_int_equal(ops_trace_from_json(trace, &t, &e), OPS_OK);
    ops_outbox_row_t row = row_of(true);
    ops_flow_in_t in = OPS_FLOW_IN_INIT;
    in.row = &row;
    in.trace = &t;
    in.trace_json = doc;
    in.trace_src.looked = true;
    ops_flow_t f;
    ops_flow_build(&in, 0, &f);
    const ops_flow_step_t *pub = &f.step[OPS_FLOW_PUBLISH];
    assert_int_equal(pub->state, OPS_STEP_DONE);
    assert_int_equal(pub->at_us, PRODUCER_START);
    assert_int_equal(pub->hop_us, PRODUCER_START - COMMIT_END);
    assert_int_equal(f.partition, 4);
    assert_null(strstr(pub->detail, "send failed"));
    ops_trace_free(&t);
    cJSON_Delete(doc);
}

/* Kafka down: the relay has not published; the trace has the request only. The publish is
 * pending and its hop is the wait so far; later steps wait for it. */
static void test_waiting_in_the_outbox(void **state)
{
    cJSON *doc = saved(false);
    cJSON *trace = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "data"), 0);
    cJSON *spans = cJSON_GetObjectItem(trace, "spans");
    int i = 0;
    cJSON *s;
    cJSON_ArrayForEach(s, spans)
    {
        if (!strcmp(cJSON_GetObjectItem(s, "operationName")->valuestring, "task-events publish")) break;
        i++;
    }
    cJSON_DeleteItemFromArray(spans, i);
    ops_trace_t t;
    ops_err_t e = OPS_ERR_INIT;
    assert_int_equal(ops_trace_from_json(trace, &t, &e), OPS_OK);
    ops_outbox_row_t row = row_of(false);
    row.last_error = "Local: Broker transport failure";
    ops_flow_in_t in = OPS_FLOW_IN_INIT;
    in.row = &row;
    in.trace = &t;
    in.trace_json = doc;
    in.trace_src.looked = true;
    in.kafka_src = (ops_flow_src_t){true, OPS_UNREACHABLE, "kafka (127.0.0.1:1): down"};
    in.notify_src.looked = true;
    in.rm_version = 1;
    in.rm_src.looked = true;
    ops_flow_t f;
    int64_t now = COMMIT_END + 40 * 1000000LL;
    ops_flow_build(&in, now, &f);
    const ops_flow_step_t *pub = &f.step[OPS_FLOW_PUBLISH];
    assert_int_equal(pub->state, OPS_STEP_PENDING);
    assert_int_equal(pub->at_us, 0);
    assert_int_equal(pub->hop_us, 40 * 1000000LL);
    assert_non_null(strstr(pub->detail, "waiting in the outbox, 3 attempts"));
    assert_non_null(strstr(pub->detail, "Broker transport failure"));
    assert_int_equal(f.step[OPS_FLOW_CONSUME].state, OPS_STEP_PENDING);
    assert_int_equal(f.step[OPS_FLOW_NOTIFY].state, OPS_STEP_PENDING);
    assert_int_equal(f.step[OPS_FLOW_REQUEST].state, OPS_STEP_DONE);
    assert_int_equal(f.step[OPS_FLOW_READMODEL].state, OPS_STEP_DONE);
    ops_trace_free(&t);
    cJSON_Delete(doc);
}

/* Jaeger down: the steps only a trace knows say so; the rest come from the database, the API
 * and Redis. */
static void test_jaeger_down(void **state)
{
    ops_outbox_row_t row = row_of(true);
    ops_flow_in_t in = OPS_FLOW_IN_INIT;
    in.row = &row;
    in.trace_src = (ops_flow_src_t){true, OPS_UNREACHABLE, "jaeger (http://127.0.0.1:1): refused"};
    in.kafka_src.looked = true;
    in.notify_src.looked = true;
    in.rm_version = 0;
    in.rm_src.looked = true;
    ops_flow_t f;
    ops_flow_build(&in, 0, &f);
    assert_int_equal(f.step[OPS_FLOW_REQUEST].state, OPS_STEP_DOWN);
    assert_non_null(strstr(f.step[OPS_FLOW_REQUEST].detail, "jaeger"));
    assert_int_equal(f.step[OPS_FLOW_COMMIT].state, OPS_STEP_DOWN);
    assert_int_equal(f.step[OPS_FLOW_CONSUME].state, OPS_STEP_DOWN);
    const ops_flow_step_t *pub = &f.step[OPS_FLOW_PUBLISH];
    assert_int_equal(pub->state, OPS_STEP_DONE);
    assert_string_equal(pub->source, "outbox");
    /* published_at (.497) minus the insert (.493): the hop from the row */
    assert_int_equal(pub->hop_us, 4000);
    assert_non_null(strstr(pub->detail, "not found in Kafka"));
    /* Redis at version 0 < 1: behind */
    assert_int_equal(f.step[OPS_FLOW_READMODEL].state, OPS_STEP_PENDING);
    assert_int_equal(f.step[OPS_FLOW_NOTIFY].state, OPS_STEP_NONE);
}

/* Before any source answers, only the row's steps are known; hostile text is made printable. */
static void test_nothing_looked_yet(void **state)
{
    ops_outbox_row_t row = row_of(true);
    snprintf(row.key, sizeof row.key, "4\x1b[2J");
    ops_flow_in_t in = OPS_FLOW_IN_INIT;
    in.row = &row;
    ops_flow_t f;
    ops_flow_build(&in, 0, &f);
    assert_int_equal(f.step[OPS_FLOW_OUTBOX].state, OPS_STEP_DONE);
    assert_null(strchr(f.step[OPS_FLOW_OUTBOX].detail, '\x1b'));
    assert_int_equal(f.step[OPS_FLOW_REQUEST].state, OPS_STEP_UNKNOWN);
    assert_int_equal(f.step[OPS_FLOW_NOTIFY].state, OPS_STEP_UNKNOWN);
    assert_int_equal(f.step[OPS_FLOW_READMODEL].state, OPS_STEP_UNKNOWN);
    ops_flow_in_t none = OPS_FLOW_IN_INIT;
    ops_flow_build(&none, 0, &f); /* no row: an empty flow, not a crash */
    assert_int_equal(f.step[OPS_FLOW_OUTBOX].state, OPS_STEP_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_id_of_traceparent),
        cmocka_unit_test(test_complete_flow),
        cmocka_unit_test(test_retried_publish),
        cmocka_unit_test(test_waiting_in_the_outbox),
        cmocka_unit_test(test_jaeger_down),
        cmocka_unit_test(test_nothing_looked_yet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
