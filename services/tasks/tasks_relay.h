/* tasks_relay — the outbox relay: publishes outbox rows to Kafka and marks them published
 * from the broker's delivery report. Any number of relays may run (a thread in every
 * tasks-service, plus `tasks-service --relay-only` processes); the mechanism, in short:
 *
 *  - Shards: every outbox row has shard = task id % 64. A relay publishes a shard's rows only
 *    while it holds the shard's session advisory lock on its own PostgreSQL connection, so
 *    two relays never publish the same row at the same time. Relays count each other in
 *    pg_stat_activity (application_name tasks-outbox-relay) and each keeps about 64/N
 *    shards, releasing extras between batches; a relay that dies (even by SIGKILL) loses its
 *    session and with it its locks, and the others take its shards within a second.
 *  - The session is a lease (issue 13, item 7): it runs with idle_session_timeout = lease_ms
 *    (and server-side TCP keepalives and user timeout), so the server ends the session of a
 *    relay that stopped talking — frozen (SIGSTOP, a stalled VM), cut off, or on a host that
 *    vanished — after lease_ms, and the others take its shards at their next rebalance. A
 *    live relay talks at least once a second (rebalance; a heartbeat while it waits for
 *    Kafka). Fencing: the relay keeps its own conservative end of the lease (when it last
 *    sent a query, plus lease_ms) and hands a row to librdkafka only if the message's own
 *    timeout (delivery_timeout_ms, message.timeout.ms) ends TASKS_RELAY_LEASE_SLACK_MS before
 *    that; so whatever this relay still has queued when another relay can take the shard is
 *    past its timeout, and librdkafka neither sends nor retries it. A relay that finds its
 *    lease over stops producing, purges its queue and reconnects.
 *  - Per-task order: a relay sends only a task's oldest pending row (its "head") and sends
 *    the next one only after the head was confirmed and marked published, so at most one
 *    event per task is ever in flight from any relay. Kafka therefore receives each task's
 *    events in version order (key = task id → one partition), whatever fails in between:
 *    a retry or a takeover can only repeat the head, never overtake it.
 *  - At least once: a row is marked published only from a successful delivery report of
 *    the idempotent producer (acks=all). A crash between delivery and the mark sends the row
 *    again (a duplicate with the same event_id), never loses it.
 *  - Failures: transient ones (broker down, timeouts) leave the row pending with attempts
 *    and last_error; Kafka's return drains the backlog with no action. Permanent ones (the
 *    broker rejects the message) back off per row and, after max_attempts, mark it dead,
 *    to be replayed (`tasks-service --outbox-replay`); a dead row no longer blocks its task.
 *  - Wake-up: LISTEN on the relay's connection (coalesced NOTIFY from writers), an eventfd
 *    poked by writers in the same process, and a poll every poll_interval as the fallback.
 *  - Backpressure: when the producer's queue is full the relay serves delivery reports
 *    until there is room, and it reads the next batch only after the previous one is done. */
#ifndef TASKS_RELAY_H
#define TASKS_RELAY_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define TASKS_RELAY_SHARDS 64 /* must match the outbox.shard expression in the migration */
#define TASKS_RELAY_APP_NAME "tasks-outbox-relay"
/* Kept between a message's timeout and the end of its relay's lease: room for librdkafka's
 * timeout scan (once a second) and for scheduling delays. */
#define TASKS_RELAY_LEASE_SLACK_MS 3000

typedef struct tasks_relay_config {
    const char *database_url;
    const char *brokers;
    int batch_size;
    int64_t poll_interval_ms;
    int64_t linger_ms; /* after a round that sent few rows, wait this long before the next */
    int max_attempts;
    int64_t retry_backoff_ms;
    int64_t delivery_timeout_ms;
    int64_t lease_ms; /* the session's idle_session_timeout; > delivery_timeout + slack */
    int queue_max;
    int64_t retention_ms;
    metrics_registry_t *metrics; /* where relay metrics go; NULL: none */
} tasks_relay_config_t;

typedef struct tasks_relay tasks_relay_t;

/* Creates a relay (registers its metrics). Nothing is connected yet. 0, or -1 with err. */
int tasks_relay_new(const tasks_relay_config_t *cfg, tasks_relay_t **out, char *err, size_t errlen);

/* Runs the relay on this thread until tasks_relay_stop or shutdown_requested(). */
void tasks_relay_run(tasks_relay_t *r);

/* Runs tasks_relay_run on a new thread. 0 or -1. */
int tasks_relay_start_thread(tasks_relay_t *r, char *err, size_t errlen);

/* Asks the relay to stop after the batch in flight (delivery reports are awaited for a few
 * seconds, then what is left is purged and will be sent again later). Thread-safe. */
void tasks_relay_stop(tasks_relay_t *r);

/* Joins the thread (if started) and frees the relay. NULL is ignored. */
void tasks_relay_free(tasks_relay_t *r);

/* Rows published by this relay so far (for logs and tests). */
uint64_t tasks_relay_published(const tasks_relay_t *r);

/* ---- pure parts, exposed for the unit tests ------------------------------------------ */

/* One candidate row of a batch: what the pure functions need. */
typedef struct tasks_relay_pick_row {
    int64_t id;
    int64_t aggregate_id;
} tasks_relay_pick_row_t;

/* Marks in send[] the rows that may be sent now: the first row of each aggregate (rows are
 * in id order). A later row of an aggregate already seen is never sent in the same batch,
 * even if the query returned one. Returns the number picked. */
size_t tasks_relay_pick(const tasks_relay_pick_row_t *rows, size_t n, bool *send);

/* True when Kafka (or librdkafka) rejects the message itself, so retrying the same bytes
 * will fail again; false for errors of the moment (broker down, timeouts, no leader). */
bool tasks_relay_err_permanent(rd_kafka_resp_err_t err);

/* True for the delivery errors of our own purge: the row was not attempted. */
bool tasks_relay_err_purged(rd_kafka_resp_err_t err);

/* Backoff before the next try of a row that failed permanently attempts times:
 * base * 2^(attempts-1), at most 5 minutes. */
int64_t tasks_relay_backoff_ms(int64_t base_ms, int attempts);

/* Shards a relay should hold when n relays share TASKS_RELAY_SHARDS: ceil(shards / n). */
int tasks_relay_shard_target(int shards, int n);

/* The fencing rule: true when a message handed to librdkafka at now_ms, which times out after
 * timeout_ms, is certain to be past its timeout TASKS_RELAY_LEASE_SLACK_MS before the lease
 * ends at lease_until_ms (all on one monotonic clock). */
bool tasks_relay_may_produce(long long now_ms, long long lease_until_ms, int64_t timeout_ms);

#endif
