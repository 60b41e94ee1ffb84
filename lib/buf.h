/* buf — a growable, always NUL-terminated byte string.
 *
 * Used to render metrics, JSON log lines and OTLP bodies without fixed-size
 * buffers. Appends report allocation failure with -1 and leave the contents as
 * they were before the failed call, so a caller may append many pieces and
 * check `b->oom` once at the end. A buf is not thread-safe; give each thread
 * its own. */
#ifndef TODO_BUF_H
#define TODO_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct buf {
    char *data; /* NULL until the first append; use buf_str() to read */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
    bool oom;   /* sticky: some append failed for lack of memory */
} buf_t;

#define BUF_INIT {NULL, 0, 0, false}

/* The contents as a C string; "" for a buffer nothing was appended to. */
const char *buf_str(const buf_t *b);

/* Appends n bytes of s. Returns 0, or -1 (and sets b->oom) if memory ran out. */
int buf_append(buf_t *b, const void *s, size_t n);

/* Appends the C string s. Returns 0 or -1 as buf_append. */
int buf_puts(buf_t *b, const char *s);

/* Appends one byte. Returns 0 or -1 as buf_append. */
int buf_putc(buf_t *b, char c);

/* Appends printf-formatted text. Returns 0 or -1 as buf_append. */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends a finite double in the shortest of %.15g, %.16g, %.17g that reads
 * back as the same value: 0.1 stays "0.1" and 1/3 keeps all its digits.
 * Infinities and NaN come out as printf spells them; JSON and Prometheus
 * writers spell those themselves. Returns 0 or -1 as buf_append. */
int buf_double(buf_t *b, double v);

/* Appends s as a quoted JSON string: quote, backslash and control characters
 * are escaped, and every byte that is not part of valid UTF-8 (overlong forms,
 * surrogates, truncated sequences) becomes U+FFFD, so the output is always
 * valid JSON whatever the input. A NULL s is written as JSON null. */
int buf_json_str(buf_t *b, const char *s);

/* Forgets the contents but keeps the allocation for reuse (clears oom). */
void buf_reset(buf_t *b);

/* Releases the memory; the buffer is empty again and may be reused. */
void buf_free(buf_t *b);

#endif
