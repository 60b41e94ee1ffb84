/* Unit tests for lib/ops/ops_metrics: Prometheus text parsed into samples, as the console
 * reads each service's /metrics. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "ops_metrics.h"

static const char text[] =
    "# HELP http_requests_total HTTP requests answered, by route, method and status.\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{route=\"/api/tasks\",method=\"GET\",status=\"200\"} 120\n"
    "http_requests_total{route=\"/api/tasks\",method=\"POST\",status=\"201\"} 30\n"
    "http_requests_total{route=\"/api/tasks/{id}\",method=\"GET\",status=\"503\"} 2\n"
    "http_requests_total{route=\"/api/x\",method=\"GET\",status=\"500\"} 1\n"
    "# TYPE outbox_backlog gauge\n"
    "outbox_backlog 17\n"
    "outbox_oldest_unpublished_age_seconds 3.25\n"
    "weird{label=\"a } brace\",other=\"q\\\"uote\"} 1e3\n"
    "h_bucket{le=\"+Inf\"} +Inf\n"
    "nan_metric NaN\n"
    "with_timestamp 5 1700000000000\n"
    "this line is not a sample\n"
    "  \n"
    "broken{unclosed=\"x\" 4\n";

static void test_parses_samples(void **state)
{
    ops_metrics_t m;
    assert_int_equal(ops_metrics_parse(text, &m), 0);
    double v;
    assert_true(ops_metrics_get(&m, "outbox_backlog", NULL, &v));
    assert_true(v == 17);
    assert_true(ops_metrics_get(&m, "outbox_oldest_unpublished_age_seconds", NULL, &v));
    assert_true(v == 3.25);
    assert_true(ops_metrics_get(&m, "weird", NULL, &v));
    assert_true(v == 1000);
    assert_true(ops_metrics_get(&m, "h_bucket", "le=\"+Inf\"", &v));
    assert_true(isinf(v));
    assert_true(ops_metrics_get(&m, "nan_metric", NULL, &v));
    assert_true(isnan(v));
    assert_true(ops_metrics_get(&m, "with_timestamp", NULL, &v));
    assert_true(v == 5);
    assert_false(ops_metrics_get(&m, "absent", NULL, &v));
    assert_int_equal(m.bad_lines, 2);
    ops_metrics_free(&m);
}

static void test_sums_by_label(void **state)
{
    ops_metrics_t m;
    assert_int_equal(ops_metrics_parse(text, &m), 0);
    assert_true(ops_metrics_sum(&m, "http_requests_total", NULL) == 153);
    assert_true(ops_metrics_sum(&m, "http_requests_total", "status=\"5") == 3);
    assert_true(ops_metrics_sum(&m, "http_requests_total", "method=\"POST\"") == 30);
    assert_true(ops_metrics_sum(&m, "nothing", NULL) == 0);
    ops_metrics_free(&m);
}

/* What lib/metrics writes, ops_metrics reads back. */
static void test_round_trip_with_lib_metrics(void **state)
{
    char err[128];
    metrics_registry_t *reg = metrics_registry_new();
    metrics_family_t *f = metrics_counter(reg, "x_total", "x.", "a,b", err, sizeof err);
    metrics_add(metrics_series(f, METRICS_LABELS("1", "q\"uote")), 7);
    metrics_family_t *h = metrics_histogram(reg, "lat_seconds", "l.", "", NULL, 0, err, sizeof err);
    assert_non_null(h);
    buf_t b = BUF_INIT;
    metrics_render(reg, &b);
    ops_metrics_t m;
    assert_int_equal(ops_metrics_parse(buf_str(&b), &m), 0);
    double v;
    assert_true(ops_metrics_get(&m, "x_total", "a=\"1\"", &v));
    assert_true(v == 7);
    assert_int_equal(m.bad_lines, 0);
    ops_metrics_free(&m);
    buf_free(&b);
    metrics_registry_free(reg);
}

static void test_empty_input(void **state)
{
    ops_metrics_t m;
    assert_int_equal(ops_metrics_parse("", &m), 0);
    assert_int_equal(m.n, 0);
    ops_metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_samples),
        cmocka_unit_test(test_sums_by_label),
        cmocka_unit_test(test_round_trip_with_lib_metrics),
        cmocka_unit_test(test_empty_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
