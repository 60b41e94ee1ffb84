/* ops_outbox — the operator's queries on the tasks database's outbox (CONTRACT §6, §9).
 *
 *   ops_outbox_t *ob;
 *   if (ops_outbox_open(&ob, db_url, "todo-console", &err) != OPS_OK) …
 *   ops_outbox_stats_t st;   ops_outbox_stats(ob, &st, &err);
 *   cJSON *j = ops_outbox_stats_json(&st);      // {"backlog":…, "oldest_unpublished_age_seconds":…}
 *   ops_outbox_close(ob);
 *
 * One connection (lib/pg's pool of one, opened lazily, statement timeout 10 s). Reads run in the
 * session's default read-only mode; only replay and prune write, each in its own READ WRITE
 * transaction, so a typo in a read path can never change the outbox. Every query is one of the
 * indexed shapes of services/tasks/migrations/001_init.sql: the backlog and dead counts use the
 * partial index on unpublished rows (idx_outbox_unpublished), the published counts
 * idx_outbox_published_at, dead listings idx_outbox_dead, a task's rows
 * idx_outbox_pending_task or a scan for published ones. The relays holding shards come from
 * pg_stat_activity (application_name tasks-outbox-relay) joined with their advisory locks.
 *
 * Statuses: a database that cannot be reached is OPS_UNREACHABLE naming the URL without its
 * password; a missing row OPS_FAIL "no outbox row N". */
#ifndef OPS_OUTBOX_H
#define OPS_OUTBOX_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "ops_err.h"

typedef struct ops_outbox ops_outbox_t;

#define OPS_OUTBOX_MAX_TYPES 16
#define OPS_OUTBOX_MAX_RELAYS 64

typedef struct ops_outbox_stats {
    int64_t backlog;                   /* unpublished and not dead */
    double oldest_unpublished_age_s;   /* of the backlog; 0 when empty */
    int64_t dead;
    int64_t published_last_minute, published_last_hour;
    int64_t total;                     /* rows in the table (an estimate: reltuples) */
    size_t ntypes;
    struct { char type[48]; int64_t count; } by_type[OPS_OUTBOX_MAX_TYPES]; /* backlog by type */
    size_t nrelays;
    struct { int pid; int shards; char since[40]; char addr[64]; } relays[OPS_OUTBOX_MAX_RELAYS];
} ops_outbox_stats_t;

typedef enum {
    OPS_OUTBOX_ALL,
    OPS_OUTBOX_UNPUBLISHED, /* waiting: not published, not dead (oldest first) */
    OPS_OUTBOX_DEAD,        /* given up on (oldest first) */
    OPS_OUTBOX_PUBLISHED,   /* newest first */
} ops_outbox_state_t;

typedef struct ops_outbox_row {
    int64_t id, task_id, version;
    char event_id[40], event_type[48], topic[128], key[32], traceparent[64];
    bool published, dead;
    int attempts;
    char created_at[40], published_at[40]; /* RFC 3339 UTC, "" when NULL */
    char *last_error;                      /* malloc'd or NULL */
    char *payload;                         /* malloc'd JSON text; only from ops_outbox_show */
} ops_outbox_row_t;

/* A reader for the tasks database at db_url, shown as app_name in pg_stat_activity. Nothing is
 * connected yet; OPS_USAGE for a URL libpq cannot parse. ops_outbox_close frees it. */
ops_status_t ops_outbox_open(ops_outbox_t **out, const char *db_url, const char *app_name,
                             ops_err_t *err);
void ops_outbox_close(ops_outbox_t *ob);

/* The numbers of `outbox stats` in a few indexed queries. */
ops_status_t ops_outbox_stats(ops_outbox_t *ob, ops_outbox_stats_t *out, ops_err_t *err);

/* At least CONTRACT §9's keys as JSON numbers, plus published_last_hour, total,
 * backlog_by_type {type: n} and relays [{pid, shards, since, addr}]. Caller frees. */
cJSON *ops_outbox_stats_json(const ops_outbox_stats_t *s);

/* Rows in state, optionally of one task (task_id > 0), at most limit (1..10000), after the
 * cursor id (0: from the start; in the listing's own order). *rows is malloc'd (free with
 * ops_outbox_rows_free), *n its length. */
ops_status_t ops_outbox_list(ops_outbox_t *ob, ops_outbox_state_t state, int64_t task_id,
                             int limit, int64_t cursor, ops_outbox_row_t **rows, size_t *n,
                             ops_err_t *err);

/* One row with its payload. OPS_FAIL "no outbox row N" when absent. */
ops_status_t ops_outbox_show(ops_outbox_t *ob, int64_t id, ops_outbox_row_t *row, ops_err_t *err);

/* A row as JSON: every column; payload parsed (when present); headers as Kafka gets them
 * (event_id, event_type, traceparent, content-type) and the trace id. Caller frees. */
cJSON *ops_outbox_row_json(const ops_outbox_row_t *r);

/* Re-queues rows from..to (to 0: no upper bound): dead rows, and published rows too when
 * include_published. With dry_run nothing changes. *count and the distinct task ids (up to
 * max_tasks into tasks, *ntasks the number found) describe what was (or would be) re-queued.
 * Relays are woken with NOTIFY tasks_outbox. */
ops_status_t ops_outbox_replay(ops_outbox_t *ob, int64_t from, int64_t to, bool include_published,
                               bool dry_run, int64_t *count, int64_t *tasks, size_t max_tasks,
                               size_t *ntasks, ops_err_t *err);

/* Deletes published rows published more than older_than_s seconds ago (never an unpublished
 * or dead row), in slices of 5,000; dry_run counts only. */
ops_status_t ops_outbox_prune(ops_outbox_t *ob, int64_t older_than_s, bool dry_run,
                              int64_t *count, ops_err_t *err);

/* Free a row's strings, and an array from ops_outbox_list with its rows. */
void ops_outbox_row_free(ops_outbox_row_t *r);
void ops_outbox_rows_free(ops_outbox_row_t *rows, size_t n);

/* Parses a state name: "all", "unpublished", "dead", "published". 0 or -1. */
int ops_outbox_state_parse(const char *s, ops_outbox_state_t *out);

#endif
