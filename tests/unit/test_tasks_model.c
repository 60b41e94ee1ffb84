/* Unit tests for services/tasks/tasks_model.c: input validation (every field, hostile
 * values), list query parsing, RFC 3339 times, and the task and event JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../services/tasks/tasks_model.c"

static int parse(const char *json, bool create, task_input_t *in, char *err, size_t errlen)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    int rc = tasks_model_input_parse(j, create, in, err, errlen);
    cJSON_Delete(j);
    return rc;
}

static void expect_bad(const char *json, bool create, const char *needle)
{
    task_input_t in;
    char err[160] = "";
    if (parse(json, create, &in, err, sizeof err) != -1) fail_msg("accepted: %s", json);
    if (needle && !strstr(err, needle)) fail_msg("'%s' -> '%s' (want '%s')", json, err, needle);
}

static void test_create_defaults(void **state)
{
    (void)state;
    task_input_t in;
    char err[160];
    assert_int_equal(parse("{\"title\":\"  Buy milk \"}", true, &in, err, sizeof err), 0);
    assert_string_equal(in.title, "Buy milk");
    assert_int_equal(in.priority, TASK_PRIORITY_DEFAULT);
    assert_true(in.has_tags);
    assert_int_equal(in.ntags, 0);
    assert_false(in.has_due);
}

static void test_create_all_fields(void **state)
{
    (void)state;
    task_input_t in;
    char err[160];
    assert_int_equal(parse("{\"title\":\"Ж日本\",\"priority\":5,\"tags\":[\"b\",\"a\",\" b \"],"
                           "\"due_at\":\"2030-01-31T17:00:00+01:00\"}",
                           true, &in, err, sizeof err),
                     0);
    assert_string_equal(in.title, "Ж日本");
    assert_int_equal(in.priority, 5);
    assert_int_equal(in.ntags, 2); /* trimmed, deduplicated, sorted */
    assert_string_equal(in.tags[0], "a");
    assert_string_equal(in.tags[1], "b");
    assert_true(in.has_due && !in.due_null);
    char t[TASK_TIME_LEN + 1];
    rfc3339_format(in.due_ms, t);
    assert_string_equal(t, "2030-01-31T16:00:00.000Z");
}

static void test_create_rejects(void **state)
{
    (void)state;
    expect_bad("[]", true, "object");
    expect_bad("\"x\"", true, "object");
    expect_bad("{}", true, "title is required");
    expect_bad("{\"title\":\"\"}", true, "empty");
    expect_bad("{\"title\":\"   \"}", true, "empty");
    expect_bad("{\"title\":7}", true, "string");
    expect_bad("{\"title\":null}", true, "string");
    expect_bad("{\"title\":\"a\\nb\"}", true, "control");
    expect_bad("{\"title\":\"a\\u007fb\"}", true, "control");
    expect_bad("{\"title\":\"a\\u0085b\"}", true, "control");
    expect_bad("{\"title\":\"x\",\"priority\":0}", true, "priority");
    expect_bad("{\"title\":\"x\",\"priority\":6}", true, "priority");
    expect_bad("{\"title\":\"x\",\"priority\":2.5}", true, "priority");
    expect_bad("{\"title\":\"x\",\"priority\":\"3\"}", true, "priority");
    expect_bad("{\"title\":\"x\",\"priority\":1e300}", true, "priority");
    expect_bad("{\"title\":\"x\",\"priority\":true}", true, "priority");
    expect_bad("{\"title\":\"x\",\"tags\":\"a\"}", true, "tags");
    expect_bad("{\"title\":\"x\",\"tags\":[1]}", true, "tag");
    expect_bad("{\"title\":\"x\",\"tags\":[\"\"]}", true, "tag");
    expect_bad("{\"title\":\"x\",\"tags\":[null]}", true, "tag");
    expect_bad("{\"title\":\"x\",\"due_at\":\"tomorrow\"}", true, "due_at");
    expect_bad("{\"title\":\"x\",\"due_at\":12}", true, "due_at");
    expect_bad("{\"title\":\"x\",\"done\":true}", true, "unknown field 'done'");
    expect_bad("{\"title\":\"x\",\"id\":3}", true, "unknown field 'id'");
    expect_bad("{\"title\":\"x\",\"title\":\"y\"}", true, "twice");
    expect_bad("{\"title\":\"x\",\"\\u0001\\u0002\":1}", true, "unknown field '?" "?'");
}

static void test_limits(void **state)
{
    (void)state;
    char big[TASK_TITLE_MAX * 4 + 64];
    /* 200 three-byte characters: allowed; 201: not */
    big[0] = '\0';
    strcat(big, "{\"title\":\"");
    for (int i = 0; i < TASK_TITLE_MAX; i++) strcat(big, "日");
    strcat(big, "\"}");
    task_input_t in;
    char err[160];
    assert_int_equal(parse(big, true, &in, err, sizeof err), 0);
    big[strlen(big) - 2] = '\0';
    strcat(big, "x\"}");
    expect_bad(big, true, "at most 200");

    char tags[2048] = "{\"title\":\"x\",\"tags\":[";
    for (int i = 0; i <= TASK_TAGS_MAX; i++) {
        char one[16];
        snprintf(one, sizeof one, "%s\"t%d\"", i ? "," : "", i);
        strcat(tags, one);
    }
    strcat(tags, "]}");
    expect_bad(tags, true, "at most 20 tags");

    char longtag[256];
    snprintf(longtag, sizeof longtag, "{\"title\":\"x\",\"tags\":[\"%041d\"]}", 0);
    expect_bad(longtag, true, "at most 40");
}

static void test_patch(void **state)
{
    (void)state;
    task_input_t in;
    char err[160];
    expect_bad("{}", false, "nothing to change");
    assert_int_equal(parse("{\"done\":true}", false, &in, err, sizeof err), 0);
    assert_true(in.has_done && in.done);
    assert_false(in.has_title || in.has_priority || in.has_tags || in.has_due);
    assert_int_equal(parse("{\"due_at\":null,\"tags\":[]}", false, &in, err, sizeof err), 0);
    assert_true(in.has_due && in.due_null);
    assert_true(in.has_tags);
    assert_int_equal(in.ntags, 0);
    expect_bad("{\"done\":\"yes\"}", false, "done");
    expect_bad("{\"done\":1}", false, "done");
}

static void test_query(void **state)
{
    (void)state;
    task_query_t q;
    const char *code;
    char err[160];
    assert_int_equal(tasks_model_query_parse(NULL, NULL, NULL, NULL, NULL, &q, &code, err, sizeof err), 0);
    assert_int_equal(q.done, -1);
    assert_int_equal(q.limit, TASK_LIMIT_DEFAULT);
    assert_false(q.has_tag || q.has_q);
    assert_int_equal(q.cursor, 0);
    assert_int_equal(tasks_model_query_parse("true", "home", "MiLk Ж", "200", "42", &q, &code, err,
                                      sizeof err),
                     0);
    assert_int_equal(q.done, 1);
    assert_string_equal(q.tag, "home");
    assert_string_equal(q.q, "milk Ж");
    assert_int_equal(q.limit, 200);
    assert_int_equal(q.cursor, 42);
    assert_int_equal(tasks_model_query_parse("false", "", "", NULL, NULL, &q, &code, err, sizeof err), 0);
    assert_int_equal(q.done, 0);
    assert_false(q.has_tag || q.has_q);

    const char *bad_done[] = {"yes", "TRUE", "2", ""};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tasks_model_query_parse(bad_done[i], NULL, NULL, NULL, NULL, &q, &code, err,
                                          sizeof err),
                         -1);
        assert_string_equal(code, "invalid_query");
    }
    const char *bad_limit[] = {"0", "201", "-1", "abc", "1e2", "", "99999999999999999999"};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(tasks_model_query_parse(NULL, NULL, NULL, bad_limit[i], NULL, &q, &code, err,
                                          sizeof err),
                         -1);
    const char *bad_cursor[] = {"x", "-5", "0", "1.5", "99999999999999999999", ""};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(tasks_model_query_parse(NULL, NULL, NULL, NULL, bad_cursor[i], &q, &code, err,
                                          sizeof err),
                         -1);
        assert_string_equal(code, "invalid_cursor");
    }
    char longq[TASK_Q_MAX + 2];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    assert_int_equal(tasks_model_query_parse(NULL, NULL, longq, NULL, NULL, &q, &code, err, sizeof err),
                     -1);
    /* the limit is in characters: 200 four-byte characters pass, 201 do not */
    char wideq[4 * (TASK_Q_MAX + 1) + 1] = "";
    for (int i = 0; i < TASK_Q_MAX; i++)
        strcat(wideq, "\xF0\x9F\x94\x91");
    assert_int_equal(tasks_model_query_parse(NULL, NULL, wideq, NULL, NULL, &q, &code, err, sizeof err),
                     0);
    assert_string_equal(q.q, wideq);
    strcat(wideq, "\xF0\x9F\x94\x91");
    assert_int_equal(tasks_model_query_parse(NULL, NULL, wideq, NULL, NULL, &q, &code, err, sizeof err),
                     -1);
    assert_int_equal(tasks_model_query_parse(NULL, NULL, "a\x01", NULL, NULL, &q, &code, err, sizeof err),
                     -1);
    assert_int_equal(tasks_model_query_parse(NULL, "a\tb", NULL, NULL, NULL, &q, &code, err, sizeof err),
                     -1);
}

static void sample(task_t *t)
{
    memset(t, 0, sizeof *t);
    t->id = 42;
    t->user_id = 7;
    strcpy(t->title, "Say \"hi\"\\ Ж");
    t->priority = 2;
    t->done = true;
    t->has_due = true;
    t->due_ms = 1709210096789LL;
    t->created_ms = 1000;
    t->updated_ms = 2000;
    t->has_completed = true;
    t->completed_ms = 2000;
    t->version = 3;
    t->ntags = 2;
    strcpy(t->tags[0], "a");
    strcpy(t->tags[1], "b\"c");
}

static void test_render(void **state)
{
    (void)state;
    task_t t;
    sample(&t);
    buf_t b = BUF_INIT;
    assert_int_equal(tasks_model_render(&b, &t), 0);
    assert_string_equal(buf_str(&b),
                        "{\"id\":42,\"title\":\"Say \\\"hi\\\"\\\\ Ж\",\"priority\":2,\"done\":true,"
                        "\"tags\":[\"a\",\"b\\\"c\"],\"due_at\":\"2024-02-29T12:34:56.789Z\","
                        "\"created_at\":\"1970-01-01T00:00:01.000Z\","
                        "\"updated_at\":\"1970-01-01T00:00:02.000Z\","
                        "\"completed_at\":\"1970-01-01T00:00:02.000Z\",\"version\":3}");
    buf_reset(&b);
    t.has_due = t.has_completed = false;
    t.ntags = 0;
    tasks_model_render(&b, &t);
    assert_non_null(strstr(buf_str(&b), "\"tags\":[],\"due_at\":null"));
    assert_non_null(strstr(buf_str(&b), "\"completed_at\":null"));
    buf_free(&b);
}

static void test_event(void **state)
{
    (void)state;
    task_t t;
    sample(&t);
    buf_t b = BUF_INIT;
    assert_int_equal(tasks_model_event_render(&b, "0b7e8f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
                                       TASK_EV_COMPLETED, &t),
                     0);
    cJSON *j = cJSON_Parse(buf_str(&b));
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring,
                        "0b7e8f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
    assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "task.completed");
    assert_string_equal(cJSON_GetObjectItem(j, "occurred_at")->valuestring,
                        "1970-01-01T00:00:02.000Z");
    assert_int_equal(cJSON_GetObjectItem(j, "user_id")->valueint, 7);
    assert_int_equal(cJSON_GetObjectItem(j, "task_id")->valueint, 42);
    assert_int_equal(cJSON_GetObjectItem(j, "version")->valueint, 3);
    cJSON *task = cJSON_GetObjectItem(j, "task");
    assert_string_equal(cJSON_GetObjectItem(task, "title")->valuestring, "Say \"hi\"\\ Ж");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(task, "tags")), 2);
    cJSON_Delete(j);
    buf_free(&b);
    assert_string_equal(tasks_model_event_name(TASK_EV_CREATED), "task.created");
    assert_string_equal(tasks_model_event_name(TASK_EV_DELETED), "task.deleted");
    assert_string_equal(tasks_model_event_name((task_event_t)99), "?");
}

static void test_tags_normalise(void **state)
{
    (void)state;
    char t[5][TASK_TAG_BYTES + 1] = {"z", "a", "z", "m", "a"};
    size_t n = 5;
    tasks_model_tags_normalise(t, &n);
    assert_int_equal(n, 3);
    assert_string_equal(t[0], "a");
    assert_string_equal(t[1], "m");
    assert_string_equal(t[2], "z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_defaults), cmocka_unit_test(test_create_all_fields),
        cmocka_unit_test(test_create_rejects),  cmocka_unit_test(test_limits),
        cmocka_unit_test(test_patch),           cmocka_unit_test(test_query),
        cmocka_unit_test(test_render),          cmocka_unit_test(test_event),
        cmocka_unit_test(test_tags_normalise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
