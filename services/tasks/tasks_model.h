/* tasks_model — what a task is, and the pure code around it: validating API input,
 * rendering tasks and events as JSON, times in RFC 3339. No I/O: unit-tested on its own
 * (tests/unit/test_tasks_model.c).
 *
 * One renderer (tasks_model_render) produces the JSON of a task everywhere it appears: API answers,
 * the Redis read model and the outbox event's "task", so the three never disagree. */
#ifndef TASKS_MODEL_H
#define TASKS_MODEL_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rfc3339.h"

#define TASK_TITLE_MAX 200 /* characters (code points) */
#define TASK_TITLE_BYTES (TASK_TITLE_MAX * 4)
#define TASK_TAGS_MAX 20
#define TASK_TAG_MAX 40 /* characters */
#define TASK_TAG_BYTES (TASK_TAG_MAX * 4)
#define TASK_Q_MAX 200 /* characters of a title search (no title is longer) */
#define TASK_Q_BYTES (TASK_Q_MAX * 4)
#define TASK_LIMIT_DEFAULT 50
#define TASK_LIMIT_MAX 200
#define TASK_PRIORITY_DEFAULT 3
#define TASK_TIME_LEN RFC3339_LEN /* lib/rfc3339 */

typedef struct task {
    int64_t id;
    int64_t user_id;
    char title[TASK_TITLE_BYTES + 1];
    int priority;
    bool done;
    bool has_due;
    int64_t due_ms; /* Unix milliseconds */
    int64_t created_ms;
    int64_t updated_ms;
    bool has_completed;
    int64_t completed_ms;
    int64_t version;
    size_t ntags;
    char tags[TASK_TAGS_MAX][TASK_TAG_BYTES + 1]; /* sorted by bytes, no duplicates */
} task_t;

/* A POST body (create) or PATCH body (update): which fields were given, and their values. */
typedef struct task_input {
    bool has_title, has_priority, has_tags, has_due, has_done;
    char title[TASK_TITLE_BYTES + 1];
    int priority;
    size_t ntags;
    char tags[TASK_TAGS_MAX][TASK_TAG_BYTES + 1];
    bool due_null; /* "due_at": null clears it */
    int64_t due_ms;
    bool done;
} task_input_t;

/* GET /api/tasks query. */
typedef struct task_query {
    int done; /* -1 any, 0 open, 1 done */
    bool has_tag;
    char tag[TASK_TAG_BYTES + 1];
    bool has_q;
    char q[TASK_Q_BYTES + 1]; /* ASCII-lowercased, as matched */
    int64_t cursor;         /* 0: from the newest; else tasks with id < cursor */
    int limit;
} task_query_t;

typedef enum {
    TASK_EV_CREATED,
    TASK_EV_UPDATED,
    TASK_EV_COMPLETED,
    TASK_EV_DELETED,
} task_event_t;

/* "task.created" … "task.deleted". */
const char *tasks_model_event_name(task_event_t ev);

/* Validates a JSON body. create: title required, priority defaults to 3, done not allowed;
 * update: any of title, priority, tags, due_at, done, at least one. Unknown fields, wrong
 * types and values out of range fail. Returns 0, or -1 with a message for the client in err
 * (which names the field). Tags are trimmed, deduplicated and sorted. */
int tasks_model_input_parse(const cJSON *body, bool create, task_input_t *out, char *err, size_t errlen);

/* Validates the list query parameters (each NULL when absent). Returns 0, or -1 with a
 * stable error code in *code ("invalid_query" or "invalid_cursor") and a message. */
int tasks_model_query_parse(const char *done, const char *tag, const char *q, const char *limit,
                     const char *cursor, task_query_t *out, const char **code, char *err,
                     size_t errlen);

/* Appends the task's JSON (the API shape, CONTRACT §3). Returns 0, or -1 if memory ran out. */
int tasks_model_render(buf_t *b, const task_t *t);

/* Appends the event JSON (CONTRACT §5) for a change of t (t is the task after the change).
 * event_id is the UUID text. Returns 0 or -1 (memory). */
int tasks_model_event_render(buf_t *b, const char *event_id, task_event_t ev, const task_t *t);

/* ASCII-lowercases s in place (the title search folds ASCII letters only). */
void tasks_model_ascii_lower(char *s);

/* Sorts and deduplicates names[0..*n) (byte order), updating *n. */
void tasks_model_tags_normalise(char (*names)[TASK_TAG_BYTES + 1], size_t *n);

#endif
