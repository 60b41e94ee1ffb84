/* trace — W3C trace context, spans and the OTLP/HTTP JSON exporter; see trace.h. */
#include "trace.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

#define MAX_ATTRS 32
#define MAX_EVENTS 16
#define STACK_DEPTH 16
#define QUEUE_CAP 4096
#define BATCH_MAX 512
#define EXPORT_INTERVAL_MS 1000
#define CONNECT_TIMEOUT_MS 500
#define REQUEST_TIMEOUT_MS 2000

typedef enum { ATTR_STR, ATTR_INT, ATTR_DOUBLE, ATTR_BOOL } attr_type_t;

typedef struct attr {
    char *key;
    attr_type_t type;
    union {
        char *s;
        int64_t i;
        double d;
        bool b;
    } v;
} attr_t;

typedef struct event {
    char *name;
    uint64_t time_ns;
} event_t;

struct trace_span {
    trace_ctx_t ctx;
    uint8_t parent_id[8]; /* all zero for a root span */
    trace_kind_t kind;
    bool recording; /* attributes and events are kept only for exported spans */
    char *name;
    uint64_t start_ns, end_ns; /* unix time, as OTLP wants */
    uint64_t start_mono_ns;    /* duration comes from the monotonic clock */
    trace_status_t status;
    char *status_msg;
    size_t nattrs, nevents;
    attr_t *attrs;
    event_t *events;
};

static void random_bytes(uint8_t *p, size_t n);
static bool all_zero(const uint8_t *p, size_t n);
static int hex_decode(const char *s, uint8_t *out, size_t n);
static void hex_encode(const uint8_t *in, size_t n, char *out);
static attr_t *attr_slot(trace_span_t *span, const char *key);
static void span_free(trace_span_t *span);
static void put_span(buf_t *b, const trace_span_t *s);
static int otlp_encode(buf_t *out, const char *service, trace_span_t *const *spans, size_t n);
static void *exporter_main(void *arg);
static bool export_batch(CURL *curl, buf_t *body, trace_span_t *const *spans, size_t n);

/* ---- ids and clocks -------------------------------------------------------- */

/* Ids need to be unique, not secret, but getrandom() is cheap enough and
 * needs no seeding per thread. */
static void random_bytes(uint8_t *p, size_t n)
{
    do {
        size_t got = 0;
        while (got < n) {
            ssize_t r = getrandom(p + got, n - got, 0);
            if (r > 0)
                got += (size_t)r;
            else if (r < 0 && errno != EINTR)
                abort(); /* only without kernel support; ids would be meaningless */
        }
    } while (all_zero(p, n)); /* all-zero ids are invalid */
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Lowercase only: W3C forbids uppercase hex in traceparent. */
static int hex_decode(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}


/* ---- traceparent ------------------------------------------------------------- */

int trace_parent_parse(const char *s, trace_ctx_t *out)
{
    if (!s)
        return -1;
    size_t len = strlen(s);
    uint8_t version;
    trace_ctx_t c;
    if (len < TRACE_PARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return -1;
    if (hex_decode(s, &version, 1) < 0 || version == 0xff)
        return -1;
    /* Version 00 has exactly this shape; a later version may append fields. */
    if (version == 0 ? len != TRACE_PARENT_LEN : len > TRACE_PARENT_LEN && s[55] != '-')
        return -1;
    if (hex_decode(s + 3, c.trace_id, 16) < 0 || hex_decode(s + 36, c.span_id, 8) < 0 ||
        hex_decode(s + 53, &c.flags, 1) < 0)
        return -1;
    if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8))
        return -1;
    *out = c;
    return 0;
}

void trace_parent_format(const trace_ctx_t *ctx, char out[TRACE_PARENT_LEN + 1])
{
    memcpy(out, "00-", 3);
    hex_encode(ctx->trace_id, 16, out + 3);
    out[35] = '-';
    hex_encode(ctx->span_id, 8, out + 36);
    out[52] = '-';
    hex_encode(&ctx->flags, 1, out + 53);
}

/* ---- the thread's current span -------------------------------------------- */

/* Copies of contexts, not span pointers: nothing here can dangle. Pushes past
 * STACK_DEPTH are counted but not stored, so pops stay balanced. */
static _Thread_local trace_ctx_t tl_stack[STACK_DEPTH];
static _Thread_local size_t tl_depth;

void trace_span_activate(trace_span_t *span)
{
    if (!span)
        return;
    /* the first activation in the process points log lines at the current span (log keeps
     * no dependency on trace); one relaxed check per activation after that */
    static atomic_bool ids_installed;
    if (!atomic_load_explicit(&ids_installed, memory_order_relaxed)) {
        log_set_ids_source(trace_current_ids);
        atomic_store(&ids_installed, true);
    }
    if (tl_depth < STACK_DEPTH)
        tl_stack[tl_depth] = span->ctx;
    tl_depth++;
}

void trace_span_deactivate(trace_span_t *span)
{
    if (!span || tl_depth == 0)
        return;
    if (tl_depth > STACK_DEPTH ||
        memcmp(tl_stack[tl_depth - 1].span_id, span->ctx.span_id, 8) == 0)
        tl_depth--;
}

bool trace_current_ctx(trace_ctx_t *out)
{
    if (tl_depth == 0)
        return false;
    *out = tl_stack[(tl_depth > STACK_DEPTH ? STACK_DEPTH : tl_depth) - 1];
    return true;
}

bool trace_current_ids(char trace_id[33], char span_id[17])
{
    trace_ctx_t c;
    if (!trace_current_ctx(&c))
        return false;
    hex_encode(c.trace_id, 16, trace_id);
    hex_encode(c.span_id, 8, span_id);
    return true;
}

/* ---- exporter state ------------------------------------------------------- */

/* One exporter per process. The queue is a ring of ended spans; enqueued and
 * finished count spans in and out of it, so a flush can wait for exactly the
 * spans ended before it was called. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* to the exporter: a full batch, a flush or stop */
    pthread_cond_t done; /* to flushers: a batch was finished */
    pthread_t thread;
    bool stopping;
    int flush_waiters;
    trace_span_t *queue[QUEUE_CAP];
    size_t head, count;
    uint64_t enqueued, finished;
    char *service, *url;
} ex = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static atomic_bool ex_running; /* read without the lock when a span starts */
static atomic_uint_fast64_t stat_exported, stat_dropped_full, stat_dropped_export;

/* Condition variables on CLOCK_MONOTONIC, so waits survive clock changes. */
static void ex_init_conds(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ex.wake, &attr);
    pthread_cond_init(&ex.done, &attr);
    pthread_condattr_destroy(&attr);
}

/* ---- spans ---------------------------------------------------------------- */

trace_span_t *trace_span_start(const char *name, trace_kind_t kind, const trace_ctx_t *parent)
{
    trace_span_t *span = calloc(1, sizeof *span);
    if (!span || !(span->name = strdup(name ? name : ""))) {
        free(span);
        return NULL;
    }
    trace_ctx_t current;
    if (!parent && trace_current_ctx(&current))
        parent = &current;
    if (parent) {
        memcpy(span->ctx.trace_id, parent->trace_id, 16);
        memcpy(span->parent_id, parent->span_id, 8);
        span->ctx.flags = parent->flags;
    } else {
        random_bytes(span->ctx.trace_id, 16);
        span->ctx.flags = TRACE_FLAG_SAMPLED;
    }
    random_bytes(span->ctx.span_id, 8);
    span->kind = kind;
    span->recording = (span->ctx.flags & TRACE_FLAG_SAMPLED) && atomic_load(&ex_running);
    span->start_ns = (uint64_t)clock_wall_ns();
    span->start_mono_ns = (uint64_t)clock_mono_ns();
    return span;
}

int trace_span_ctx(const trace_span_t *span, trace_ctx_t *out)
{
    if (!span)
        return -1;
    *out = span->ctx;
    return 0;
}

/* The slot for key: its existing one (old value released: setting a key
 * twice keeps the last value, as OTLP wants keys unique), or a fresh one with
 * the key copied. NULL when the span is not recording, is full, or memory ran out. */
static attr_t *attr_slot(trace_span_t *span, const char *key)
{
    if (!span || !span->recording || !key)
        return NULL;
    for (size_t i = 0; i < span->nattrs; i++) {
        attr_t *a = &span->attrs[i];
        if (strcmp(a->key, key) == 0) {
            if (a->type == ATTR_STR)
                free(a->v.s);
            a->type = ATTR_INT; /* owns nothing until the caller sets it */
            return a;
        }
    }
    if (span->nattrs == MAX_ATTRS)
        return NULL;
    if (!span->attrs && !(span->attrs = calloc(MAX_ATTRS, sizeof *span->attrs)))
        return NULL;
    attr_t *a = &span->attrs[span->nattrs];
    if (!(a->key = strdup(key)))
        return NULL;
    span->nattrs++;
    return a;
}

void trace_span_set_str(trace_span_t *span, const char *key, const char *value)
{
    attr_t *a = attr_slot(span, key);
    if (a) {
        a->type = ATTR_STR;
        a->v.s = strdup(value ? value : ""); /* NULL after OOM is encoded as "" */
    }
}

void trace_span_set_int(trace_span_t *span, const char *key, int64_t value)
{
    attr_t *a = attr_slot(span, key);
    if (a) {
        a->type = ATTR_INT;
        a->v.i = value;
    }
}

void trace_span_set_double(trace_span_t *span, const char *key, double value)
{
    attr_t *a = attr_slot(span, key);
    if (a) {
        a->type = ATTR_DOUBLE;
        a->v.d = value;
    }
}

void trace_span_set_bool(trace_span_t *span, const char *key, bool value)
{
    attr_t *a = attr_slot(span, key);
    if (a) {
        a->type = ATTR_BOOL;
        a->v.b = value;
    }
}

void trace_span_add_event(trace_span_t *span, const char *name)
{
    if (!span || !span->recording || span->nevents == MAX_EVENTS || !name)
        return;
    if (!span->events && !(span->events = calloc(MAX_EVENTS, sizeof *span->events)))
        return;
    event_t *e = &span->events[span->nevents];
    if ((e->name = strdup(name))) {
        e->time_ns = (uint64_t)clock_wall_ns();
        span->nevents++;
    }
}

void trace_span_set_status(trace_span_t *span, trace_status_t status, const char *message)
{
    if (!span)
        return;
    span->status = status;
    free(span->status_msg);
    span->status_msg = span->recording && message ? strdup(message) : NULL;
}

static void span_free(trace_span_t *span)
{
    for (size_t i = 0; i < span->nattrs; i++) {
        free(span->attrs[i].key);
        if (span->attrs[i].type == ATTR_STR)
            free(span->attrs[i].v.s);
    }
    for (size_t i = 0; i < span->nevents; i++)
        free(span->events[i].name);
    free(span->attrs);
    free(span->events);
    free(span->status_msg);
    free(span->name);
    free(span);
}

void trace_span_end(trace_span_t *span)
{
    if (!span)
        return;
    span->end_ns = span->start_ns + ((uint64_t)clock_mono_ns() - span->start_mono_ns);
    trace_span_deactivate(span);
    if (span->recording) {
        pthread_mutex_lock(&ex.lock);
        if (atomic_load(&ex_running) && ex.count < QUEUE_CAP) {
            ex.queue[(ex.head + ex.count) % QUEUE_CAP] = span;
            ex.count++;
            ex.enqueued++;
            if (ex.count == BATCH_MAX)
                pthread_cond_signal(&ex.wake);
            span = NULL;
        } else if (atomic_load(&ex_running)) {
            atomic_fetch_add(&stat_dropped_full, 1);
        }
        pthread_mutex_unlock(&ex.lock);
    }
    if (span)
        span_free(span);
}

/* ---- OTLP/JSON encoding ------------------------------------------------------ */

/* One span in the OTLP/JSON mapping: ids as lowercase hex (not base64, unlike
 * proto3 JSON), 64-bit integers and times as decimal strings, enums as numbers. */
static void put_span(buf_t *b, const trace_span_t *s)
{
    char tid[33], sid[17], pid[17];
    hex_encode(s->ctx.trace_id, 16, tid);
    hex_encode(s->ctx.span_id, 8, sid);
    buf_printf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\",", tid, sid);
    if (!all_zero(s->parent_id, 8)) {
        hex_encode(s->parent_id, 8, pid);
        buf_printf(b, "\"parentSpanId\":\"%s\",", pid);
    }
    buf_puts(b, "\"name\":");
    buf_json_str(b, s->name);
    buf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"",
               (int)s->kind, (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
    buf_puts(b, ",\"attributes\":[");
    for (size_t i = 0; i < s->nattrs; i++) {
        const attr_t *a = &s->attrs[i];
        buf_puts(b, i ? ",{\"key\":" : "{\"key\":");
        buf_json_str(b, a->key);
        buf_puts(b, ",\"value\":{");
        switch (a->type) {
        case ATTR_STR:
            buf_puts(b, "\"stringValue\":");
            buf_json_str(b, a->v.s ? a->v.s : "");
            break;
        case ATTR_INT: buf_printf(b, "\"intValue\":\"%lld\"", (long long)a->v.i); break;
        case ATTR_BOOL: buf_printf(b, "\"boolValue\":%s", a->v.b ? "true" : "false"); break;
        case ATTR_DOUBLE:
            buf_puts(b, "\"doubleValue\":");
            if (isfinite(a->v.d))
                buf_double(b, a->v.d);
            else /* proto3 JSON spells the special values as strings */
                buf_printf(b, "\"%s\"",
                           isnan(a->v.d) ? "NaN" : a->v.d > 0 ? "Infinity" : "-Infinity");
            break;
        }
        buf_puts(b, "}}");
    }
    buf_puts(b, "],\"events\":[");
    for (size_t i = 0; i < s->nevents; i++) {
        buf_printf(b, "%s{\"timeUnixNano\":\"%llu\",\"name\":", i ? "," : "",
                   (unsigned long long)s->events[i].time_ns);
        buf_json_str(b, s->events[i].name);
        buf_putc(b, '}');
    }
    buf_printf(b, "],\"status\":{\"code\":%d", (int)s->status);
    if (s->status_msg) {
        buf_puts(b, ",\"message\":");
        buf_json_str(b, s->status_msg);
    }
    buf_puts(b, "}}");
}

/* The body of POST /v1/traces (ExportTraceServiceRequest) for n ended spans of
 * one service. Pure: no clock, no state. Returns 0, or -1 if memory ran out. */
static int otlp_encode(buf_t *out, const char *service, trace_span_t *const *spans, size_t n)
{
    buf_puts(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                  "\"value\":{\"stringValue\":");
    buf_json_str(out, service);
    buf_puts(out, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"todo-system\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ',');
        put_span(out, spans[i]);
    }
    buf_puts(out, "]}]}]}");
    return out->oom ? -1 : 0;
}

/* ---- the exporter thread --------------------------------------------------- */

static size_t discard_body(char *p, size_t size, size_t n, void *ctx)
{
    return size * n;
}

/* POSTs one batch; true if the collector answered 2xx. */
static bool export_batch(CURL *curl, buf_t *body, trace_span_t *const *spans, size_t n)
{
    buf_reset(body);
    if (!curl || otlp_encode(body, ex.service, spans, n) < 0)
        return false;
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return rc == CURLE_OK && status >= 200 && status < 300;
}

static void *exporter_main(void *arg)
{
    static trace_span_t *batch[BATCH_MAX]; /* only this thread touches it */
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_URL, ex.url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded process */
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    }
    buf_t body = BUF_INIT;
    bool failing = false; /* log once per outage, not once per batch */

    pthread_mutex_lock(&ex.lock);
    for (;;) {
        struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, EXPORT_INTERVAL_MS);
        while (!ex.stopping && ex.count < BATCH_MAX && !(ex.flush_waiters && ex.count))
            if (pthread_cond_timedwait(&ex.wake, &ex.lock, &deadline) == ETIMEDOUT)
                break;
        if (ex.count == 0) {
            if (ex.stopping)
                break;
            continue;
        }
        size_t n = ex.count < BATCH_MAX ? ex.count : BATCH_MAX;
        for (size_t i = 0; i < n; i++)
            batch[i] = ex.queue[(ex.head + i) % QUEUE_CAP];
        ex.head = (ex.head + n) % QUEUE_CAP;
        ex.count -= n;
        /* Stopping after a failure: trying the rest would only make shutdown
         * wait one timeout per batch. */
        bool give_up = ex.stopping && failing;
        pthread_mutex_unlock(&ex.lock);

        bool ok = !give_up && export_batch(curl, &body, batch, n);
        atomic_fetch_add(ok ? &stat_exported : &stat_dropped_export, n);
        if (!ok && !failing && !give_up)
            log_warn("trace export failed; dropping spans until the collector answers",
                     LOG_STR("url", ex.url), LOG_INT("spans", n));
        else if (ok && failing)
            log_info("trace export recovered", LOG_STR("url", ex.url));
        failing = !ok;
        for (size_t i = 0; i < n; i++)
            span_free(batch[i]);

        pthread_mutex_lock(&ex.lock);
        ex.finished += n;
        pthread_cond_broadcast(&ex.done);
    }
    pthread_mutex_unlock(&ex.lock);
    buf_free(&body);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return NULL;
}

int trace_exporter_start(const char *service, const char *endpoint, char *err, size_t errlen)
{
    pthread_once(&ex_once, ex_init_conds);
    if (!service || !endpoint || !*endpoint) {
        snprintf(err, errlen, "trace exporter: service and endpoint are required");
        return -1;
    }
    pthread_mutex_lock(&ex.lock);
    int rc = -1;
    size_t len = strlen(endpoint);
    while (len > 0 && endpoint[len - 1] == '/')
        len--;
    if (atomic_load(&ex_running)) {
        snprintf(err, errlen, "trace exporter: already running");
        goto out;
    }
    ex.service = strdup(service);
    if (!ex.service || asprintf(&ex.url, "%.*s/v1/traces", (int)len, endpoint) < 0) {
        ex.url = NULL;
        snprintf(err, errlen, "trace exporter: out of memory");
        goto fail;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "trace exporter: curl_global_init failed");
        goto fail;
    }
    ex.stopping = false;
    int e = pthread_create(&ex.thread, NULL, exporter_main, NULL);
    if (e != 0) {
        snprintf(err, errlen, "trace exporter: pthread_create: %s", strerror(e));
        curl_global_cleanup();
        goto fail;
    }
    atomic_store(&ex_running, true);
    rc = 0;
    goto out;
fail:
    free(ex.service);
    free(ex.url);
    ex.service = ex.url = NULL;
out:
    pthread_mutex_unlock(&ex.lock);
    return rc;
}

int trace_exporter_flush(int timeout_ms)
{
    pthread_mutex_lock(&ex.lock);
    if (!atomic_load(&ex_running)) {
        pthread_mutex_unlock(&ex.lock);
        return -1;
    }
    uint64_t target = ex.enqueued;
    struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    ex.flush_waiters++;
    pthread_cond_signal(&ex.wake);
    while (ex.finished < target)
        if (pthread_cond_timedwait(&ex.done, &ex.lock, &deadline) == ETIMEDOUT)
            break;
    ex.flush_waiters--;
    int rc = ex.finished >= target ? 0 : -1;
    pthread_mutex_unlock(&ex.lock);
    return rc;
}

void trace_exporter_stop(void)
{
    pthread_mutex_lock(&ex.lock);
    if (!atomic_load(&ex_running)) {
        pthread_mutex_unlock(&ex.lock);
        return;
    }
    atomic_store(&ex_running, false); /* spans ended from now on are freed, not queued */
    ex.stopping = true;
    pthread_cond_signal(&ex.wake);
    pthread_mutex_unlock(&ex.lock);

    pthread_join(ex.thread, NULL);
    free(ex.service);
    free(ex.url);
    ex.service = ex.url = NULL;
    curl_global_cleanup();
}

void trace_exporter_stats(trace_stats_t *out)
{
    out->exported = atomic_load(&stat_exported);
    out->dropped_queue_full = atomic_load(&stat_dropped_full);
    out->dropped_export = atomic_load(&stat_dropped_export);
}
