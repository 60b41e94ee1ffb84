/* log — structured JSON logs; see log.h. */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"

static void put_timestamp(buf_t *b);
static void put_field(buf_t *b, const log_field_t *f);
static void write_line(const buf_t *b);

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Set at start-up before threads log (log.h says so), read afterwards. */
static char service_name[64];
static log_level_t min_level = LOG_INFO;
static int out_fd = STDERR_FILENO;
/* lib/trace installs its reader here; log does not call trace, which logs through log */
static _Atomic(log_ids_fn) ids_source;

void log_init(const char *service, log_level_t level)
{
    snprintf(service_name, sizeof service_name, "%s", service ? service : "");
    min_level = level;
}

void log_set_ids_source(log_ids_fn fn)
{
    atomic_store_explicit(&ids_source, fn, memory_order_release);
}

void log_set_output(FILE *f)
{
    out_fd = f ? fileno(f) : STDERR_FILENO;
}

int log_level_parse(const char *s, log_level_t *out)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(log_level_t level)
{
    return (unsigned)level <= LOG_ERROR ? level_names[level] : "unknown";
}

bool log_enabled(log_level_t level)
{
    return level >= min_level;
}

/* RFC 3339 in UTC with milliseconds, the form every log shipper parses. */
static void put_timestamp(buf_t *b)
{
    int64_t ms = clock_wall_ms();
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void put_field(buf_t *b, const log_field_t *f)
{
    buf_putc(b, ',');
    buf_json_str(b, f->key ? f->key : "");
    buf_putc(b, ':');
    switch (f->type) {
    case LOG_T_STR: buf_json_str(b, f->v.s); break;
    case LOG_T_INT: buf_printf(b, "%lld", (long long)f->v.i); break;
    case LOG_T_BOOL: buf_puts(b, f->v.b ? "true" : "false"); break;
    case LOG_T_DOUBLE:
        /* JSON has no NaN or infinity. */
        if (isfinite(f->v.d))
            buf_double(b, f->v.d);
        else
            buf_puts(b, "null");
        break;
    }
}

/* One write() for the whole line: concurrent lines never interleave, within
 * this process or (up to PIPE_BUF bytes) with other processes on one pipe. */
static void write_line(const buf_t *b)
{
    const char *p = b->data;
    size_t left = b->len;
    while (left > 0) {
        ssize_t n = write(out_fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        p += n;
        left -= (size_t)n;
    }
}

void log_emit(log_level_t level, const char *msg, const log_field_t *fields, size_t n)
{
    if (!log_enabled(level))
        return;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"ts\":");
    put_timestamp(&b);
    buf_printf(&b, ",\"level\":\"%s\",\"service\":", log_level_name(level));
    buf_json_str(&b, service_name[0] ? service_name : program_invocation_short_name);
    buf_puts(&b, ",\"msg\":");
    buf_json_str(&b, msg ? msg : "");
    char trace_id[33], span_id[17];
    log_ids_fn ids = atomic_load_explicit(&ids_source, memory_order_acquire);
    if (ids && ids(trace_id, span_id))
        buf_printf(&b, ",\"trace_id\":\"%s\",\"span_id\":\"%s\"", trace_id, span_id);
    for (size_t i = 0; i < n; i++)
        put_field(&b, &fields[i]);
    buf_puts(&b, "}\n");
    if (!b.oom)
        write_line(&b);
    buf_free(&b);
}

void log_printf(log_level_t level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return;
    log_emit(level, msg, NULL, 0);
    free(msg);
}
