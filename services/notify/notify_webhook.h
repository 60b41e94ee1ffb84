/* notify_webhook — the webhook channel: a worker that POSTs each notification's JSON to
 * NOTIFY_WEBHOOK_URL, with a timeout, and retries a failure with exponential backoff until it
 * is delivered or has failed max_attempts times (status failed, last error kept).
 *
 * Why a queue in PostgreSQL (the deliveries table) and a worker of its own: a receiver that
 * is down or slow must never hold up consumption — the consumer only writes the pending row
 * in the event's transaction, and this worker drains the rows. Several instances share the
 * queue: a claim (FOR UPDATE SKIP LOCKED) pushes the row's next attempt a lease ahead, so
 * two instances do not send the same notification at once; a crash mid-send leaves the row
 * to be claimed again after the lease (the receiver may then see it twice: at-least-once,
 * with the notification id to deduplicate on). */
#ifndef NOTIFY_WEBHOOK_H
#define NOTIFY_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "pg.h"

typedef struct notify_webhook notify_webhook_t;

typedef struct notify_webhook_config {
    const char *url;     /* http(s)://… */
    int64_t timeout_ms;  /* per attempt, connecting included */
    int max_attempts;    /* then failed for good */
    int64_t backoff_ms;  /* first retry after this; doubles, at most an hour */
    int64_t poll_ms;     /* the queue is looked at this often when idle */
    pg_pool *pool;
    metrics_registry_t *metrics;
    metrics_family_t *deliveries; /* notify_deliveries_total{channel,outcome}; NULL: none */
} notify_webhook_config_t;

/* Creates the worker (not started). 0, or -1 with err. */
int notify_webhook_new(const notify_webhook_config_t *cfg, notify_webhook_t **out, char *err,
                       size_t errlen);

/* Starts the worker thread. 0 or -1. */
int notify_webhook_start(notify_webhook_t *w, char *err, size_t errlen);

/* Stops the worker (an attempt in flight ends at its timeout) and frees it. NULL ignored. */
void notify_webhook_free(notify_webhook_t *w);

/* The wait before attempt number attempts + 1 (attempts >= 1): base, 2·base, 4·base … at
 * most one hour. Exposed for the unit tests. */
int64_t notify_webhook_backoff_ms(int64_t base_ms, int attempts);

#endif
