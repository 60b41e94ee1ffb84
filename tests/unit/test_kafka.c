/* Unit tests for lib/kafka: the property policy each client gets, the caller's overrides, a
 * bad property named in the error, and the rate limit on librdkafka's log lines. No broker is
 * needed: librdkafka connects lazily, and these tests look only at the clients' settings
 * (the relay and notification e2e tests talk to the real broker). kafka.c is included to
 * reach the log callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/kafka.c"

/* The value of property name of k's configuration. */
static const char *prop(kafka_client_t *k, const char *name)
{
    static char v[512];
    size_t n = sizeof v;
    assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(kafka_handle(k)), name, v, &n),
                     RD_KAFKA_CONF_OK);
    return v;
}

/* A broker address nothing listens on: clients are created, never connected. */
#define NOWHERE "127.0.0.1:1"

static void test_producer_policy(void **state)
{
    char err[256];
    kafka_config_t kc = {.brokers = NOWHERE, .client_id = "unit-producer"};
    kafka_client_t *k = kafka_producer_new(&kc, err, sizeof err);
    assert_non_null(k);
    assert_string_equal(prop(k, "enable.idempotence"), "true");
    assert_string_equal(prop(k, "acks"), "-1"); /* librdkafka spells "all" as -1 */
    assert_string_equal(prop(k, "partitioner"), "murmur2_random");
    assert_string_equal(prop(k, "reconnect.backoff.max.ms"), "500");
    assert_string_equal(prop(k, "client.id"), "unit-producer");
    assert_false(kafka_fatal(k));
    kafka_free(k, 0, true);
}

static void test_caller_properties_override_the_policy(void **state)
{
    char err[256];
    const char *const props[][2] = {{"linger.ms", "25"}, {"message.timeout.ms", "4000"}};
    kafka_config_t kc = {.brokers = NOWHERE, .props = props, .nprops = 2};
    kafka_client_t *k = kafka_producer_new(&kc, err, sizeof err);
    assert_non_null(k);
    assert_string_equal(prop(k, "linger.ms"), "25");
    assert_string_equal(prop(k, "message.timeout.ms"), "4000");
    kafka_free(k, 0, true);
}

static void test_consumer_commits_only_by_hand(void **state)
{
    char err[256];
    kafka_config_t kc = {.brokers = NOWHERE, .client_id = "unit-consumer", .group_id = "g1"};
    kafka_client_t *k = kafka_consumer_new(&kc, err, sizeof err);
    assert_non_null(k);
    assert_string_equal(prop(k, "enable.auto.commit"), "false");
    assert_string_equal(prop(k, "enable.auto.offset.store"), "false");
    assert_string_equal(prop(k, "group.id"), "g1");
    assert_string_equal(prop(k, "auto.offset.reset"), "smallest"); /* = earliest */
    kafka_free(k, 0, false);
}

static void test_bad_property_is_named(void **state)
{
    char err[256] = "";
    const char *const props[][2] = {{"no.such.property", "1"}};
    kafka_config_t kc = {.brokers = NOWHERE, .props = props, .nprops = 1};
    assert_null(kafka_producer_new(&kc, err, sizeof err));
    assert_non_null(strstr(err, "no.such.property"));

    const char *const bad_value[][2] = {{"acks", "sometimes"}};
    kc.props = bad_value;
    assert_null(kafka_producer_new(&kc, err, sizeof err));
    assert_non_null(strstr(err, "acks"));
}

static void test_no_brokers_is_an_error(void **state)
{
    char err[256] = "";
    kafka_config_t kc = {.brokers = ""};
    assert_null(kafka_consumer_new(&kc, err, sizeof err));
    assert_non_null(strstr(err, "bootstrap"));
}

/* Counts the lines of a log file. */
static int count_lines(FILE *f, const char *needle)
{
    fflush(f);
    rewind(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    return n;
}

static void test_log_lines_are_rate_limited(void **state)
{
    char err[256];
    /* log_level 0: the client's own connection failures are not logged, so every line the
     * budget lets through is one of ours */
    const char *const quiet[][2] = {{"log_level", "0"}};
    kafka_config_t kc = {.brokers = NOWHERE, .client_id = "unit-log", .props = quiet, .nprops = 1};
    kafka_client_t *k = kafka_producer_new(&kc, err, sizeof err);
    assert_non_null(k);
    FILE *out = tmpfile();
    assert_non_null(out);
    log_set_output(out);
    for (int i = 0; i < 10 * KAFKA_LOG_BURST; i++)
        on_log(kafka_handle(k), 4, "FAIL", "connection refused");
    /* the same error repeated is one warning per KAFKA_LOG_REPEAT_MS (an error code the
     * unconnected client cannot raise itself, so only ours are counted) */
    for (int i = 0; i < 50; i++)
        on_error(kafka_handle(k), RD_KAFKA_RESP_ERR__AUTHENTICATION, "denied", k);
    log_set_output(NULL);
    assert_int_equal(count_lines(out, "\"msg\":\"librdkafka\""), KAFKA_LOG_BURST);
    assert_int_equal(count_lines(out, "_AUTHENTICATION"), 1);
    char why[128];
    assert_true(kafka_last_error(k, why, sizeof why) > 0);
    fclose(out);
    kafka_free(k, 0, true);
}

int main(void)
{
    log_init("test_kafka", LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producer_policy),
        cmocka_unit_test(test_caller_properties_override_the_policy),
        cmocka_unit_test(test_consumer_commits_only_by_hand),
        cmocka_unit_test(test_bad_property_is_named),
        cmocka_unit_test(test_no_brokers_is_an_error),
        cmocka_unit_test(test_log_lines_are_rate_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
