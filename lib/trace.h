/* trace — W3C trace context, spans, and export to Jaeger over OTLP/HTTP JSON.
 *
 * A server handler:
 *   trace_ctx_t remote;
 *   bool has = hdr && trace_parent_parse(hdr, &remote) == 0;
 *   trace_span_t *sp = trace_span_start("GET /tasks", TRACE_KIND_SERVER, has ? &remote : NULL);
 *   trace_span_activate(sp);           // logs and child spans on this thread now see it
 *   ... trace_span_set_int(sp, "http.response.status_code", 200);
 *   trace_span_end(sp);                // also deactivates it if it is this thread's current span
 *
 * Spans always get real ids, so logs and outgoing traceparent headers work even
 * when no exporter runs; attributes and events are only kept when the span will
 * be exported (exporter running and the trace sampled). All span functions
 * accept NULL (allocation failure) and do nothing. A span belongs to one thread
 * at a time; the exporter functions are thread-safe. */
#ifndef TODO_TRACE_H
#define TODO_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of a version-00 traceparent value, without the NUL. */
#define TRACE_PARENT_LEN 55
#define TRACE_FLAG_SAMPLED 0x01

typedef struct trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8]; /* the parent-id field of a traceparent */
    uint8_t flags;
} trace_ctx_t;

/* Span kinds; the values are OTLP's SpanKind numbers. */
typedef enum {
    TRACE_KIND_INTERNAL = 1,
    TRACE_KIND_SERVER = 2,
    TRACE_KIND_CLIENT = 3,
    TRACE_KIND_PRODUCER = 4,
    TRACE_KIND_CONSUMER = 5,
} trace_kind_t;

/* Span status; the values are OTLP's StatusCode numbers. */
typedef enum { TRACE_STATUS_UNSET = 0, TRACE_STATUS_OK = 1, TRACE_STATUS_ERROR = 2 } trace_status_t;

typedef struct trace_span trace_span_t;

typedef struct trace_stats {
    uint64_t exported;           /* spans the collector accepted */
    uint64_t dropped_queue_full; /* spans ended while the queue was full */
    uint64_t dropped_export;     /* spans in batches the collector did not accept in time */
} trace_stats_t;

/* ---- W3C traceparent ------------------------------------------------------ */

/* Parses a traceparent header value ("00-<32 hex>-<16 hex>-<2 hex>") into *out.
 * Returns -1 for anything the W3C spec says to ignore: wrong lengths or
 * separators, uppercase or non-hex digits, version "ff", all-zero trace or
 * parent id, or extra text after a version-00 value. A later version is
 * accepted if its first 55 characters parse and any rest starts with '-'.
 * On -1 the caller starts a new trace. */
int trace_parent_parse(const char *s, trace_ctx_t *out);

/* Writes ctx as a version-00 traceparent (TRACE_PARENT_LEN chars plus NUL). */
void trace_parent_format(const trace_ctx_t *ctx, char out[TRACE_PARENT_LEN + 1]);

/* ---- spans ---------------------------------------------------------------- */

/* Starts a span named name (copied). Its parent is, in order: the remote
 * parent if given (e.g. parsed from an incoming traceparent), else this
 * thread's current span, else none (a new trace, sampled). The trace id and
 * sampled flag come from the parent. Ids come from getrandom(). The span is not
 * made current: call trace_span_activate when code on this thread should see
 * it. Returns NULL only if memory ran out. */
trace_span_t *trace_span_start(const char *name, trace_kind_t kind, const trace_ctx_t *parent);

/* Copies the span's context (its own span id as the parent id), e.g. to
 * format a traceparent for an outgoing call. Returns 0, or -1 if span is NULL. */
int trace_span_ctx(const trace_span_t *span, trace_ctx_t *out);

/* Sets an attribute (key and string value are copied); setting a key again
 * replaces its value. Up to 32 keys per span; more are ignored. */
void trace_span_set_str(trace_span_t *span, const char *key, const char *value);
void trace_span_set_int(trace_span_t *span, const char *key, int64_t value);
void trace_span_set_double(trace_span_t *span, const char *key, double value);
void trace_span_set_bool(trace_span_t *span, const char *key, bool value);

/* Records a timestamped event (name copied). Up to 16 per span. */
void trace_span_add_event(trace_span_t *span, const char *name);

/* Sets the status; message (copied, may be NULL) is meant for errors. */
void trace_span_set_status(trace_span_t *span, trace_status_t status, const char *message);

/* Ends the span: stamps the end time, deactivates it if it is this thread's
 * current span, and hands it to the exporter (or frees it). Never blocks. The
 * pointer is invalid afterwards. */
void trace_span_end(trace_span_t *span);

/* ---- the thread's current span -------------------------------------------- */

/* Pushes the span's context on this thread's stack of current spans (depth 16;
 * deeper pushes are ignored). Only a copy of the ids is kept, so a span ended
 * elsewhere never leaves a dangling pointer behind. */
void trace_span_activate(trace_span_t *span);

/* Pops the span if it is on top of this thread's stack; otherwise does nothing.
 * Use it when a thread stops working on a span it will not end itself (e.g.
 * between callbacks of an event-driven server). */
void trace_span_deactivate(trace_span_t *span);

/* Copies this thread's current span context into *out. Returns false if none. */
bool trace_current_ctx(trace_ctx_t *out);

/* Writes this thread's current trace and span ids as lowercase hex strings.
 * Returns false (leaving the arrays untouched) if there is no current span. */
bool trace_current_ids(char trace_id[33], char span_id[17]);

/* ---- the OTLP exporter ---------------------------------------------------- */

/* Starts the background thread that POSTs ended spans as OTLP/HTTP JSON to
 * endpoint + "/v1/traces" (endpoint like "http://127.0.0.1:4318") with
 * resource attribute service.name = service. Spans wait in a queue of 4096
 * (full: dropped and counted) and are sent in batches every second or when 512
 * are waiting; a batch that fails (connect timeout 0.5 s, total 2 s) is dropped
 * and counted, never retried, so a dead collector costs nothing but the
 * lost spans. Calls curl_global_init itself (reference-counted by libcurl).
 * Returns 0, or -1 with a message if already running or the thread can't start. */
int trace_exporter_start(const char *service, const char *endpoint, char *err, size_t errlen);

/* Waits until every span ended before the call has been sent (or dropped).
 * Returns 0, or -1 if timeout_ms passed first or no exporter runs. */
int trace_exporter_flush(int timeout_ms);

/* Sends what is queued (one attempt), stops the thread and joins it. If the
 * collector has just failed, what is left is dropped without trying, so this
 * takes at most about two request timeouts. Spans ended afterwards are freed
 * unexported. Safe to call when not running. */
void trace_exporter_stop(void);

/* Copies the exporter's counters (they survive stop/start). Thread-safe. */
void trace_exporter_stats(trace_stats_t *out);

#endif
