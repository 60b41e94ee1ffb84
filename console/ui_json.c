/* ui_json — pretty, coloured JSON laid out in lines; see ui_json.h. */
#include "ui_json.h"

#include <stdlib.h>
#include <string.h>

void ui_json_free(ui_jdoc_t *d)
{
    free(d->text);
    free(d->seg);
    free(d->first);
    memset(d, 0, sizeof *d);
}

static bool put_text(ui_jdoc_t *d, const char *s, size_t n)
{
    if (d->tlen + n + 1 > d->tcap) {
        size_t cap = d->tcap ? d->tcap : 1024;
        while (cap < d->tlen + n + 1) cap *= 2;
        char *t = realloc(d->text, cap);
        if (!t) return false;
        d->text = t;
        d->tcap = cap;
    }
    memcpy(d->text + d->tlen, s, n);
    d->tlen += n;
    return true;
}

static bool new_line(ui_jdoc_t *d)
{
    if (d->nlines >= UI_JSON_MAX_LINES) return false;
    if (d->nlines + 2 > d->linecap) {
        size_t cap = d->linecap ? d->linecap * 2 : 64;
        size_t *f = realloc(d->first, cap * sizeof *f);
        if (!f) return false;
        d->first = f;
        d->linecap = cap;
    }
    d->first[d->nlines++] = d->nseg;
    d->first[d->nlines] = d->nseg;
    return true;
}

static bool seg(ui_jdoc_t *d, ui_color_t c, const char *s, size_t n)
{
    if (!d->nlines && !new_line(d)) return false;
    if (d->nseg == d->segcap) {
        size_t cap = d->segcap ? d->segcap * 2 : 128;
        ui_jseg_t *g = realloc(d->seg, cap * sizeof *g);
        if (!g) return false;
        d->seg = g;
        d->segcap = cap;
    }
    ui_jseg_t *g = &d->seg[d->nseg++];
    g->off = (uint32_t)d->tlen;
    g->len = (uint32_t)n;
    g->color = c;
    d->first[d->nlines] = d->nseg;
    return put_text(d, s, n);
}

static void indent(ui_jdoc_t *d, int depth)
{
    static const char spaces[] = "                                                  ";
    int n = depth * 2 < 50 ? depth * 2 : 50;
    if (n) seg(d, UI_C_DEFAULT, spaces, (size_t)n);
}

/* The raw text, one line per line of it. */
static void raw(ui_jdoc_t *d, const char *s, size_t n)
{
    size_t i = 0;
    do {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        if (!new_line(d)) return;
        if (e > i) seg(d, UI_C_DEFAULT, s + i, e - i);
        i = e + 1;
    } while (i < n);
}

static bool ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One pass of a small tokenizer; false when the text is not JSON (the caller shows it raw). */
static bool pretty(ui_jdoc_t *d, const char *s, size_t n)
{
    int depth = 0;
    size_t i = 0;
    bool line_open = false;
    char stack[256];
    while (i < n) {
        char c = s[i];
        if (ws(c)) {
            i++;
            continue;
        }
        if (!line_open) {
            if (!new_line(d)) return true; /* cut, but what was laid out is fine */
            indent(d, depth);
            line_open = true;
        }
        if (c == '{' || c == '[') {
            if (depth >= 255) return false;
            stack[depth++] = c;
            /* an empty {} or [] stays on one line */
            size_t k = i + 1;
            while (k < n && ws(s[k])) k++;
            if (k < n && s[k] == (c == '{' ? '}' : ']')) {
                char pair[2] = {c, s[k]};
                seg(d, UI_C_JSON_PUNCT, pair, 2);
                depth--;
                i = k + 1;
                continue;
            }
            seg(d, UI_C_JSON_PUNCT, &c, 1);
            line_open = false;
            i++;
        } else if (c == '}' || c == ']') {
            if (!depth || stack[depth - 1] != (c == '}' ? '{' : '[')) return false;
            depth--;
            if (!new_line(d)) return true; /* a closing bracket has a line of its own */
            indent(d, depth);
            seg(d, UI_C_JSON_PUNCT, &c, 1);
            line_open = true;
            i++;
        } else if (c == ',') {
            seg(d, UI_C_JSON_PUNCT, ",", 1);
            line_open = false;
            i++;
        } else if (c == ':') {
            seg(d, UI_C_JSON_PUNCT, ": ", 2);
            i++;
        } else if (c == '"') {
            size_t k = i + 1;
            while (k < n && s[k] != '"') k += s[k] == '\\' ? 2 : 1;
            if (k >= n) return false;
            size_t after = k + 1;
            while (after < n && ws(s[after])) after++;
            bool key = after < n && s[after] == ':';
            seg(d, key ? UI_C_JSON_KEY : UI_C_JSON_STR, s + i, k + 1 - i);
            i = k + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t k = i + 1;
            while (k < n && strchr("0123456789.eE+-", s[k])) k++;
            seg(d, UI_C_JSON_NUM, s + i, k - i);
            i = k;
        } else if (n - i >= 4 && !strncmp(s + i, "true", 4)) {
            seg(d, UI_C_JSON_LIT, "true", 4);
            i += 4;
        } else if (n - i >= 5 && !strncmp(s + i, "false", 5)) {
            seg(d, UI_C_JSON_LIT, "false", 5);
            i += 5;
        } else if (n - i >= 4 && !strncmp(s + i, "null", 4)) {
            seg(d, UI_C_JSON_LIT, "null", 4);
            i += 4;
        } else {
            return false;
        }
    }
    return depth == 0 && d->nlines > 0;
}

void ui_json_render(ui_jdoc_t *d, const char *text, size_t len, bool want_pretty)
{
    ui_json_free(d);
    if (!text) text = "";
    size_t k = 0;
    while (k < len && ws(text[k])) k++;
    bool looks = k < len && (text[k] == '{' || text[k] == '[');
    if (want_pretty && looks && pretty(d, text, len)) {
        d->json = true;
        return;
    }
    ui_json_free(d);
    raw(d, text, len);
}

void ui_json_draw_line(const ui_jdoc_t *d, size_t i, int row, int col, int width)
{
    if (i >= d->nlines) return;
    int c = col;
    for (size_t g = d->first[i]; g < d->first[i + 1] && c < col + width; g++) {
        const ui_jseg_t *s = &d->seg[g];
        c += ui_draw_bytes(row, c, col + width - c, s->color, d->text + s->off, s->len);
    }
}
