/* Unit tests for lib/rfc3339: the forms accepted, the range, and formatting back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rfc3339.h"

static void test_time_parse(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(rfc3339_parse("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(rfc3339_parse("2024-02-29T12:34:56.789Z", &ms), 0);
    assert_int_equal(ms, 1709210096789LL);
    assert_int_equal(rfc3339_parse("2024-02-29T12:34:56.7891234z", &ms), 0);
    assert_int_equal(ms, 1709210096789LL);
    assert_int_equal(rfc3339_parse("2024-02-29t13:34:56.7+01:00", &ms), 0);
    assert_int_equal(ms, 1709210096700LL);
    assert_int_equal(rfc3339_parse("9999-12-31T23:59:59.999Z", &ms), 0);
    const char *bad[] = {"",
                         "2023-02-29T00:00:00Z",   /* not a leap year */
                         "2024-13-01T00:00:00Z",   "2024-00-01T00:00:00Z",
                         "2024-04-31T00:00:00Z",   "2024-01-01T24:00:00Z",
                         "2024-01-01T00:60:00Z",   "2024-01-01T00:00:60Z",
                         "2024-01-01T00:00:00",    "2024-01-01 00:00:00Z",
                         "2024-01-01T00:00:00Zx",  "2024-01-01T00:00:00.Z",
                         "2024-01-01T00:00:00+1:00", "2024-01-01T00:00:00+24:00",
                         "1969-12-31T23:59:59Z",   "1970-01-01T00:30:00+01:00",
                         "10000-01-01T00:00:00Z",  "9999-12-31T23:59:59-01:00",
                         "2024-1-01T00:00:00Z",    "2024-01-01T00:00:00.1234567890Z",
                         "+2024-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rfc3339_parse(bad[i], &ms) == 0) fail_msg("accepted %s", bad[i]);
    assert_int_equal(rfc3339_parse(NULL, &ms), -1);
}

static void test_time_format(void **state)
{
    (void)state;
    char t[RFC3339_LEN + 1];
    rfc3339_format(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
    rfc3339_format(1709210096789LL, t);
    assert_string_equal(t, "2024-02-29T12:34:56.789Z");
    rfc3339_format(253402300799999LL, t);
    assert_string_equal(t, "9999-12-31T23:59:59.999Z");
    /* every day of four years round-trips */
    for (int64_t d = 0; d < 4 * 366; d++) {
        int64_t ms = d * 86400000LL + 12345, back;
        rfc3339_format(ms, t);
        assert_int_equal(rfc3339_parse(t, &back), 0);
        assert_int_equal(back, ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
