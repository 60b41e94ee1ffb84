/* http — the HTTP server layer of every service, on libmicrohttpd.
 *
 *   static void get_task(http_req *req, void *app) {
 *       const char *id = http_req_param(req, "id");
 *       ... http_respond_json(req, 200, task);  or  http_error(req, 404, "not_found", "…");
 *   }
 *   static const http_route routes[] = {
 *       {"GET", "/api/tasks/{id}", get_task, NULL},
 *       {"POST", "/api/tasks/{id}/complete", complete_task, NULL},
 *   };
 *   static const http_check checks[] = {{"postgres", pg_ready_check, NULL}};  // arg: the pool
 *   http_config c = {.port = 8081, .routes = routes, .nroutes = 2, .checks = …, .user = app};
 *   http_server *srv;  if (http_server_start(&c, &srv, err, sizeof err) < 0) -> exit
 *   ... shutdown_wait(); http_server_stop(srv);
 *
 * Routing: a pattern is literal segments and {name} parameters; the first route in table
 * order whose pattern and method match wins (put "/x/stats" before "/x/{id}"). A path no
 * pattern matches is 404 not_found; a path that matches with another method is 405
 * method_not_allowed with an Allow header. HEAD is answered by GET routes. Every server also
 * answers GET /health, GET /ready (the config's checks) and GET /metrics.
 *
 * Requests: a body is read only up to max_body (a larger Content-Length is answered 413
 * payload_too_large at once, without reading the body; a chunked body that grows past the
 * limit closes the connection). A non-empty body must be application/json (else 415
 * unsupported_media_type), valid UTF-8 without NUL bytes or \u0000 escapes (cJSON would cut
 * a string there), and parse (else 400 invalid_json);
 * handlers get it parsed. Query values with NUL bytes or invalid UTF-8 are 400 invalid_query.
 * Every error body is {"error":{"code":"…","message":"…"}}. Strings the http_req_* functions
 * return live until the request ends: copy what must outlive the handler.
 *
 * Per request the server records http_requests_total{route,method,status} and
 * http_request_duration_seconds{route,method}, writes one JSON access-log line ("request"),
 * and runs the handler inside a SERVER span that continues an incoming W3C traceparent; the
 * span is the thread's current span during the handler, so log lines and child spans carry
 * its ids. Responses carry X-Request-Id (the client's, if well-formed) and traceparent.
 *
 * Threading model: one thread per connection (MHD_USE_THREAD_PER_CONNECTION with an internal
 * polling thread that accepts). A handler runs on its connection's thread and may block
 * (PostgreSQL, gRPC) without stalling other connections; connections are capped by
 * max_connections and an idle or slow connection (slowloris) is closed after timeout_s of
 * inactivity. All callbacks of one request run on the same thread, so the request object,
 * its span and its JSON are never shared. Handlers run concurrently with each other: state
 * they share (the user pointer) must be thread-safe. Readiness checks run on the thread of
 * the /ready request. http_server_stop stops accepting, lets in-flight requests finish (up to
 * drain_timeout_ms; responses then say Connection: close) and joins every thread. */
#ifndef TODO_HTTP_H
#define TODO_HTTP_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "trace.h"

typedef struct http_server http_server;
typedef struct http_req http_req;

/* A route handler: answers through the http_respond_* / http_error functions before it
 * returns (the last answer given wins). Not answering at all produces a 500. user is
 * http_config.user. */
typedef void (*http_handler_fn)(http_req *req, void *user);

typedef struct http_route {
    const char *method;  /* "GET", "POST", "PATCH", "DELETE", …  (exact, upper case) */
    const char *pattern; /* "/api/tasks/{id}/complete" */
    http_handler_fn handler;
    const char *label; /* route label for metrics, logs and the span name; NULL: pattern */
} http_route;

/* A readiness check: returns 0 when the dependency answers, or -1 with a one-line reason in
 * err (shown in /ready output, so no secrets). Should bound its own wait (a few seconds). */
typedef int (*http_check_fn)(void *arg, char *err, size_t errlen);

typedef struct http_check {
    const char *name; /* "postgres", "redis", "auth-grpc" — the key in /ready's "checks" */
    http_check_fn fn;
    void *arg;
} http_check;

typedef struct http_config {
    const char *address;       /* listen address or host name; NULL: "127.0.0.1" */
    uint16_t port;             /* 0: an ephemeral port (see http_server_port) */
    size_t max_body;           /* request body limit in bytes; 0: 64 KiB */
    unsigned max_connections;  /* concurrent connections (= threads); 0: 256 */
    unsigned timeout_s;        /* inactivity timeout per connection; 0: 15 */
    unsigned drain_timeout_ms; /* how long http_server_stop waits for requests; 0: 10000 */
    const http_route *routes;  /* copied at start */
    size_t nroutes;
    const http_check *checks; /* copied at start; arg pointers must outlive the server */
    size_t nchecks;
    metrics_registry_t *metrics; /* where the http_* metrics go and what /metrics renders;
                                    NULL: a registry of the server's own */
    void *user;                  /* passed to every handler */
} http_config;

/* ---- server ------------------------------------------------------------------------- */

/* Validates the route table (patterns start with '/', parameters are {name} segments, no
 * duplicate method+pattern), registers the http metrics and starts listening. Returns 0 and
 * the server in *out, or -1 with a message naming the bad route, the unusable address or the
 * port in use. */
int http_server_start(const http_config *cfg, http_server **out, char *err, size_t errlen);

/* The port the server listens on: the configured one, or the one the kernel chose for 0. */
uint16_t http_server_port(const http_server *srv);

/* The registry the server records into and /metrics renders (the configured one or its own),
 * so a service can add its own metrics next to the http ones. */
metrics_registry_t *http_server_metrics(http_server *srv);

/* Graceful stop: closes the listening socket, waits up to drain_timeout_ms for requests in
 * progress to finish, closes the remaining (idle keep-alive) connections, joins all threads
 * and frees the server. A handler still running after the drain timeout is waited for (its
 * thread is joined), so handlers must bound their own blocking calls. NULL is ignored. */
void http_server_stop(http_server *srv);

/* ---- request ------------------------------------------------------------------------ */

/* The request method as sent ("GET"). */
const char *http_req_method(const http_req *req);

/* The decoded path without the query string ("/api/tasks/42"). */
const char *http_req_path(const http_req *req);

/* The matched route's label (its pattern unless the table gave one). */
const char *http_req_route(const http_req *req);

/* The value of path parameter name ("id" for "/api/tasks/{id}"), or NULL if the route has no
 * such parameter. Values are non-empty and percent-decoded. */
const char *http_req_param(const http_req *req, const char *name);

/* The decoded value of query parameter name ('+' and %XX decoded; "" for "?flag" without a
 * value), or NULL if absent. Names compare exactly; with repeats, the first wins. */
const char *http_req_query(const http_req *req, const char *name);

/* The value of request header name, compared without regard to case, or NULL. */
const char *http_req_header(const http_req *req, const char *name);

/* Parses an id as the APIs take them in paths and queries: decimal digits only (no sign, no
 * blanks), 1..INT64_MAX. 0, or -1 for anything else. One rule for every service. */
int http_parse_id(const char *s, int64_t *out);

/* The bearer token of an Authorization header value: "Bearer" (any case), one or more
 * spaces, 1..HTTP_BEARER_MAX characters of RFC 6750's token68 set (letters, digits and
 * - . _ ~ + / =), optional trailing spaces. Returns 0 and points tok/len into header, -2
 * for a token longer than HTTP_BEARER_MAX, or -1.
 * The one reader every service uses, so all accept exactly the same headers. */
#define HTTP_BEARER_MAX 4096
int http_bearer_parse(const char *header, const char **tok, size_t *len);

typedef enum {
    HTTP_BEARER_OK,
    HTTP_BEARER_MISSING,
    HTTP_BEARER_MALFORMED,
    HTTP_BEARER_TOO_LARGE
} http_bearer_t;

/* The request's bearer token (http_bearer_parse of its Authorization header); MISSING when
 * there is no such header, TOO_LARGE for a token over HTTP_BEARER_MAX, MALFORMED when it is
 * not a bearer token. */
http_bearer_t http_req_bearer(const http_req *req, const char **tok, size_t *len);

/* The parsed JSON body, or NULL when the request had no body. Owned by the request. */
const cJSON *http_req_json(const http_req *req);

/* The raw body (NUL-terminated) and its length in *len (may be NULL); "" when empty. */
const char *http_req_body(const http_req *req, size_t *len);

/* The request id: the client's X-Request-Id when it is 1–64 characters of [A-Za-z0-9._-],
 * else a fresh random one. Also sent back as X-Request-Id. */
const char *http_req_id(const http_req *req);

/* The request's SERVER span, for attributes, events or the context of outgoing calls (the
 * span is already this thread's current span while the handler runs). May be NULL. */
trace_span_t *http_req_span(http_req *req);

/* ---- response ----------------------------------------------------------------------- */

/* Answers with body rendered as compact JSON and Content-Type application/json. Takes
 * ownership of body (it is freed, even on failure). Returns 0, or -1 if memory ran out (the
 * request then gets a 500). */
int http_respond_json(http_req *req, int status, cJSON *body);

/* Answers with a ready-made JSON text (copied). Returns 0 or -1 (out of memory). */
int http_respond_json_str(http_req *req, int status, const char *json);

/* Answers with len bytes of body (copied) of the given Content-Type. Returns 0 or -1. */
int http_respond(http_req *req, int status, const char *content_type, const void *body, size_t len);

/* Answers without a body (204 No Content, or any status that needs none). Returns 0. */
int http_respond_empty(http_req *req, int status);

/* Answers {"error":{"code":code,"message":message}} with the given status. code is
 * snake_case and stable (clients switch on it); message is for people and must not contain
 * secrets or internals. Returns 0 or -1 (out of memory). */
int http_error(http_req *req, int status, const char *code, const char *message);

/* http_error with a printf-formatted message. */
int http_errorf(http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds a response header (both strings copied), e.g. X-Read-Source or Location, to whatever
 * answer the request gets. Returns -1 for names or values with CR, LF or NUL (header
 * injection) or when memory runs out. */
int http_set_header(http_req *req, const char *name, const char *value);

#endif
