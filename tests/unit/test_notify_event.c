/* Unit tests for services/notify/notify_event.c (parsing a task event, the reasons an event
 * is dead-lettered, and the rules of what each event leads to) and the webhook backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/notify/notify_event.c"
#include "../../services/notify/notify_store.c"
#include "../../services/notify/notify_webhook.c"

#define ID "0f8fad5b-d9cb-469f-a165-70867728950e"

/* An event as the outbox relay writes it, with fields replaced by the printf arguments. */
static char *event(const char *type, const char *due, const char *done)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"id\":\"" ID "\",\"type\":\"%s\",\"occurred_at\":\"2026-12-01T10:00:00.000Z\","
             "\"user_id\":7,\"task_id\":42,\"version\":3,\"task\":{\"id\":42,\"title\":\"Buy "
             "milk\",\"priority\":3,\"done\":%s,\"tags\":[],\"due_at\":%s,"
             "\"created_at\":\"2026-12-01T09:00:00.000Z\",\"updated_at\":\"2026-12-01T10:00:00.000Z\","
             "\"completed_at\":null,\"version\":3}}",
             type, done, due);
    return buf;
}

static int parse(const char *v, const char *hid, notify_event_t *ev, char *reason, char *detail)
{
    return notify_event_parse(v, strlen(v), hid, ev, reason, 32, detail, 128);
}

static void test_parses_the_contract_event(void **state)
{
    notify_event_t ev;
    char reason[32], detail[128];
    assert_int_equal(parse(event("task.created", "\"2026-12-02T08:00:00Z\"", "false"), ID, &ev,
                           reason, detail),
                     0);
    assert_string_equal(ev.id, ID);
    assert_int_equal(ev.type, NOTIFY_EV_CREATED);
    assert_int_equal(ev.user_id, 7);
    assert_int_equal(ev.task_id, 42);
    assert_int_equal(ev.version, 3);
    assert_string_equal(ev.title, "Buy milk");
    assert_true(ev.has_due);
    assert_int_equal(ev.due_ms, 1796198400000LL);
    assert_false(ev.done);
    /* the header may be absent; upper-case ids are stored in lower case */
    char upper[2048];
    snprintf(upper, sizeof upper, "%s", event("task.completed", "null", "true"));
    memcpy(strstr(upper, "0f8fad5b"), "0F8FAD5B", 8);
    assert_int_equal(parse(upper, NULL, &ev, reason, detail), 0);
    assert_string_equal(ev.id, ID);
    assert_false(ev.has_due);
    assert_true(ev.done);
}

/* Each poison message gets a stable reason and a detail naming what is wrong. */
static void test_poison_messages_name_their_reason(void **state)
{
    struct {
        const char *value, *hid, *reason, *detail;
    } cases[] = {
        {"", NULL, "invalid_json", NULL},
        {"{not json", NULL, "invalid_json", NULL},
        {"[1,2]", NULL, "not_an_object", NULL},
        {"{\"type\":\"task.created\",\"task\":{}}", NULL, "missing_field", "id"},
        {"{\"id\":\"x\",\"type\":\"task.created\",\"task\":{}}", NULL, "bad_field", "id"},
        {"{\"id\":\"" ID "\",\"type\":\"task.exploded\",\"task\":{}}", NULL, "unknown_type",
         "task.exploded"},
        {"{\"id\":\"" ID "\",\"type\":7,\"task\":{}}", NULL, "bad_field", "type"},
        {"{\"id\":\"" ID "\",\"type\":\"task.created\",\"task\":{},\"user_id\":1,\"task_id\":1}",
         NULL, "missing_field", "version"},
        {"{\"id\":\"" ID "\",\"type\":\"task.created\",\"task\":{},\"user_id\":1,\"task_id\":1,"
         "\"version\":0}",
         NULL, "bad_field", "version"},
        {"{\"id\":\"" ID "\",\"type\":\"task.created\",\"task\":{},\"user_id\":1.5,\"task_id\":1,"
         "\"version\":1}",
         NULL, "bad_field", "user_id"},
        {"{\"id\":\"" ID "\",\"type\":\"task.created\",\"task\":{\"id\":2},\"user_id\":1,"
         "\"task_id\":1,\"version\":1}",
         NULL, "bad_field", "task.id"},
        {"{\"id\":\"" ID "\",\"type\":\"task.created\",\"task\":{\"id\":1,\"done\":false},"
         "\"user_id\":1,\"task_id\":1,\"version\":1}",
         NULL, "missing_field", "task.title"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        notify_event_t ev;
        char reason[32] = "", detail[128] = "";
        if (parse(cases[i].value, cases[i].hid, &ev, reason, detail) == 0)
            fail_msg("case %zu accepted", i);
        if (strcmp(reason, cases[i].reason)) fail_msg("case %zu: reason %s", i, reason);
        if (cases[i].detail && strcmp(detail, cases[i].detail))
            fail_msg("case %zu: detail %s", i, detail);
    }
    notify_event_t ev;
    char reason[32], detail[128];
    assert_int_equal(parse(event("task.updated", "\"tomorrow\"", "false"), NULL, &ev, reason, detail),
                     -1);
    assert_string_equal(detail, "task.due_at");
    assert_int_equal(parse(event("task.updated", "null", "false"),
                           "11111111-1111-1111-1111-111111111111", &ev, reason, detail),
                     -1);
    assert_string_equal(reason, "event_id_mismatch");
    char nul[] = "{\"id\":1}";
    nul[3] = '\0';
    assert_int_equal(notify_event_parse(nul, sizeof nul - 1, NULL, &ev, reason, 32, detail, 128), -1);
    assert_string_equal(reason, "invalid_json");
    static char big[NOTIFY_EVENT_MAX_BYTES + 2];
    memset(big, ' ', sizeof big - 1);
    assert_int_equal(notify_event_parse(big, sizeof big - 1, NULL, &ev, reason, 32, detail, 128), -1);
    assert_string_equal(reason, "too_large");
}

static void test_rules(void **state)
{
    notify_event_t ev;
    notify_action_t a;
    char reason[32], detail[128];
    /* created with a due time: a reminder and a notification saying when */
    parse(event("task.created", "\"2026-12-02T08:00:00Z\"", "false"), NULL, &ev, reason, detail);
    notify_event_rules(&ev, &a);
    assert_true(a.notify);
    assert_string_equal(a.kind, "reminder_scheduled");
    assert_int_equal(a.reminder, NOTIFY_REMINDER_SCHEDULE);
    assert_int_equal(a.remind_ms, ev.due_ms);
    assert_non_null(strstr(a.body, "2026-12-02T08:00:00.000Z"));
    /* created without: nothing */
    parse(event("task.created", "null", "false"), NULL, &ev, reason, detail);
    notify_event_rules(&ev, &a);
    assert_false(a.notify);
    assert_int_equal(a.reminder, NOTIFY_REMINDER_KEEP);
    /* updated: the reminder follows the due time, silently */
    parse(event("task.updated", "\"2026-12-03T08:00:00Z\"", "false"), NULL, &ev, reason, detail);
    notify_event_rules(&ev, &a);
    assert_false(a.notify);
    assert_int_equal(a.reminder, NOTIFY_REMINDER_SCHEDULE);
    parse(event("task.updated", "null", "false"), NULL, &ev, reason, detail);
    notify_event_rules(&ev, &a);
    assert_int_equal(a.reminder, NOTIFY_REMINDER_CANCEL);
    /* completed: "task done", the reminder cancelled */
    parse(event("task.completed", "\"2026-12-03T08:00:00Z\"", "true"), NULL, &ev, reason, detail);
    notify_event_rules(&ev, &a);
    assert_true(a.notify);
    assert_string_equal(a.kind, "task_done");
    assert_string_equal(a.title, "Task done: Buy milk");
    assert_int_equal(a.reminder, NOTIFY_REMINDER_CANCEL);
    /* deleted: the reminder cancelled, nothing to tell */
    parse(event("task.deleted", "null", "false"), NULL, &ev, reason, detail);
    notify_event_rules(&ev, &a);
    assert_false(a.notify);
    assert_int_equal(a.reminder, NOTIFY_REMINDER_CANCEL);
}

static void test_webhook_backoff(void **state)
{
    assert_int_equal(notify_webhook_backoff_ms(1000, 1), 1000);
    assert_int_equal(notify_webhook_backoff_ms(1000, 2), 2000);
    assert_int_equal(notify_webhook_backoff_ms(1000, 4), 8000);
    assert_int_equal(notify_webhook_backoff_ms(1000, 60), 3600000); /* capped at an hour */
    assert_int_equal(notify_webhook_backoff_ms(0, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_the_contract_event),
        cmocka_unit_test(test_poison_messages_name_their_reason),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_webhook_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
