/* ops_rm — the Redis read model (CONTRACT §7) as an operator sees it, and its drift from
 * PostgreSQL.
 *
 *   ops_rm_t *rm;
 *   ops_rm_open(&rm, redis_url, tasks_db_url, &err);
 *   ops_rm_user_t u;  ops_rm_user_read(rm, 42, &u, &err);   … ops_rm_user_free(&u);
 *   ops_drift_t *d; size_t n;  ops_rm_diff(rm, 42, &d, &n, &err);  … free(d);
 *
 * Reads only: HGETALL of tasks:user:U (the served JSON) and :ver, the :built marker against
 * tasks:rm:epoch, ZCARD of :deleted (layout: services/tasks/tasks_readmodel.h). A projection
 * whose :built is not the current epoch is not compared: the service rebuilds it on the next
 * read, so it is "not built", not drift. A diff compares each task's version in Redis (the
 * JSON's "version") with PostgreSQL's, and at the same version the fields the API serves
 * (title, priority, done, tags, due_at, completed_at, rendered as tasks-service renders them);
 * a difference seen once is read again after 200 ms and
 * reported only if it is still there, so a write landing between the two reads is not taken
 * for drift.
 *
 * REDIS_URL: redis://[[user]:password@]host[:port][/db], and redis://password@host (lib/redisurl). */
#ifndef OPS_RM_H
#define OPS_RM_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops_err.h"
#include "redisurl.h"

typedef struct ops_rm ops_rm_t;

typedef struct ops_rm_task {
    int64_t id;
    int64_t version;     /* from the JSON; -1 when the JSON is unreadable */
    int64_t ver_index;   /* from the :ver hash; -1 when absent */
    char *doc;           /* the JSON as served */
} ops_rm_task_t;

typedef struct ops_rm_user {
    int64_t user_id;
    bool exists;         /* any key of the user's projection exists */
    bool built_current;  /* :built equals tasks:rm:epoch */
    char built[32], epoch[32];
    int64_t tombstones;
    size_t n;
    ops_rm_task_t *tasks; /* ordered newest first (id descending) */
} ops_rm_user_t;

typedef enum {
    OPS_DRIFT_MISSING, /* in PostgreSQL, not in Redis */
    OPS_DRIFT_EXTRA,   /* in Redis, not in PostgreSQL */
    OPS_DRIFT_OLDER,   /* Redis has an older version */
    OPS_DRIFT_NEWER,   /* Redis has a newer version (PostgreSQL never goes back: a bug) */
    OPS_DRIFT_DIFFERS, /* same version, different content (field names the first one) */
} ops_drift_kind_t;

typedef struct ops_drift {
    int64_t user_id, task_id;
    ops_drift_kind_t kind;
    int64_t pg_version, rm_version; /* 0 when that side lacks the task */
    char field[16];                 /* OPS_DRIFT_DIFFERS: "title", "tags", … */
} ops_drift_t;

/* A client for redis_url; db_url (may be NULL) is needed only for diffs. Nothing is connected
 * until the first call. OPS_USAGE for a malformed URL. */
ops_status_t ops_rm_open(ops_rm_t **out, const char *redis_url, const char *db_url,
                         ops_err_t *err);
/* Closes the connections and frees the client; NULL is ignored. */
void ops_rm_close(ops_rm_t *rm);

/* The user's projection as stored. */
ops_status_t ops_rm_user_read(ops_rm_t *rm, int64_t user_id, ops_rm_user_t *out, ops_err_t *err);
/* Frees the tasks read into u. */
void ops_rm_user_free(ops_rm_user_t *u);

/* {"user_id","exists","built":…,"epoch":…,"current":…,"tombstones":…,"tasks":[…docs…]} */
cJSON *ops_rm_user_json(const ops_rm_user_t *u);

/* The drift of one user (see the file comment); *out malloc'd (free()), *n entries.
 * *compared is false when the projection was not built in the current epoch. */
ops_status_t ops_rm_diff(ops_rm_t *rm, int64_t user_id, ops_drift_t **out, size_t *n,
                         bool *compared, ops_err_t *err);

/* The users to check for a whole-model diff: every user with tasks in PostgreSQL or a
 * projection in Redis, ascending. *out malloc'd. */
ops_status_t ops_rm_users(ops_rm_t *rm, int64_t **out, size_t *n, ops_err_t *err);

/* "missing", "extra", "older", "newer", "differs". */
const char *ops_drift_kind_name(ops_drift_kind_t k);

/* A drift entry as JSON. */
cJSON *ops_drift_json(const ops_drift_t *d);

#endif
