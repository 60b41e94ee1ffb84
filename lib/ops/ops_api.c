/* ops_api — the gateway client: session, transparent refresh, traceparent; see ops_api.h. */
#include "ops_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ops_http.h"
#include "trace.h"

struct ops_api {
    ops_http_t *http;
    char gateway[512];
    char state_dir[4096];
    ops_session_t s;
    bool loaded;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

ops_status_t ops_api_open(ops_api_t **out, const ops_cfg_t *cfg, ops_err_t *err)
{
    const char *gw = ops_cfg_need(cfg, OPS_GATEWAY_URL, err);
    if (!gw) return err->st;
    ops_api_t *a = calloc(1, sizeof *a);
    if (!a || !(a->http = ops_http_new(2000, 15000))) {
        free(a);
        return ops_fail(err, OPS_FAIL, "out of memory");
    }
    snprintf(a->gateway, sizeof a->gateway, "%s", gw);
    size_t l = strlen(a->gateway);
    while (l && a->gateway[l - 1] == '/') a->gateway[--l] = '\0';
    snprintf(a->state_dir, sizeof a->state_dir, "%s", cfg->state_dir);
    *out = a;
    return OPS_OK;
}

void ops_api_close(ops_api_t *api)
{
    if (!api) return;
    ops_http_free(api->http);
    memset(&api->s, 0, sizeof api->s); /* tokens do not outlive their use in memory */
    free(api);
}

const char *ops_api_gateway(const ops_api_t *api)
{
    return api->gateway;
}

const ops_session_t *ops_api_session(ops_api_t *api, ops_err_t *err)
{
    if (!api->loaded) {
        if (ops_session_load(api->state_dir, api->gateway, &api->s, err) != OPS_OK) return NULL;
        api->loaded = true;
    }
    return &api->s;
}

void ops_api_resp_free(ops_api_resp_t *r)
{
    cJSON_Delete(r->json);
    r->json = NULL;
}

void ops_url_encode(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_putc(b, (char)*p);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[*p >> 4]);
            buf_putc(b, hex[*p & 15]);
        }
    }
}

/* The contract's error body as "code: message (status)". */
static ops_status_t api_error(const ops_api_resp_t *r, const char *method, const char *path,
                              ops_err_t *err)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    ops_status_t st = OPS_FAIL;
    if (r->status == 401 || r->status == 403)
        st = OPS_AUTH;
    else if (r->status == 502 || r->status == 503 || r->status == 504)
        st = OPS_UNREACHABLE;
    if (cJSON_IsString(code) && cJSON_IsString(msg))
        return ops_fail(err, st, "%s %s: %s: %s (%ld)", method, path, code->valuestring,
                        msg->valuestring, r->status);
    return ops_fail(err, st, "%s %s: HTTP %ld", method, path, r->status);
}

/* One request with no session logic: builds the URL, the traceparent of a CLIENT span and the
 * bearer header, and parses a JSON answer. */
static ops_status_t send_once(ops_api_t *api, const char *method, const char *path,
                              const char *bearer, const char *body, ops_api_resp_t *resp,
                              ops_err_t *err)
{
    ops_api_resp_free(resp);
    resp->status = 0;
    resp->read_source[0] = resp->raw_ct[0] = '\0';
    char url[8192];
    if (snprintf(url, sizeof url, "%s%s", api->gateway, path) >= (int)sizeof url)
        return ops_fail(err, OPS_USAGE, "request too long");
    /* the span is named by the route's shape, not the concrete path (ids would explode names) */
    char name[128];
    size_t pl = strcspn(path, "?");
    snprintf(name, sizeof name, "%s %.*s", method, (int)(pl > 90 ? 90 : pl), path);
    for (char *p = name; *p; p++)
        if (p[0] == '/' && p[1] >= '0' && p[1] <= '9') {
            char *q = p + 1;
            while (*q && *q != '/') q++;
            memmove(p + 5, q, strlen(q) + 1);
            memcpy(p, "/{id}", 5);
            p += 4;
        }
    trace_span_t *sp = trace_span_start(name, TRACE_KIND_CLIENT, NULL);
    trace_span_set_str(sp, "http.request.method", method);
    trace_span_set_str(sp, "url.path", path);
    trace_ctx_t ctx;
    char tp[TRACE_PARENT_LEN + 1] = "", tph[TRACE_PARENT_LEN + 16], auth[4200];
    if (trace_span_ctx(sp, &ctx) == 0) trace_parent_format(&ctx, tp);
    snprintf(tph, sizeof tph, "traceparent: %s", tp);
    const char *hdrs[3] = {NULL, NULL, NULL};
    size_t nh = 0;
    if (tp[0]) hdrs[nh++] = tph;
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs[nh++] = auth;
    }
    ops_http_resp_t hr = OPS_HTTP_RESP_INIT;
    ops_status_t st = ops_http_do(api->http, method, url, hdrs, body, body ? strlen(body) : 0,
                                  &hr, err);
    memset(auth, 0, sizeof auth);
    if (st == OPS_OK) {
        resp->status = hr.status;
        snprintf(resp->read_source, sizeof resp->read_source, "%s", hr.read_source);
        snprintf(resp->raw_ct, sizeof resp->raw_ct, "%s", hr.content_type);
        if (hr.body.len) resp->json = cJSON_ParseWithLength(hr.body.data, hr.body.len);
        trace_span_set_int(sp, "http.response.status_code", hr.status);
        if (hr.status >= 500) trace_span_set_status(sp, TRACE_STATUS_ERROR, NULL);
        if (hr.body.len && !resp->json && hr.status < 300)
            st = ops_fail(err, OPS_FAIL, "%s %s: the answer is not JSON", method, path);
    } else {
        trace_span_set_status(sp, TRACE_STATUS_ERROR, err->msg);
    }
    trace_span_end(sp);
    ops_http_resp_free(&hr);
    return st;
}

/* Reads the token pair of a login or refresh answer into s. */
static ops_status_t take_pair(ops_session_t *s, const cJSON *j, ops_err_t *err)
{
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "refresh_token");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    if (!cJSON_IsString(at) || !cJSON_IsString(rt) ||
        strlen(at->valuestring) >= sizeof s->access_token ||
        strlen(rt->valuestring) >= sizeof s->refresh_token)
        return ops_fail(err, OPS_FAIL, "the token answer lacks access_token/refresh_token");
    snprintf(s->access_token, sizeof s->access_token, "%s", at->valuestring);
    snprintf(s->refresh_token, sizeof s->refresh_token, "%s", rt->valuestring);
    /* a second early: a token is never presented in its last moment by our own clock */
    s->expires_at = now_s() + (cJSON_IsNumber(ex) ? (int64_t)ex->valuedouble : 900) - 1;
    return OPS_OK;
}

/* Exchanges the refresh token for a new pair, under the session lock. If another process
 * refreshed since we loaded the session, its pair is taken instead (our token is spent). */
static ops_status_t refresh(ops_api_t *api, ops_err_t *err)
{
    int lock = ops_session_lock(api->state_dir, 5000);
    ops_session_t disk;
    ops_err_t ignore = OPS_ERR_INIT;
    if (ops_session_load(api->state_dir, api->gateway, &disk, &ignore) == OPS_OK &&
        strcmp(disk.refresh_token, api->s.refresh_token) && disk.expires_at > now_s()) {
        api->s = disk;
        ops_session_unlock(lock);
        return OPS_OK;
    }
    buf_t body = BUF_INIT;
    buf_puts(&body, "{\"refresh_token\":");
    buf_json_str(&body, api->s.refresh_token);
    buf_putc(&body, '}');
    ops_api_resp_t r = OPS_API_RESP_INIT;
    ops_status_t st = send_once(api, "POST", "/api/auth/refresh", NULL, buf_str(&body), &r, err);
    buf_free(&body);
    if (st == OPS_OK && r.status == 200) {
        st = take_pair(&api->s, r.json, err);
        if (st == OPS_OK) st = ops_session_save(api->state_dir, &api->s, err);
    } else if (st == OPS_OK && (r.status == 401 || r.status == 400)) {
        ops_session_remove(api->state_dir);
        api->loaded = false;
        st = ops_fail(err, OPS_AUTH, "session expired; log in again (todo-console login)");
    } else if (st == OPS_OK) {
        st = api_error(&r, "POST", "/api/auth/refresh", err);
    }
    ops_api_resp_free(&r);
    ops_session_unlock(lock);
    return st;
}

ops_status_t ops_api_call(ops_api_t *api, const char *method, const char *path,
                          const cJSON *body, ops_api_resp_t *resp, ops_err_t *err)
{
    if (!ops_api_session(api, err)) return err->st;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    if (body && !text) return ops_fail(err, OPS_FAIL, "out of memory");
    ops_status_t st = OPS_OK;
    if (api->s.expires_at && api->s.expires_at <= now_s()) st = refresh(api, err);
    if (st == OPS_OK) st = send_once(api, method, path, api->s.access_token, text, resp, err);
    if (st == OPS_OK && resp->status == 401 && api->s.refresh_token[0]) {
        st = refresh(api, err);
        if (st == OPS_OK) st = send_once(api, method, path, api->s.access_token, text, resp, err);
    }
    free(text);
    if (st == OPS_OK && resp->status >= 400) st = api_error(resp, method, path, err);
    return st;
}

ops_status_t ops_api_login(ops_api_t *api, const char *email, const char *password,
                           ops_err_t *err)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "email", email);
    cJSON_AddStringToObject(b, "password", password);
    char *text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!text) return ops_fail(err, OPS_FAIL, "out of memory");
    ops_api_resp_t r = OPS_API_RESP_INIT;
    ops_status_t st = send_once(api, "POST", "/api/auth/login", NULL, text, &r, err);
    memset(text, 0, strlen(text)); /* the password */
    free(text);
    if (st == OPS_OK && r.status != 200) st = api_error(&r, "POST", "/api/auth/login", err);
    ops_session_t s;
    memset(&s, 0, sizeof s);
    if (st == OPS_OK) st = take_pair(&s, r.json, err);
    ops_api_resp_free(&r);
    if (st != OPS_OK) return st;
    snprintf(s.gateway, sizeof s.gateway, "%s", api->gateway);
    snprintf(s.email, sizeof s.email, "%s", email);
    st = send_once(api, "GET", "/api/auth/validate", s.access_token, NULL, &r, err);
    if (st == OPS_OK && r.status == 200) {
        const cJSON *uid = cJSON_GetObjectItemCaseSensitive(r.json, "user_id");
        if (cJSON_IsNumber(uid)) s.user_id = (int64_t)uid->valuedouble;
    }
    ops_api_resp_free(&r);
    api->s = s;
    api->loaded = true;
    return ops_session_save(api->state_dir, &s, err);
}

ops_status_t ops_api_logout(ops_api_t *api, ops_err_t *err)
{
    if (!ops_api_session(api, err)) return err->st;
    buf_t body = BUF_INIT;
    buf_puts(&body, "{\"refresh_token\":");
    buf_json_str(&body, api->s.refresh_token);
    buf_putc(&body, '}');
    ops_api_resp_t r = OPS_API_RESP_INIT;
    ops_status_t st = send_once(api, "POST", "/api/auth/logout", NULL, buf_str(&body), &r, err);
    buf_free(&body);
    if (st == OPS_OK && r.status >= 400 && r.status != 401)
        st = api_error(&r, "POST", "/api/auth/logout", err);
    ops_api_resp_free(&r);
    ops_session_remove(api->state_dir);
    api->loaded = false;
    memset(&api->s, 0, sizeof api->s);
    return st;
}

ops_status_t ops_api_whoami(ops_api_t *api, ops_api_resp_t *resp, ops_err_t *err)
{
    return ops_api_call(api, "GET", "/api/auth/validate", NULL, resp, err);
}

ops_status_t ops_api_tasks_list(ops_api_t *api, const ops_task_filter_t *f,
                                ops_api_resp_t *resp, ops_err_t *err)
{
    buf_t p = BUF_INIT;
    buf_puts(&p, "/api/tasks");
    char sep = '?';
    if (f->done >= 0) {
        buf_printf(&p, "%cdone=%s", sep, f->done ? "true" : "false");
        sep = '&';
    }
    const char *names[] = {"tag", "q", "cursor"};
    const char *vals[] = {f->tag, f->q, f->cursor};
    for (int i = 0; i < 3; i++)
        if (vals[i]) {
            buf_printf(&p, "%c%s=", sep, names[i]);
            ops_url_encode(&p, vals[i]);
            sep = '&';
        }
    if (f->limit > 0) buf_printf(&p, "%climit=%d", sep, f->limit);
    ops_status_t st = p.oom ? ops_fail(err, OPS_FAIL, "out of memory")
                            : ops_api_call(api, "GET", buf_str(&p), NULL, resp, err);
    buf_free(&p);
    return st;
}

static ops_status_t call_id(ops_api_t *api, const char *method, int64_t id, const char *suffix,
                            const cJSON *body, ops_api_resp_t *resp, ops_err_t *err)
{
    char path[96];
    snprintf(path, sizeof path, "/api/tasks/%lld%s", (long long)id, suffix);
    return ops_api_call(api, method, path, body, resp, err);
}

ops_status_t ops_api_task_get(ops_api_t *api, int64_t id, ops_api_resp_t *resp, ops_err_t *err)
{
    return call_id(api, "GET", id, "", NULL, resp, err);
}

ops_status_t ops_api_task_create(ops_api_t *api, const cJSON *body, ops_api_resp_t *resp,
                                 ops_err_t *err)
{
    return ops_api_call(api, "POST", "/api/tasks", body, resp, err);
}

ops_status_t ops_api_task_patch(ops_api_t *api, int64_t id, const cJSON *body,
                                ops_api_resp_t *resp, ops_err_t *err)
{
    return call_id(api, "PATCH", id, "", body, resp, err);
}

ops_status_t ops_api_task_complete(ops_api_t *api, int64_t id, ops_api_resp_t *resp,
                                   ops_err_t *err)
{
    return call_id(api, "POST", id, "/complete", NULL, resp, err);
}

ops_status_t ops_api_task_delete(ops_api_t *api, int64_t id, ops_api_resp_t *resp,
                                 ops_err_t *err)
{
    return call_id(api, "DELETE", id, "", NULL, resp, err);
}

ops_status_t ops_api_notifications(ops_api_t *api, int limit, const char *cursor,
                                   ops_api_resp_t *resp, ops_err_t *err)
{
    buf_t p = BUF_INIT;
    buf_puts(&p, "/api/notifications");
    char sep = '?';
    if (limit > 0) {
        buf_printf(&p, "?limit=%d", limit);
        sep = '&';
    }
    if (cursor) {
        buf_printf(&p, "%ccursor=", sep);
        ops_url_encode(&p, cursor);
    }
    ops_status_t st = ops_api_call(api, "GET", buf_str(&p), NULL, resp, err);
    buf_free(&p);
    return st;
}

ops_status_t ops_api_notification_read(ops_api_t *api, const char *id, ops_api_resp_t *resp,
                                       ops_err_t *err)
{
    buf_t p = BUF_INIT;
    buf_puts(&p, "/api/notifications/");
    ops_url_encode(&p, id);
    buf_puts(&p, "/read");
    ops_status_t st = ops_api_call(api, "POST", buf_str(&p), NULL, resp, err);
    buf_free(&p);
    return st;
}
