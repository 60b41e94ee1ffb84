/* Unit tests for lib/metrics: registration rules, updates, and the text
 * exposition format compared byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static metrics_registry_t *reg;
static char err[256];
static buf_t rendered; /* freed in teardown, so a failed assertion leaks nothing */

static int setup(void **state)
{
    reg = metrics_registry_new();
    assert_non_null(reg);
    err[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    metrics_registry_free(reg);
    buf_free(&rendered);
    return 0;
}

static void assert_render(const char *expected)
{
    buf_reset(&rendered);
    assert_int_equal(metrics_render(reg, &rendered), 0);
    assert_string_equal(buf_str(&rendered), expected);
}

static void test_unlabelled_counter(void **state)
{
    metrics_family_t *f = metrics_counter(reg, "jobs_total", "Jobs done.", NULL, err, sizeof err);
    assert_non_null(f);
    assert_render("# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 0\n");
    metrics_series_t *s = metrics_series(f, NULL);
    metrics_add(s, 1);
    metrics_add(s, 2.5);
    metrics_add(s, -10); /* counters never go down */
    metrics_add(s, NAN);
    metrics_set(s, 100); /* not a gauge */
    metrics_observe(s, 1);
    assert_render("# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 3.5\n");
}

static void test_labelled_families_in_order(void **state)
{
    metrics_family_t *req = metrics_counter(reg, "http_requests_total", "HTTP requests.",
                                            "route,status", err, sizeof err);
    metrics_family_t *temp = metrics_gauge(reg, "temp_celsius", "Temperature.", "room", err,
                                           sizeof err);
    assert_non_null(req);
    assert_non_null(temp);
    assert_render("# HELP http_requests_total HTTP requests.\n"
                  "# TYPE http_requests_total counter\n"
                  "# HELP temp_celsius Temperature.\n"
                  "# TYPE temp_celsius gauge\n");
    metrics_add(metrics_series(req, METRICS_LABELS("GET /tasks", "200")), 1);
    metrics_add(metrics_series(req, METRICS_LABELS("POST /tasks", "201")), 1);
    metrics_add(metrics_series(req, METRICS_LABELS("GET /tasks", "200")), 1);
    metrics_series_t *kitchen = metrics_series(temp, METRICS_LABELS("kitchen"));
    metrics_set(kitchen, 21.5);
    metrics_add(kitchen, -1.5);
    metrics_set(metrics_series(temp, METRICS_LABELS("")), -3);
    assert_render("# HELP http_requests_total HTTP requests.\n"
                  "# TYPE http_requests_total counter\n"
                  "http_requests_total{route=\"GET /tasks\",status=\"200\"} 2\n"
                  "http_requests_total{route=\"POST /tasks\",status=\"201\"} 1\n"
                  "# HELP temp_celsius Temperature.\n"
                  "# TYPE temp_celsius gauge\n"
                  "temp_celsius{room=\"kitchen\"} 20\n"
                  "temp_celsius{room=\"\"} -3\n");
}

static void test_series_are_found_again(void **state)
{
    metrics_family_t *f = metrics_counter(reg, "x_total", "", "a,b", err, sizeof err);
    metrics_series_t *s1 = metrics_series(f, METRICS_LABELS("1", "2"));
    assert_non_null(s1);
    assert_ptr_equal(metrics_series(f, METRICS_LABELS("1", "2")), s1);
    assert_ptr_not_equal(metrics_series(f, METRICS_LABELS("2", "1")), s1);
    assert_ptr_not_equal(metrics_series(f, METRICS_LABELS("1", "")), s1);
    assert_null(metrics_series(f, NULL)); /* a labelled family needs its values */
    assert_null(metrics_series(NULL, NULL));
    metrics_add(NULL, 1); /* NULL series are ignored, so failed lookups can chain */
    metrics_set(NULL, 1);
    metrics_observe(NULL, 1);
}

static void test_escaping_of_help_and_label_values(void **state)
{
    metrics_family_t *f = metrics_gauge(reg, "esc", "Back\\slash \"quoted\"\nnext line.", "v",
                                        err, sizeof err);
    metrics_set(metrics_series(f, METRICS_LABELS("a\\b\"c\nd")), 1);
    assert_render("# HELP esc Back\\\\slash \"quoted\"\\nnext line.\n"
                  "# TYPE esc gauge\n"
                  "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

static void test_histogram_default_buckets(void **state)
{
    metrics_family_t *h = metrics_histogram(reg, "http_request_duration_seconds", "Latency.", NULL,
                                            NULL, 0, err, sizeof err);
    assert_non_null(h);
    metrics_series_t *s = metrics_series(h, NULL);
    metrics_observe(s, 0.003);
    metrics_observe(s, 0.005); /* le is inclusive */
    metrics_observe(s, 0.7);
    metrics_observe(s, 42);
    metrics_add(s, 5); /* not a counter */
    assert_render("# HELP http_request_duration_seconds Latency.\n"
                  "# TYPE http_request_duration_seconds histogram\n"
                  "http_request_duration_seconds_bucket{le=\"0.005\"} 2\n"
                  "http_request_duration_seconds_bucket{le=\"0.01\"} 2\n"
                  "http_request_duration_seconds_bucket{le=\"0.025\"} 2\n"
                  "http_request_duration_seconds_bucket{le=\"0.05\"} 2\n"
                  "http_request_duration_seconds_bucket{le=\"0.1\"} 2\n"
                  "http_request_duration_seconds_bucket{le=\"0.25\"} 2\n"
                  "http_request_duration_seconds_bucket{le=\"0.5\"} 2\n"
                  "http_request_duration_seconds_bucket{le=\"1\"} 3\n"
                  "http_request_duration_seconds_bucket{le=\"2.5\"} 3\n"
                  "http_request_duration_seconds_bucket{le=\"5\"} 3\n"
                  "http_request_duration_seconds_bucket{le=\"10\"} 3\n"
                  "http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                  "http_request_duration_seconds_sum 42.708\n"
                  "http_request_duration_seconds_count 4\n");
}

static void test_labelled_histogram_custom_buckets(void **state)
{
    static const double b[] = {0.5, 1, 2};
    metrics_family_t *h = metrics_histogram(reg, "lat_seconds", "L.", "route", b, 3, err,
                                            sizeof err);
    assert_non_null(h);
    metrics_observe(metrics_series(h, METRICS_LABELS("/a")), 1.5);
    metrics_observe(metrics_series(h, METRICS_LABELS("/a")), 0.25);
    assert_render("# HELP lat_seconds L.\n"
                  "# TYPE lat_seconds histogram\n"
                  "lat_seconds_bucket{route=\"/a\",le=\"0.5\"} 1\n"
                  "lat_seconds_bucket{route=\"/a\",le=\"1\"} 1\n"
                  "lat_seconds_bucket{route=\"/a\",le=\"2\"} 2\n"
                  "lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"
                  "lat_seconds_sum{route=\"/a\"} 1.75\n"
                  "lat_seconds_count{route=\"/a\"} 2\n");
}

static void test_histogram_with_only_inf_bucket(void **state)
{
    static const double none[1];
    metrics_family_t *h = metrics_histogram(reg, "h", "", NULL, none, 0, err, sizeof err);
    assert_non_null(h);
    metrics_observe(metrics_series(h, NULL), 3);
    assert_render("# HELP h \n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n");
}

static void test_value_formatting(void **state)
{
    metrics_family_t *g = metrics_gauge(reg, "g", "", "k", err, sizeof err);
    static const struct {
        double v;
        const char *text;
    } cases[] = {{0.1, "0.1"},        {1e21, "1e+21"},           {-0.0, "-0"},
                 {1.0 / 3, "0.3333333333333333"}, {123456789012, "123456789012"},
                 {INFINITY, "+Inf"},  {-INFINITY, "-Inf"},        {NAN, "NaN"}};
    char expected[1024] = "# HELP g \n# TYPE g gauge\n";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char key[8], line[64];
        snprintf(key, sizeof key, "%zu", i);
        metrics_set(metrics_series(g, METRICS_LABELS(key)), cases[i].v);
        snprintf(line, sizeof line, "g{k=\"%zu\"} %s\n", i, cases[i].text);
        strcat(expected, line);
    }
    assert_render(expected);
}

static double backlog(void *ctx)
{
    return (double)++*(int *)ctx;
}

static void test_callbacks_are_evaluated_at_render(void **state)
{
    int calls = 0;
    assert_int_equal(metrics_callback(reg, METRICS_GAUGE, "outbox_backlog", "Unpublished rows.",
                                      backlog, &calls, err, sizeof err),
                     0);
    assert_render("# HELP outbox_backlog Unpublished rows.\n# TYPE outbox_backlog gauge\n"
                  "outbox_backlog 1\n");
    assert_render("# HELP outbox_backlog Unpublished rows.\n# TYPE outbox_backlog gauge\n"
                  "outbox_backlog 2\n");
    assert_int_equal(metrics_callback(reg, METRICS_HISTOGRAM, "h", "", backlog, &calls, err,
                                      sizeof err),
                     -1);
    assert_int_equal(metrics_callback(reg, METRICS_GAUGE, "outbox_backlog", "", backlog, &calls,
                                      err, sizeof err),
                     -1);
    assert_string_equal(err, "outbox_backlog: already registered");
}

static void test_registration_errors(void **state)
{
    static const struct {
        const char *name, *labels, *err;
    } bad[] = {
        {"", NULL, "invalid metric name ''"},
        {"1abc", NULL, "invalid metric name '1abc'"},
        {"a-b", NULL, "invalid metric name 'a-b'"},
        {"ok", "a,b-c", "ok: invalid label name 'b-c'"},
        {"ok", "__reserved", "ok: invalid label name '__reserved'"},
        {"ok", "a:b", "ok: invalid label name 'a:b'"},
        {"ok", "a,", "ok: invalid label name ''"},
        {"ok", "a,a", "ok: duplicate label name 'a'"},
        {"ok", "a,b,c,d,e", "ok: too many labels 'e'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(metrics_counter(reg, bad[i].name, "", bad[i].labels, err, sizeof err));
        assert_string_equal(err, bad[i].err);
    }
    assert_non_null(metrics_counter(reg, "ns:ok_total", "", "a,b,c,d", err, sizeof err));
    assert_null(metrics_gauge(reg, "ns:ok_total", "", NULL, err, sizeof err));
    assert_string_equal(err, "ns:ok_total: already registered");
    assert_null(metrics_histogram(reg, "h", "", "le", NULL, 0, err, sizeof err));
    assert_string_equal(err, "h: histograms reserve label 'le'");
    assert_non_null(metrics_gauge(reg, "le_gauge", "", "le", err, sizeof err));

    static const double unsorted[] = {1, 0.5}, dup[] = {1, 1}, inf[] = {1, INFINITY};
    assert_null(metrics_histogram(reg, "h", "", NULL, unsorted, 2, err, sizeof err));
    assert_string_equal(err, "h: buckets must be finite and strictly increasing");
    assert_null(metrics_histogram(reg, "h", "", NULL, dup, 2, err, sizeof err));
    assert_null(metrics_histogram(reg, "h", "", NULL, inf, 2, err, sizeof err));
}

#define THREADS 4
#define ROUNDS 20000

static metrics_family_t *conc_counter, *conc_hist;

static void *hammer(void *arg)
{
    metrics_series_t *h = metrics_series(conc_hist, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        /* label lookups race with each other and with series creation */
        metrics_add(metrics_series(conc_counter, METRICS_LABELS(i % 2 ? "odd" : "even")), 1);
        metrics_observe(h, 0.5);
    }
    return NULL;
}

static void test_concurrent_updates_are_exact(void **state)
{
    static const double b[] = {1};
    conc_counter = metrics_counter(reg, "c_total", "", "parity", err, sizeof err);
    conc_hist = metrics_histogram(reg, "d", "", NULL, b, 1, err, sizeof err);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    buf_t scratch = BUF_INIT; /* a scrape during the updates must not disturb them */
    assert_int_equal(metrics_render(reg, &scratch), 0);
    buf_free(&scratch);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_render("# HELP c_total \n# TYPE c_total counter\n"
                  "c_total{parity=\"even\"} 40000\n"
                  "c_total{parity=\"odd\"} 40000\n"
                  "# HELP d \n# TYPE d histogram\n"
                  "d_bucket{le=\"1\"} 80000\n"
                  "d_bucket{le=\"+Inf\"} 80000\n"
                  "d_sum 40000\n"
                  "d_count 80000\n");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_unlabelled_counter),
        T(test_labelled_families_in_order),
        T(test_series_are_found_again),
        T(test_escaping_of_help_and_label_values),
        T(test_histogram_default_buckets),
        T(test_labelled_histogram_custom_buckets),
        T(test_histogram_with_only_inf_bucket),
        T(test_value_formatting),
        T(test_callbacks_are_evaluated_at_render),
        T(test_registration_errors),
        T(test_concurrent_updates_are_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
