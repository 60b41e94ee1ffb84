/* Unit tests for lib/log: line shape, typed fields, escaping, levels, trace ids,
 * and whole lines under concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "log.h"
#include "trace.h"

static FILE *out;

static int capture(void **state)
{
    out = tmpfile();
    assert_non_null(out);
    log_set_output(out);
    log_init("test-service", LOG_DEBUG);
    return 0;
}

static int release(void **state)
{
    log_set_output(NULL);
    fclose(out);
    return 0;
}

/* Everything written so far (caller frees). */
static char *captured(void)
{
    fflush(out);
    long n = ftell(out);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    rewind(out);
    assert_int_equal(fread(s, 1, (size_t)n, out), (size_t)n);
    return s;
}

/* The single line written so far, parsed. */
static cJSON *only_line(void)
{
    char *s = captured();
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, ""); /* exactly one line, newline-terminated */
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    free(s);
    return j;
}

static const char *str(cJSON *j, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static void test_line_has_fixed_fields_first(void **state)
{
    log_info("listening", LOG_STR("addr", "0.0.0.0"), LOG_INT("port", 8081));
    char *s = captured();
    assert_memory_equal(s, "{\"ts\":\"", 7);
    const char *rest =
        strstr(s, "\",\"level\":\"info\",\"service\":\"test-service\",\"msg\":\"listening\"");
    assert_ptr_equal(rest, s + 7 + 24);
    free(s);

    cJSON *j = only_line();
    const char *ts = str(j, "ts");
    /* 2024-05-01T12:00:00.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    assert_string_equal(str(j, "addr"), "0.0.0.0");
    assert_int_equal(cJSON_GetObjectItem(j, "port")->valuedouble, 8081);
    assert_null(cJSON_GetObjectItem(j, "trace_id")); /* no span: no ids */
    assert_null(cJSON_GetObjectItem(j, "span_id"));
    cJSON_Delete(j);
}

static void test_no_fields_at_all(void **state)
{
    log_warn("plain");
    cJSON *j = only_line();
    assert_string_equal(str(j, "level"), "warn");
    assert_string_equal(str(j, "msg"), "plain");
    assert_int_equal(cJSON_GetArraySize(j), 4);
    cJSON_Delete(j);
}

static void test_typed_fields(void **state)
{
    log_error("types", LOG_INT("neg", -9007199254740993LL), LOG_DOUBLE("ratio", 0.25),
              LOG_BOOL("ok", true), LOG_BOOL("bad", false), LOG_DOUBLE("nan", NAN),
              LOG_DOUBLE("inf", INFINITY), LOG_STR("nothing", NULL));
    char *s = captured();
    assert_non_null(strstr(s, "\"neg\":-9007199254740993,\"ratio\":0.25,\"ok\":true,\"bad\":false,"
                              "\"nan\":null,\"inf\":null,\"nothing\":null}\n"));
    free(s);
    cJSON_Delete(only_line()); /* and it is valid JSON */
}

static void test_strings_are_escaped(void **state)
{
    log_info("line1\nline2 \"quoted\" \\ \x01 bad\xFF utf8 Привет",
             LOG_STR("k\"ey", "tab\there"));
    char *s = captured();
    assert_non_null(strstr(s, "\"msg\":\"line1\\nline2 \\\"quoted\\\" \\\\ \\u0001 bad\xEF\xBF\xBD "
                              "utf8 Привет\""));
    assert_non_null(strstr(s, "\"k\\\"ey\":\"tab\\there\""));
    free(s);
    cJSON *j = only_line();
    assert_string_equal(str(j, "k\"ey"), "tab\there");
    cJSON_Delete(j);
}

static void test_levels_below_minimum_are_dropped(void **state)
{
    log_init("test-service", LOG_WARN);
    log_debug("no");
    log_info("no");
    log_printf(LOG_INFO, "no %d", 1);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    log_error("yes");
    cJSON *j = only_line();
    assert_string_equal(str(j, "msg"), "yes");
    assert_string_equal(str(j, "level"), "error");
    cJSON_Delete(j);
}

static void test_printf_variant_formats_the_message(void **state)
{
    log_printf(LOG_DEBUG, "retry %d of %s", 3, "db");
    cJSON *j = only_line();
    assert_string_equal(str(j, "msg"), "retry 3 of db");
    assert_string_equal(str(j, "level"), "debug");
    cJSON_Delete(j);
}

static void test_level_parse_and_name(void **state)
{
    log_level_t l = LOG_ERROR;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("INFO", &l), 0);
    assert_int_equal(l, LOG_INFO);
    assert_int_equal(log_level_parse("Warning", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_ERROR);
    assert_int_equal(log_level_parse("verbose", &l), -1);
    assert_int_equal(log_level_parse("", &l), -1);
    assert_int_equal(log_level_parse(NULL, &l), -1);
    assert_int_equal(l, LOG_ERROR);
    assert_string_equal(log_level_name(LOG_WARN), "warn");
    assert_string_equal(log_level_name((log_level_t)42), "unknown");
}

static void test_active_span_ids_are_included(void **state)
{
    trace_span_t *sp = trace_span_start("work", TRACE_KIND_INTERNAL, NULL);
    trace_span_activate(sp);
    log_info("inside");
    trace_ctx_t c;
    assert_int_equal(trace_span_ctx(sp, &c), 0);
    trace_span_end(sp);
    log_info("after");

    char tp[TRACE_PARENT_LEN + 1];
    trace_parent_format(&c, tp); /* 00-<trace>-<span>-01 */
    char *s = captured();
    char *second = strchr(s, '\n') + 1;
    second[-1] = '\0';
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_memory_equal(str(j, "trace_id"), tp + 3, 32);
    assert_memory_equal(str(j, "span_id"), tp + 36, 16);
    assert_int_equal(strlen(str(j, "span_id")), 16);
    cJSON_Delete(j);
    assert_null(strstr(second, "trace_id"));
    free(s);
}

#define THREADS 4
#define LINES 300

static void *writer(void *arg)
{
    char msg[3000]; /* long lines make interleaving likely if writes were split */
    memset(msg, 'a' + (int)(intptr_t)arg, sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    for (int i = 0; i < LINES; i++)
        log_info(msg, LOG_INT("thread", (intptr_t)arg), LOG_INT("i", i));
    return NULL;
}

static void test_concurrent_lines_never_interleave(void **state)
{
    pthread_t t[THREADS];
    for (intptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *s = captured();
    int lines = 0;
    for (char *line = s, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        int th = cJSON_GetObjectItem(j, "thread")->valueint;
        const char *msg = str(j, "msg");
        assert_int_equal(strlen(msg), 2999);
        assert_int_equal(msg[0], 'a' + th);
        assert_int_equal(msg[2998], 'a' + th);
        cJSON_Delete(j);
        lines++;
    }
    assert_int_equal(lines, THREADS * LINES);
    free(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, capture, release)
    const struct CMUnitTest tests[] = {
        T(test_line_has_fixed_fields_first),
        T(test_no_fields_at_all),
        T(test_typed_fields),
        T(test_strings_are_escaped),
        T(test_levels_below_minimum_are_dropped),
        T(test_printf_variant_formats_the_message),
        T(test_level_parse_and_name),
        T(test_active_span_ids_are_included),
        T(test_concurrent_lines_never_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
