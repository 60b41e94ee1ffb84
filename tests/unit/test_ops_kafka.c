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
    assert_int_equal(ops_kring_total(r), 5);
    for (int i = 0; i < 3; i++) {
        ops_kmsg_t mm, *m = &mm;
        assert_true(ops_kring_at(r, (size_t)i, m));
        assert_int_equal(m->offset, i + 2);
        snprintf(v, sizeof v, "value %d", i + 2);
        assert_int_equal(m->value_len, strlen(v));
        assert_memory_equal(m->value, v, m->value_len);
        assert_string_equal(m->topic, "task-events");
        assert_int_equal(m->nh, 2);
        assert_memory_equal(m->h[0].value, "task.updated", m->h[0].len);
    }
    ops_kmsg_t none;
    assert_false(ops_kring_at(r, 3, &none));
    ops_kring_free(r);
}

/* A NULL key stays NULL and an empty one empty; header values may be empty or hold NULs;
 * a ring of many small messages costs about 40 bytes a slot beyond the messages. */
static void test_ring_round_trip(void **state)
{
    ops_kring_t *r = ops_kring_new(100000, SIZE_MAX);
    assert_non_null(r);
    ops_kmsg_t m = {.topic = "task-events.dlq", .partition = 3, .offset = 77, .ts_ms = 1700,
                    .key = NULL, .value = "v\0w", .value_len = 3, .nh = 2};
    m.h[0].name = "reason";
    m.h[0].value = "bad\0json";
    m.h[0].len = 8;
    m.h[1].name = "empty";
    m.h[1].value = "";
    m.h[1].len = 0;
    assert_int_equal(ops_kring_push(r, &m), 0);
    m.key = "";
    m.key_len = 0;
    m.value = NULL;
    m.value_len = 0;
    m.nh = 0;
    assert_int_equal(ops_kring_push(r, &m), 0);
    ops_kmsg_t a, b;
    assert_true(ops_kring_at(r, 0, &a));
    assert_string_equal(a.topic, "task-events.dlq");
    assert_int_equal(a.partition, 3);
    assert_int_equal(a.offset, 77);
    assert_int_equal(a.ts_ms, 1700);
    assert_null(a.key);
    assert_int_equal(a.value_len, 3);
    assert_memory_equal(a.value, "v\0w", 3);
    assert_int_equal(a.nh, 2);
    assert_string_equal(a.h[0].name, "reason");
    assert_int_equal(a.h[0].len, 8);
    assert_memory_equal(a.h[0].value, "bad\0json", 8);
    assert_string_equal(a.h[1].name, "empty");
    assert_int_equal(a.h[1].len, 0);
    assert_true(ops_kring_at(r, 1, &b));
    assert_non_null(b.key);
    assert_int_equal(b.key_len, 0);
    assert_null(b.value);
    assert_int_equal(b.nh, 0);
    /* the fixed cost: slots for 100,000 messages in well under 8 MB */
    assert_true(ops_kring_bytes(r) < 8u << 20);
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
    ops_kmsg_t first;
    assert_true(ops_kring_at(r, 0, &first));
    assert_int_equal(first.offset, 2);
    /* one message larger than the whole budget is refused, and nothing is dropped for it */
    char huge[2000];
    memset(huge, 'y', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ops_kmsg_t h = msg("k", huge, "t");
    assert_int_equal(ops_kring_push(r, &h), -1);
    assert_int_equal(ops_kring_len(r), 2);
    ops_kring_free(r);
}

/* The ring's own filter agrees with ops_kmsg_match on every kept message and filter: keys
 * (NULL, empty, prefixes), header names and values, text in the value, and all at once. */
static void test_ring_match_agrees_with_kmsg_match(void **state)
{
    ops_kring_t *r = ops_kring_new(16, 1 << 20);
    ops_kmsg_t in[] = {msg("42", "{\"title\":\"x\"}", "task.created"), msg("420", "y", "task.updated"),
                       msg(NULL, "no key", "task.created"), msg("", NULL, "task.deleted"),
                       msg("4", "{\"title\":\"42\"}", "task.completed")};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) assert_int_equal(ops_kring_push(r, &in[i]), 0);
    static const struct { const char *key, *header, *grep; } f[] = {
        {NULL, NULL, NULL}, {"42", NULL, NULL}, {"", NULL, NULL}, {"4", NULL, NULL},
        {NULL, "event_type=task.created", NULL}, {NULL, "event_type", NULL}, {NULL, "nope", NULL},
        {NULL, "event_type=task", NULL}, {NULL, NULL, "42"}, {NULL, NULL, "key"},
        {"42", "event_type=task.created", "title"}, {"4", "traceparent", "42"}};
    size_t matched = 0;
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        ops_tail_opts_t o = OPS_TAIL_OPTS_INIT;
        o.key = f[k].key;
        o.header = f[k].header;
        o.grep = f[k].grep;
        for (size_t i = 0; i < ops_kring_len(r); i++) {
            ops_kmsg_t m;
            assert_true(ops_kring_at(r, i, &m));
            bool want = ops_kmsg_match(&m, &o);
            if (ops_kring_match(r, i, &o) != want) fail_msg("filter %zu, message %zu", k, i);
            matched += want;
        }
        assert_false(ops_kring_match(r, ops_kring_len(r), &o));
    }
    assert_int_equal(matched, 5 + 1 + 1 + 1 + 2 + 5 + 0 + 0 + 1 + 1 + 1 + 1);
    ops_kring_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_ring_keeps_the_newest_within_bounds),
        cmocka_unit_test(test_ring_byte_limit),
        cmocka_unit_test(test_ring_round_trip),
        cmocka_unit_test(test_ring_match_agrees_with_kmsg_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
