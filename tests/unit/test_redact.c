/* Unit tests for lib/redact: every form a credential can take in the services' settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

/* redact(in) must give want and return rc. */
static void check(const char *in, const char *want, int rc)
{
    char out[256];
    assert_int_equal(redact(in, out, sizeof out), rc);
    assert_string_equal(out, want);
}

static void test_url_userinfo(void **state)
{
    check("postgres://todo:s3cret@db.local:5432/tasks", "postgres://todo:***@db.local:5432/tasks", 1);
    /* the last '@' ends the userinfo: a password may contain '@' and ':' */
    check("postgresql://u:p@ss:w@h/db", "postgresql://u:***@h/db", 1);
    check("postgres://todo@db/tasks?sslmode=disable", "postgres://todo@db/tasks?sslmode=disable", 0);
    check("postgres://h:5432", "postgres://h:5432", 0);
    check("http://user:pw@hooks.local/x", "http://user:***@hooks.local/x", 1);
}

static void test_url_query_password(void **state)
{
    check("postgres://u@h/db?password=xyz&sslmode=require",
          "postgres://u@h/db?password=***&sslmode=require", 1);
    check("postgres://u@h/db?sslmode=require&PASSWORD=xyz", "postgres://u@h/db?sslmode=require&PASSWORD=***", 1);
    check("postgres://u@h/db?sslpassword=k", "postgres://u@h/db?sslpassword=***", 1);
    check("postgres://u@h/db?passwordish=1", "postgres://u@h/db?passwordish=1", 0);
}

/* conninfo comes back in libpq's keyword order, each value quoted: look for the pieces. */
static void check_conninfo(const char *in, const char *const *want, int rc)
{
    char out[256];
    assert_int_equal(redact(in, out, sizeof out), rc);
    for (; *want; want++) assert_non_null(strstr(out, *want));
}

static void test_conninfo(void **state)
{
    check_conninfo("host=h password=topsecret dbname=d",
                   (const char *const[]){"host='h'", "password='***'", "dbname='d'", NULL}, 1);
    check_conninfo("host = h  password = 'a b\\' c'",
                   (const char *const[]){"host='h'", "password='***'", NULL}, 1);
    check_conninfo("host=h dbname=d", (const char *const[]){"host='h'", "dbname='d'", NULL}, 0);
    char out[256];
    redact("host=h password=topsecret", out, sizeof out);
    assert_null(strstr(out, "topsecret"));
}

static void test_redis(void **state)
{
    check("redis://S3cret@h:6379/0", "redis://***@h:6379/0", 1);
    check("redis://:S3cret@h:6379/0", "redis://:***@h:6379/0", 1);
    check("redis://default:S3cret@h:6379/0", "redis://default:***@h:6379/0", 1);
    check("rediss://S3cret@h", "rediss://***@h", 1);
    check("redis://h:6379/0", "redis://h:6379/0", 0);
}

static void test_unknown_forms_are_hidden_whole(void **state)
{
    check("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE==\n-----END EC PRIVATE KEY-----", "***", 1);
    check("just-a-token", "***", 1);
    check("host='unterminated password=x", "***", 1);
    check("", "", 0);
}

static void test_short_buffer_never_leaks_a_prefix(void **state)
{
    char small[12];
    assert_int_equal(redact("postgres://todo:s3cret@db.local/tasks", small, sizeof small), -1);
    assert_string_equal(small, "***");
    assert_int_equal(redact("x", small, 3), -1); /* no room even for "***" */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_userinfo),
        cmocka_unit_test(test_url_query_password),
        cmocka_unit_test(test_conninfo),
        cmocka_unit_test(test_redis),
        cmocka_unit_test(test_unknown_forms_are_hidden_whole),
        cmocka_unit_test(test_short_buffer_never_leaks_a_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
