/* ops_api — the gateway's API (CONTRACT §3) as the ops programs use it.
 *
 *   ops_api_t *api;
 *   if (ops_api_open(&api, &cfg, &err) != OPS_OK) …
 *   ops_task_filter_t f = OPS_TASK_FILTER_INIT; f.tag = "ops";
 *   ops_api_resp_t r = OPS_API_RESP_INIT;
 *   if (ops_api_tasks_list(api, &f, &r, &err) == OPS_OK) … r.json ({"tasks":[…],…}), r.read_source
 *   ops_api_resp_free(&r); ops_api_close(api);
 *
 * The session (ops_session.h) is loaded on the first protected call. Before a call whose
 * access token has expired by the local clock, and once after a 401, the refresh token is
 * exchanged for a new pair (saved at once; serialised between processes by the session lock,
 * and a pair another process just obtained is used instead of refreshing again). A refresh
 * answered 401 means the session is spent: the file is removed and the call fails with
 * OPS_AUTH "session expired; log in again".
 *
 * Every request carries a W3C traceparent of a CLIENT span of service todo-console (exported
 * when the program started lib/trace's exporter), a child of the thread's current span, so a
 * trace starts at the console.
 *
 * Statuses: transport failures and gateway answers 502/503/504 are OPS_UNREACHABLE; 401/403
 * OPS_AUTH; other 4xx/5xx OPS_FAIL with the API's own code and message ("not_found: task not
 * found (404)"); the parsed answer is still in resp for the caller to print. */
#ifndef OPS_API_H
#define OPS_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "ops_cfg.h"
#include "ops_err.h"
#include "ops_session.h"

typedef struct ops_api ops_api_t;

typedef struct ops_api_resp {
    long status;            /* HTTP status; 0 when there was no answer */
    cJSON *json;            /* the parsed body, NULL for an empty or non-JSON body */
    char read_source[16];   /* X-Read-Source of GET /api/tasks */
    char raw_ct[128];       /* content type of the answer */
} ops_api_resp_t;

#define OPS_API_RESP_INIT {0, NULL, "", ""}

typedef struct ops_task_filter {
    int done;               /* -1 any, 0 open, 1 done */
    const char *tag;        /* NULL: any */
    const char *q;          /* NULL: any */
    int limit;              /* 0: the API's default */
    const char *cursor;     /* NULL: first page */
} ops_task_filter_t;

#define OPS_TASK_FILTER_INIT {-1, NULL, NULL, 0, NULL}

/* Opens a client for cfg's GATEWAY_URL (OPS_USAGE when unset). Nothing is sent yet. */
ops_status_t ops_api_open(ops_api_t **out, const ops_cfg_t *cfg, ops_err_t *err);
/* Frees the client (NULL is ignored); the session file stays. */
void ops_api_close(ops_api_t *api);

/* The gateway URL in use. */
const char *ops_api_gateway(const ops_api_t *api);

/* The session (loaded if needed); NULL when not logged in (err says why). */
const ops_session_t *ops_api_session(ops_api_t *api, ops_err_t *err);

/* POST /api/auth/login, then GET /api/auth/validate for the user id; saves the session.
 * A wrong password is OPS_AUTH with the API's message. */
ops_status_t ops_api_login(ops_api_t *api, const char *email, const char *password,
                           ops_err_t *err);

/* POST /api/auth/logout with the refresh token (best effort) and removes the session file.
 * OPS_AUTH when there was no session; the file is removed even if the gateway is down (then
 * OPS_UNREACHABLE is returned so the user knows the token was not revoked). */
ops_status_t ops_api_logout(ops_api_t *api, ops_err_t *err);

/* A protected call: method and path ("/api/tasks/7"), optional JSON body (not consumed).
 * See the file comment for refresh, tracing and statuses. resp is reset first. */
ops_status_t ops_api_call(ops_api_t *api, const char *method, const char *path,
                          const cJSON *body, ops_api_resp_t *resp, ops_err_t *err);

/* The routes, each one ops_api_call with its statuses: GET /api/tasks with the filter's
 * query (tasks_list), GET/PATCH/DELETE /api/tasks/{id}, POST /api/tasks, POST
 * /api/tasks/{id}/complete, GET /api/notifications (limit 0: the API's default; cursor NULL:
 * the first page), POST /api/notifications/{id}/read, and GET /api/auth/validate (whoami).
 * body is a JSON object (not consumed); resp holds the parsed answer, also on API errors. */
ops_status_t ops_api_whoami(ops_api_t *api, ops_api_resp_t *resp, ops_err_t *err);
ops_status_t ops_api_tasks_list(ops_api_t *api, const ops_task_filter_t *f,
                                ops_api_resp_t *resp, ops_err_t *err);
ops_status_t ops_api_task_get(ops_api_t *api, int64_t id, ops_api_resp_t *resp, ops_err_t *err);
ops_status_t ops_api_task_create(ops_api_t *api, const cJSON *body, ops_api_resp_t *resp,
                                 ops_err_t *err);
ops_status_t ops_api_task_patch(ops_api_t *api, int64_t id, const cJSON *body,
                                ops_api_resp_t *resp, ops_err_t *err);
ops_status_t ops_api_task_complete(ops_api_t *api, int64_t id, ops_api_resp_t *resp,
                                   ops_err_t *err);
ops_status_t ops_api_task_delete(ops_api_t *api, int64_t id, ops_api_resp_t *resp,
                                 ops_err_t *err);
ops_status_t ops_api_notifications(ops_api_t *api, int limit, const char *cursor,
                                   ops_api_resp_t *resp, ops_err_t *err);
ops_status_t ops_api_notification_read(ops_api_t *api, const char *id, ops_api_resp_t *resp,
                                       ops_err_t *err);

/* Appends s to b percent-encoded for a query string (RFC 3986 unreserved kept). */
void ops_url_encode(buf_t *b, const char *s);

/* Frees the parsed answer; resp can be reused. */
void ops_api_resp_free(ops_api_resp_t *r);

#endif
