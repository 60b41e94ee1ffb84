/* Unit tests for lib/buf: growth, formatting and JSON string escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

/* The JSON encoding of s, for comparing with an expected literal. */
static const char *json(buf_t *b, const char *s)
{
    buf_reset(b);
    assert_int_equal(buf_json_str(b, s), 0);
    return buf_str(b);
}

static void test_empty_buffer_reads_as_empty_string(void **state)
{
    buf_t b = BUF_INIT;
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_appends_grow_and_stay_terminated(void **state)
{
    buf_t b = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 1000);
    assert_int_equal(strlen(buf_str(&b)), 1000);
    assert_int_equal(buf_puts(&b, "xyz"), 0);
    assert_int_equal(buf_append(&b, "12\0" "3", 4), 0); /* embedded NUL is kept */
    assert_int_equal(b.len, 1007);
    assert_memory_equal(b.data + 1000, "xyz12\0" "3", 7);
    assert_false(b.oom);
    buf_free(&b);
    assert_null(b.data);
}

static void test_printf_appends_formatted_text(void **state)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "n=");
    assert_int_equal(buf_printf(&b, "%d/%s/%05.1f", 42, "x", 3.14159), 0);
    assert_string_equal(buf_str(&b), "n=42/x/003.1");
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(buf_printf(&b, "%s!", big), 0);
    assert_int_equal(b.len, 12 + 4999 + 1);
    assert_int_equal(b.data[b.len - 1], '!');
    buf_free(&b);
}

static void test_reset_keeps_memory_and_clears(void **state)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "hello");
    char *before = b.data;
    buf_reset(&b);
    assert_string_equal(buf_str(&b), "");
    buf_puts(&b, "hi");
    assert_ptr_equal(b.data, before);
    assert_string_equal(buf_str(&b), "hi");
    buf_free(&b);
}

static void test_double_is_shortest_exact_text(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {{0.1, "0.1"},          {1.0 / 3, "0.3333333333333333"},
                 {0.30000000000000004, "0.30000000000000004"},
                 {42, "42"},            {-2.5, "-2.5"},
                 {1e300, "1e+300"},     {5e-324, "4.94065645841247e-324"}};
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&b);
        assert_int_equal(buf_double(&b, cases[i].v), 0);
        assert_string_equal(buf_str(&b), cases[i].text);
    }
    buf_free(&b);
}

static void test_json_escapes_quotes_backslashes_and_controls(void **state)
{
    buf_t b = BUF_INIT;
    assert_string_equal(json(&b, "plain"), "\"plain\"");
    assert_string_equal(json(&b, ""), "\"\"");
    assert_string_equal(json(&b, "a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_string_equal(json(&b, "\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
    assert_string_equal(json(&b, "\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
    assert_string_equal(json(&b, "</script>"), "\"</script>\"");
    buf_reset(&b);
    assert_int_equal(buf_json_str(&b, NULL), 0);
    assert_string_equal(buf_str(&b), "null");
    buf_free(&b);
}

static void test_json_keeps_valid_utf8(void **state)
{
    buf_t b = BUF_INIT;
    const char *s = "Привет 日本 \xF0\x9F\x98\x80 \xC2\xA9 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";
    buf_reset(&b);
    buf_json_str(&b, s);
    assert_int_equal(b.len, strlen(s) + 2);
    assert_memory_equal(b.data + 1, s, strlen(s));
    buf_free(&b);
}

static void test_json_replaces_invalid_utf8(void **state)
{
    buf_t b = BUF_INIT;
#define R "\xEF\xBF\xBD"
    assert_string_equal(json(&b, "a\xFF" "b"), "\"a" R "b\"");             /* never valid */
    assert_string_equal(json(&b, "\x80"), "\"" R "\"");                   /* lone continuation */
    assert_string_equal(json(&b, "\xC0\xAF"), "\"" R R "\"");             /* overlong '/' */
    assert_string_equal(json(&b, "\xE0\x80\xAF"), "\"" R R R "\"");       /* overlong 3-byte */
    assert_string_equal(json(&b, "\xED\xA0\x80"), "\"" R R R "\"");       /* surrogate D800 */
    assert_string_equal(json(&b, "\xF4\x90\x80\x80"), "\"" R R R R "\""); /* above U+10FFFF */
    assert_string_equal(json(&b, "x\xE6\x97"), "\"x" R R "\"");           /* truncated at end */
    assert_string_equal(json(&b, "\xE6\x97" "a"), "\"" R R "a\"");        /* truncated mid */
#undef R
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_buffer_reads_as_empty_string),
        cmocka_unit_test(test_appends_grow_and_stay_terminated),
        cmocka_unit_test(test_printf_appends_formatted_text),
        cmocka_unit_test(test_reset_keeps_memory_and_clears),
        cmocka_unit_test(test_double_is_shortest_exact_text),
        cmocka_unit_test(test_json_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_json_keeps_valid_utf8),
        cmocka_unit_test(test_json_replaces_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
