/* notify_event — a task event as notification-service reads it (CONTRACT §5), and what the
 * service does with each kind: pure functions, no I/O, so every rule is unit-tested.
 *
 * The rules (the service's design; ARCHITECTURE.md §5):
 *   task.created  with due_at      a reminder is scheduled, and a "reminder_scheduled"
 *                                  notification says when
 *                 without due_at   nothing to tell (recorded as ignored)
 *   task.updated  due_at set, open the reminder is (re)scheduled; nothing to tell
 *                 due_at cleared or done   the reminder is cancelled
 *   task.completed                 a "task_done" notification; the reminder is cancelled
 *   task.deleted                   the reminder is cancelled
 * and, outside events, a reminder whose time has come becomes a "reminder_due" notification
 * (notify_store). */
#ifndef NOTIFY_EVENT_H
#define NOTIFY_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define NOTIFY_EVENT_MAX_BYTES (256 * 1024) /* a task event is a few hundred bytes */
#define NOTIFY_TITLE_BYTES 800              /* 200 characters of UTF-8 */
#define NOTIFY_TEXT_BYTES 1024

typedef enum {
    NOTIFY_EV_CREATED,
    NOTIFY_EV_UPDATED,
    NOTIFY_EV_COMPLETED,
    NOTIFY_EV_DELETED,
} notify_ev_type_t;

typedef struct notify_event {
    char id[37]; /* the event id, a UUID in lower case */
    notify_ev_type_t type;
    int64_t user_id, task_id, version;
    char title[NOTIFY_TITLE_BYTES + 1];
    bool done;
    bool has_due;
    int64_t due_ms;         /* Unix milliseconds */
    char traceparent[64];   /* the traceparent header, "" when none */
    int32_t partition;      /* where it was read from */
    int64_t offset;
} notify_event_t;

/* Parses one message value into ev. header_event_id (NULL: none) must equal the value's id
 * when given. Returns 0, or -1 with a short stable reason for the dead-letter header
 * ("invalid_json", "not_an_object", "missing_field", "bad_field", "unknown_type",
 * "event_id_mismatch", "too_large") and a detail naming the field. */
int notify_event_parse(const char *value, size_t len, const char *header_event_id,
                       notify_event_t *ev, char *reason, size_t reasonlen, char *detail,
                       size_t detaillen);

/* The event type's contract name ("task.completed"). */
const char *notify_event_type_name(notify_ev_type_t t);

typedef enum { NOTIFY_REMINDER_KEEP, NOTIFY_REMINDER_SCHEDULE, NOTIFY_REMINDER_CANCEL } notify_reminder_op_t;

/* What one event leads to. */
typedef struct notify_action {
    bool notify;      /* a notification is made */
    const char *kind; /* "task_done", "reminder_scheduled" */
    char title[NOTIFY_TEXT_BYTES];
    char body[NOTIFY_TEXT_BYTES];
    notify_reminder_op_t reminder;
    int64_t remind_ms; /* with SCHEDULE (and in a reminder_scheduled notification) */
} notify_action_t;

/* Applies the rules above to ev. */
void notify_event_rules(const notify_event_t *ev, notify_action_t *out);

#endif
