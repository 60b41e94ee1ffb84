/* Unit tests for services/auth/auth_cfg.c: defaults, bad values named in the error. (The
 * standard settings — AUTH_HTTP_LISTEN, AUTH_DATABASE_URL … — are lib/svc's: test_svc.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/auth/auth_cfg.c"

/* What lib/svc does with the table: load it, then the cross-field checks. */
static int auth_cfg_load(auth_cfg_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (cfg_load(auth_cfg.rows, auth_cfg.n, c, err, errlen) < 0) return -1;
    return auth_cfg.check(c, err, errlen);
}

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
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), 0);
    assert_string_equal(c.grpc_listen.host, "127.0.0.1");
    assert_int_equal(c.grpc_listen.port, 28051);
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
    setenv("AUTH_ACCESS_TTL", "15", 1); /* no unit */
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_ACCESS_TTL"));
    setenv("AUTH_ACCESS_TTL", "1500ms", 1); /* not whole seconds */
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_ACCESS_TTL"));
    unsetenv("AUTH_ACCESS_TTL");
    setenv("AUTH_GRPC_LISTEN", "localhost", 1);
    assert_int_equal(auth_cfg_load(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_GRPC_LISTEN"));
    unsetenv("AUTH_GRPC_LISTEN");
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
