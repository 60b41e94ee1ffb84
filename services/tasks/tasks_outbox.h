/* tasks_outbox — the outbox table from the writer's side and the operator's side:
 * inserting an event inside a change's transaction, waking relays, statistics, pruning and
 * replaying. The relay that publishes rows is tasks_relay.h. */
#ifndef TASKS_OUTBOX_H
#define TASKS_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "pg.h"
#include "tasks_model.h"

/* The NOTIFY channel relays LISTEN on. */
#define TASKS_OUTBOX_CHANNEL "tasks_outbox"

/* Inserts the event row for a change of t (the task after the change) on conn, which must be
 * inside the change's transaction. traceparent (may be NULL) is stored with the row and
 * becomes the Kafka header. Returns 0 or -1 with err. */
int tasks_outbox_insert(PGconn *conn, const char *topic, task_event_t ev, const task_t *t,
                  const char *traceparent, pg_err *err);

/* ---- waking relays -------------------------------------------------------------------- */

/* Starts the notifier: a thread with its own connection that sends one NOTIFY for many
 * commits (coalesced), so commits never queue on NOTIFY's global lock. url is the database
 * URL. Returns 0 or -1 with a message. */
int tasks_outbox_notifier_start(const char *url, char *err, size_t errlen);

/* Tells the notifier (and the relay in this process) that rows were committed. Cheap and
 * non-blocking; safe before start (then it only wakes the local relay). */
void tasks_outbox_poke(void);

/* Stops and joins the notifier. */
void tasks_outbox_notifier_stop(void);

/* An eventfd that becomes readable on tasks_outbox_poke (the in-process relay polls it), or -1. */
int tasks_outbox_local_wake_fd(void);

/* ---- statistics ----------------------------------------------------------------------- */

typedef struct tasks_outbox_stats {
    int64_t backlog;                   /* unpublished and not dead */
    double oldest_unpublished_age_s;   /* 0 when the backlog is empty */
    int64_t dead;
    int64_t published_last_minute;
} tasks_outbox_stats_t;

/* Reads the numbers in one query on conn. 0 or -1. */
int tasks_outbox_stats_read(PGconn *conn, tasks_outbox_stats_t *out, pg_err *err);

/* Renders them as the JSON of `outbox stats -o json` (CONTRACT §9). */
void tasks_outbox_stats_json(const tasks_outbox_stats_t *s, char *out, size_t outlen);

/* ---- maintenance ---------------------------------------------------------------------- */

/* Deletes published rows whose published_at is older than retention_ms, in slices (one
 * short transaction each) on conn, at most max_rows in all. *deleted gets the count. 0/-1. */
int tasks_outbox_prune(PGconn *conn, int64_t retention_ms, long long max_rows, long long *deleted,
                 pg_err *err);

/* Makes rows from..to (inclusive; to 0 = no upper bound) pending again: dead rows and, when
 * include_published, published ones (they are sent again). Returns the count or -1. */
long long tasks_outbox_replay(PGconn *conn, int64_t from, int64_t to, bool include_published,
                        pg_err *err);

#endif
