/* notify_consumer — the Kafka side of notification-service: consumes `task-events` in its
 * consumer group, applies each batch exactly once in effect (notify_store), and commits the
 * offsets only after the batch's transaction committed.
 *
 * A round: poll up to batch_max messages (waiting at most batch_wait_ms for the batch to
 * fill), parse each (a message that is not a valid event goes to the dead-letter topic with
 * the reason and its origin in headers, and counts as handled once the DLQ has it), apply the
 * valid ones in one transaction, log one line per notification (the log channel), then
 * commit the next offset of every partition the round read. Partitions are processed in the
 * order Kafka gives them, so one task's events (one key, one partition) are applied in order.
 *
 * Failures and what they do:
 *   - PostgreSQL down, or the DLQ unwritable: the round is held, every assigned partition is
 *     paused (no message is read past it, none skipped), and the round is retried every
 *     second until it goes through; then consumption resumes. Nothing is committed meanwhile.
 *   - Killed between the transaction and the offset commit: the round is read again by
 *     whoever owns the partitions next; every event id is found recorded (duplicates).
 *   - Rebalance (cooperative-sticky): runs between rounds on this thread; partitions taken
 *     away while a round is held are dropped from it (their new owner reads them again from
 *     the committed offset). */
#ifndef NOTIFY_CONSUMER_H
#define NOTIFY_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "pg.h"

typedef struct notify_consumer notify_consumer_t;

typedef struct notify_consumer_config {
    const char *brokers;
    const char *topic;     /* task-events */
    const char *dlq_topic; /* task-events.dlq */
    const char *group;     /* notification-service */
    int batch_max;         /* events per transaction */
    int64_t batch_wait_ms; /* how long a round waits for its batch to fill */
    bool webhook;          /* queue a webhook delivery per notification */
    pg_pool *pool;
    metrics_registry_t *metrics;  /* NULL: none */
    metrics_family_t *deliveries; /* notify_deliveries_total{channel,outcome}; NULL: none */
} notify_consumer_config_t;

/* Creates the consumer and the DLQ producer (nothing is consumed yet). 0, or -1 with err. */
int notify_consumer_new(const notify_consumer_config_t *cfg, notify_consumer_t **out, char *err,
                        size_t errlen);

/* Consumes on a thread of its own until notify_consumer_free. 0 or -1. */
int notify_consumer_start(notify_consumer_t *c, char *err, size_t errlen);

/* Stops the thread (the round in progress finishes or is dropped uncommitted), leaves the
 * group and frees everything. NULL is ignored. */
void notify_consumer_free(notify_consumer_t *c);

/* Readiness check (lib/http): fails naming Kafka when the consumer has seen a broker error in
 * the last few seconds and holds no partition, or when a round is held (PostgreSQL). arg is
 * the consumer. */
int notify_consumer_ready_check(void *arg, char *err, size_t errlen);

#endif
