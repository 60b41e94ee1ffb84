/* notify_routes — the notifications API; see notify_routes.h. */
#include "notify_routes.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "notify_app.h"
#include "notify_store.h"

static void store_failed(http_req *req, const pg_err *e)
{
    log_error("database error", LOG_STR("sqlstate", e->sqlstate), LOG_STR("error", e->msg));
    http_error(req, 503, "database_unavailable", "the database is not available; try again");
}

static void list(http_req *req, void *user)
{
    notify_app_t *app = user;
    authclient_user_t u;
    if (!svc_authenticate(app->svc, req, &u)) return;
    const char *ls = http_req_query(req, "limit"), *cs = http_req_query(req, "cursor");
    int64_t limit = NOTIFY_LIMIT_DEFAULT, cursor = 0;
    if (ls && (http_parse_id(ls, &limit) < 0 || limit > NOTIFY_LIMIT_MAX)) {
        http_errorf(req, 400, "invalid_query", "limit must be an integer from 1 to %d",
                    NOTIFY_LIMIT_MAX);
        return;
    }
    if (cs && http_parse_id(cs, &cursor) < 0) {
        http_error(req, 400, "invalid_cursor", "cursor must be a next_cursor this API returned");
        return;
    }
    buf_t body = BUF_INIT;
    pg_err e;
    if (notify_store_list(app->svc->pool, u.user_id, cursor, (int)limit, &body, &e) < 0)
        store_failed(req, &e);
    else
        http_respond_json_str(req, 200, buf_str(&body));
    buf_free(&body);
}

static void mark_read(http_req *req, void *user)
{
    notify_app_t *app = user;
    authclient_user_t u;
    if (!svc_authenticate(app->svc, req, &u)) return;
    int64_t id;
    if (http_parse_id(http_req_param(req, "id"), &id) < 0) {
        http_error(req, 400, "invalid_id", "a notification id is a positive integer");
        return;
    }
    buf_t body = BUF_INIT;
    pg_err e;
    int rc = notify_store_mark_read(app->svc->pool, u.user_id, id, &body, &e);
    if (rc < 0)
        store_failed(req, &e);
    else if (rc == 0) /* also another user's: its existence is not revealed */
        http_error(req, 404, "not_found", "no such notification");
    else
        http_respond_json_str(req, 200, buf_str(&body));
    buf_free(&body);
}

const http_route notify_routes[] = {
    {"GET", "/api/notifications", list, NULL},
    {"POST", "/api/notifications/{id}/read", mark_read, NULL},
};
const size_t notify_routes_count = sizeof notify_routes / sizeof notify_routes[0];
