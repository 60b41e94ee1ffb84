/* Unit tests for services/auth/auth_cfg.c: defaults, the required database URL, bad values
 * named in the error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/auth/auth_cfg.c"

static const char *const vars[] = {
    "AUTH_HTTP_LISTEN", "AUTH_GRPC_LISTEN", "AUTH_DATABASE_URL",       "AUTH_ACCESS_TTL",
    "AUTH_REFRESH_TTL", "AUTH_ISSUER",      "AUTH_LOGIN_MAX_FAILURES", "AUTH_JWT_PRIVATE_KEY"};

static int clean(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    auth_cfg_t c;
    char err[256];
    setenv("AUTH_DATABASE_URL", "postgres://u:p@127.0.0.1:5432/auth", 1);
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), 0);
    assert_string_equal(c.http_listen, "127.0.0.1:28081");
    assert_string_equal(c.grpc_listen, "127.0.0.1:28051");
    assert_int_equal(c.access_ttl_ms, 15 * 60 * 1000);
    assert_int_equal(c.refresh_ttl_ms, 30LL * 86400 * 1000);
    assert_int_equal(c.login_max_failures, 5);
    assert_string_equal(c.jwt_private_key, "");
}

static void test_required_and_bad_values_named(void **state)
{
    (void)state;
    auth_cfg_t c;
    char err[256];
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_DATABASE_URL"));
    setenv("AUTH_DATABASE_URL", "postgres://x@y/z", 1);
    setenv("AUTH_ACCESS_TTL", "15", 1); /* no unit */
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_ACCESS_TTL"));
    setenv("AUTH_ACCESS_TTL", "1500ms", 1); /* not whole seconds */
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_ACCESS_TTL"));
    unsetenv("AUTH_ACCESS_TTL");
    setenv("AUTH_HTTP_LISTEN", "localhost", 1);
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_HTTP_LISTEN"));
    unsetenv("AUTH_HTTP_LISTEN");
    setenv("AUTH_LOGIN_MAX_FAILURES", "0", 1);
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_LOGIN_MAX_FAILURES"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clean, clean),
        cmocka_unit_test_setup_teardown(test_required_and_bad_values_named, clean, clean),
    };
    return cmocka_run_group_tests_name("auth_cfg", tests, NULL, NULL);
}
