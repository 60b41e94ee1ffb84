/* Unit tests for lib/ops/ops_outbox's drain rates (what `outbox-inspect watch` shows): the
 * publish rate, the net change of the backlog and the time to drain, from samples taken on
 * the database's clock. (The queries themselves run against the real PostgreSQL in
 * tests/e2e/test_outbox_inspect.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops_outbox.h"

#define EPS 1e-9

static ops_outbox_sample_t sample(double at, double since, int64_t backlog, int64_t published)
{
    ops_outbox_sample_t s = {at, since, backlog, 0, backlog ? 1.5 : 0, published};
    return s;
}

static void test_empty_tracker(void **state)
{
    ops_outbox_drain_t d;
    ops_outbox_drain_init(&d, 10);
    ops_outbox_rates_t r;
    ops_outbox_drain_rates(&d, &r);
    assert_false(r.have_net);
    assert_true(r.published_per_s == 0);
    assert_true(r.eta_s == -1);
}

static void test_first_sample_gives_a_publish_rate(void **state)
{
    ops_outbox_drain_t d;
    ops_outbox_drain_init(&d, 10);
    ops_outbox_sample_t s = sample(1000, 990, 500, 250); /* 250 published in the last 10 s */
    ops_outbox_drain_add(&d, &s);
    ops_outbox_rates_t r;
    ops_outbox_drain_rates(&d, &r);
    assert_true(r.published_per_s > 25 - EPS && r.published_per_s < 25 + EPS);
    assert_false(r.have_net);
    /* no net rate yet: the time to drain uses the publish rate */
    assert_true(r.eta_s > 20 - EPS && r.eta_s < 20 + EPS);
}

static void test_kafka_down_the_backlog_grows(void **state)
{
    ops_outbox_drain_t d;
    ops_outbox_drain_init(&d, 10);
    double since = 990;
    for (int i = 0; i < 5; i++) {
        ops_outbox_sample_t s = sample(1000 + i, since, 100 + 10 * i, 0);
        since = s.at_s;
        ops_outbox_drain_add(&d, &s);
    }
    ops_outbox_rates_t r;
    ops_outbox_drain_rates(&d, &r);
    assert_true(r.have_net);
    assert_true(r.net_per_s > 10 - EPS && r.net_per_s < 10 + EPS);
    assert_true(r.published_per_s == 0);
    assert_true(r.eta_s == -1); /* not draining */
}

static void test_draining_while_writes_continue(void **state)
{
    ops_outbox_drain_t d;
    ops_outbox_drain_init(&d, 10);
    /* 300 published a second, 100 written a second: the backlog shrinks by 200 a second */
    double since = 999;
    for (int i = 0; i < 4; i++) {
        ops_outbox_sample_t s = sample(1000 + i, since, 1000 - 200 * i, 300);
        since = s.at_s;
        ops_outbox_drain_add(&d, &s);
    }
    ops_outbox_rates_t r;
    ops_outbox_drain_rates(&d, &r);
    assert_true(r.published_per_s > 300 - EPS && r.published_per_s < 300 + EPS);
    assert_true(r.net_per_s > -200 - EPS && r.net_per_s < -200 + EPS);
    /* 400 left at 200 a second: 2 s, not 400/300 */
    assert_true(r.eta_s > 2 - EPS && r.eta_s < 2 + EPS);
    ops_outbox_sample_t empty = sample(1004, 1003, 0, 400);
    ops_outbox_drain_add(&d, &empty);
    ops_outbox_drain_rates(&d, &r);
    assert_true(r.eta_s == 0);
}

static void test_only_the_window_counts(void **state)
{
    ops_outbox_drain_t d;
    ops_outbox_drain_init(&d, 5);
    /* a burst long ago, then nothing: the rate over the last 5 s is 0 */
    double since = 90;
    for (int i = 0; i < 20; i++) {
        ops_outbox_sample_t s = sample(100 + i, since, 50, i < 5 ? 1000 : 0);
        since = s.at_s;
        ops_outbox_drain_add(&d, &s);
    }
    ops_outbox_rates_t r;
    ops_outbox_drain_rates(&d, &r);
    assert_true(r.published_per_s == 0);
    assert_true(r.net_per_s == 0 && r.have_net);
    assert_true(r.eta_s == -1);
}

static void test_the_ring_wraps(void **state)
{
    ops_outbox_drain_t d;
    ops_outbox_drain_init(&d, 1000);
    double since = 0;
    for (int i = 1; i <= OPS_OUTBOX_DRAIN_SAMPLES * 3 + 5; i++) {
        ops_outbox_sample_t s = sample(i, since, 100000 - 10 * i, 10);
        since = s.at_s;
        ops_outbox_drain_add(&d, &s);
    }
    assert_int_equal(d.n, OPS_OUTBOX_DRAIN_SAMPLES);
    ops_outbox_rates_t r;
    ops_outbox_drain_rates(&d, &r);
    assert_true(r.published_per_s > 10 - EPS && r.published_per_s < 10 + EPS);
    assert_true(r.net_per_s > -10 - EPS && r.net_per_s < -10 + EPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_tracker),
        cmocka_unit_test(test_first_sample_gives_a_publish_rate),
        cmocka_unit_test(test_kafka_down_the_backlog_grows),
        cmocka_unit_test(test_draining_while_writes_continue),
        cmocka_unit_test(test_only_the_window_counts),
        cmocka_unit_test(test_the_ring_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
