/* ops_jaeger — Jaeger query API client; see ops_jaeger.h. */
#include "ops_jaeger.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ops_api.h"
#include "ops_http.h"

struct ops_jaeger {
    ops_http_t *http;
    char base[512];
};

ops_jaeger_t *ops_jaeger_new(const char *base)
{
    ops_jaeger_t *jq = calloc(1, sizeof *jq);
    if (!jq || !(jq->http = ops_http_new(2000, 20000))) {
        free(jq);
        return NULL;
    }
    snprintf(jq->base, sizeof jq->base, "%s", base);
    size_t l = strlen(jq->base);
    while (l && jq->base[l - 1] == '/') jq->base[--l] = '\0';
    return jq;
}

void ops_jaeger_free(ops_jaeger_t *jq)
{
    if (!jq) return;
    ops_http_free(jq->http);
    free(jq);
}

/* GETs base+path and returns the answer's "data" member (detached). */
static ops_status_t get_data(ops_jaeger_t *jq, const char *path, cJSON **out, ops_err_t *err)
{
    *out = NULL;
    buf_t url = BUF_INIT;
    buf_printf(&url, "%s%s", jq->base, path);
    ops_http_resp_t r = OPS_HTTP_RESP_INIT;
    ops_status_t st = ops_http_do(jq->http, "GET", buf_str(&url), NULL, NULL, 0, &r, err);
    if (st == OPS_UNREACHABLE) ops_fail(err, st, "jaeger (%s): %s", jq->base, err->msg);
    if (st == OPS_OK) {
        cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
        if (r.status == 404)
            st = ops_fail(err, OPS_FAIL, "not found in jaeger (%s%s)", jq->base, path);
        else if (r.status != 200 || !j)
            st = ops_fail(err, r.status >= 502 ? OPS_UNREACHABLE : OPS_FAIL,
                          "jaeger (%s): GET %s: HTTP %ld", jq->base, path, r.status);
        else if (!(*out = cJSON_DetachItemFromObjectCaseSensitive(j, "data")) ||
                 cJSON_IsNull(*out))
            st = ops_fail(err, OPS_FAIL, "jaeger (%s): GET %s: no data", jq->base, path);
        cJSON_Delete(j);
        if (st != OPS_OK) {
            cJSON_Delete(*out);
            *out = NULL;
        }
    }
    ops_http_resp_free(&r);
    buf_free(&url);
    return st;
}

ops_status_t ops_jaeger_services(ops_jaeger_t *jq, cJSON **out, ops_err_t *err)
{
    return get_data(jq, "/api/services", out, err);
}

ops_status_t ops_jaeger_operations(ops_jaeger_t *jq, const char *service, cJSON **out,
                                   ops_err_t *err)
{
    buf_t p = BUF_INIT;
    buf_puts(&p, "/api/operations?service=");
    ops_url_encode(&p, service);
    ops_status_t st = get_data(jq, buf_str(&p), out, err);
    buf_free(&p);
    return st;
}

ops_status_t ops_jaeger_find(ops_jaeger_t *jq, const ops_jaeger_query_t *q, cJSON **out,
                             ops_err_t *err)
{
    if (!q->service || !*q->service)
        return ops_fail(err, OPS_USAGE, "a service is required to search traces");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t end = q->end_us ? q->end_us : (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    int64_t start = q->start_us ? q->start_us : end - 3600LL * 1000000;
    buf_t p = BUF_INIT;
    buf_puts(&p, "/api/traces?service=");
    ops_url_encode(&p, q->service);
    const char *names[] = {"operation", "tags", "minDuration", "maxDuration"};
    const char *vals[] = {q->operation, q->tags, q->min_duration, q->max_duration};
    for (int i = 0; i < 4; i++)
        if (vals[i] && *vals[i]) {
            buf_printf(&p, "&%s=", names[i]);
            ops_url_encode(&p, vals[i]);
        }
    buf_printf(&p, "&start=%lld&end=%lld&limit=%d", (long long)start, (long long)end,
               q->limit > 0 ? q->limit : 20);
    ops_status_t st = get_data(jq, buf_str(&p), out, err);
    buf_free(&p);
    return st;
}

ops_status_t ops_jaeger_trace(ops_jaeger_t *jq, const char *trace_id, cJSON **out, ops_err_t *err)
{
    *out = NULL;
    size_t l = strlen(trace_id);
    if (l == 0 || l > 32 || strspn(trace_id, "0123456789abcdefABCDEF") != l)
        return ops_fail(err, OPS_USAGE, "'%s' is not a trace id (up to 32 hex digits)", trace_id);
    char path[64];
    snprintf(path, sizeof path, "/api/traces/%s", trace_id);
    cJSON *data;
    ops_status_t st = get_data(jq, path, &data, err);
    if (st != OPS_OK) {
        if (st == OPS_FAIL && strstr(err->msg, "not found"))
            ops_fail(err, OPS_FAIL, "trace %s not found in jaeger", trace_id);
        return st;
    }
    if (!cJSON_IsArray(data) || cJSON_GetArraySize(data) == 0) {
        cJSON_Delete(data);
        return ops_fail(err, OPS_FAIL, "trace %s not found in jaeger", trace_id);
    }
    *out = cJSON_DetachItemFromArray(data, 0);
    cJSON_Delete(data);
    return OPS_OK;
}
