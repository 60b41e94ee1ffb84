/* notify_event — parsing a task event and the rules of what it leads to; see notify_event.h. */
#include "notify_event.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rfc3339.h"

static const char *const type_names[] = {"task.created", "task.updated", "task.completed",
                                         "task.deleted"};

const char *notify_event_type_name(notify_ev_type_t t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "unknown";
}

/* ==== parsing =========================================================================== */

static int refuse(char *reason, size_t rlen, char *detail, size_t dlen, const char *why,
                const char *what)
{
    snprintf(reason, rlen, "%s", why);
    snprintf(detail, dlen, "%s", what);
    return -1;
}

/* A positive integer member that fits an int64 exactly (JSON numbers are doubles in cJSON;
 * ids and versions stay far below 2^53). */
static int positive_int(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) return -2;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 1 ||
        v->valuedouble > 9007199254740991.0 || v->valuedouble != floor(v->valuedouble))
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36) return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

int notify_event_parse(const char *value, size_t len, const char *header_event_id,
                       notify_event_t *ev, char *reason, size_t rlen, char *detail, size_t dlen)
{
    memset(ev, 0, sizeof *ev);
    if (!value || len == 0) return refuse(reason, rlen, detail, dlen, "invalid_json", "empty value");
    if (len > NOTIFY_EVENT_MAX_BYTES)
        return refuse(reason, rlen, detail, dlen, "too_large", "the value is over 256 KiB");
    if (memchr(value, '\0', len))
        return refuse(reason, rlen, detail, dlen, "invalid_json", "a NUL byte in the value");
    cJSON *root = cJSON_ParseWithLength(value, len);
    if (!root) return refuse(reason, rlen, detail, dlen, "invalid_json", "not JSON");
    int rc = -1;
    const char *field = NULL;
    if (!cJSON_IsObject(root)) {
        refuse(reason, rlen, detail, dlen, "not_an_object", "the value is not a JSON object");
        goto out;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task");
    if (!id) field = "id";
    else if (!type) field = "type";
    else if (!task) field = "task";
    if (field) {
        refuse(reason, rlen, detail, dlen, "missing_field", field);
        goto out;
    }
    if (!cJSON_IsString(id) || !is_uuid(id->valuestring)) {
        refuse(reason, rlen, detail, dlen, "bad_field", "id");
        goto out;
    }
    for (int i = 0; i < 36; i++) /* stored and compared in lower case */
        ev->id[i] = (char)(id->valuestring[i] | (id->valuestring[i] >= 'A' ? 0x20 : 0));
    if (header_event_id && strcasecmp(header_event_id, ev->id) != 0) {
        refuse(reason, rlen, detail, dlen, "event_id_mismatch", "the event_id header differs from id");
        goto out;
    }
    if (!cJSON_IsString(type)) {
        refuse(reason, rlen, detail, dlen, "bad_field", "type");
        goto out;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (!strcmp(type->valuestring, type_names[i])) {
            ev->type = (notify_ev_type_t)i;
            known = true;
        }
    if (!known) {
        refuse(reason, rlen, detail, dlen, "unknown_type", type->valuestring);
        goto out;
    }
    const char *ints[] = {"user_id", "task_id", "version"};
    int64_t *dst[] = {&ev->user_id, &ev->task_id, &ev->version};
    for (int i = 0; i < 3; i++) {
        int r = positive_int(root, ints[i], dst[i]);
        if (r < 0) {
            refuse(reason, rlen, detail, dlen, r == -2 ? "missing_field" : "bad_field", ints[i]);
            goto out;
        }
    }
    if (!cJSON_IsObject(task)) {
        refuse(reason, rlen, detail, dlen, "bad_field", "task");
        goto out;
    }
    int64_t tid = 0;
    if (positive_int(task, "id", &tid) < 0 || tid != ev->task_id) {
        refuse(reason, rlen, detail, dlen, "bad_field", "task.id");
        goto out;
    }
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(task, "title");
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(task, "done");
    const cJSON *due = cJSON_GetObjectItemCaseSensitive(task, "due_at");
    if (!cJSON_IsString(title) || !*title->valuestring ||
        strlen(title->valuestring) > NOTIFY_TITLE_BYTES) {
        refuse(reason, rlen, detail, dlen, title ? "bad_field" : "missing_field", "task.title");
        goto out;
    }
    snprintf(ev->title, sizeof ev->title, "%s", title->valuestring);
    if (!cJSON_IsBool(done)) {
        refuse(reason, rlen, detail, dlen, done ? "bad_field" : "missing_field", "task.done");
        goto out;
    }
    ev->done = cJSON_IsTrue(done);
    if (due && !cJSON_IsNull(due)) {
        if (!cJSON_IsString(due) || rfc3339_parse(due->valuestring, &ev->due_ms) < 0) {
            refuse(reason, rlen, detail, dlen, "bad_field", "task.due_at");
            goto out;
        }
        ev->has_due = true;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ==== rules ============================================================================= */

void notify_event_rules(const notify_event_t *ev, notify_action_t *a)
{
    memset(a, 0, sizeof *a);
    char when[RFC3339_LEN + 1];
    switch (ev->type) {
    case NOTIFY_EV_CREATED:
        if (!ev->has_due || ev->done) break;
        a->reminder = NOTIFY_REMINDER_SCHEDULE;
        a->remind_ms = ev->due_ms;
        a->notify = true;
        a->kind = "reminder_scheduled";
        rfc3339_format(ev->due_ms, when);
        snprintf(a->title, sizeof a->title, "Reminder set: %s", ev->title);
        snprintf(a->body, sizeof a->body, "You will be reminded when \"%s\" is due at %s.",
                 ev->title, when);
        break;
    case NOTIFY_EV_UPDATED:
        if (ev->has_due && !ev->done) {
            a->reminder = NOTIFY_REMINDER_SCHEDULE;
            a->remind_ms = ev->due_ms;
        } else {
            a->reminder = NOTIFY_REMINDER_CANCEL;
        }
        break;
    case NOTIFY_EV_COMPLETED:
        a->reminder = NOTIFY_REMINDER_CANCEL;
        a->notify = true;
        a->kind = "task_done";
        snprintf(a->title, sizeof a->title, "Task done: %s", ev->title);
        snprintf(a->body, sizeof a->body, "\"%s\" was completed.", ev->title);
        break;
    case NOTIFY_EV_DELETED:
        a->reminder = NOTIFY_REMINDER_CANCEL;
        break;
    }
}
