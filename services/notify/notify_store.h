/* notify_store — notification-service's SQL (its own database, `notifications`).
 *
 * The exactly-once record: a batch of events is applied in ONE transaction that inserts
 * each new event id into processed_events together with everything the event leads to (its
 * notification, its deliveries, its reminder), so an event either had its whole effect once
 * or none at all; a duplicate (its id already recorded) changes nothing. Kafka offsets are
 * committed only after that transaction commits (notify_consumer), so a crash in between
 * replays the batch, and the replay finds every id recorded.
 *
 * Stale versions: task_versions keeps the newest version processed per task; an event whose
 * version is not newer is recorded as 'stale' and has no effect (a replayed or re-sent
 * outbox row arriving after newer changes). */
#ifndef NOTIFY_STORE_H
#define NOTIFY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "notify_event.h"
#include "pg.h"

typedef enum {
    NOTIFY_OUT_NOTIFIED,  /* recorded; a notification was made */
    NOTIFY_OUT_IGNORED,   /* recorded; nothing to tell (its reminder may have changed) */
    NOTIFY_OUT_STALE,     /* recorded; older than what was processed for the task */
    NOTIFY_OUT_DUPLICATE, /* already recorded before: nothing changed */
} notify_outcome_t;

/* The outcome's name for metrics and logs ("notified", "ignored", "stale", "duplicate"). */
const char *notify_store_outcome_name(notify_outcome_t o);

/* Applies evs[0..n) (in partition order) in one transaction: out[i] is each event's outcome
 * and ids[i] its notification's id (0: none). webhook: also queue a webhook delivery per
 * notification. A lost race with another instance for the same event id, or a serialization
 * failure, retries the whole batch. 0, or -1 with err (the database is unreachable, …):
 * then nothing was recorded. */
int notify_store_apply(pg_pool *pool, const notify_event_t *evs, size_t n, bool webhook,
                       notify_outcome_t *out, int64_t *ids, pg_err *err);

/* Reminders whose time has come become "reminder_due" notifications (with a webhook delivery
 * when webhook), at most limit at a time. *fired gets how many. 0 or -1. */
int notify_store_fire_reminders(pg_pool *pool, int limit, bool webhook, long *fired, pg_err *err);

/* GET /api/notifications: the user's notifications with id < cursor (0: from the newest),
 * newest first, at most limit, as {"notifications":[…],"next_cursor":"…"|null} into body.
 * 0 or -1. */
int notify_store_list(pg_pool *pool, int64_t user_id, int64_t cursor, int limit, buf_t *body,
                      pg_err *err);

/* Marks notification id of user_id read (once: a second call keeps the first time) and puts
 * its JSON into body. 1 found, 0 not found (or another user's), -1 error. */
int notify_store_mark_read(pg_pool *pool, int64_t user_id, int64_t id, buf_t *body, pg_err *err);

/* One webhook delivery claimed by a worker. */
typedef struct notify_delivery {
    int64_t notification_id;
    int attempts; /* including this one */
    char traceparent[64];
    char *json; /* the notification, as the API shows it (malloc'd) */
} notify_delivery_t;

/* Claims up to max due webhook deliveries (status pending, next attempt due), pushing their
 * next attempt lease_ms ahead so another instance does not take them while this one sends.
 * *n gets how many; each json must be freed (notify_store_deliveries_free). 0 or -1. */
int notify_store_claim_webhooks(pg_pool *pool, int max, int64_t lease_ms,
                                notify_delivery_t *out, int *n, pg_err *err);

/* Frees what notify_store_claim_webhooks allocated. */
void notify_store_deliveries_free(notify_delivery_t *d, int n);

/* Records a webhook attempt: delivered, or failed with error and either retried after
 * retry_ms or (final) failed for good. 0 or -1. */
int notify_store_webhook_result(pg_pool *pool, int64_t notification_id, bool delivered,
                                const char *error, bool final, int64_t retry_ms, pg_err *err);

/* Rows by state for the gauges: webhook deliveries pending, pending reminders. 0 or -1. */
int notify_store_backlog(pg_pool *pool, long long *webhook_pending, long long *reminders,
                         pg_err *err);

#endif
