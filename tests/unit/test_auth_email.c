/* Unit tests for services/auth/auth_email.c: the normal form and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/auth/auth_email.c"

static const char *norm(const char *in)
{
    static char out[AUTH_EMAIL_MAX + 1];
    return auth_email_normalize(in, strlen(in), out) == 0 ? out : NULL;
}

static void test_normal_form(void **state)
{
    (void)state;
    assert_string_equal(norm("Alice@Example.COM"), "alice@example.com");
    assert_string_equal(norm("  bob@example.com\t\r\n"), "bob@example.com");
    assert_string_equal(norm("first.last+tag@sub.example.co.uk"),
                        "first.last+tag@sub.example.co.uk");
    assert_string_equal(norm("o'brien@example.com"), "o'brien@example.com");
    assert_string_equal(norm("x@a-b.io"), "x@a-b.io");
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "   ",
        "plain",
        "@example.com",
        "a@",
        "a@@example.com",
        "a@b@example.com",
        "a@example",
        "a@.example.com",
        "a@example..com",
        "a@-example.com",
        "a@example-.com",
        "a@example.123",
        ".a@example.com",
        "a.@example.com",
        "a..b@example.com",
        "a b@example.com",
        "\"a\"@example.com",
        "a@[127.0.0.1]",
        "a(comment)@example.com",
        "a;b@example.com",
        "a,b@example.com",
        "a\\b@example.com",
        "a<b>@example.com",
        "' OR '1'='1",
        "x'); DROP TABLE users;--@example.com",
        "admin@example.com' --",
        "j\xc3\xb6rg@example.com",
        "a@ex\xc3\xa4mple.com",
        "a@example.com\x01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (norm(bad[i])) fail_msg("accepted: %s", bad[i]);
    }
    char out[AUTH_EMAIL_MAX + 1];
    assert_int_equal(auth_email_normalize("a\0b@example.com", 15, out), -1); /* NUL inside */
    assert_string_equal(out, "");
}

static void test_length_limits(void **state)
{
    (void)state;
    char buf[400];
    /* local part: 64 ok, 65 refused */
    memset(buf, 'a', 64);
    strcpy(buf + 64, "@example.com");
    assert_non_null(norm(buf));
    memset(buf, 'a', 65);
    strcpy(buf + 65, "@example.com");
    assert_null(norm(buf));
    /* a domain label of 64 characters is refused */
    strcpy(buf, "a@");
    memset(buf + 2, 'b', 64);
    strcpy(buf + 66, ".com");
    assert_null(norm(buf));
    /* 254 in total is the most */
    strcpy(buf, "a@");
    size_t n = 2;
    while (n + 10 <= 254) {
        memcpy(buf + n, "bbbbbbbbb.", 10);
        n += 10;
    }
    memcpy(buf + n - 1, ".io", 4); /* ends ".io" */
    n = strlen(buf);
    assert_true(n <= 254);
    assert_non_null(norm(buf));
    memset(buf, 'c', 300);
    memcpy(buf + 250, "@x.io", 6);
    assert_null(norm(buf));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_form),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_length_limits),
    };
    return cmocka_run_group_tests_name("auth_email", tests, NULL, NULL);
}
