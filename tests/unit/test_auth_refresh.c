/* Unit tests for the pure part of services/auth/auth_refresh.c: token shape, randomness,
 * hashing. Rotation and family revocation run against PostgreSQL in tests/e2e. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/auth/auth_db.c"
#include "../../services/auth/auth_refresh.c"

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

static void test_generated_tokens_are_wellformed_and_distinct(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char toks[N][AUTH_REFRESH_LEN + 1];
    for (int i = 0; i < N; i++) {
        auth_refresh_generate(toks[i]);
        assert_int_equal(strlen(toks[i]), AUTH_REFRESH_LEN);
        assert_true(auth_refresh_wellformed(toks[i], AUTH_REFRESH_LEN));
        for (int k = 0; k < AUTH_REFRESH_LEN; k++) {
            char c = toks[i][k];
            assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_');
        }
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(toks[i], toks[j]);
}

static void test_wellformed_rejects_other_shapes(void **state)
{
    (void)state;
    char t[AUTH_REFRESH_LEN + 2];
    auth_refresh_generate(t);
    assert_false(auth_refresh_wellformed(t, AUTH_REFRESH_LEN - 1));
    assert_false(auth_refresh_wellformed("", 0));
    t[5] = '+';
    assert_false(auth_refresh_wellformed(t, AUTH_REFRESH_LEN));
    t[5] = '=';
    assert_false(auth_refresh_wellformed(t, AUTH_REFRESH_LEN));
    t[5] = '\0';
    assert_false(auth_refresh_wellformed(t, AUTH_REFRESH_LEN));
    /* 43 characters whose last one carries non-zero padding bits: not canonical */
    char nc[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB";
    assert_false(auth_refresh_wellformed(nc, AUTH_REFRESH_LEN));
    nc[42] = 'A';
    assert_true(auth_refresh_wellformed(nc, AUTH_REFRESH_LEN));
}

static void test_hash_is_sha256_hex(void **state)
{
    (void)state;
    char hex[AUTH_REFRESH_HASH_HEX + 1];
    auth_refresh_hash("abc", 3, hex); /* FIPS 180-2 test vector */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char t[AUTH_REFRESH_LEN + 1];
    auth_refresh_generate(t);
    auth_refresh_hash(t, AUTH_REFRESH_LEN, hex);
    assert_int_equal(strlen(hex), 64);
    assert_null(strstr(hex, t));
}

static void test_outcome_names(void **state)
{
    (void)state;
    assert_string_equal(auth_rt_outcome_name(AUTH_RT_ROTATED), "rotated");
    assert_string_equal(auth_rt_outcome_name(AUTH_RT_REUSED), "reused");
    assert_string_equal(auth_rt_outcome_name(AUTH_RT_OUTCOME_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_tokens_are_wellformed_and_distinct),
        cmocka_unit_test(test_wellformed_rejects_other_shapes),
        cmocka_unit_test(test_hash_is_sha256_hex),
        cmocka_unit_test(test_outcome_names),
    };
    return cmocka_run_group_tests_name("auth_refresh", tests, setup, NULL);
}
