/* buf — growable string; see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(buf_t *b, size_t extra);
static size_t utf8_valid_len(const unsigned char *s);

/* Makes room for extra more bytes plus the NUL, growing geometrically so that
 * n appends cost O(n) copies overall. */
static int reserve(buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

const char *buf_str(const buf_t *b)
{
    return b->data ? b->data : "";
}

int buf_append(buf_t *b, const void *s, size_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(buf_t *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_double(buf_t *b, double v)
{
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return buf_puts(b, tmp);
}

/* Length of the well-formed UTF-8 sequence starting at s (a non-ASCII lead
 * byte), or 0 if it is ill-formed. Follows the table of Unicode §3.9 D92, which
 * excludes overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_valid_len(const unsigned char *s)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0; /* also stops at the NUL of a truncated sequence */
    return n;
}

int buf_json_str(buf_t *b, const char *s)
{
    if (!s)
        return buf_puts(b, "null");
    size_t start_len = b->len;
    const unsigned char *p = (const unsigned char *)s;
    int rc = buf_putc(b, '"');
    while (*p) {
        /* Copy the longest run that needs no escaping in one append. */
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        rc |= buf_append(b, run, (size_t)(p - run));
        if (!*p)
            break;
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t n = utf8_valid_len(p);
            if (n) {
                rc |= buf_append(b, p, n);
                p += n;
            } else {
                rc |= buf_puts(b, "\xEF\xBF\xBD"); /* U+FFFD for one bad byte */
                p++;
            }
            continue;
        }
        switch (c) {
        case '"': rc |= buf_puts(b, "\\\""); break;
        case '\\': rc |= buf_puts(b, "\\\\"); break;
        case '\n': rc |= buf_puts(b, "\\n"); break;
        case '\r': rc |= buf_puts(b, "\\r"); break;
        case '\t': rc |= buf_puts(b, "\\t"); break;
        case '\b': rc |= buf_puts(b, "\\b"); break;
        case '\f': rc |= buf_puts(b, "\\f"); break;
        default: rc |= buf_printf(b, "\\u%04x", c); break;
        }
        p++;
    }
    rc |= buf_putc(b, '"');
    if (rc) {
        /* Never leave half a string behind: the caller's JSON stays well-formed
         * up to the point of failure. */
        b->len = start_len;
        if (b->data)
            b->data[b->len] = '\0';
        return -1;
    }
    return 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(buf_t *b)
{
    free(b->data);
    *b = (buf_t)BUF_INIT;
}
