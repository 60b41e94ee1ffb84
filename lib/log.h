/* log — structured JSON logs, one object per line (CONTRACT §8).
 *
 *   log_info("listening", LOG_STR("addr", addr), LOG_INT("port", port));
 *   -> {"ts":"2024-05-01T12:00:00.123Z","level":"info","service":"tasks-service",
 *       "msg":"listening","trace_id":"…","span_id":"…","addr":"0.0.0.0","port":8081}
 *
 * trace_id/span_id come from the calling thread's active span (lib/trace installs the
 * reader with log_set_ids_source when a span is first activated, so log depends on
 * nothing of trace) and are left out when there is none. Fields are typed values, never format strings,
 * so a field can not become a printf hole. Every string is JSON-escaped and
 * invalid UTF-8 is replaced. Each line reaches the output with one write(), so
 * lines from concurrent threads never interleave.
 *
 * NEVER pass secrets (passwords, tokens, keys, Authorization headers, full
 * database URLs with passwords) as a message or a field: logs are kept and shipped. */
#ifndef TODO_LOG_H
#define TODO_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

typedef enum { LOG_T_STR, LOG_T_INT, LOG_T_DOUBLE, LOG_T_BOOL } log_type_t;

/* One extra field. Build it with the LOG_STR/LOG_INT/LOG_DOUBLE/LOG_BOOL macros. */
typedef struct log_field {
    const char *key;
    log_type_t type;
    union {
        const char *s; /* NULL is written as null */
        int64_t i;
        double d; /* NaN and infinities are written as null */
        bool b;
    } v;
} log_field_t;

#define LOG_STR(k, x) ((log_field_t){.key = (k), .type = LOG_T_STR, .v.s = (x)})
#define LOG_INT(k, x) ((log_field_t){.key = (k), .type = LOG_T_INT, .v.i = (int64_t)(x)})
#define LOG_DOUBLE(k, x) ((log_field_t){.key = (k), .type = LOG_T_DOUBLE, .v.d = (double)(x)})
#define LOG_BOOL(k, x) ((log_field_t){.key = (k), .type = LOG_T_BOOL, .v.b = (x)})

/* Sets the service name written in every line and the lowest level written.
 * Call once at start-up, before other threads log; until then the service is
 * the program name and the level is info. */
void log_init(const char *service, log_level_t min_level);

/* Sends lines to f instead of stderr (f must have a file descriptor: lines are
 * written with write(2) on fileno(f)). NULL restores stderr. Call before other
 * threads log. */
void log_set_output(FILE *f);

/* Reads the calling thread's current trace and span ids as lowercase hex; false when the
 * thread has none. */
typedef bool (*log_ids_fn)(char trace_id[33], char span_id[17]);

/* Sets where log_emit finds the ids for the trace_id/span_id fields (NULL: none). Safe to
 * call from any thread at any time; lib/trace calls it. */
void log_set_ids_source(log_ids_fn fn);

/* Parses "debug", "info", "warn"/"warning" or "error" (any case) into *out.
 * Returns 0, or -1 leaving *out untouched. */
int log_level_parse(const char *s, log_level_t *out);

/* The lowercase name of a level, as written in the "level" field. */
const char *log_level_name(log_level_t level);

/* True if a line at this level would be written; lets callers skip costly work. */
bool log_enabled(log_level_t level);

/* Writes one line with n extra fields. Field keys should not repeat the fixed
 * keys (ts, level, service, msg, trace_id, span_id). Thread-safe. Usually
 * called through the log_debug/log_info/log_warn/log_error macros. */
void log_emit(log_level_t level, const char *msg, const log_field_t *fields, size_t n);

/* Writes one line whose message is printf-formatted, with no extra fields.
 * For values that deserve their own key, prefer log_emit with fields. */
void log_printf(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_info(msg, field...) with zero or more LOG_* fields. The leading dummy
 * element lets the field list be empty in standard C11. */
#define LOG_EMIT_(level, msg, ...)                                                                 \
    log_emit((level), (msg), (const log_field_t[]){{.key = NULL}, __VA_ARGS__} + 1,                \
             sizeof((const log_field_t[]){{.key = NULL}, __VA_ARGS__}) / sizeof(log_field_t) - 1)
#define log_debug(...) LOG_EMIT_(LOG_DEBUG, __VA_ARGS__, )
#define log_info(...) LOG_EMIT_(LOG_INFO, __VA_ARGS__, )
#define log_warn(...) LOG_EMIT_(LOG_WARN, __VA_ARGS__, )
#define log_error(...) LOG_EMIT_(LOG_ERROR, __VA_ARGS__, )

#endif
