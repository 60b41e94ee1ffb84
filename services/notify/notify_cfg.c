/* notify_cfg — the settings table; see notify_cfg.h. */
#include "notify_cfg.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define F(field) offsetof(notify_cfg_t, field)

static const cfg_entry_t rows[] = {
    CFG_ROW("NOTIFY_TOPIC", CFG_STRING, "task-events", 0, 0, F(topic),
            "Kafka topic of the task events", false),
    CFG_ROW("NOTIFY_DLQ_TOPIC", CFG_STRING, "task-events.dlq", 0, 0, F(dlq_topic),
            "where events that cannot be processed go, with the reason in headers", false),
    CFG_ROW("NOTIFY_GROUP", CFG_STRING, "notification-service", 0, 0, F(group),
            "Kafka consumer group (instances in one group share the partitions)", false),
    CFG_ROW("NOTIFY_BATCH_MAX", CFG_INT, "1000", 1, 10000, F(batch_max),
            "events recorded per PostgreSQL transaction at most", false),
    CFG_ROW("NOTIFY_BATCH_WAIT", CFG_DURATION, "20ms", 0, 5000, F(batch_wait_ms),
            "how long a batch waits to fill before it is recorded", false),
    CFG_ROW("NOTIFY_WEBHOOK_URL", CFG_STRING, "", 0, 0, F(webhook_url),
            "POST every notification here as JSON (empty: the log channel only)", true),
    CFG_ROW("NOTIFY_WEBHOOK_TIMEOUT", CFG_DURATION, "5s", 100, 60000, F(webhook_timeout_ms),
            "per webhook attempt, connecting included", false),
    CFG_ROW("NOTIFY_WEBHOOK_MAX_ATTEMPTS", CFG_INT, "8", 1, 100, F(webhook_max_attempts),
            "webhook attempts before a delivery is marked failed", false),
    CFG_ROW("NOTIFY_WEBHOOK_BACKOFF", CFG_DURATION, "1s", 10, 3600000, F(webhook_backoff_ms),
            "first wait before a failed webhook is tried again (doubles, at most 1h)", false),
    CFG_ROW("NOTIFY_REMINDER_PERIOD", CFG_DURATION, "1s", 100, 3600000, F(reminder_period_ms),
            "how often due reminders become notifications", false),
};

static int check(const void *cfg, char *err, size_t errlen)
{
    const notify_cfg_t *c = cfg;
    if (!*c->topic || !*c->dlq_topic || !*c->group)
        return snprintf(err, errlen, "%s: must not be empty",
                        !*c->topic ? "NOTIFY_TOPIC" : !*c->dlq_topic ? "NOTIFY_DLQ_TOPIC" : "NOTIFY_GROUP"),
               -1;
    if (!strcmp(c->topic, c->dlq_topic))
        return snprintf(err, errlen, "NOTIFY_DLQ_TOPIC: must differ from NOTIFY_TOPIC"), -1;
    if (*c->webhook_url && strncasecmp(c->webhook_url, "http://", 7) != 0 &&
        strncasecmp(c->webhook_url, "https://", 8) != 0)
        return snprintf(err, errlen, "NOTIFY_WEBHOOK_URL: must be an http:// or https:// URL"), -1;
    return 0;
}

const cfg_table_t notify_cfg = {rows, sizeof rows / sizeof rows[0], check};
