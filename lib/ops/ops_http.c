/* ops_http — libcurl with keep-alive and bounded bodies; see ops_http.h. */
#include "ops_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redact.h"

#define BODY_MAX (64u << 20)

struct ops_http {
    CURL *c;
    long connect_ms, total_ms;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    ops_http_resp_t *r = arg;
    size_t len = size * n;
    if (r->body.len + len > BODY_MAX || buf_append(&r->body, p, len) < 0) return 0;
    return len;
}

/* Copies a header's value (trimmed) when its name matches. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':') return;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
    if (vl >= outlen) vl = outlen - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    ops_http_resp_t *r = arg;
    size_t len = size * n;
    header_value(p, len, "X-Read-Source", r->read_source, sizeof r->read_source);
    header_value(p, len, "Content-Type", r->content_type, sizeof r->content_type);
    char ra[32] = "";
    header_value(p, len, "Retry-After", ra, sizeof ra);
    if (ra[0]) r->retry_after_s = strtol(ra, NULL, 10);
    return len;
}

ops_http_t *ops_http_new(long connect_ms, long total_ms)
{
    static int inited;
    if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) return NULL;
    inited = 1;
    ops_http_t *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->c = curl_easy_init();
    if (!h->c) {
        free(h);
        return NULL;
    }
    h->connect_ms = connect_ms > 0 ? connect_ms : 2000;
    h->total_ms = total_ms > 0 ? total_ms : 10000;
    return h;
}

void ops_http_set_timeout(ops_http_t *h, long total_ms)
{
    if (h && total_ms > 0) h->total_ms = total_ms;
}

void ops_url_redact(const char *url, char *out, size_t outlen)
{
    /* lib/redact is the one redactor; a bare host:port (Kafka brokers) carries nothing to hide,
     * and redact() would hide it whole */
    if (strstr(url, "://") || strchr(url, '='))
        redact(url, out, outlen);
    else
        snprintf(out, outlen, "%s", url);
}

ops_status_t ops_http_do(ops_http_t *h, const char *method, const char *url,
                         const char *const *headers, const char *body, size_t len,
                         ops_http_resp_t *resp, ops_err_t *err)
{
    buf_reset(&resp->body);
    resp->status = 0;
    resp->read_source[0] = resp->content_type[0] = '\0';
    resp->retry_after_s = -1;
    CURL *c = h->c;
    curl_easy_reset(c); /* keeps the connection cache: keep-alive survives */
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    if (body) hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Accept: application/json");
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->total_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "todo-console");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hl);
    if (rc != CURLE_OK) {
        char safe[512];
        ops_url_redact(url, safe, sizeof safe);
        ops_status_t st = rc == CURLE_WRITE_ERROR ? OPS_FAIL : OPS_UNREACHABLE;
        return ops_fail(err, st, "%s %s: %s", method, safe,
                        rc == CURLE_WRITE_ERROR ? "answer too large" : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (resp->body.oom) return ops_fail(err, OPS_FAIL, "out of memory");
    return OPS_OK;
}

void ops_http_resp_free(ops_http_resp_t *r)
{
    buf_free(&r->body);
}

void ops_http_free(ops_http_t *h)
{
    if (!h) return;
    curl_easy_cleanup(h->c);
    free(h);
}
