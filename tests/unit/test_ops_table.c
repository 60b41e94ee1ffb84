/* Unit tests for lib/ops/ops_table: display widths, sanitising, and fitting a table to the
 * terminal width. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops_table.h"

/* Renders t at width into a malloc'd string. */
static char *render(ops_table_t *t, int width, bool color)
{
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    ops_table_print(t, f, width, color);
    fclose(f);
    return txt;
}

static void test_display_width(void **state)
{
    assert_int_equal(ops_display_width("abc"), 3);
    assert_int_equal(ops_display_width("задача"), 6);      /* Cyrillic: one column each */
    assert_int_equal(ops_display_width("任务"), 4);         /* CJK: two columns each */
    assert_int_equal(ops_display_width("e\xcc\x81"), 1);  /* e + combining acute */
    assert_int_equal(ops_display_width("\xff\xfe"), 2);   /* invalid bytes count one each */
    assert_int_equal(ops_display_width(""), 0);
}

static void test_sanitize_neutralises_terminal_controls(void **state)
{
    char *s = ops_sanitize("ok\x1b[2Jwipe\x07\x9b" "bell\ttab\xc0\xaf");
    assert_string_equal(s, "ok?[2Jwipe??bell?tab??");
    free(s);
    s = ops_sanitize("ünïcødé ✓ 任务");
    assert_string_equal(s, "ünïcødé ✓ 任务");
    free(s);
    s = ops_sanitize(NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_columns_align_and_trailing_space_is_trimmed(void **state)
{
    static const char *const cols[] = {"ID", "TITLE", "N"};
    ops_table_t *t = ops_table_new(cols, 3);
    ops_table_right(t, 0);
    ops_table_add(t, (const char *const[]){"7", "short", "1"});
    ops_table_add(t, (const char *const[]){"1234", "задача", ""});
    char *out = render(t, 0, false);
    assert_string_equal(out, "  ID  TITLE   N\n"
                             "   7  short   1\n"
                             "1234  задача\n");
    free(out);
    ops_table_free(t);
}

static void test_flexible_column_is_cut_first(void **state)
{
    static const char *const cols[] = {"ID", "TITLE", "TAGS"};
    ops_table_t *t = ops_table_new(cols, 3);
    ops_table_flex(t, 1);
    ops_table_add(t, (const char *const[]){"1", "a rather long title that will not fit", "ops"});
    char *out = render(t, 24, false);
    /* 24 columns: ID(2) + 2 + TITLE + 2 + TAGS(4) → TITLE gets 14, ending in "…" */
    assert_string_equal(out, "ID  TITLE           TAGS\n"
                             "1   a rather long…  ops\n");
    free(out);
    ops_table_free(t);
}

static void test_wide_characters_are_cut_on_column_boundaries(void **state)
{
    static const char *const cols[] = {"T"};
    ops_table_t *t = ops_table_new(cols, 1);
    ops_table_flex(t, 1 - 1);
    ops_table_add(t, (const char *const[]){"任务任务任务"});
    char *out = render(t, 6, false);
    assert_string_equal(out, "T\n任务…\n"); /* 4 columns of CJK + the ellipsis */
    free(out);
    ops_table_free(t);
}

static void test_color_only_when_asked(void **state)
{
    static const char *const cols[] = {"A"};
    ops_table_t *t = ops_table_new(cols, 1);
    char *out = render(t, 0, true);
    assert_string_equal(out, "\033[1mA\033[0m\n");
    free(out);
    out = render(t, 0, false);
    assert_string_equal(out, "A\n");
    free(out);
    ops_table_free(t);
}

static void test_width_from_columns_env(void **state)
{
    setenv("COLUMNS", "77", 1);
    assert_int_equal(ops_term_width(stdout), 77);
    unsetenv("COLUMNS");
    FILE *f = tmpfile();
    assert_int_equal(ops_term_width(f), 0); /* not a terminal: no limit */
    assert_false(ops_use_color(f));
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_display_width),
        cmocka_unit_test(test_sanitize_neutralises_terminal_controls),
        cmocka_unit_test(test_columns_align_and_trailing_space_is_trimmed),
        cmocka_unit_test(test_flexible_column_is_cut_first),
        cmocka_unit_test(test_wide_characters_are_cut_on_column_boundaries),
        cmocka_unit_test(test_color_only_when_asked),
        cmocka_unit_test(test_width_from_columns_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
