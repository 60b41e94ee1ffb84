/* Unit tests for services/auth/auth_req.c: the \u0000 escape guard and Bearer parsing.
 * auth_req_fields itself is exercised over HTTP by tests/e2e/test_auth_hostile.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/auth/auth_req.c"

static bool nul(const char *json)
{
    return auth_req_has_nul_escape(json, strlen(json));
}

static void test_nul_escape_detected(void **state)
{
    (void)state;
    assert_true(nul("{\"password\":\"abc\\u0000def\"}"));
    assert_true(nul("{\"a\\u0000\":1}"));  /* in a key too */
    assert_true(nul("[\"\\\\\\u0000\"]")); /* an escaped backslash, then the escape */
    assert_false(nul("{\"password\":\"abc\\\\u0000def\"}")); /* the text \u0000, not a NUL */
    assert_false(nul("{\"a\":\"\\u0041\\u00e4\"}"));
    assert_false(nul("{\"a\":\"u0000\"}"));
    assert_false(nul("{\"a\":0}"));
    assert_true(nul("{\"a\":\"\\\"\\u0000\"}")); /* \" does not end the string */
    assert_false(nul("{\"a\":\"x\"} \\u0000"));  /* outside any string: cJSON rejects it anyway */
    assert_false(auth_req_has_nul_escape("\"\\u000", 6)); /* truncated */
}

static void test_bearer(void **state)
{
    (void)state;
    size_t n;
    const char *t = auth_req_bearer("Bearer abc.def.ghi", &n);
    assert_non_null(t);
    assert_int_equal(n, 11);
    assert_memory_equal(t, "abc.def.ghi", 11);
    t = auth_req_bearer("bearer   xyz  ", &n);
    assert_non_null(t);
    assert_int_equal(n, 3);
    assert_null(auth_req_bearer(NULL, &n));
    assert_null(auth_req_bearer("", &n));
    assert_null(auth_req_bearer("Bearer", &n));
    assert_null(auth_req_bearer("Bearer    ", &n));
    assert_null(auth_req_bearer("Basic dXNlcjpwYXNz", &n));
    assert_null(auth_req_bearer("Bearerabc", &n));
    assert_null(auth_req_bearer("Token abc", &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nul_escape_detected),
        cmocka_unit_test(test_bearer),
    };
    return cmocka_run_group_tests_name("auth_req", tests, NULL, NULL);
}
