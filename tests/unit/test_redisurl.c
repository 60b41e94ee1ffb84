/* Unit tests for lib/redisurl: every form of a Redis URL the services and the console take. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redisurl.h"

static void test_redis_urls(void **state)
{
    redisurl_t a;
    char err[128];
    assert_int_equal(redisurl_parse("redis://127.0.0.1:26379/0", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 26379);
    assert_int_equal(a.db, 0);
    assert_string_equal(a.password, "");
    assert_int_equal(redisurl_parse("redis://:s3cret@h:1/2", &a, err, sizeof err), 0);
    assert_string_equal(a.password, "s3cret");
    assert_string_equal(a.user, "");
    assert_int_equal(a.db, 2);
    assert_int_equal(redisurl_parse("redis://s3cret@h", &a, err, sizeof err), 0);
    assert_string_equal(a.password, "s3cret");
    assert_int_equal(a.port, 6379);
    assert_int_equal(redisurl_parse("redis://ops:p@ss@h:2", &a, err, sizeof err), 0);
    assert_string_equal(a.user, "ops");
    assert_string_equal(a.password, "p@ss");
    assert_string_equal(a.host, "h");
    assert_int_equal(redisurl_parse("http://h", &a, err, sizeof err), -1);
    assert_int_equal(redisurl_parse("redis://h:0", &a, err, sizeof err), -1);
    assert_int_equal(redisurl_parse("redis://h:99999", &a, err, sizeof err), -1);
    assert_int_equal(redisurl_parse("redis://", &a, err, sizeof err), -1);
    assert_int_equal(redisurl_parse("redis://h/x", &a, err, sizeof err), -1);
}

static void test_more_refused(void **state)
{
    redisurl_t a;
    char err[128];
    const char *bad[] = {"redis://:1", "redis://h:70000", "redis://h:1x", "redis://h/-1", "h:6379", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (redisurl_parse(bad[i], &a, err, sizeof err) == 0) fail_msg("accepted %s", bad[i]);
        assert_null(strstr(err, "s3cret"));
    }
    assert_int_equal(redisurl_parse("redis://app:s3cret@cache.local/3", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "cache.local");
    assert_int_equal(a.port, 6379);
    assert_string_equal(a.user, "app");
    assert_int_equal(a.db, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_urls),
        cmocka_unit_test(test_more_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
