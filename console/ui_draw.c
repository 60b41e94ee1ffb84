/* ui_draw — text, runs, sparklines and colours on the ncurses screen; see ui_draw.h. */
#include "ui_draw.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

/* What each type looks like: with colours (fg, bg, attributes) and without (attributes). */
static const struct {
    short fg, bg;
    attr_t attr, mono;
} styles[UI_C_COUNT] = {
    [UI_C_DEFAULT] = {-1, -1, 0, 0},
    [UI_C_TITLE] = {COLOR_WHITE, COLOR_BLUE, A_BOLD, A_REVERSE},
    [UI_C_TITLE_SEL] = {COLOR_BLACK, COLOR_CYAN, A_BOLD, A_BOLD | A_UNDERLINE},
    [UI_C_STATUS] = {COLOR_WHITE, COLOR_BLUE, 0, A_REVERSE},
    [UI_C_HEADER] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD | A_UNDERLINE},
    [UI_C_LABEL] = {COLOR_CYAN, -1, 0, 0},
    [UI_C_VALUE] = {-1, -1, A_BOLD, A_BOLD},
    [UI_C_DIM] = {-1, -1, A_DIM, A_DIM},
    [UI_C_OK] = {COLOR_GREEN, -1, 0, 0},
    [UI_C_WARN] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD},
    [UI_C_ERROR] = {COLOR_RED, -1, A_BOLD, A_BOLD | A_UNDERLINE},
    [UI_C_KEY] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [UI_C_PROMPT] = {-1, -1, A_BOLD, A_BOLD},
    [UI_C_JSON_KEY] = {COLOR_BLUE, -1, A_BOLD, A_BOLD},
    [UI_C_JSON_STR] = {COLOR_GREEN, -1, 0, 0},
    [UI_C_JSON_NUM] = {COLOR_CYAN, -1, 0, 0},
    [UI_C_JSON_LIT] = {COLOR_MAGENTA, -1, 0, A_UNDERLINE},
    [UI_C_JSON_PUNCT] = {-1, -1, A_DIM, 0},
    [UI_C_SVC0] = {COLOR_BLUE, -1, 0, 0},
    [UI_C_SVC1] = {COLOR_GREEN, -1, 0, 0},
    [UI_C_SVC2] = {COLOR_MAGENTA, -1, 0, 0},
    [UI_C_SVC3] = {COLOR_CYAN, -1, 0, 0},
    [UI_C_SVC4] = {COLOR_YELLOW, -1, 0, 0},
    [UI_C_SVC5] = {COLOR_WHITE, -1, 0, 0},
    [UI_C_HOP] = {COLOR_MAGENTA, -1, A_BOLD, A_DIM},
    [UI_C_CRITICAL] = {COLOR_RED, -1, A_BOLD, A_BOLD},
    [UI_C_SPARK] = {COLOR_GREEN, -1, 0, 0},
};

static bool colored;
static bool selected;

void ui_draw_init(bool color)
{
    colored = color && has_colors();
    if (!colored) return;
    start_color();
    use_default_colors();
    for (int c = 1; c < UI_C_COUNT; c++) init_pair((short)c, styles[c].fg, styles[c].bg);
}

void ui_draw_select(bool on)
{
    selected = on;
}

void ui_draw_clear(void)
{
    erase();
}

static void set_style(ui_color_t c)
{
    attr_t a = colored ? styles[c].attr : styles[c].mono;
    if (selected) a |= A_REVERSE;
    attr_set(a, colored ? (short)c : 0, NULL);
}

/* Decodes one UTF-8 character of s[0..n); returns its length (>= 1) and the character, or
 * '?' for an invalid sequence, a control character or a NUL. */
static size_t decode(const unsigned char *s, size_t n, wchar_t *out)
{
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c < 0xE0) ? 2 : (c >= 0xE0 && c < 0xF0) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (len == 0 || len > n) {
        *out = L'?';
        return 1;
    }
    uint32_t v = len == 1 ? c : (c & (0x7Fu >> len));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *out = L'?';
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF) || v < 0x20 || (v >= 0x7F && v < 0xA0)) {
        *out = L'?';
        return len == 1 ? 1 : len;
    }
    *out = (wchar_t)v;
    return len;
}

static int wwidth(wchar_t w)
{
    int x = wcwidth(w);
    return x < 0 ? 1 : x;
}

int ui_draw_bytes(int row, int col, int width, ui_color_t c, const char *text, size_t n)
{
    if (row < 0 || row >= LINES || col < 0 || col >= COLS || width <= 0 || !text) return 0;
    if (width > COLS - col) width = COLS - col;
    wchar_t buf[1024];
    int used = 0;
    size_t k = 0, i = 0;
    const unsigned char *s = (const unsigned char *)text;
    bool cut = false;
    while (i < n && k < sizeof buf / sizeof buf[0] - 2) {
        wchar_t w;
        size_t l = decode(s + i, n - i, &w);
        int ww = wcwidth(w);
        if (ww < 0) { /* not printable here (unassigned, or a locale without it) */
            w = L'?';
            ww = 1;
        }
        if (used + ww > width) {
            cut = true;
            break;
        }
        buf[k++] = w;
        used += ww;
        i += l;
    }
    if (cut || (i < n && k >= sizeof buf / sizeof buf[0] - 2)) {
        /* make room for the ellipsis */
        while (k > 0 && used + 1 > width) used -= wwidth(buf[--k]);
        buf[k++] = L'…';
        used++;
    }
    buf[k] = 0;
    set_style(c);
    mvaddnwstr(row, col, buf, (int)k);
    return used;
}

int ui_draw_text(int row, int col, int width, ui_color_t c, const char *text)
{
    return text ? ui_draw_bytes(row, col, width, c, text, strlen(text)) : 0;
}

int ui_draw_textf(int row, int col, int width, ui_color_t c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ui_draw_text(row, col, width, c, buf);
}

void ui_draw_fill(int row, int col, int width, ui_color_t c)
{
    if (row < 0 || row >= LINES || col < 0 || col >= COLS || width <= 0) return;
    if (width > COLS - col) width = COLS - col;
    set_style(c);
    mvhline(row, col, ' ', width);
}

void ui_draw_run(int row, int col, int width, ui_color_t c, const char *ch)
{
    if (row < 0 || row >= LINES || col < 0 || col >= COLS || width <= 0) return;
    if (width > COLS - col) width = COLS - col;
    wchar_t w;
    decode((const unsigned char *)ch, strlen(ch), &w);
    wchar_t buf[1024];
    int n = width < 1023 ? width : 1023;
    for (int i = 0; i < n; i++) buf[i] = w;
    buf[n] = 0;
    set_style(c);
    mvaddnwstr(row, col, buf, n);
}

int ui_draw_spark(int row, int col, int width, ui_color_t c, const double *v, size_t n, double max)
{
    static const wchar_t bars[] = L"▁▂▃▄▅▆▇█";
    if (width <= 0 || row < 0 || row >= LINES || col < 0 || col >= COLS) return 0;
    if (width > COLS - col) width = COLS - col;
    size_t from = n > (size_t)width ? n - (size_t)width : 0;
    if (max <= 0)
        for (size_t i = from; i < n; i++)
            if (v[i] > max) max = v[i];
    wchar_t buf[1024];
    int k = 0;
    for (size_t i = from; i < n && k < 1023; i++) {
        int level = max > 0 && v[i] > 0 ? (int)(v[i] / max * 7.0 + 0.5) : 0;
        if (level > 7) level = 7;
        if (v[i] > 0 && level == 0) level = 1; /* anything at all shows */
        buf[k++] = bars[level];
    }
    buf[k] = 0;
    set_style(c);
    mvaddnwstr(row, col, buf, k);
    return k;
}

int ui_text_width(const char *text)
{
    int w = 0;
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), i = 0;
    while (i < n) {
        wchar_t c;
        i += decode(s + i, n - i, &c);
        w += wwidth(c);
    }
    return w;
}

void ui_draw_caret(int row, int col)
{
    if (row < 0) {
        curs_set(0);
        return;
    }
    curs_set(1);
    move(row, col);
}

void ui_fmt_clock(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !localtime_r(&t, &tm)) {
        snprintf(out, outlen, "--:--:--.---");
        return;
    }
    snprintf(out, outlen, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms % 1000));
}

/* ---- columns ------------------------------------------------------------------------------- */

void ui_cols_layout(ui_col_t *c, int n, int cols)
{
    int fixed = 0, flex = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].width) fixed += c[i].width;
        else flex++;
    }
    int rest = cols - fixed - (n - 1), each = flex ? rest / flex : 0;
    if (each < 4) each = 4;
    int x = 0;
    for (int i = 0; i < n; i++) {
        c[i].x = x;
        c[i].w = c[i].width ? c[i].width : each;
        if (x + c[i].w > cols) c[i].w = cols - x > 0 ? cols - x : 0;
        x += c[i].w + 1;
    }
}

void ui_draw_heads(int row, const ui_col_t *c, int n)
{
    for (int i = 0; i < n; i++) ui_draw_cell(row, c, i, UI_C_HEADER, c[i].title);
}

void ui_draw_cell(int row, const ui_col_t *c, int i, ui_color_t color, const char *text)
{
    if (c[i].w <= 0) return;
    int x = c[i].x;
    if (c[i].right) {
        int tw = ui_text_width(text);
        if (tw < c[i].w) x += c[i].w - tw;
    }
    ui_draw_text(row, x, c[i].w - (x - c[i].x), color, text);
}

void ui_draw_cellf(int row, const ui_col_t *c, int i, ui_color_t color, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ui_draw_cell(row, c, i, color, buf);
}
