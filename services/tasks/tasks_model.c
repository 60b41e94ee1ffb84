/* tasks_model — validation and rendering of tasks; see tasks_model.h. */
#include "tasks_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static const char *const event_names[] = {"task.created", "task.updated", "task.completed",
                                          "task.deleted"};

static long utf8_chars(const unsigned char *s, size_t n);
static int text_field(const cJSON *v, const char *field, size_t max_chars, size_t max_bytes,
                      char *out, char *err, size_t errlen);

const char *tasks_model_event_name(task_event_t ev)
{
    return (unsigned)ev < sizeof event_names / sizeof event_names[0] ? event_names[ev] : "?";
}

/* ==== text ============================================================================== */

/* Number of code points in s[0..n), or -1 when it is not valid UTF-8 or holds a control
 * character (C0, DEL, C1): titles and tags are one line of printable text. */
static long utf8_chars(const unsigned char *s, size_t n)
{
    long chars = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t need;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F) return -1;
            i++;
            chars++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, cp = c & 0x07;
        } else {
            return -1;
        }
        if (i + need >= n) return -1; /* truncated sequence */
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F))
            return -1;
        i += need + 1;
        chars++;
    }
    return chars;
}

/* A string field, trimmed of ASCII spaces, 1..max_chars printable characters. */
static int text_field(const cJSON *v, const char *field, size_t max_chars, size_t max_bytes,
                      char *out, char *err, size_t errlen)
{
    if (!cJSON_IsString(v) || !v->valuestring) {
        snprintf(err, errlen, "%s must be a string", field);
        return -1;
    }
    const char *s = v->valuestring;
    size_t n = strlen(s);
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 0) {
        snprintf(err, errlen, "%s must not be empty", field);
        return -1;
    }
    long chars = n <= max_bytes ? utf8_chars((const unsigned char *)s, n) : (long)max_chars + 1;
    if (chars < 0) {
        snprintf(err, errlen, "%s must be printable text without control characters", field);
        return -1;
    }
    if ((size_t)chars > max_chars) {
        snprintf(err, errlen, "%s must be at most %zu characters", field, max_chars);
        return -1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

void tasks_model_ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

static int tag_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

void tasks_model_tags_normalise(char (*names)[TASK_TAG_BYTES + 1], size_t *n)
{
    if (*n < 2) return;
    qsort(names, *n, sizeof names[0], tag_cmp);
    size_t w = 1;
    for (size_t r = 1; r < *n; r++)
        if (strcmp(names[r], names[w - 1]) != 0) {
            if (w != r) memcpy(names[w], names[r], sizeof names[0]);
            w++;
        }
    *n = w;
}

/* ==== input ============================================================================= */

static int parse_priority(const cJSON *v, int *out, char *err, size_t errlen)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < 1 || v->valuedouble > 5) {
        snprintf(err, errlen, "priority must be an integer from 1 to 5");
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_tags(const cJSON *v, task_input_t *out, char *err, size_t errlen)
{
    if (!cJSON_IsArray(v)) {
        snprintf(err, errlen, "tags must be an array of strings");
        return -1;
    }
    int n = cJSON_GetArraySize(v);
    if (n > TASK_TAGS_MAX) {
        snprintf(err, errlen, "at most %d tags", TASK_TAGS_MAX);
        return -1;
    }
    out->ntags = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (text_field(e, "a tag", TASK_TAG_MAX, TASK_TAG_BYTES, out->tags[out->ntags], err,
                       errlen) < 0)
            return -1;
        out->ntags++;
    }
    tasks_model_tags_normalise(out->tags, &out->ntags);
    out->has_tags = true;
    return 0;
}

static int parse_due(const cJSON *v, task_input_t *out, char *err, size_t errlen)
{
    out->has_due = true;
    if (cJSON_IsNull(v)) {
        out->due_null = true;
        return 0;
    }
    if (!cJSON_IsString(v) || rfc3339_parse(v->valuestring, &out->due_ms) < 0) {
        snprintf(err, errlen,
                 "due_at must be null or an RFC 3339 date-time such as 2030-01-31T17:00:00Z "
                 "(years 1970 to 9999)");
        return -1;
    }
    out->due_null = false;
    return 0;
}

int tasks_model_input_parse(const cJSON *body, bool create, task_input_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(body)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return -1;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, body)
    {
        const char *k = f->string ? f->string : "";
        int rc;
        if (!strcmp(k, "title")) {
            if (out->has_title) goto dup;
            rc = text_field(f, "title", TASK_TITLE_MAX, TASK_TITLE_BYTES, out->title, err, errlen);
            out->has_title = true;
        } else if (!strcmp(k, "priority")) {
            if (out->has_priority) goto dup;
            rc = parse_priority(f, &out->priority, err, errlen);
            out->has_priority = true;
        } else if (!strcmp(k, "tags")) {
            if (out->has_tags) goto dup;
            rc = parse_tags(f, out, err, errlen);
        } else if (!strcmp(k, "due_at")) {
            if (out->has_due) goto dup;
            rc = parse_due(f, out, err, errlen);
        } else if (!strcmp(k, "done") && !create) {
            if (out->has_done) goto dup;
            rc = cJSON_IsBool(f) ? 0 : -1;
            if (rc < 0) snprintf(err, errlen, "done must be true or false");
            out->done = cJSON_IsTrue(f);
            out->has_done = true;
        } else {
            char shown[48];
            snprintf(shown, sizeof shown, "%.40s", k);
            for (char *p = shown; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F) *p = '?';
            snprintf(err, errlen, "unknown field '%s'", shown);
            return -1;
        }
        if (rc < 0) return -1;
    }
    if (create) {
        if (!out->has_title) {
            snprintf(err, errlen, "title is required");
            return -1;
        }
        if (!out->has_priority) out->priority = TASK_PRIORITY_DEFAULT, out->has_priority = true;
        if (!out->has_tags) out->has_tags = true, out->ntags = 0;
    } else if (!out->has_title && !out->has_priority && !out->has_tags && !out->has_due &&
               !out->has_done) {
        snprintf(err, errlen, "nothing to change: give any of title, priority, tags, due_at, done");
        return -1;
    }
    return 0;
dup:
    snprintf(err, errlen, "a field appears twice");
    return -1;
}

int tasks_model_query_parse(const char *done, const char *tag, const char *q, const char *limit,
                     const char *cursor, task_query_t *out, const char **code, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->done = -1;
    out->limit = TASK_LIMIT_DEFAULT;
    *code = "invalid_query";
    if (done) {
        if (!strcmp(done, "true") || !strcmp(done, "1"))
            out->done = 1;
        else if (!strcmp(done, "false") || !strcmp(done, "0"))
            out->done = 0;
        else {
            snprintf(err, errlen, "done must be true or false");
            return -1;
        }
    }
    if (tag && *tag) {
        cJSON v = {.type = cJSON_String, .valuestring = (char *)tag};
        if (text_field(&v, "tag", TASK_TAG_MAX, TASK_TAG_BYTES, out->tag, err, errlen) < 0)
            return -1;
        out->has_tag = true;
    }
    if (q && *q) {
        /* counted in characters like the titles it searches (and as an API description
         * can state it); the byte bound only keeps a huge value from being scanned */
        size_t n = strlen(q);
        long chars = n <= TASK_Q_BYTES ? utf8_chars((const unsigned char *)q, n) : -1;
        if (chars < 0 || chars > TASK_Q_MAX) {
            snprintf(err, errlen, "q must be printable text of at most %d characters", TASK_Q_MAX);
            return -1;
        }
        memcpy(out->q, q, n + 1);
        tasks_model_ascii_lower(out->q);
        out->has_q = true;
    }
    if (limit) {
        int64_t v;
        if (http_parse_id(limit, &v) < 0 || v > TASK_LIMIT_MAX) {
            snprintf(err, errlen, "limit must be an integer from 1 to %d", TASK_LIMIT_MAX);
            return -1;
        }
        out->limit = (int)v;
    }
    /* An empty cursor is refused like any other that was never given out (as `limit=` and
     * notification-service's cursor are): only an absent one means "from the newest". */
    if (cursor) {
        if (http_parse_id(cursor, &out->cursor) < 0) {
            *code = "invalid_cursor";
            snprintf(err, errlen, "cursor is not one this service gave out");
            return -1;
        }
    }
    return 0;
}

/* ==== rendering ========================================================================= */

static void put_time(buf_t *b, const char *key, bool has, int64_t ms)
{
    buf_printf(b, ",\"%s\":", key);
    if (!has) {
        buf_puts(b, "null");
        return;
    }
    char t[TASK_TIME_LEN + 1];
    rfc3339_format(ms, t);
    buf_putc(b, '"');
    buf_puts(b, t);
    buf_putc(b, '"');
}

int tasks_model_render(buf_t *b, const task_t *t)
{
    buf_printf(b, "{\"id\":%lld,\"title\":", (long long)t->id);
    buf_json_str(b, t->title);
    buf_printf(b, ",\"priority\":%d,\"done\":%s,\"tags\":[", t->priority,
               t->done ? "true" : "false");
    for (size_t i = 0; i < t->ntags; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, t->tags[i]);
    }
    buf_putc(b, ']');
    put_time(b, "due_at", t->has_due, t->due_ms);
    put_time(b, "created_at", true, t->created_ms);
    put_time(b, "updated_at", true, t->updated_ms);
    put_time(b, "completed_at", t->has_completed, t->completed_ms);
    buf_printf(b, ",\"version\":%lld}", (long long)t->version);
    return b->oom ? -1 : 0;
}

int tasks_model_event_render(buf_t *b, const char *event_id, task_event_t ev, const task_t *t)
{
    char when[TASK_TIME_LEN + 1];
    rfc3339_format(t->updated_ms, when);
    buf_puts(b, "{\"id\":");
    buf_json_str(b, event_id);
    buf_printf(b,
               ",\"type\":\"%s\",\"occurred_at\":\"%s\",\"user_id\":%lld,\"task_id\":%lld,"
               "\"version\":%lld,\"task\":",
               tasks_model_event_name(ev), when, (long long)t->user_id, (long long)t->id,
               (long long)t->version);
    tasks_model_render(b, t);
    buf_putc(b, '}');
    return b->oom ? -1 : 0;
}
