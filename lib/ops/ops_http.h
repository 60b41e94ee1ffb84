/* ops_http — one small HTTP client over libcurl for the gateway, Jaeger, /health and /metrics.
 *
 *   ops_http_t *h = ops_http_new(2000, 10000);          // connect, total timeouts (ms)
 *   ops_http_resp_t r = OPS_HTTP_RESP_INIT;
 *   const char *hdrs[] = {"Authorization: Bearer …", NULL};
 *   if (ops_http_do(h, "GET", url, hdrs, NULL, 0, &r, &err) != OPS_OK) …  // no answer at all
 *   r.status, buf_str(&r.body), r.read_source, r.traceparent_sent
 *   ops_http_resp_free(&r); ops_http_free(h);
 *
 * A handle keeps its connection alive between requests (one curl easy handle), so a
 * program that makes several calls to the same host pays one connect. Not thread-safe: one
 * handle per thread. A transport failure (refused, DNS, timeout) is OPS_UNREACHABLE with the
 * URL (without credentials) in the message; any HTTP answer, 5xx included, is OPS_OK with its
 * status for the caller to judge. Bodies are capped (64 MB) so a hostile peer cannot exhaust
 * memory. */
#ifndef OPS_HTTP_H
#define OPS_HTTP_H

#include <stddef.h>

#include "buf.h"
#include "ops_err.h"

typedef struct ops_http ops_http_t;

typedef struct ops_http_resp {
    long status;
    buf_t body;
    char read_source[16];   /* the X-Read-Source header, "" when absent */
    char content_type[128];
    long retry_after_s;     /* Retry-After in seconds, -1 when absent */
} ops_http_resp_t;

#define OPS_HTTP_RESP_INIT {0, BUF_INIT, "", "", -1}

/* A handle with the given connect and total timeouts in milliseconds (0: 2000 and 10000).
 * NULL when libcurl cannot be initialised. */
ops_http_t *ops_http_new(long connect_ms, long total_ms);

/* Performs one request: method ("GET", "POST", "PATCH", "DELETE"), url, NULL-terminated extra
 * header lines (may be NULL), and a body of len bytes (NULL for none; JSON content type is
 * added when there is a body). resp is reset first. See the file comment for the status. */
ops_status_t ops_http_do(ops_http_t *h, const char *method, const char *url,
                         const char *const *headers, const char *body, size_t len,
                         ops_http_resp_t *resp, ops_err_t *err);

/* Changes the total timeout of later requests (e.g. long Jaeger queries). */
void ops_http_set_timeout(ops_http_t *h, long total_ms);

/* Writes url into out with any password shown as *** (lib/redact), for messages; a value
 * without a scheme or key=value (a host:port) is copied as is. */
void ops_url_redact(const char *url, char *out, size_t outlen);

/* Frees the answer's body; the struct can be reused. */
void ops_http_resp_free(ops_http_resp_t *r);

/* Closes the connection and frees the handle; NULL is ignored. */
void ops_http_free(ops_http_t *h);

#endif
