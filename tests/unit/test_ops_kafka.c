/* Unit tests for the pure parts of lib/ops/ops_kafka: the message filters, the JSON line of
 * `topics tail -o json`, and the bounded ring the console's live views keep messages in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops_kafka.h"

static ops_kmsg_t msg(const char *key, const char *value, const char *type)
{
    ops_kmsg_t m;
    memset(&m, 0, sizeof m);
    m.topic = "task-events";
    m.partition = 3;
    m.offset = 41;
    m.ts_ms = 1700000000123;
    m.key = key;
    m.key_len = key ? strlen(key) : 0;
    m.value = value;
    m.value_len = value ? strlen(value) : 0;
    m.h[0].name = "event_type";
    m.h[0].value = type;
    m.h[0].len = strlen(type);
    m.h[1].name = "traceparent";
    m.h[1].value = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    m.h[1].len = strlen(m.h[1].value);
    m.nh = 2;
    return m;
}

static void test_filters(void **state)
{
    ops_kmsg_t m = msg("17", "{\"task_id\":17,\"title\":\"ship it\"}", "task.created");
    ops_tail_opts_t o = OPS_TAIL_OPTS_INIT;
    assert_true(ops_kmsg_match(&m, &o));
    o.key = "17";
    assert_true(ops_kmsg_match(&m, &o));
    o.key = "1";     /* exact, not a prefix */
    assert_false(ops_kmsg_match(&m, &o));
    o.key = NULL;
    o.header = "event_type=task.created";
    assert_true(ops_kmsg_match(&m, &o));
    o.header = "event_type=task.create";
    assert_false(ops_kmsg_match(&m, &o));
    o.header = "traceparent";  /* present, any value */
    assert_true(ops_kmsg_match(&m, &o));
    o.header = "dlq_reason";
    assert_false(ops_kmsg_match(&m, &o));
    o.header = NULL;
    o.grep = "ship it";
    assert_true(ops_kmsg_match(&m, &o));
    o.grep = "sink it";
    assert_false(ops_kmsg_match(&m, &o));
    ops_kmsg_t nokey = msg(NULL, NULL, "task.deleted");
    o.grep = NULL;
    o.key = "17";
    assert_false(ops_kmsg_match(&nokey, &o));
    o.key = NULL;
    o.grep = "x";
    assert_false(ops_kmsg_match(&nokey, &o));
}

static void test_json_line(void **state)
{
    ops_kmsg_t m = msg("17", "{\"a\":\"\xff\"}\n", "task.created");
    buf_t b = BUF_INIT;
    assert_int_equal(ops_kmsg_json(&b, &m), 0);
    assert_string_equal(buf_str(&b),
                        "{\"topic\":\"task-events\",\"partition\":3,\"offset\":41,"
                        "\"timestamp\":1700000000123,\"key\":\"17\",\"headers\":{\"event_type\":"
                        "\"task.created\",\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-"
                        "b7ad6b7169203331-01\"},\"value\":\"{\\\"a\\\":\\\"\xef\xbf\xbd\\\"}\\n\"}");
    buf_reset(&b);
    ops_kmsg_t n = msg(NULL, NULL, "x");
    assert_int_equal(ops_kmsg_json(&b, &n), 0);
    assert_non_null(strstr(buf_str(&b), "\"key\":null"));
    assert_non_null(strstr(buf_str(&b), "\"value\":null}"));
    buf_free(&b);
}

static void test_ring_keeps_the_newest_within_bounds(void **state)
{
    ops_kring_t *r = ops_kring_new(3, 1 << 20);
    char v[32];
    for (int i = 0; i < 5; i++) {
        snprintf(v, sizeof v, "value %d", i);
        ops_kmsg_t m = msg("k", v, "task.updated");
        m.offset = i;
        assert_int_equal(ops_kring_push(r, &m), 0);
    }
    assert_int_equal(ops_kring_len(r), 3);
    assert_int_equal(ops_kring_dropped(r), 2);
    for (int i = 0; i < 3; i++) {
        const ops_kmsg_t *m = ops_kring_get(r, (size_t)i);
        assert_int_equal(m->offset, i + 2);
        snprintf(v, sizeof v, "value %d", i + 2);
        assert_int_equal(m->value_len, strlen(v));
        assert_memory_equal(m->value, v, m->value_len);
        assert_string_equal(m->topic, "task-events");
        assert_int_equal(m->nh, 2);
        assert_memory_equal(m->h[0].value, "task.updated", m->h[0].len);
    }
    assert_null(ops_kring_get(r, 3));
    ops_kring_free(r);
}

static void test_ring_byte_limit(void **state)
{
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* each message is ~700 bytes with topic and headers: 2 fit in 1500 */
    ops_kring_t *r = ops_kring_new(100, 1500);
    for (int i = 0; i < 4; i++) {
        ops_kmsg_t m = msg("k", big, "t");
        m.offset = i;
        assert_int_equal(ops_kring_push(r, &m), 0);
    }
    assert_int_equal(ops_kring_len(r), 2);
    assert_int_equal(ops_kring_get(r, 0)->offset, 2);
    /* one message larger than the whole budget is refused, and nothing is dropped for it */
    char huge[2000];
    memset(huge, 'y', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ops_kmsg_t h = msg("k", huge, "t");
    assert_int_equal(ops_kring_push(r, &h), -1);
    assert_int_equal(ops_kring_len(r), 2);
    ops_kring_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_ring_keeps_the_newest_within_bounds),
        cmocka_unit_test(test_ring_byte_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
