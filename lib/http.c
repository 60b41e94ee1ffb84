/* http — routing, request parsing, responses, built-in endpoints and per-request
 * observability over libmicrohttpd. The contract and the threading model are in http.h;
 * comments here say why.
 *
 * The life of a request, all on its connection's thread:
 *   1st callback   create the http_req, match the route, start the span; a Content-Length
 *                  over the limit is answered 413 right here (MHD then skips the body and
 *                  closes the connection, which is the point); otherwise answer nothing yet:
 *                  queuing on the first call makes MHD 0.9.75 drop keep-alive
 *   body callbacks append to the body buffer, never past max_body
 *   last callback  validate, parse, run the handler, queue its answer
 *   completed      metrics, access log, end the span, free (MHD_OPTION_NOTIFY_COMPLETED) */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

enum { MAX_SEGMENTS = 16, MAX_PARAMS = 8, MAX_QUERY = 64, REQ_ID_MAX = 64 };

#define DEFAULT_MAX_BODY (64u * 1024u)
#define DEFAULT_MAX_CONNECTIONS 256u
#define DEFAULT_TIMEOUT_S 15u
#define DEFAULT_DRAIN_MS 10000u
#define UNMATCHED_ROUTE "unmatched"

typedef struct route_seg {
    char *text; /* literal text, or the parameter name without braces */
    bool param;
} route_seg;

typedef struct route {
    char *method;
    char *pattern;
    char *label;
    http_handler_fn handler;
    bool quiet; /* built-in probes: access-logged at debug so scrapes do not flood the log */
    route_seg segs[MAX_SEGMENTS];
    int nsegs;
} route;

typedef struct check {
    char *name;
    http_check_fn fn;
    void *arg;
} check;

struct http_server {
    struct MHD_Daemon *daemon;
    MHD_socket listen_fd; /* after quiesce: ours to shut down and close */
    route *routes;
    size_t nroutes;
    check *checks;
    size_t nchecks;
    metrics_registry_t *metrics;
    bool own_metrics;
    metrics_family_t *m_requests;
    metrics_family_t *m_duration;
    size_t max_body;
    unsigned drain_timeout_ms;
    void *user;
    uint16_t port;
    atomic_bool draining;
    atomic_bool started; /* MHD threads may log before MHD_start_daemon returns */
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when inflight drops to 0 */
    unsigned inflight;
    char start_err[256]; /* the last libmicrohttpd message during start, for the error */
};

typedef struct kv {
    const char *key;
    const char *value;
} kv;

typedef struct out_header {
    char *name;
    char *value;
} out_header;

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method; /* owned by MHD for the request's lifetime */
    const char *path;
    const route *route;
    char allow[96]; /* methods the path allows, when the method did not match */
    char *path_copy;
    const char *param_names[MAX_PARAMS];
    const char *param_values[MAX_PARAMS];
    int nparams;
    kv query[MAX_QUERY];
    int nquery;
    const char *query_problem; /* why the query string is unacceptable, or NULL */
    char *body;
    size_t body_len;
    size_t body_cap;
    cJSON *json;
    char id[REQ_ID_MAX + 1];
    trace_span_t *span;
    int64_t start_ns; /* clock_mono_ns() */
    /* the answer, built by the handler and queued after it returns */
    int status; /* 0: not answered yet */
    char *resp_body;
    size_t resp_len;
    char *resp_type;
    out_header *hdrs;
    size_t nhdrs;
    int queued_status; /* what was actually queued; 0 if nothing was */
    size_t bytes_out;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls);
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void builtin_health(http_req *req, void *user);
static void builtin_ready(http_req *req, void *user);
static void builtin_metrics(http_req *req, void *user);
static size_t utf8_invalid_at(const unsigned char *s, size_t n);

/* ==== small helpers ===================================================================== */

/* The offset of the first JSON string escape \u0000 in s[0..n), or n when there is none
 * (escapes outside strings cannot occur in valid JSON, and invalid JSON is refused anyway). */
static size_t nul_escape_at(const char *s, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            in_str = s[i] == '"';
        } else if (s[i] == '"') {
            in_str = false;
        } else if (s[i] == '\\' && i + 1 < n) {
            if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0) return i;
            i++; /* the escaped character (\" or \\ included) */
        }
    }
    return n;
}

/* Returns n when s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), else the offset of the first bad byte. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return i;
        }
        if (i + need >= n) return i; /* truncated sequence */
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return n;
}

static bool valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || n >= REQ_ID_MAX) return false;
    }
    return n > 0;
}

static void new_request_id(char out[REQ_ID_MAX + 1])
{
    static atomic_uint_fast64_t fallback;
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        /* no entropy yet (early boot): unique within the process is enough for an id */
        uint64_t v = atomic_fetch_add(&fallback, 1) ^ (uint64_t)time(NULL) << 20;
        memcpy(rnd, &v, sizeof rnd);
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

/* Bounded label values: an arbitrary method token must not create a new metric series. */
static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(m, known[i])) return known[i];
    return "OTHER";
}

static bool method_matches(const route *rt, const char *method)
{
    return !strcmp(rt->method, method) || (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"));
}

/* "application/json", optionally with parameters ("; charset=utf-8"), any case. */
static bool is_json_type(const char *ct)
{
    if (!ct) return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    static const char want[] = "application/json";
    if (strncasecmp(ct, want, sizeof want - 1) != 0) return false;
    const char *rest = ct + sizeof want - 1;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

/* ==== route table ======================================================================= */

static void route_free(route *rt)
{
    free(rt->method);
    free(rt->pattern);
    free(rt->label);
    for (int i = 0; i < rt->nsegs; i++)
        free(rt->segs[i].text);
}

/* Splits and checks a pattern once at start, so a typo fails start-up instead of producing
 * a route that never matches. */
static int route_compile(route *rt, const char *method, const char *pattern, const char *label,
                         http_handler_fn handler, char *err, size_t errlen)
{
    memset(rt, 0, sizeof *rt);
    if (!method || !*method || !pattern || !handler) {
        snprintf(err, errlen, "route %s %s: method, pattern and handler are required",
                 method ? method : "(null)", pattern ? pattern : "(null)");
        return -1;
    }
    for (const char *m = method; *m; m++) {
        if (*m < 'A' || *m > 'Z') {
            snprintf(err, errlen, "route %s %s: the method must be upper-case letters", method,
                     pattern);
            return -1;
        }
    }
    if (pattern[0] != '/') {
        snprintf(err, errlen, "route %s %s: the pattern must start with '/'", method, pattern);
        return -1;
    }
    rt->method = strdup(method);
    rt->pattern = strdup(pattern);
    rt->label = strdup(label ? label : pattern);
    rt->handler = handler;
    if (!rt->method || !rt->pattern || !rt->label) goto oom;
    const char *p = pattern + 1;
    int nparams = 0;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || rt->nsegs == MAX_SEGMENTS) {
            snprintf(err, errlen, "route %s %s: %s", method, pattern,
                     n == 0 ? "empty path segment" : "too many segments");
            goto fail;
        }
        route_seg *s = &rt->segs[rt->nsegs];
        if (p[0] == '{') {
            bool ok = n >= 3 && p[n - 1] == '}';
            for (size_t i = 1; ok && i + 1 < n; i++) {
                char c = p[i];
                ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                     (i > 1 && c >= '0' && c <= '9');
            }
            if (!ok || ++nparams > MAX_PARAMS) {
                snprintf(err, errlen, "route %s %s: bad parameter segment '%.*s'", method, pattern,
                         (int)n, p);
                goto fail;
            }
            s->param = true;
            s->text = strndup(p + 1, n - 2);
        } else {
            if (memchr(p, '{', n) || memchr(p, '}', n)) {
                snprintf(err, errlen, "route %s %s: a parameter must be a whole segment", method,
                         pattern);
                goto fail;
            }
            s->text = strndup(p, n);
        }
        if (!s->text) goto oom;
        rt->nsegs++;
        p += n;
        if (*p == '/') {
            p++;
            if (!*p) {
                snprintf(err, errlen, "route %s %s: trailing '/'", method, pattern);
                goto fail;
            }
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    route_free(rt);
    return -1;
}

/* True when the "A,B," list holds token ("B,") as a whole entry. */
static bool list_has(const char *list, const char *token)
{
    for (const char *p = list; (p = strstr(p, token)) != NULL; p++)
        if (p == list || p[-1] == ',') return true;
    return false;
}

/* Finds the route for method + path. Fills req->route and its parameters, or, when only the
 * method is wrong, req->allow with the methods the path accepts. */
static void route_match(http_server *s, http_req *r)
{
    r->path_copy = strdup(r->path);
    if (!r->path_copy || r->path[0] != '/') return;
    char *segs[MAX_SEGMENTS];
    int nsegs = 0;
    char *p = r->path_copy + 1;
    while (*p) {
        if (nsegs == MAX_SEGMENTS) return;
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (!*p) return; /* "//" or a trailing '/': no route has empty segments */
        segs[nsegs++] = p;
        if (!slash) break;
        p = slash + 1;
        if (!*p) return;
    }
    size_t allow_len = 0;
    bool allow_head = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const route *rt = &s->routes[i];
        if (rt->nsegs != nsegs) continue;
        bool ok = true;
        for (int k = 0; ok && k < nsegs; k++)
            ok = rt->segs[k].param || !strcmp(rt->segs[k].text, segs[k]);
        if (!ok) continue;
        if (method_matches(rt, r->method)) {
            r->route = rt;
            r->nparams = 0;
            for (int k = 0; k < nsegs; k++) {
                if (!rt->segs[k].param) continue;
                r->param_names[r->nparams] = rt->segs[k].text;
                r->param_values[r->nparams++] = segs[k];
            }
            return;
        }
        /* collect the Allow list, each method once */
        char token[32];
        snprintf(token, sizeof token, "%s,", rt->method);
        if (!list_has(r->allow, token)) {
            size_t tl = strlen(token);
            if (allow_len + tl < sizeof r->allow) {
                memcpy(r->allow + allow_len, token, tl + 1);
                allow_len += tl;
            }
        }
        if (!strcmp(rt->method, "GET")) allow_head = true;
    }
    if (allow_head && allow_len + 5 < sizeof r->allow && !list_has(r->allow, "HEAD,")) {
        memcpy(r->allow + allow_len, "HEAD,", 6);
        allow_len += 5;
    }
    if (allow_len > 0) {
        /* "GET,POST," -> "GET, POST" */
        char pretty[sizeof r->allow];
        size_t o = 0;
        for (size_t i = 0; i + 1 < allow_len && o + 2 < sizeof pretty; i++) {
            pretty[o++] = r->allow[i];
            if (r->allow[i] == ',') pretty[o++] = ' ';
        }
        pretty[o] = '\0';
        snprintf(r->allow, sizeof r->allow, "%s", pretty);
    }
}

/* ==== request object ==================================================================== */

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    http_req *r = cls;
    if (!value) value = "", value_size = 0;
    /* a decoded %00 would cut the C string a handler sees; reject rather than truncate */
    if (strlen(key) != key_size || strlen(value) != value_size) {
        r->query_problem = "a query parameter contains a NUL byte";
    } else if (utf8_invalid_at((const unsigned char *)key, key_size) != key_size ||
               utf8_invalid_at((const unsigned char *)value, value_size) != value_size) {
        r->query_problem = "a query parameter is not valid UTF-8";
    } else if (r->nquery == MAX_QUERY) {
        r->query_problem = "too many query parameters";
    } else {
        r->query[r->nquery].key = key;
        r->query[r->nquery++].value = value;
        return MHD_YES;
    }
    return MHD_NO;
}

static http_req *req_new(http_server *s, struct MHD_Connection *conn, const char *url,
                         const char *method)
{
    http_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->start_ns = clock_mono_ns();
    r->srv = s;
    r->conn = conn;
    r->method = method;
    r->path = url;
    route_match(s, r);
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_query, r);

    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && valid_request_id(rid))
        snprintf(r->id, sizeof r->id, "%s", rid);
    else
        new_request_id(r->id);

    trace_ctx_t remote;
    const char *tp = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent");
    bool has_parent = tp && trace_parent_parse(tp, &remote) == 0;
    char name[160];
    if (r->route)
        snprintf(name, sizeof name, "%s %s", method_label(method), r->route->label);
    else
        snprintf(name, sizeof name, "%s", method_label(method));
    r->span = trace_span_start(name, TRACE_KIND_SERVER, has_parent ? &remote : NULL);
    trace_span_set_str(r->span, "http.request.method", method);
    trace_span_set_str(r->span, "url.path", url);
    if (r->route) trace_span_set_str(r->span, "http.route", r->route->label);
    trace_span_set_str(r->span, "http.request_id", r->id);

    pthread_mutex_lock(&s->mu);
    s->inflight++;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void req_clear_answer(http_req *r)
{
    free(r->resp_body);
    free(r->resp_type);
    r->resp_body = NULL;
    r->resp_type = NULL;
    r->resp_len = 0;
}

static void req_free(http_req *r)
{
    req_clear_answer(r);
    for (size_t i = 0; i < r->nhdrs; i++) {
        free(r->hdrs[i].name);
        free(r->hdrs[i].value);
    }
    free(r->hdrs);
    cJSON_Delete(r->json);
    free(r->body);
    free(r->path_copy);
    free(r);
}

const char *http_req_method(const http_req *req)
{
    return req->method;
}

const char *http_req_path(const http_req *req)
{
    return req->path;
}

const char *http_req_route(const http_req *req)
{
    return req->route ? req->route->label : UNMATCHED_ROUTE;
}

const char *http_req_param(const http_req *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (!strcmp(req->param_names[i], name)) return req->param_values[i];
    return NULL;
}

const char *http_req_query(const http_req *req, const char *name)
{
    for (int i = 0; i < req->nquery; i++)
        if (!strcmp(req->query[i].key, name)) return req->query[i].value;
    return NULL;
}

const char *http_req_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 19) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v <= 0) return -1;
    *out = v;
    return 0;
}

static bool token68_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

int http_bearer_parse(const char *header, const char **tok, size_t *len)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return -1;
    const char *p = header + 7;
    while (*p == ' ') p++;
    size_t n = 0;
    while (token68_char(p[n]))
        if (++n > HTTP_BEARER_MAX) return -2;
    const char *end = p + n;
    while (*end == ' ') end++;
    if (n == 0 || *end) return -1;
    *tok = p;
    *len = n;
    return 0;
}

http_bearer_t http_req_bearer(const http_req *req, const char **tok, size_t *len)
{
    const char *h = http_req_header(req, "Authorization");
    if (!h) return HTTP_BEARER_MISSING;
    int rc = http_bearer_parse(h, tok, len);
    return rc == 0 ? HTTP_BEARER_OK : rc == -2 ? HTTP_BEARER_TOO_LARGE : HTTP_BEARER_MALFORMED;
}

const cJSON *http_req_json(const http_req *req)
{
    return req->json;
}

const char *http_req_body(const http_req *req, size_t *len)
{
    if (len) *len = req->body_len;
    return req->body ? req->body : "";
}

const char *http_req_id(const http_req *req)
{
    return req->id;
}

trace_span_t *http_req_span(http_req *req)
{
    return req->span;
}

/* ==== responses ========================================================================= */

int http_respond(http_req *req, int status, const char *content_type, const void *body, size_t len)
{
    req_clear_answer(req);
    req->status = status;
    if (len == 0) return 0;
    req->resp_body = malloc(len);
    req->resp_type = strdup(content_type ? content_type : "application/octet-stream");
    if (!req->resp_body || !req->resp_type) {
        req_clear_answer(req);
        req->status = 0; /* the caller of dispatch turns "no answer" into a 500 */
        return -1;
    }
    memcpy(req->resp_body, body, len);
    req->resp_len = len;
    return 0;
}

int http_respond_json_str(http_req *req, int status, const char *json)
{
    return http_respond(req, status, "application/json", json, strlen(json));
}

int http_respond_json(http_req *req, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        req->status = 0;
        return -1;
    }
    int rc = http_respond_json_str(req, status, text);
    cJSON_free(text);
    return rc;
}

int http_respond_empty(http_req *req, int status)
{
    return http_respond(req, status, NULL, NULL, 0);
}

int http_error(http_req *req, int status, const char *code, const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    if (!e || !cJSON_AddStringToObject(e, "code", code ? code : "error") ||
        !cJSON_AddStringToObject(e, "message", message ? message : "")) {
        cJSON_Delete(root);
        req->status = 0;
        return -1;
    }
    return http_respond_json(req, status, root);
}

int http_errorf(http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return http_error(req, status, code, msg);
}

int http_set_header(http_req *req, const char *name, const char *value)
{
    if (!name || !value || !*name || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return -1;
    out_header *grown = realloc(req->hdrs, (req->nhdrs + 1) * sizeof *grown);
    if (!grown) return -1;
    req->hdrs = grown;
    out_header *h = &req->hdrs[req->nhdrs];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return -1;
    }
    req->nhdrs++;
    return 0;
}

/* Hands the answer to MHD. The body moves to the MHD response (freed by MHD). */
static enum MHD_Result queue_answer(http_req *r)
{
    http_server *s = r->srv;
    struct MHD_Response *resp;
    if (r->status == 204 || r->status == 304 || r->status < 200)
        req_clear_answer(r); /* these statuses never carry a body, whatever the handler said */
    if (r->resp_len > 0) {
        resp = MHD_create_response_from_buffer_with_free_callback(r->resp_len, r->resp_body, free);
        if (resp) r->resp_body = NULL;
    } else {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    if (r->resp_len > 0) MHD_add_response_header(resp, "Content-Type", r->resp_type);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    trace_ctx_t ctx;
    if (trace_span_ctx(r->span, &ctx) == 0) {
        char tp[TRACE_PARENT_LEN + 1];
        trace_parent_format(&ctx, tp);
        MHD_add_response_header(resp, "traceparent", tp);
    }
    for (size_t i = 0; i < r->nhdrs; i++)
        MHD_add_response_header(resp, r->hdrs[i].name, r->hdrs[i].value);
    /* while draining, move keep-alive clients off this server */
    if (atomic_load(&s->draining)) MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES) {
        r->queued_status = r->status;
        r->bytes_out = r->resp_len;
    }
    return rc;
}

/* ==== dispatch ========================================================================== */

/* Checks what every handler would otherwise check, then runs the handler with the span
 * current. Leaves the answer in r. */
static void dispatch(http_req *r)
{
    http_server *s = r->srv;
    if (!r->route) {
        if (r->allow[0]) {
            http_set_header(r, "Allow", r->allow);
            http_errorf(r, 405, "method_not_allowed", "%.32s is not allowed here; use %s",
                        r->method, r->allow);
        } else {
            http_error(r, 404, "not_found", "no such endpoint");
        }
        return;
    }
    if (r->query_problem) {
        http_error(r, 400, "invalid_query", r->query_problem);
        return;
    }
    if (r->body_len > 0) {
        const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
        if (!is_json_type(ct)) {
            http_error(r, 415, "unsupported_media_type",
                       "request bodies must be JSON with Content-Type: application/json");
            return;
        }
        const char *nul = memchr(r->body, '\0', r->body_len);
        if (nul) {
            http_errorf(r, 400, "invalid_json", "request body contains a NUL byte at offset %zu",
                        (size_t)(nul - r->body));
            return;
        }
        size_t bad = utf8_invalid_at((const unsigned char *)r->body, r->body_len);
        if (bad != r->body_len) {
            http_errorf(r, 400, "invalid_json", "request body is not valid UTF-8 at offset %zu",
                        bad);
            return;
        }
        size_t esc = nul_escape_at(r->body, r->body_len);
        if (esc != r->body_len) {
            /* cJSON would end the string there: "pass\u0000x" would become "pass" */
            http_errorf(r, 400, "invalid_json",
                        "strings must not contain NUL characters (\\u0000 at offset %zu)", esc);
            return;
        }
        const char *end = NULL;
        r->json = cJSON_ParseWithOpts(r->body, &end, 1);
        if (!r->json) {
            size_t at = end && end >= r->body ? (size_t)(end - r->body) : 0;
            http_errorf(r, 400, "invalid_json", "request body is not valid JSON (at offset %zu)",
                        at);
            return;
        }
    }
    trace_span_activate(r->span);
    r->route->handler(r, s->user);
    if (!r->status) {
        log_error("handler gave no answer", LOG_STR("route", r->route->label),
                  LOG_STR("request_id", r->id));
        http_error(r, 500, "internal", "internal error");
    }
    trace_span_deactivate(r->span);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = req_new(s, conn, url, method);
        if (!r) return MHD_NO;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            errno = 0;
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == ERANGE || n > s->max_body) {
                /* answering before the body makes MHD discard it and close the connection:
                 * the client stops sending instead of us reading a megabyte to say no */
                http_errorf(r, 413, "payload_too_large", "request body exceeds %zu bytes",
                            s->max_body);
                if (!r->status) return MHD_NO;
                return queue_answer(r);
            }
            if (n > 0 && (r->body = malloc((size_t)n + 1)) != NULL) r->body_cap = (size_t)n + 1;
        }
        return MHD_YES;
    }
    if (r->queued_status) {
        *upload_data_size = 0; /* answered early: whatever still comes is dropped */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (n > s->max_body - r->body_len) {
            /* only a chunked upload gets here (Content-Length was checked); MHD cannot answer
             * mid-body, so close rather than read on */
            log_warn("request body over the limit; closing the connection",
                     LOG_STR("path", r->path), LOG_INT("limit", (int64_t)s->max_body),
                     LOG_STR("request_id", r->id));
            return MHD_NO;
        }
        if (r->body_len + n + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 1024;
            while (cap < r->body_len + n + 1)
                cap *= 2;
            if (cap > s->max_body + 1) cap = s->max_body + 1;
            char *grown = realloc(r->body, cap);
            if (!grown) return MHD_NO;
            r->body = grown;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    dispatch(r);
    if (!r->status) http_error(r, 500, "internal", "internal error");
    if (!r->status) return MHD_NO; /* out of memory even for the error: drop the connection */
    return queue_answer(r);
}

/* ==== completion: metrics, access log, span ============================================ */

static const char *termination_reason(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return "completed";
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "server shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "read error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client abort";
    }
    return "unknown";
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;

    double secs = clock_since_s(r->start_ns);
    double ms = (double)llround(secs * 1e6) / 1e3; /* microsecond precision reads cleanly */
    const char *route_label = http_req_route(r);
    const char *mlabel = method_label(r->method);
    trace_span_activate(r->span); /* so the access log line carries the trace and span ids */
    if (r->queued_status) {
        char status[8];
        snprintf(status, sizeof status, "%d", r->queued_status);
        metrics_add(metrics_series(s->m_requests, METRICS_LABELS(route_label, mlabel, status)), 1);
        metrics_observe(metrics_series(s->m_duration, METRICS_LABELS(route_label, mlabel)), secs);
        log_level_t level = r->queued_status >= 500         ? LOG_ERROR
                            : (r->route && r->route->quiet) ? LOG_DEBUG
                                                            : LOG_INFO;
        if (log_enabled(level)) {
            log_field_t f[] = {
                LOG_STR("method", r->method),
                LOG_STR("path", r->path),
                LOG_STR("route", route_label),
                LOG_INT("status", r->queued_status),
                LOG_DOUBLE("duration_ms", ms),
                LOG_STR("request_id", r->id),
                LOG_INT("bytes_in", (int64_t)r->body_len),
                LOG_INT("bytes_out", (int64_t)r->bytes_out),
                LOG_STR("outcome", termination_reason(toe)),
            };
            log_emit(level, "request", f, sizeof f / sizeof f[0]);
        }
        trace_span_set_int(r->span, "http.response.status_code", r->queued_status);
        if (r->queued_status >= 500) trace_span_set_status(r->span, TRACE_STATUS_ERROR, NULL);
    } else {
        log_warn("request ended without an answer", LOG_STR("method", r->method),
                 LOG_STR("path", r->path), LOG_STR("route", route_label),
                 LOG_DOUBLE("duration_ms", ms), LOG_STR("request_id", r->id),
                 LOG_STR("outcome", termination_reason(toe)));
        trace_span_set_status(r->span, TRACE_STATUS_ERROR, termination_reason(toe));
    }
    trace_span_end(r->span); /* also pops it from this thread's current spans */
    req_free(r);

    pthread_mutex_lock(&s->mu);
    if (--s->inflight == 0) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server *s = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (!atomic_load(&s->started)) snprintf(s->start_err, sizeof s->start_err, "%s", msg);
    log_warn("libmicrohttpd", LOG_STR("detail", msg));
}

/* ==== built-in endpoints ================================================================ */

static void builtin_health(http_req *req, void *user)
{
    (void)user;
    http_respond_json_str(req, 200, "{\"status\":\"ok\"}");
}

static void builtin_ready(http_req *req, void *user)
{
    (void)user;
    http_server *s = req->srv;
    cJSON *root = cJSON_CreateObject();
    cJSON *checks = cJSON_AddObjectToObject(root, "checks");
    char first_failed[320] = "";
    for (size_t i = 0; i < s->nchecks; i++) {
        char why[256] = "";
        int rc = s->checks[i].fn(s->checks[i].arg, why, sizeof why);
        if (rc != 0 && !why[0]) snprintf(why, sizeof why, "check failed");
        cJSON_AddStringToObject(checks, s->checks[i].name, rc == 0 ? "ok" : why);
        if (rc != 0) {
            log_warn("readiness check failed", LOG_STR("check", s->checks[i].name),
                     LOG_STR("reason", why));
            if (!first_failed[0])
                snprintf(first_failed, sizeof first_failed, "%s: %s", s->checks[i].name, why);
        }
    }
    if (!first_failed[0]) {
        cJSON_AddStringToObject(root, "status", "ready");
        http_respond_json(req, 200, root);
        return;
    }
    cJSON_AddStringToObject(root, "status", "not_ready");
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", "not_ready");
    cJSON_AddStringToObject(e, "message", first_failed);
    http_respond_json(req, 503, root);
}

static void builtin_metrics(http_req *req, void *user)
{
    (void)user;
    buf_t b = BUF_INIT;
    if (metrics_render(req->srv->metrics, &b) != 0)
        http_error(req, 500, "internal", "could not render metrics");
    else
        http_respond(req, 200, METRICS_CONTENT_TYPE, buf_str(&b), b.len);
    buf_free(&b);
}

/* ==== server ============================================================================ */

static void server_free(http_server *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        route_free(&s->routes[i]);
    free(s->routes);
    for (size_t i = 0; i < s->nchecks; i++)
        free(s->checks[i].name);
    free(s->checks);
    if (s->own_metrics) metrics_registry_free(s->metrics);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s);
}

static int build_routes(http_server *s, const http_config *cfg, char *err, size_t errlen)
{
    static const struct {
        const char *pattern;
        http_handler_fn fn;
    } builtins[] = {
        {"/health", builtin_health},
        {"/ready", builtin_ready},
        {"/metrics", builtin_metrics},
    };
    size_t nb = sizeof builtins / sizeof builtins[0];
    if (cfg->nroutes > 0 && !cfg->routes) {
        snprintf(err, errlen, "nroutes is %zu but routes is NULL", cfg->nroutes);
        return -1;
    }
    s->routes = calloc(nb + cfg->nroutes, sizeof *s->routes);
    if (!s->routes) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nb; i++) {
        if (route_compile(&s->routes[s->nroutes], "GET", builtins[i].pattern, NULL, builtins[i].fn,
                          err, errlen) != 0)
            return -1;
        s->routes[s->nroutes++].quiet = true;
    }
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const http_route *in = &cfg->routes[i];
        route *rt = &s->routes[s->nroutes];
        if (route_compile(rt, in->method, in->pattern, in->label, in->handler, err, errlen) != 0)
            return -1;
        s->nroutes++;
        for (size_t j = 0; j + 1 < s->nroutes; j++) {
            const route *o = &s->routes[j];
            bool same = o->nsegs == rt->nsegs && !strcmp(o->method, rt->method);
            for (int k = 0; same && k < rt->nsegs; k++)
                same = o->segs[k].param == rt->segs[k].param &&
                       (o->segs[k].param || !strcmp(o->segs[k].text, rt->segs[k].text));
            if (same) {
                snprintf(err, errlen, "route %s %s duplicates %s %s", rt->method, rt->pattern,
                         o->method, o->pattern);
                return -1;
            }
        }
    }
    return 0;
}

int http_server_start(const http_config *cfg, http_server **out, char *err, size_t errlen)
{
    *out = NULL;
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->idle, &ca);
    pthread_condattr_destroy(&ca);
    s->listen_fd = MHD_INVALID_SOCKET;
    s->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    s->drain_timeout_ms = cfg->drain_timeout_ms ? cfg->drain_timeout_ms : DEFAULT_DRAIN_MS;
    s->user = cfg->user;

    if (build_routes(s, cfg, err, errlen) != 0) goto fail;
    if (cfg->nchecks > 0 && !cfg->checks) {
        snprintf(err, errlen, "nchecks is %zu but checks is NULL", cfg->nchecks);
        goto fail;
    }
    if (cfg->nchecks > 0) {
        s->checks = calloc(cfg->nchecks, sizeof *s->checks);
        if (!s->checks) goto oom;
        for (size_t i = 0; i < cfg->nchecks; i++) {
            const http_check *c = &cfg->checks[i];
            if (!c->name || !c->fn) {
                snprintf(err, errlen, "readiness check %zu needs a name and a function", i);
                goto fail;
            }
            s->checks[i].name = strdup(c->name);
            s->checks[i].fn = c->fn;
            s->checks[i].arg = c->arg;
            s->nchecks++;
            if (!s->checks[i].name) goto oom;
        }
    }

    s->metrics = cfg->metrics;
    if (!s->metrics) {
        s->metrics = metrics_registry_new();
        s->own_metrics = true;
        if (!s->metrics) goto oom;
    }
    char merr[256];
    s->m_requests = metrics_counter(s->metrics, "http_requests_total",
                                    "HTTP requests answered, by route, method and status.",
                                    "route,method,status", merr, sizeof merr);
    if (s->m_requests)
        s->m_duration = metrics_histogram(s->metrics, "http_request_duration_seconds",
                                          "Time from request start to the answer being sent.",
                                          "route,method", NULL, 0, merr, sizeof merr);
    if (!s->m_requests || !s->m_duration) {
        snprintf(err, errlen, "registering http metrics: %s", merr);
        goto fail;
    }

    const char *addr = cfg->address && *cfg->address ? cfg->address : "127.0.0.1";
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(addr, NULL, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "listen address %s: %s", addr, gai_strerror(gai));
        goto fail;
    }
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6)
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons(cfg->port);
    else
        ((struct sockaddr_in *)&sa)->sin_port = htons(cfg->port);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        /* MHD's default is SO_REUSEADDR (quick restarts); its REUSE option would add
         * SO_REUSEPORT and let a second server silently share the port */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS),
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(cfg->timeout_s ? cfg->timeout_s : DEFAULT_TIMEOUT_S),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s port %u: %s", addr, (unsigned)cfg->port,
                 s->start_err[0] ? s->start_err : "libmicrohttpd refused to start");
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    atomic_store(&s->started, true);
    *out = s;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    server_free(s);
    return -1;
}

uint16_t http_server_port(const http_server *srv)
{
    return srv->port;
}

metrics_registry_t *http_server_metrics(http_server *srv)
{
    return srv->metrics;
}

void http_server_stop(http_server *srv)
{
    if (!srv) return;
    atomic_store(&srv->draining, true);
    srv->listen_fd = MHD_quiesce_daemon(srv->daemon);
    /* quiesce only stops accepting; shutting the socket down makes new connection attempts
     * fail at once instead of waiting in the backlog for a server that is going away */
    if (srv->listen_fd != MHD_INVALID_SOCKET) shutdown(srv->listen_fd, SHUT_RDWR);

    struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, srv->drain_timeout_ms);
    pthread_mutex_lock(&srv->mu);
    int rc = 0;
    while (srv->inflight > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&srv->idle, &srv->mu, &deadline);
    unsigned left = srv->inflight;
    pthread_mutex_unlock(&srv->mu);
    if (left > 0)
        log_warn("http drain timed out; closing connections with requests in progress",
                 LOG_INT("in_flight", left));
    MHD_stop_daemon(srv->daemon);
    /* MHD no longer touches the socket once stopped; it is ours to close (see quiesce) */
    if (srv->listen_fd != MHD_INVALID_SOCKET) close(srv->listen_fd);
    server_free(srv);
}
