/* ops_table — display-width-aware tables; see ops_table.h. */
#include "ops_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "buf.h"

struct ops_table {
    size_t ncols;
    char **headers;
    bool *flex, *right;
    char **cells; /* rows * ncols */
    size_t rows, cap;
};

/* Decodes one UTF-8 sequence at s; returns its length (0 at the end), with *cp = -1 for an
 * invalid byte (length 1). Rejects overlong forms, surrogates and values past U+10FFFF. */
static size_t utf8_next(const unsigned char *s, int32_t *cp)
{
    if (!s[0]) return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    if (!n) {
        *cp = -1;
        return 1;
    }
    int32_t v = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = -1;
        return 1;
    }
    *cp = v;
    return (size_t)n;
}

/* Display width of one code point: 2 for East Asian wide ranges, 0 for combining marks,
 * else 1. A table of ranges rather than wcwidth() keeps it independent of the locale. */
static int cp_width(int32_t c)
{
    if (c < 0x300) return 1;
    if ((c >= 0x300 && c <= 0x36F) || (c >= 0x200B && c <= 0x200F) || (c >= 0xFE00 && c <= 0xFE0F))
        return 0;
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
        (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
        (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
        (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
        (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
        return 2;
    return 1;
}

size_t ops_display_width(const char *s)
{
    size_t w = 0, n;
    int32_t cp;
    for (const unsigned char *p = (const unsigned char *)s; (n = utf8_next(p, &cp)); p += n)
        w += cp < 0 ? 1 : (size_t)cp_width(cp);
    return w;
}

char *ops_sanitize(const char *s)
{
    if (!s) s = "";
    size_t len = strlen(s);
    char *out = malloc(len + 1), *o = out;
    if (!out) return NULL;
    size_t n;
    int32_t cp;
    for (const unsigned char *p = (const unsigned char *)s; (n = utf8_next(p, &cp)); p += n) {
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            *o++ = '?';
        } else {
            memcpy(o, p, n);
            o += n;
        }
    }
    *o = '\0';
    return out;
}

ops_table_t *ops_table_new(const char *const *headers, size_t ncols)
{
    ops_table_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    t->headers = calloc(ncols, sizeof *t->headers);
    t->flex = calloc(ncols, sizeof *t->flex);
    t->right = calloc(ncols, sizeof *t->right);
    if (!t->headers || !t->flex || !t->right) {
        ops_table_free(t);
        return NULL;
    }
    for (size_t i = 0; i < ncols; i++)
        if (!(t->headers[i] = ops_sanitize(headers[i]))) {
            ops_table_free(t);
            return NULL;
        }
    return t;
}

void ops_table_flex(ops_table_t *t, size_t col)
{
    if (t && col < t->ncols) t->flex[col] = true;
}

void ops_table_right(ops_table_t *t, size_t col)
{
    if (t && col < t->ncols) t->right[col] = true;
}

size_t ops_table_rows(const ops_table_t *t)
{
    return t ? t->rows : 0;
}

int ops_table_add(ops_table_t *t, const char *const *cells)
{
    if (!t) return -1;
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c) return -1;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->rows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = ops_sanitize(cells[i]);
        if (!row[i]) {
            while (i--) free(row[i]);
            return -1;
        }
    }
    t->rows++;
    return 0;
}

/* Appends s in exactly w columns: cut with "…" when wider, padded (left or right) when
 * shorter. Trailing spaces of a line are trimmed by the caller. */
static void put_cell(buf_t *f, const char *s, size_t w, bool right)
{
    size_t dw = ops_display_width(s);
    if (dw > w) {
        size_t used = 0, n;
        int32_t cp;
        const unsigned char *p = (const unsigned char *)s;
        while (w > 0 && (n = utf8_next(p, &cp))) {
            int cw = cp < 0 ? 1 : cp_width(cp);
            if (used + (size_t)cw > w - 1) break;
            buf_append(f, p, n);
            used += (size_t)cw;
            p += n;
        }
        if (w > 0) buf_puts(f, "…");
        for (used++; used < w; used++) buf_putc(f, ' ');
        return;
    }
    if (right)
        for (size_t i = dw; i < w; i++) buf_putc(f, ' ');
    buf_puts(f, s);
    if (!right)
        for (size_t i = dw; i < w; i++) buf_putc(f, ' ');
}

void ops_table_print(const ops_table_t *t, FILE *f, int width, bool color)
{
    if (!t || !t->ncols) return;
    size_t *w = calloc(t->ncols, sizeof *w);
    if (!w) return;
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = ops_display_width(t->headers[c]);
        for (size_t r = 0; r < t->rows; r++) {
            size_t d = ops_display_width(t->cells[r * t->ncols + c]);
            if (d > w[c]) w[c] = d;
        }
    }
    if (width > 0) {
        size_t total = 2 * (t->ncols - 1);
        for (size_t c = 0; c < t->ncols; c++) total += w[c];
        /* shrink flexible columns first, then any, widest first, down to 4 columns each */
        for (int pass = 0; pass < 2 && total > (size_t)width; pass++) {
            while (total > (size_t)width) {
                size_t best = t->ncols;
                for (size_t c = 0; c < t->ncols; c++)
                    if ((pass || t->flex[c]) && w[c] > 4 && (best == t->ncols || w[c] > w[best]))
                        best = c;
                if (best == t->ncols) break;
                w[best]--;
                total--;
            }
        }
    }
    buf_t line = BUF_INIT;
    for (size_t r = 0; r <= t->rows; r++) {
        char *const *row = r == 0 ? t->headers : t->cells + (r - 1) * t->ncols;
        buf_reset(&line);
        for (size_t c = 0; c < t->ncols; c++) {
            put_cell(&line, row[c], w[c], t->right[c]);
            if (c + 1 < t->ncols) buf_puts(&line, "  ");
        }
        while (line.len && line.data[line.len - 1] == ' ') line.data[--line.len] = '\0';
        if (r == 0 && color) fputs("\033[1m", f);
        fputs(buf_str(&line), f);
        if (r == 0 && color) fputs("\033[0m", f);
        fputc('\n', f);
    }
    buf_free(&line);
    free(w);
}

void ops_table_free(ops_table_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->rows * t->ncols; i++) free(t->cells[i]);
    for (size_t i = 0; t->headers && i < t->ncols; i++) free(t->headers[i]);
    free(t->cells);
    free(t->headers);
    free(t->flex);
    free(t->right);
    free(t);
}

void ops_put_fit(FILE *f, const char *s, int width)
{
    if (width > 0 && ops_display_width(s) > (size_t)width) {
        buf_t b = BUF_INIT;
        put_cell(&b, s, (size_t)width, false);
        fputs(buf_str(&b), f);
        buf_free(&b);
    } else {
        fputs(s, f);
    }
    fputc('\n', f);
}

int ops_term_width(FILE *f)
{
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        int v = atoi(c);
        if (v > 0) return v;
    }
    struct winsize ws;
    if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 0;
}

bool ops_use_color(FILE *f)
{
    const char *nc = getenv("NO_COLOR");
    return isatty(fileno(f)) && !(nc && *nc);
}
