/* Unit tests for services/auth/auth_pass.c: the password policy and argon2id hashing
 * (at the lowest cost, so the suite stays fast), rehash detection, the decoy verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/auth/auth_pass.c"

#define OPS 1
#define MEM_KIB 8192

static int setup(void **state)
{
    (void)state;
    char err[128];
    return auth_pass_init(OPS, MEM_KIB, 2, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    auth_pass_shutdown();
    return 0;
}

static void test_policy_length_bounds(void **state)
{
    (void)state;
    char pw[1100];
    memset(pw, 'a', sizeof pw);
    assert_non_null(auth_pass_policy(pw, 0));
    assert_non_null(auth_pass_policy(pw, 7));
    assert_null(auth_pass_policy(pw, 8));
    assert_null(auth_pass_policy(pw, 1024));
    assert_non_null(auth_pass_policy(pw, 1025));
}

/* The bounds count characters, not bytes: "äöüß" is 8 bytes but 4 characters. */
static void test_policy_counts_characters(void **state)
{
    (void)state;
    assert_non_null(auth_pass_policy("\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f", 8));
    static char wide[4 * 1025 + 1];
    for (int i = 0; i < 1025; i++)
        memcpy(wide + 4 * i, "\xf0\x9f\x94\x91", 4); /* 🔑 */
    assert_null(auth_pass_policy(wide, 4 * 8));
    assert_non_null(auth_pass_policy(wide, 4 * 7));
    assert_null(auth_pass_policy(wide, 4 * 1024));
    assert_non_null(auth_pass_policy(wide, 4 * 1025));
}

static void test_policy_utf8_and_controls(void **state)
{
    (void)state;
    const char *ok =
        "p\xc3\xa4ssw\xc3\xb6rd \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91"; /* äö 日本 🔑 */
    assert_null(auth_pass_policy(ok, strlen(ok)));
    const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"abc\0defgh", 9},                /* NUL */
        {"abcdefg\x01h", 9},              /* control */
        {"abcdefgh\x7f", 9},              /* DEL */
        {"abcdefgh\n", 9},                /* newline */
        {"abcdefgh\xff", 9},              /* not UTF-8 */
        {"abcdefgh\xc3", 9},              /* truncated sequence */
        {"abcdefgh\xc0\xaf", 10},         /* overlong '/' */
        {"abcdefgh\xed\xa0\x80", 11},     /* surrogate U+D800 */
        {"abcdefgh\xf4\x90\x80\x80", 12}, /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_non_null(auth_pass_policy(bad[i].s, bad[i].n));
}

static void test_hash_and_verify(void **state)
{
    (void)state;
    char h[AUTH_PASS_HASH_MAX], h2[AUTH_PASS_HASH_MAX];
    assert_int_equal(auth_pass_hash("correct horse", 13, h), 0);
    assert_memory_equal(h, "$argon2id$", 10);
    assert_null(strstr(h, "correct horse"));
    assert_true(auth_pass_verify(h, "correct horse", 13));
    assert_false(auth_pass_verify(h, "correct horsf", 13));
    assert_false(auth_pass_verify(h, "correct hors", 12));
    assert_false(auth_pass_verify(h, "correct horse ", 14));
    /* binary-safe: a password with a NUL inside is not its prefix */
    assert_int_equal(auth_pass_hash("abcd\0efgh", 9, h2), 0);
    assert_false(auth_pass_verify(h2, "abcd", 4));
    assert_true(auth_pass_verify(h2, "abcd\0efgh", 9));
    /* salted: the same password hashes differently */
    assert_int_equal(auth_pass_hash("correct horse", 13, h2), 0);
    assert_string_not_equal(h, h2);
}

static void test_non_argon2id_hash_never_matches(void **state)
{
    (void)state;
    char h[AUTH_PASS_HASH_MAX];
    assert_int_equal(auth_pass_hash("password1", 9, h), 0);
    char i[AUTH_PASS_HASH_MAX];
    snprintf(i, sizeof i, "$argon2i$%s", h + 10); /* argon2i with the same tail */
    assert_false(auth_pass_verify(i, "password1", 9));
    assert_false(auth_pass_verify("", "password1", 9));
    assert_false(auth_pass_verify("$argon2id$garbage", "password1", 9));
}

static void test_needs_rehash_follows_configured_cost(void **state)
{
    (void)state;
    char h[AUTH_PASS_HASH_MAX], err[128];
    assert_int_equal(auth_pass_hash("password1", 9, h), 0);
    assert_false(auth_pass_needs_rehash(h));
    assert_int_equal(auth_pass_init(OPS + 1, MEM_KIB, 2, err, sizeof err), 0);
    assert_true(auth_pass_needs_rehash(h));           /* the cost went up: upgrade at next login */
    assert_true(auth_pass_verify(h, "password1", 9)); /* the old hash still verifies */
    char h2[AUTH_PASS_HASH_MAX];
    assert_int_equal(auth_pass_hash("password1", 9, h2), 0);
    assert_false(auth_pass_needs_rehash(h2));
    assert_int_equal(auth_pass_init(OPS, MEM_KIB, 2, err, sizeof err), 0);
}

static void test_decoy_verify_is_always_false(void **state)
{
    (void)state;
    assert_false(auth_pass_verify_none("password1", 9));
    assert_false(auth_pass_verify_none("", 0));
}

static void test_init_rejects_bad_costs(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(auth_pass_init(0, MEM_KIB, 1, err, sizeof err), -1);
    assert_int_equal(auth_pass_init(OPS, 1, 1, err, sizeof err), -1);
    assert_int_equal(auth_pass_init(OPS, MEM_KIB, 2, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_length_bounds),
        cmocka_unit_test(test_policy_counts_characters),
        cmocka_unit_test(test_policy_utf8_and_controls),
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_non_argon2id_hash_never_matches),
        cmocka_unit_test(test_needs_rehash_follows_configured_cost),
        cmocka_unit_test(test_decoy_verify_is_always_false),
        cmocka_unit_test(test_init_rejects_bad_costs),
    };
    return cmocka_run_group_tests_name("auth_pass", tests, setup, teardown);
}
