/* Unit tests for services/tasks/tasks_relay.c: the pure rules of the relay (one head per
 * task, error classes, backoff, shard shares) and the delivery-report bookkeeping. The relay
 * against real PostgreSQL and Kafka is tested end to end (tests/e2e/test_tasks_outbox.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../services/tasks/tasks_model.c"
#include "../../services/tasks/tasks_outbox.c"
#include "../../services/tasks/tasks_relay.c"
#include "../../services/tasks/tasks_cfg.c"

static void test_pick_one_head_per_task(void **state)
{
    (void)state;
    tasks_relay_pick_row_t picks[] = {{1, 10}, {2, 11}, {3, 10}, {4, 12}, {5, 11}, {6, 10}};
    bool send[6];
    assert_int_equal(tasks_relay_pick(picks, 6, send), 3);
    bool want[6] = {true, true, false, true, false, false};
    for (int i = 0; i < 6; i++) assert_int_equal(send[i], want[i]);
    assert_int_equal(tasks_relay_pick(picks, 0, send), 0);
}

static void test_chain_marks_publish_a_prefix_per_task(void **state)
{
    (void)state;
    const tasks_relay_row_state_t D = TASKS_RELAY_ROW_DELIVERED, F = TASKS_RELAY_ROW_FAILED,
                                  N = TASKS_RELAY_ROW_NOT_DONE;
    const tasks_relay_mark_t P = TASKS_RELAY_MARK_PUBLISHED, X = TASKS_RELAY_MARK_FAILED,
                             L = TASKS_RELAY_MARK_LEAVE;
    /* heads of tasks 10, 11, 12, 13, then their chains in id order */
    tasks_relay_pick_row_t picked[] = {{1, 10}, {2, 11}, {3, 12}, {4, 13}, {5, 10}, {6, 11},
                                     {7, 12}, {8, 10}, {9, 11}, {10, 12}, {11, 13}};
    tasks_relay_row_state_t st[] = {D, D, F, N, D, F, D, D, D, D, D};
    tasks_relay_mark_t out[11];
    tasks_relay_chain_marks(picked, st, 11, out);
    /* 10: all delivered, all published. 11: the second failed: it is marked failed and the
     * third, acknowledged by Kafka, stays pending behind it. 12: the head failed: nothing
     * behind it is published. 13: the head was not sent (purged): its chain waits too. */
    tasks_relay_mark_t want[] = {P, P, X, L, P, X, L, P, L, L, L};
    for (int i = 0; i < 11; i++) assert_int_equal(out[i], want[i]);
    /* heads only (no chains): every head is marked by its own outcome, as before chains */
    tasks_relay_row_state_t st2[] = {D, F, N, D};
    tasks_relay_chain_marks(picked, st2, 4, out);
    tasks_relay_mark_t want2[] = {P, X, L, P};
    for (int i = 0; i < 4; i++) assert_int_equal(out[i], want2[i]);
}

static void test_error_classes(void **state)
{
    (void)state;
    /* the broker refuses these bytes: counting towards dead */
    assert_true(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    assert_true(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR_INVALID_RECORD));
    assert_true(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
    /* an outage: rows wait however long it lasts, never dead */
    assert_false(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT));
    assert_false(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR__TRANSPORT));
    assert_false(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN));
    assert_false(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION));
    assert_false(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));
    assert_false(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    assert_false(tasks_relay_err_permanent(RD_KAFKA_RESP_ERR__FATAL));
    assert_true(tasks_relay_err_purged(RD_KAFKA_RESP_ERR__PURGE_QUEUE));
    assert_true(tasks_relay_err_purged(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT));
    assert_false(tasks_relay_err_purged(RD_KAFKA_RESP_ERR_NO_ERROR));
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(tasks_relay_backoff_ms(500, 1), 500);
    assert_int_equal(tasks_relay_backoff_ms(500, 2), 1000);
    assert_int_equal(tasks_relay_backoff_ms(500, 4), 4000);
    assert_int_equal(tasks_relay_backoff_ms(500, 100), MAX_BACKOFF_MS);
    assert_int_equal(tasks_relay_backoff_ms(0, 1), 1);
    assert_int_equal(tasks_relay_backoff_ms(10 * 60 * 1000, 1), MAX_BACKOFF_MS);
}

static void test_shard_target(void **state)
{
    (void)state;
    assert_int_equal(tasks_relay_shard_target(64, 0), 64);
    assert_int_equal(tasks_relay_shard_target(64, 1), 64);
    assert_int_equal(tasks_relay_shard_target(64, 2), 32);
    assert_int_equal(tasks_relay_shard_target(64, 3), 22); /* 22 + 22 + 20 */
    assert_int_equal(tasks_relay_shard_target(64, 64), 1);
    assert_int_equal(tasks_relay_shard_target(64, 100), 1);
    /* whatever N, N relays holding their target cover every shard */
    for (int n = 1; n <= 80; n++) assert_true(tasks_relay_shard_target(64, n) * n >= 64);
}

/* Fencing (issue 13, item 7): a message may be handed to librdkafka only if its timeout ends
 * TASKS_RELAY_LEASE_SLACK_MS before the relay's lease does; at the boundary, yes. */
static void test_may_produce(void **state)
{
    (void)state;
    const long long lease_until = 100000;
    assert_true(tasks_relay_may_produce(90000, lease_until, 5000));   /* 95 s + 3 s < 100 s */
    assert_true(tasks_relay_may_produce(92000, lease_until, 5000));   /* exactly the slack */
    assert_false(tasks_relay_may_produce(92001, lease_until, 5000));
    assert_false(tasks_relay_may_produce(lease_until, lease_until, 0)); /* a lease already over */
    /* the defaults (lease 8 s, timeout 3 s): right after a statement there is room, and a
     * heartbeat a second later keeps it */
    assert_true(tasks_relay_may_produce(0, 8000, 3000));
    assert_true(tasks_relay_may_produce(1000, 1000 + 8000, 3000));
    assert_false(tasks_relay_may_produce(2001, 8000, 3000)); /* two seconds without a statement */
}

/* The settings tasks-service starts with when none is given (tasks_cfg's table). */
static tasks_cfg_t default_settings(void)
{
    const char *mine[] = {"TASKS_RELAY_LEASE", "TASKS_RELAY_DELIVERY_TIMEOUT"};
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++) unsetenv(mine[i]);
    tasks_cfg_t c;
    char err[256] = "";
    if (cfg_load(tasks_cfg.rows, tasks_cfg.n, &c, err, sizeof err) < 0) fail_msg("%s", err);
    if (tasks_cfg.check(&c, err, sizeof err) < 0) fail_msg("%s", err);
    return c;
}

/* Issue 15: with the default settings, a frozen relay's shards are taken over within 10 s —
 * its session ends TASKS_RELAY_LEASE after its last statement, and the others take the
 * shards at their next rebalance. (With a 10 s lease and a rebalance every second, make chaos
 * measured 10.2 s; with 8 s and 0.5 s, 8.3 s.) And the defaults leave a relay that talks once
 * a second room to produce (fencing). */
static void test_default_lease_takes_over_within_10s(void **state)
{
    (void)state;
    tasks_cfg_t c = default_settings();
    assert_true(c.relay_lease_ms + TASKS_RELAY_REBALANCE_MS <= 10000);
    /* a second after its last statement (HEARTBEAT_MS), a relay may still hand rows over */
    assert_true(tasks_relay_may_produce(HEARTBEAT_MS, c.relay_lease_ms, c.relay_delivery_timeout_ms));
}

static tasks_relay_t *new_relay(metrics_registry_t *reg, int batch)
{
    tasks_relay_config_t c = {.database_url = "postgres://nobody@127.0.0.1:1/none",
                        .brokers = "127.0.0.1:1",
                        .batch_size = batch,
                        .poll_interval_ms = 100,
                        .max_attempts = 3,
                        .retry_backoff_ms = 100,
                        .delivery_timeout_ms = 1000,
                        .lease_ms = 5000,
                        .queue_max = 100,
                        .retention_ms = 1000,
                        .metrics = reg};
    tasks_relay_t *r;
    char err[256];
    assert_int_equal(tasks_relay_new(&c, &r, err, sizeof err), 0);
    return r;
}

/* Delivery reports are matched to rows by (round, index): a report of an earlier round, or
 * for an index out of range, or a second report for a row, changes nothing. */
static void test_delivery_reports(void **state)
{
    (void)state;
    metrics_registry_t *reg = metrics_registry_new();
    tasks_relay_t *r = new_relay(reg, 4);
    r->round = 7;
    for (int i = 0; i < 4; i++) {
        memset(&r->rows[i], 0, sizeof r->rows[i]);
        r->rows[i].sent = true;
        r->rows[i].created_ms = clock_wall_ms();
    }
    r->outstanding = 4;
    rd_kafka_message_t m;
    memset(&m, 0, sizeof m);

    m._private = (void *)((uintptr_t)6 << 24 | 1); /* an old round */
    on_delivery(&m, r);
    assert_false(r->rows[0].reported);

    m._private = (void *)((uintptr_t)7 << 24 | 5); /* index past the batch */
    on_delivery(&m, r);
    m._private = (void *)((uintptr_t)7 << 24 | 0); /* index 0 is never used */
    on_delivery(&m, r);
    assert_int_equal(r->outstanding, 4);

    m._private = (void *)((uintptr_t)7 << 24 | 2);
    m.err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
    on_delivery(&m, r);
    assert_true(r->rows[1].reported);
    assert_int_equal(r->rows[1].err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    assert_int_equal(r->outstanding, 3);
    m.err = RD_KAFKA_RESP_ERR_NO_ERROR; /* a duplicate report is ignored */
    on_delivery(&m, r);
    assert_int_equal(r->rows[1].err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
    assert_int_equal(r->outstanding, 3);

    m._private = (void *)((uintptr_t)7 << 24 | 1);
    on_delivery(&m, r);
    assert_true(r->rows[0].reported);
    assert_int_equal(r->rows[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);

    buf_t out = BUF_INIT;
    metrics_render(reg, &out);
    assert_non_null(strstr(buf_str(&out), "outbox_commit_to_publish_seconds_count 1"));
    assert_non_null(strstr(buf_str(&out), "outbox_relay_shards_held 0"));
    assert_non_null(strstr(buf_str(&out), "outbox_publish_failures_total{kind=\"transient\"}"));
    buf_free(&out);
    tasks_relay_free(r);
    metrics_registry_free(reg);
}

/* A relay whose database is unreachable keeps retrying and stops promptly when asked. */
static void test_stop_while_database_down(void **state)
{
    (void)state;
    tasks_relay_t *r = new_relay(NULL, 8);
    char err[256];
    assert_int_equal(tasks_relay_start_thread(r, err, sizeof err), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tasks_relay_stop(r);
    tasks_relay_free(r); /* joins */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
}

static void test_shard_list(void **state)
{
    (void)state;
    bool which[TASKS_RELAY_SHARDS] = {false};
    which[0] = which[5] = which[63] = true;
    buf_t b = BUF_INIT;
    shard_list(which, 0, TASKS_RELAY_SHARDS, &b);
    assert_string_equal(buf_str(&b), "{0,5,63}");
    buf_reset(&b);
    shard_list(which, 0, 2, &b);
    assert_string_equal(buf_str(&b), "{0,5}");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick_one_head_per_task),
        cmocka_unit_test(test_chain_marks_publish_a_prefix_per_task),
        cmocka_unit_test(test_error_classes),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_shard_target),
        cmocka_unit_test(test_may_produce),
        cmocka_unit_test(test_default_lease_takes_over_within_10s),
        cmocka_unit_test(test_delivery_reports),
        cmocka_unit_test(test_stop_while_database_down),
        cmocka_unit_test(test_shard_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
