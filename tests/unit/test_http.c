/* Unit tests for lib/http: a real server on 127.0.0.1 (port 0) spoken to with libcurl, an
 * independent HTTP client, and with raw sockets where curl would be too polite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/http.c" /* the static body checks are tested directly too */
#include "log.h"
#include "trace.h"

/* ==== the service under test ============================================================ */

static atomic_bool db_down;      /* flips the "db" readiness check */
static atomic_int slow_entered;  /* the /slow handler has started */
static atomic_bool slow_release; /* the /slow handler may answer */
static FILE *log_file;           /* every log line of the run, for the access-log test */
static char log_path[] = "/tmp/test-http-log-XXXXXX";

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for cond() to become true, checking every 10 ms, for at most ms. */
static bool wait_until(bool (*cond)(void), int ms)
{
    long long end = now_ms() + ms;
    while (!cond()) {
        if (now_ms() > end) return false;
        poll(NULL, 0, 10);
    }
    return true;
}

static void get_task(http_req *req, void *user)
{
    (void)user;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", http_req_param(req, "id"));
    const char *q = http_req_query(req, "q");
    const char *flag = http_req_query(req, "flag");
    const char *hdr = http_req_header(req, "X-Test");
    if (q) cJSON_AddStringToObject(o, "q", q);
    if (flag) cJSON_AddStringToObject(o, "flag", flag);
    if (hdr) cJSON_AddStringToObject(o, "hdr", hdr);
    cJSON_AddStringToObject(o, "route", http_req_route(req));
    http_set_header(req, "X-Read-Source", "postgres");
    http_respond_json(req, 200, o);
}

/* Echoes the body and the thread's current trace ids, which must be the server span's. */
static void create_task(http_req *req, void *user)
{
    (void)user;
    const cJSON *body = http_req_json(req);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "body", body ? cJSON_Duplicate(body, 1) : cJSON_CreateNull());
    char tid[33], sid[17];
    if (trace_current_ids(tid, sid)) {
        cJSON_AddStringToObject(o, "trace_id", tid);
        cJSON_AddStringToObject(o, "span_id", sid);
    }
    log_info("creating task", LOG_STR("marker", "inside-handler"));
    http_respond_json(req, 201, o);
}

static void complete_task(http_req *req, void *user)
{
    (void)user;
    char json[128];
    snprintf(json, sizeof json, "{\"completed\":\"%s\"}", http_req_param(req, "id"));
    http_respond_json_str(req, 200, json);
}

static void delete_task(http_req *req, void *user)
{
    (void)user;
    (void)req;
    http_respond_empty(req, 204);
}

static void item_stats(http_req *req, void *user)
{
    (void)user;
    http_respond_json_str(req, 200, "{\"stats\":true}");
}

static void item_get(http_req *req, void *user)
{
    (void)user;
    http_errorf(req, 404, "not_found", "item %s not found", http_req_param(req, "id"));
}

static void no_answer(http_req *req, void *user)
{
    (void)req;
    (void)user;
}

static bool slow_released(void)
{
    return atomic_load(&slow_release);
}

static void slow(http_req *req, void *user)
{
    (void)user;
    atomic_fetch_add(&slow_entered, 1);
    wait_until(slow_released, 10000);
    http_respond_json_str(req, 200, "{\"slow\":true}");
}

static void user_ptr(http_req *req, void *user)
{
    http_respond_json_str(req, 200, (const char *)user);
}

static int check_ok(void *arg, char *err, size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    return 0;
}

static int check_db(void *arg, char *err, size_t errlen)
{
    (void)arg;
    if (!atomic_load(&db_down)) return 0;
    snprintf(err, errlen, "connection refused");
    return -1;
}

static const http_route routes[] = {
    {"GET", "/api/tasks/{id}", get_task, NULL},
    {"DELETE", "/api/tasks/{id}", delete_task, NULL},
    {"POST", "/api/tasks", create_task, NULL},
    {"POST", "/api/tasks/{id}/complete", complete_task, "complete"},
    {"GET", "/api/items/stats", item_stats, NULL},
    {"GET", "/api/items/{id}", item_get, NULL},
    {"GET", "/api/no-answer", no_answer, NULL},
    {"GET", "/slow", slow, NULL},
    {"GET", "/user", user_ptr, NULL},
};

static const http_check checks[] = {
    {"cache", check_ok, NULL},
    {"db", check_db, NULL},
};

static http_server *srv;
static char base[64];

static http_config test_config(void)
{
    http_config c = {
        .address = "127.0.0.1",
        .port = 0,
        .max_body = 64 * 1024,
        .timeout_s = 2,
        .drain_timeout_ms = 5000,
        .routes = routes,
        .nroutes = sizeof routes / sizeof routes[0],
        .checks = checks,
        .nchecks = sizeof checks / sizeof checks[0],
        .user = "{\"user\":\"pointer\"}",
    };
    return c;
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* O_APPEND: the logger write()s on the descriptor while tests read the file by name */
    int fd = mkstemp(log_path);
    if (fd < 0) return -1;
    close(fd);
    log_file = fopen(log_path, "a");
    if (!log_file) return -1;
    log_init("test-http", LOG_DEBUG);
    log_set_output(log_file);
    http_config c = test_config();
    char err[256];
    if (http_server_start(&c, &srv, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)http_server_port(srv));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    http_server_stop(srv);
    log_set_output(NULL);
    fclose(log_file);
    unlink(log_path);
    curl_global_cleanup();
    return 0;
}

/* ==== a small curl client =============================================================== */

typedef struct reply {
    long status;
    char body[8192];
    size_t len;
    char headers[8192];
    size_t hlen;
    long new_connections;
    CURLcode rc;
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    size_t room = sizeof r->headers - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, len < room ? len : room);
    r->hlen += len < room ? len : room;
    r->headers[r->hlen] = '\0';
    return len;
}

/* Performs one request on handle h (a fresh one when h is NULL). body may contain NULs
 * (bodylen counts them); headers are "Name: value" strings ending with NULL. */
static void request_on(CURL *h, reply *r, const char *method, const char *path, const char *body,
                       long bodylen, const char *const *headers)
{
    CURL *own = NULL;
    if (!h) h = own = curl_easy_init();
    memset(r, 0, sizeof *r);
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct curl_slist *hl = NULL;
    for (const char *const *hp = headers; hp && *hp; hp++)
        hl = curl_slist_append(hl, *hp);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, bodylen);
    } else if (strcmp(method, "HEAD") != 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->new_connections);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (own) curl_easy_cleanup(own);
}

static void request(reply *r, const char *method, const char *path, const char *body,
                    const char *const *headers)
{
    request_on(NULL, r, method, path, body, body ? (long)strlen(body) : 0, headers);
}

/* The value of response header name (case-insensitive) copied into out, or NULL. */
static const char *header(const reply *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol) break;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= outlen) vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        line = eol + 2;
    }
    return NULL;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void assert_error(const reply *r, long status, const char *code)
{
    assert_int_equal(r->rc, CURLE_OK);
    assert_int_equal(r->status, status);
    cJSON *j = cJSON_Parse(r->body);
    assert_non_null(j);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_non_null(e);
    assert_string_equal(json_str(e, "code"), code);
    assert_non_null(json_str(e, "message"));
    assert_int_equal(cJSON_GetArraySize(e), 2);
    assert_int_equal(cJSON_GetArraySize(j), 1);
    cJSON_Delete(j);
}

static const char *const JSON_CT[] = {"Content-Type: application/json", NULL};

/* ==== tests ============================================================================= */

static void test_routes_with_params_query_and_headers(void **state)
{
    (void)state;
    reply r;
    const char *hdrs[] = {"x-test: Mixed Case", NULL};
    request(&r, "GET", "/api/tasks/42?q=hello+world%21&flag&q=second", NULL, hdrs);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    assert_string_equal(json_str(j, "id"), "42");
    assert_string_equal(json_str(j, "q"), "hello world!"); /* decoded, the first wins */
    assert_string_equal(json_str(j, "flag"), "");
    assert_string_equal(json_str(j, "hdr"), "Mixed Case"); /* header name case ignored */
    assert_string_equal(json_str(j, "route"), "/api/tasks/{id}");
    cJSON_Delete(j);
    char v[128];
    assert_string_equal(header(&r, "Content-Type", v, sizeof v), "application/json");
    assert_string_equal(header(&r, "X-Read-Source", v, sizeof v), "postgres");

    request(&r, "POST", "/api/tasks/7/complete", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"completed\":\"7\"}");

    request(&r, "GET", "/user", NULL, NULL);
    assert_string_equal(r.body, "{\"user\":\"pointer\"}");
}

static void test_first_matching_route_wins(void **state)
{
    (void)state;
    reply r;
    request(&r, "GET", "/api/items/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"stats\":true}");
    request(&r, "GET", "/api/items/9", NULL, NULL);
    assert_string_equal(r.body,
                        "{\"error\":{\"code\":\"not_found\",\"message\":\"item 9 not found\"}}");
}

static void test_unknown_path_is_404_with_error_body(void **state)
{
    (void)state;
    reply r;
    request(&r, "GET", "/api/nothing", NULL, NULL);
    assert_error(&r, 404, "not_found");
    assert_string_equal(r.body,
                        "{\"error\":{\"code\":\"not_found\",\"message\":\"no such endpoint\"}}");
    request(&r, "GET", "/api/tasks/42/", NULL, NULL); /* trailing slash: a different path */
    assert_error(&r, 404, "not_found");
    request(&r, "GET", "/api//tasks", NULL, NULL);
    assert_error(&r, 404, "not_found");
    request(&r, "GET", "/api/tasks/1/complete/extra", NULL, NULL);
    assert_error(&r, 404, "not_found");
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    (void)state;
    reply r;
    char v[128];
    request(&r, "PUT", "/api/tasks/5", "{}", JSON_CT);
    assert_error(&r, 405, "method_not_allowed");
    assert_string_equal(header(&r, "Allow", v, sizeof v), "GET, DELETE, HEAD");
    request(&r, "DELETE", "/api/tasks", NULL, NULL);
    assert_error(&r, 405, "method_not_allowed");
    assert_string_equal(header(&r, "Allow", v, sizeof v), "POST");
    request(&r, "BREW", "/api/tasks/5", NULL, NULL); /* a method nobody knows */
    assert_error(&r, 405, "method_not_allowed");
    request(&r, "BREW", "/nowhere", NULL, NULL);
    assert_error(&r, 404, "not_found");
}

static void test_head_uses_get_route_and_204_has_no_body(void **state)
{
    (void)state;
    reply r;
    request(&r, "HEAD", "/api/tasks/3", NULL, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    request(&r, "DELETE", "/api/tasks/3", NULL, NULL);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    char v[64];
    assert_null(header(&r, "Content-Type", v, sizeof v));
}

static void test_json_body_is_parsed(void **state)
{
    (void)state;
    reply r;
    const char *ct[] = {"Content-Type: Application/JSON; charset=utf-8", NULL};
    request(&r, "POST", "/api/tasks", "{\"title\":\"Купить молоко\",\"priority\":3}", ct);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 201);
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "body");
    assert_string_equal(json_str(b, "title"), "Купить молоко");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "priority")->valueint, 3);
    cJSON_Delete(j);

    request(&r, "POST", "/api/tasks", NULL, NULL); /* no body: handler sees NULL */
    assert_int_equal(r.status, 201);
    j = cJSON_Parse(r.body);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "body")));
    cJSON_Delete(j);
}

static void test_bad_bodies_are_rejected(void **state)
{
    (void)state;
    reply r;
    request(&r, "POST", "/api/tasks", "{\"title\": ", JSON_CT);
    assert_error(&r, 400, "invalid_json");
    assert_non_null(strstr(r.body, "offset"));
    request(&r, "POST", "/api/tasks", "{} trailing", JSON_CT);
    assert_error(&r, 400, "invalid_json");
    request_on(NULL, &r, "POST", "/api/tasks", "{\"a\":\"x\0y\"}", 11, JSON_CT);
    assert_error(&r, 400, "invalid_json");
    assert_non_null(strstr(r.body, "NUL"));
    request(&r, "POST", "/api/tasks", "{\"a\":\"\xff\xfe\"}", JSON_CT);
    assert_error(&r, 400, "invalid_json");
    assert_non_null(strstr(r.body, "UTF-8"));
    request(&r, "POST", "/api/tasks", "{\"a\":\"\xed\xa0\x80\"}", JSON_CT); /* a surrogate */
    assert_error(&r, 400, "invalid_json");
    /* a \u0000 escape: cJSON would cut the string there, so it is refused like a raw NUL */
    request(&r, "POST", "/api/tasks", "{\"a\":\"pass\\u0000x\"}", JSON_CT);
    assert_error(&r, 400, "invalid_json");
    assert_non_null(strstr(r.body, "NUL"));
    request(&r, "POST", "/api/tasks", "{\"a\\u0000\":1}", JSON_CT); /* in a key too */
    assert_error(&r, 400, "invalid_json");
    request(&r, "POST", "/api/tasks", "{\"a\":\"\\\\u0000\"}", JSON_CT); /* an escaped backslash */
    assert_int_equal(r.status, 201);
    const char *text[] = {"Content-Type: text/plain", NULL};
    request(&r, "POST", "/api/tasks", "{}", text);
    assert_error(&r, 415, "unsupported_media_type");
    request(&r, "POST", "/api/tasks", "{}", NULL); /* curl's default form type */
    assert_error(&r, 415, "unsupported_media_type");
    request(&r, "GET", "/api/tasks/1?q=a%00b", NULL, NULL);
    assert_error(&r, 400, "invalid_query");
    request(&r, "GET", "/api/tasks/1?q=%C3%28", NULL, NULL);
    assert_error(&r, 400, "invalid_query");
}

static void test_body_over_limit_is_413_without_reading_it(void **state)
{
    (void)state;
    size_t n = 1024 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '[';
    big[n - 1] = ']';
    big[n] = '\0';
    reply r;
    long long t0 = now_ms();
    request_on(NULL, &r, "POST", "/api/tasks", big, (long)n, JSON_CT);
    assert_error(&r, 413, "payload_too_large");
    assert_true(now_ms() - t0 < 5000);

    /* exactly at the limit is fine */
    size_t lim = 64 * 1024;
    big[lim - 1] = ']';
    request_on(NULL, &r, "POST", "/api/tasks", big, (long)lim, JSON_CT);
    assert_int_equal(r.status, 201);
    request_on(NULL, &r, "POST", "/api/tasks", big, (long)lim + 1, JSON_CT);
    assert_error(&r, 413, "payload_too_large");

    /* a chunked body has no Content-Length to refuse early: past the limit the connection
     * is closed, and the server carries on */
    const char *chunked[] = {"Content-Type: application/json", "Transfer-Encoding: chunked", NULL};
    request_on(NULL, &r, "POST", "/api/tasks", big, (long)n, chunked);
    assert_int_not_equal(r.status, 201);
    free(big);
    request(&r, "GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
}

static void test_handler_without_answer_is_500(void **state)
{
    (void)state;
    reply r;
    request(&r, "GET", "/api/no-answer", NULL, NULL);
    assert_error(&r, 500, "internal");
}

static void test_health_ready_and_failing_check(void **state)
{
    (void)state;
    reply r;
    request(&r, "GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");

    atomic_store(&db_down, false);
    request(&r, "GET", "/ready", NULL, NULL);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(json_str(j, "status"), "ready");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "checks");
    assert_string_equal(json_str(c, "cache"), "ok");
    assert_string_equal(json_str(c, "db"), "ok");
    cJSON_Delete(j);

    atomic_store(&db_down, true);
    request(&r, "GET", "/ready", NULL, NULL);
    atomic_store(&db_down, false);
    assert_int_equal(r.status, 503);
    j = cJSON_Parse(r.body);
    assert_string_equal(json_str(j, "status"), "not_ready");
    c = cJSON_GetObjectItemCaseSensitive(j, "checks");
    assert_string_equal(json_str(c, "cache"), "ok");
    assert_string_equal(json_str(c, "db"), "connection refused");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_string_equal(json_str(e, "code"), "not_ready");
    assert_string_equal(json_str(e, "message"), "db: connection refused");
    cJSON_Delete(j);

    request(&r, "POST", "/health", NULL, NULL);
    assert_error(&r, 405, "method_not_allowed");
}

static void test_metrics_count_requests(void **state)
{
    (void)state;
    reply r;
    request(&r, "GET", "/api/tasks/1", NULL, NULL);
    request(&r, "GET", "/api/tasks/2", NULL, NULL);
    request(&r, "GET", "/does/not/exist", NULL, NULL);
    request(&r, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    char v[128];
    assert_string_equal(header(&r, "Content-Type", v, sizeof v), METRICS_CONTENT_TYPE);
    assert_non_null(strstr(r.body, "# TYPE http_requests_total counter"));
    assert_non_null(strstr(
        r.body, "http_requests_total{route=\"/api/tasks/{id}\",method=\"GET\",status=\"200\"}"));
    assert_non_null(
        strstr(r.body, "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"));
    assert_non_null(strstr(r.body, "# TYPE http_request_duration_seconds histogram"));
    assert_non_null(strstr(r.body, "http_request_duration_seconds_bucket{route=\"/api/tasks/"
                                   "{id}\",method=\"GET\",le=\"+Inf\"}"));
    assert_null(strstr(r.body, "/api/tasks/1\"")); /* ids never become label values */
}

static void test_keep_alive_reuses_the_connection(void **state)
{
    (void)state;
    CURL *h = curl_easy_init();
    reply r;
    request_on(h, &r, "GET", "/api/tasks/1", NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.new_connections, 1);
    request_on(h, &r, "POST", "/api/tasks", "{\"a\":1}", 7, JSON_CT);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.new_connections, 0);
    request_on(h, &r, "GET", "/api/nothing", NULL, 0, NULL);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.new_connections, 0);
    request_on(h, &r, "GET", "/health", NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.new_connections, 0);
    char v[64];
    const char *conn = header(&r, "Connection", v, sizeof v);
    assert_true(conn == NULL || strcasecmp(conn, "close") != 0);
    curl_easy_cleanup(h);
}

static char want_span[64];
static int handler_lines, access_lines;

/* Counts, in the log so far, the lines of the traced request of the test below. */
static bool access_logged(void)
{
    FILE *f = fopen(log_path, "r");
    if (!f) return false;
    char line[4096];
    handler_lines = access_lines = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\"") ||
            !strstr(line, want_span))
            continue;
        if (strstr(line, "inside-handler")) handler_lines++;
        if (strstr(line, "\"msg\":\"request\"") && strstr(line, "\"status\":201") &&
            strstr(line, "\"request_id\":\"req-abc.123\"") &&
            strstr(line, "\"route\":\"/api/tasks\""))
            access_lines++;
    }
    fclose(f);
    return access_lines > 0;
}

static void test_traceparent_is_continued(void **state)
{
    (void)state;
    reply r;
    const char *hdrs[] = {"Content-Type: application/json",
                          "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                          "X-Request-Id: req-abc.123", NULL};
    request(&r, "POST", "/api/tasks", "{}", hdrs);
    assert_int_equal(r.status, 201);
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(json_str(j, "trace_id"), "0af7651916cd43dd8448eb211c80319c");
    const char *sid = json_str(j, "span_id");
    assert_non_null(sid);
    assert_string_not_equal(sid, "b7ad6b7169203331"); /* a child, not the caller's span */
    char tp[128], expect[128], v[128];
    snprintf(expect, sizeof expect, "00-0af7651916cd43dd8448eb211c80319c-%s-01", sid);
    assert_string_equal(header(&r, "traceparent", tp, sizeof tp), expect);
    assert_string_equal(header(&r, "X-Request-Id", v, sizeof v), "req-abc.123");

    /* the handler's own log line and the access log line carry the same ids; the access
     * line is written when MHD reports the request complete, just after the client has the
     * answer, so wait for it */
    snprintf(want_span, sizeof want_span, "\"span_id\":\"%s\"", sid);
    assert_true(wait_until(access_logged, 5000));
    assert_int_equal(handler_lines, 1);
    assert_int_equal(access_lines, 1);
    cJSON_Delete(j);

    /* without (or with a malformed) traceparent a new trace starts, and ids are fresh */
    const char *bad[] = {"Content-Type: application/json", "traceparent: 00-zz-yy-01",
                         "X-Request-Id: has spaces", NULL};
    request(&r, "POST", "/api/tasks", "{}", bad);
    j = cJSON_Parse(r.body);
    assert_int_equal(strlen(json_str(j, "trace_id")), 32);
    assert_string_not_equal(json_str(j, "trace_id"), "0af7651916cd43dd8448eb211c80319c");
    assert_int_equal(strlen(header(&r, "X-Request-Id", v, sizeof v)), 16);
    cJSON_Delete(j);
}

/* Opens a raw TCP connection to the test server. */
static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until the peer closes or ms pass; returns bytes read, or -1 on timeout. */
static ssize_t read_until_closed(int fd, char *buf, size_t cap, int ms)
{
    long long end = now_ms() + ms;
    size_t got = 0;
    for (;;) {
        long long left = end - now_ms();
        if (left <= 0) return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) continue;
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        if (got >= cap - 1) break;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

static void test_slow_client_is_timed_out(void **state)
{
    (void)state;
    int fd = raw_connect(http_server_port(srv));
    assert_true(fd >= 0);
    const char *partial = "GET /health HTTP/1.1\r\nHost: x\r\n"; /* and then nothing */
    assert_int_equal(send(fd, partial, strlen(partial), 0), (ssize_t)strlen(partial));
    char buf[512];
    long long t0 = now_ms();
    ssize_t n = read_until_closed(fd, buf, sizeof buf, 8000); /* the timeout is 2 s */
    close(fd);
    assert_true(n >= 0);
    assert_true(now_ms() - t0 >= 1000);
}

static void test_oversized_headers_and_garbage_do_not_hurt(void **state)
{
    (void)state;
    size_t n = 100 * 1024;
    char *big = malloc(n + 32);
    assert_non_null(big);
    strcpy(big, "X-Big: ");
    memset(big + 7, 'a', n);
    big[7 + n] = '\0';
    const char *hdrs[] = {big, NULL};
    reply r;
    request(&r, "GET", "/api/tasks/1", NULL, hdrs);
    free(big);
    assert_true(r.rc != CURLE_OK || r.status >= 400);

    int fd = raw_connect(http_server_port(srv));
    assert_true(fd >= 0);
    const char *junk = "\x01\x02 NOT HTTP AT ALL\r\n\r\n";
    send(fd, junk, strlen(junk), MSG_NOSIGNAL);
    char buf[1024];
    read_until_closed(fd, buf, sizeof buf, 5000);
    close(fd);

    request(&r, "GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
}

static void test_bad_route_tables_fail_start(void **state)
{
    (void)state;
    char err[256];
    http_server *s = NULL;
    const http_route bad1[] = {{"GET", "api/x", get_task, NULL}};
    const http_route bad2[] = {{"GET", "/api/{id", get_task, NULL}};
    const http_route bad3[] = {{"GET", "/api/{id}", get_task, NULL},
                               {"GET", "/api/{other}", get_task, NULL}};
    const http_route bad4[] = {{"get", "/api", get_task, NULL}};
    const http_route bad5[] = {{"GET", "/health", get_task, NULL}};
    const http_route bad6[] = {{"GET", "/api/x{id}", get_task, NULL}};
    struct {
        const http_route *r;
        size_t n;
        const char *expect;
    } cases[] = {{bad1, 1, "start with '/'"}, {bad2, 1, "bad parameter"},
                 {bad3, 2, "duplicates"},     {bad4, 1, "upper-case"},
                 {bad5, 1, "duplicates"},     {bad6, 1, "whole segment"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_config c = {.routes = cases[i].r, .nroutes = cases[i].n};
        assert_int_equal(http_server_start(&c, &s, err, sizeof err), -1);
        assert_null(s);
        assert_non_null(strstr(err, cases[i].expect));
    }
    /* the port is taken */
    http_config c = {.port = http_server_port(srv)};
    assert_int_equal(http_server_start(&c, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot listen"));
    http_config c2 = {.address = "no-such-host.invalid"};
    assert_int_equal(http_server_start(&c2, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "no-such-host.invalid"));
}

/* ---- graceful stop: an in-flight request finishes, new connections are refused ---------- */

static http_server *stop_srv;
static uint16_t stop_port;
static reply slow_reply;
static atomic_bool stop_done;

static void *slow_client(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/slow", (unsigned)stop_port);
    memset(&slow_reply, 0, sizeof slow_reply);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &slow_reply);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &slow_reply);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
    slow_reply.rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &slow_reply.status);
    curl_easy_cleanup(h);
    return NULL;
}

static void *stopper(void *arg)
{
    (void)arg;
    http_server_stop(stop_srv);
    atomic_store(&stop_done, true);
    return NULL;
}

static bool slow_started(void)
{
    return atomic_load(&slow_entered) > 0;
}

static bool refusing(void)
{
    int fd = raw_connect(stop_port);
    if (fd < 0) return true;
    close(fd);
    return false;
}

static bool stopped(void)
{
    return atomic_load(&stop_done);
}

static void test_stop_drains_in_flight_requests(void **state)
{
    (void)state;
    http_config c = test_config();
    char err[256];
    assert_int_equal(http_server_start(&c, &stop_srv, err, sizeof err), 0);
    stop_port = http_server_port(stop_srv);
    atomic_store(&slow_entered, 0);
    atomic_store(&slow_release, false);
    pthread_t client, stop;
    assert_int_equal(pthread_create(&client, NULL, slow_client, NULL), 0);
    assert_true(wait_until(slow_started, 5000));

    /* an idle keep-alive connection must not hold the stop up */
    int idle_fd = raw_connect(stop_port);
    assert_true(idle_fd >= 0);

    assert_int_equal(pthread_create(&stop, NULL, stopper, NULL), 0);
    assert_true(wait_until(refusing, 5000)); /* no longer accepting … */
    assert_false(atomic_load(&stop_done));   /* … but still waiting for /slow */
    atomic_store(&slow_release, true);
    pthread_join(client, NULL);
    assert_int_equal(slow_reply.rc, CURLE_OK);
    assert_int_equal(slow_reply.status, 200);
    assert_string_equal(slow_reply.body, "{\"slow\":true}");
    char v[32];
    assert_string_equal(header(&slow_reply, "Connection", v, sizeof v), "close");
    assert_true(wait_until(stopped, 5000));
    pthread_join(stop, NULL);
    close(idle_fd);
}

/* The \u0000 guard of every JSON body (static in http.c). */
static bool nul(const char *json)
{
    return nul_escape_at(json, strlen(json)) != strlen(json);
}

static void test_nul_escape_detected(void **state)
{
    (void)state;
    assert_true(nul("{\"password\":\"abc\\u0000def\"}"));
    assert_true(nul("{\"a\\u0000\":1}"));  /* in a key too */
    assert_true(nul("[\"\\\\\\u0000\"]")); /* an escaped backslash, then the escape */
    assert_false(nul("{\"password\":\"abc\\\\u0000def\"}")); /* the text \u0000, not a NUL */
    assert_false(nul("{\"a\":\"\\u0041\\u00e4\"}"));
    assert_false(nul("{\"a\":\"u0000\"}"));
    assert_false(nul("{\"a\":0}"));
    assert_true(nul("{\"a\":\"\\\"\\u0000\"}")); /* \" does not end the string */
    assert_false(nul("{\"a\":\"x\"} \\u0000"));  /* outside any string: cJSON rejects it anyway */
    assert_int_equal(nul_escape_at("\"\\u000", 6), 6); /* truncated */
}

/* Ids in paths and queries: one rule for every service. */
static void test_ids(void **state)
{
    (void)state;
    int64_t id;
    assert_int_equal(http_parse_id("1", &id), 0);
    assert_int_equal(id, 1);
    assert_int_equal(http_parse_id("9223372036854775807", &id), 0);
    assert_int_equal(id, INT64_MAX);
    const char *bad[] = {"0", "-1", "+1", "1a", " 1", "", "9223372036854775808",
                         "00000000000000000001", "1.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_parse_id(bad[i], &id) == 0) fail_msg("accepted %s", bad[i]);
    assert_int_equal(http_parse_id(NULL, &id), -1);
}

/* The one bearer-token reader: token68 only, one scheme spelling, bounded. */
static void test_bearer_parse(void **state)
{
    (void)state;
    const char *tok;
    size_t len;
    assert_int_equal(http_bearer_parse("Bearer abc.DEF-_~+/=", &tok, &len), 0);
    assert_int_equal(len, strlen("abc.DEF-_~+/="));
    assert_memory_equal(tok, "abc.DEF-_~+/=", len);
    assert_int_equal(http_bearer_parse("bearer   x  ", &tok, &len), 0);
    assert_int_equal(len, 1);
    const char *bad[] = {NULL, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer a\"",
                         "Bearer a\r\nX: y", "Bearerabc", "Bearer \xc3\xa4", "Bearer\tabc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_bearer_parse(bad[i], &tok, &len) == 0) fail_msg("accepted #%zu", i);
    char *huge = malloc(HTTP_BEARER_MAX + 16);
    strcpy(huge, "Bearer ");
    memset(huge + 7, 'a', HTTP_BEARER_MAX + 1);
    huge[7 + HTTP_BEARER_MAX + 1] = '\0';
    assert_int_equal(http_bearer_parse(huge, &tok, &len), -2); /* too large, told apart */
    huge[7 + HTTP_BEARER_MAX] = '\0';
    assert_int_equal(http_bearer_parse(huge, &tok, &len), 0);
    free(huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_parse),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_nul_escape_detected),
        cmocka_unit_test(test_routes_with_params_query_and_headers),
        cmocka_unit_test(test_first_matching_route_wins),
        cmocka_unit_test(test_unknown_path_is_404_with_error_body),
        cmocka_unit_test(test_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_head_uses_get_route_and_204_has_no_body),
        cmocka_unit_test(test_json_body_is_parsed),
        cmocka_unit_test(test_bad_bodies_are_rejected),
        cmocka_unit_test(test_body_over_limit_is_413_without_reading_it),
        cmocka_unit_test(test_handler_without_answer_is_500),
        cmocka_unit_test(test_health_ready_and_failing_check),
        cmocka_unit_test(test_metrics_count_requests),
        cmocka_unit_test(test_keep_alive_reuses_the_connection),
        cmocka_unit_test(test_traceparent_is_continued),
        cmocka_unit_test(test_slow_client_is_timed_out),
        cmocka_unit_test(test_oversized_headers_and_garbage_do_not_hurt),
        cmocka_unit_test(test_bad_route_tables_fail_start),
        cmocka_unit_test(test_stop_drains_in_flight_requests),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
