/* tasks_routes — HTTP handlers of the tasks API; see tasks_routes.h.
 *
 * Every handler: authenticate (gRPC ValidateToken, fail closed), validate input (hostile
 * input ends here with a 4xx), run the store call (one transaction with the outbox row),
 * then, after the commit, wake the relays and apply the change to the read model before
 * answering — so the writer's next GET /api/tasks sees its write (read-your-writes). */
#include "tasks_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "tasks_app.h"
#include "tasks_model.h"
#include "tasks_outbox.h"
#include "tasks_readmodel.h"
#include "tasks_store.h"
#include "trace.h"

/* ==== common steps ====================================================================== */

static void store_failed(http_req *req, const pg_err *e)
{
    int st = pg_err_http_status(e);
    log_error("database error", LOG_STR("sqlstate", e->sqlstate), LOG_STR("error", e->msg));
    if (st == 503 || st == 409) /* 409 here: a conflict that survived pg_tx's retries */
        http_error(req, 503, "database_unavailable", "the database is not available; try again");
    else if (st == 400)
        http_error(req, 400, "validation_failed", "a value is out of the range the store accepts");
    else
        http_error(req, 500, "internal", "internal error");
}

/* A change that failed: store_failed's answer, and when the COMMIT's outcome is unknown
 * (the change may have been made) the user's read model projection is invalidated, since no
 * update of it will come (tasks_readmodel.h, rule 4). */
static void change_failed(http_req *req, tasks_app_t *app, int64_t user_id, const pg_err *e)
{
    if (app->rm && pg_err_is(e, PG_SQLSTATE_COMMIT_UNKNOWN)) tasks_readmodel_invalidate(app->rm, user_id);
    store_failed(req, e);
}

static bool path_id(http_req *req, int64_t *id)
{
    if (http_parse_id(http_req_param(req, "id"), id) == 0) return true;
    http_error(req, 400, "invalid_id", "a task id is a positive integer");
    return false;
}

/* The parsed body, or NULL after answering 400. */
static const cJSON *json_body(http_req *req)
{
    const cJSON *body = http_req_json(req); /* lib/http refused NULs and \u0000 escapes */
    if (!body) {
        http_error(req, 400, "invalid_json", "a JSON object body is required");
        return NULL;
    }
    return body;
}

/* The body parsed and validated as a task input (create: every required field), or false
 * after answering 400. */
static bool read_input(http_req *req, bool create, task_input_t *in)
{
    const cJSON *body = json_body(req);
    if (!body) return false;
    char err[160];
    if (tasks_model_input_parse(body, create, in, err, sizeof err) == 0) return true;
    http_error(req, 400, "validation_failed", err);
    return false;
}

/* A change's outcome for one task: true when found; otherwise the answer (503/400/500
 * for a database error, 404 for a task that is not the caller's or does not exist) is sent. */
static bool change_found(http_req *req, tasks_app_t *app, int64_t user_id, int rc, const pg_err *e)
{
    if (rc < 0)
        change_failed(req, app, user_id, e);
    else if (rc == 0)
        http_error(req, 404, "not_found", "no such task");
    return rc > 0;
}

static void respond_task(http_req *req, int status, const task_t *t)
{
    buf_t b = BUF_INIT;
    if (tasks_model_render(&b, t) < 0)
        http_error(req, 500, "internal", "out of memory");
    else
        http_respond_json_str(req, status, buf_str(&b));
    buf_free(&b);
}

/* What a change writes into its outbox row besides the task: the topic and the request's
 * trace context (ev.traceparent points into tp, so the struct is used where it is declared). */
typedef struct change_ctx {
    char tp[TRACE_PARENT_LEN + 1];
    tasks_store_event_ctx_t ev;
} change_ctx_t;

static void change_ctx_init(change_ctx_t *c, http_req *req, const tasks_app_t *app)
{
    trace_ctx_t ctx;
    c->tp[0] = '\0';
    if (trace_span_ctx(http_req_span(req), &ctx) == 0 || trace_current_ctx(&ctx))
        trace_parent_format(&ctx, c->tp);
    c->ev = (tasks_store_event_ctx_t){app->cfg.topic, c->tp};
}

/* After a commit: wake the relays, then update the read model (before the answer). */
static void committed(tasks_app_t *app, const task_t *t, bool deleted)
{
    tasks_outbox_poke();
    if (app->rm) tasks_readmodel_apply(app->rm, t, deleted);
}

/* ==== handlers ========================================================================== */

static void list_tasks(http_req *req, void *user)
{
    tasks_app_t *app = user;
    authclient_user_t u;
    if (!svc_authenticate(app->svc, req, &u)) return;
    task_query_t q;
    const char *code;
    char err[160];
    if (tasks_model_query_parse(http_req_query(req, "done"), http_req_query(req, "tag"),
                         http_req_query(req, "q"), http_req_query(req, "limit"),
                         http_req_query(req, "cursor"), &q, &code, err, sizeof err) < 0) {
        http_error(req, 400, code, err);
        return;
    }
    buf_t body = BUF_INIT;
    const char *why = "disabled";
    if (app->rm && tasks_readmodel_list(app->rm, u.user_id, &q, &body, &why) == 1 && !body.oom) {
        http_set_header(req, "X-Read-Source", "redis");
        http_respond_json_str(req, 200, buf_str(&body));
        buf_free(&body);
        return;
    }
    buf_reset(&body);
    trace_span_set_str(http_req_span(req), "read_model.fallback", why);

    task_t *ts = malloc((size_t)(q.limit + 1) * sizeof *ts);
    const char **docs = malloc((size_t)(q.limit + 1) * sizeof *docs);
    buf_t *rendered = calloc((size_t)(q.limit + 1), sizeof *rendered);
    size_t n = 0;
    pg_err e;
    if (!ts || !docs || !rendered) {
        http_error(req, 500, "internal", "out of memory");
    } else if (tasks_store_list(app->svc->pool, u.user_id, &q, ts, &n, &e) < 0) {
        store_failed(req, &e);
    } else {
        size_t shown = n > (size_t)q.limit ? (size_t)q.limit : n;
        for (size_t i = 0; i < shown; i++) {
            tasks_model_render(&rendered[i], &ts[i]);
            docs[i] = buf_str(&rendered[i]);
        }
        tasks_readmodel_render_list(&body, docs, shown, n > (size_t)q.limit ? ts[shown - 1].id : 0);
        http_set_header(req, "X-Read-Source", "postgres");
        http_respond_json_str(req, 200, buf_str(&body));
        for (size_t i = 0; i < shown; i++) buf_free(&rendered[i]);
    }
    free(rendered);
    free(docs);
    free(ts);
    buf_free(&body);
}

static void create_task(http_req *req, void *user)
{
    tasks_app_t *app = user;
    authclient_user_t u;
    task_input_t in;
    if (!svc_authenticate(app->svc, req, &u) || !read_input(req, true, &in)) return;
    change_ctx_t c;
    change_ctx_init(&c, req, app);
    task_t t;
    pg_err e;
    int rc = tasks_store_create(app->svc->pool, u.user_id, app->cfg.max_tasks_per_user, &in, &c.ev,
                                &t, &e);
    if (rc == TASKS_STORE_LIMIT) {
        http_errorf(req, 409, "task_limit_reached",
                    "a user has at most %d tasks; delete some to add more",
                    app->cfg.max_tasks_per_user);
        return;
    }
    if (rc < 0) {
        change_failed(req, app, u.user_id, &e);
        return;
    }
    committed(app, &t, false);
    char loc[64];
    snprintf(loc, sizeof loc, "/api/tasks/%lld", (long long)t.id);
    http_set_header(req, "Location", loc);
    respond_task(req, 201, &t);
}

static void get_task(http_req *req, void *user)
{
    tasks_app_t *app = user;
    authclient_user_t u;
    int64_t id;
    if (!svc_authenticate(app->svc, req, &u) || !path_id(req, &id)) return;
    task_t t;
    pg_err e;
    int rc = tasks_store_get(app->svc->pool, u.user_id, id, &t, &e);
    if (rc < 0)
        store_failed(req, &e);
    else if (rc == 0)
        http_error(req, 404, "not_found", "no such task");
    else
        respond_task(req, 200, &t);
}

static void patch_task(http_req *req, void *user)
{
    tasks_app_t *app = user;
    authclient_user_t u;
    int64_t id;
    task_input_t in;
    if (!svc_authenticate(app->svc, req, &u) || !path_id(req, &id) || !read_input(req, false, &in))
        return;
    change_ctx_t c;
    change_ctx_init(&c, req, app);
    task_t t;
    task_event_t kind;
    pg_err e;
    if (!change_found(req, app, u.user_id, tasks_store_update(app->svc->pool, u.user_id, id, &in, &c.ev, &t, &kind, &e), &e))
        return;
    committed(app, &t, false);
    respond_task(req, 200, &t);
}

static void complete_task(http_req *req, void *user)
{
    tasks_app_t *app = user;
    authclient_user_t u;
    int64_t id;
    if (!svc_authenticate(app->svc, req, &u) || !path_id(req, &id)) return;
    change_ctx_t c;
    change_ctx_init(&c, req, app);
    task_t t;
    int changed = 0;
    pg_err e;
    if (!change_found(req, app, u.user_id, tasks_store_complete(app->svc->pool, u.user_id, id, &c.ev, &t, &changed, &e), &e))
        return;
    if (changed) committed(app, &t, false);
    respond_task(req, 200, &t);
}

static void delete_task(http_req *req, void *user)
{
    tasks_app_t *app = user;
    authclient_user_t u;
    int64_t id;
    if (!svc_authenticate(app->svc, req, &u) || !path_id(req, &id)) return;
    change_ctx_t c;
    change_ctx_init(&c, req, app);
    task_t t;
    pg_err e;
    if (!change_found(req, app, u.user_id, tasks_store_delete(app->svc->pool, u.user_id, id, &c.ev, &t, &e), &e))
        return;
    committed(app, &t, true);
    http_respond_empty(req, 204);
}

const http_route tasks_routes[] = {
    {"GET", "/api/tasks", list_tasks, NULL},
    {"POST", "/api/tasks", create_task, NULL},
    {"GET", "/api/tasks/{id}", get_task, NULL},
    {"PATCH", "/api/tasks/{id}", patch_task, NULL},
    {"DELETE", "/api/tasks/{id}", delete_task, NULL},
    {"POST", "/api/tasks/{id}/complete", complete_task, NULL},
};
const size_t tasks_routes_count = sizeof tasks_routes / sizeof tasks_routes[0];
