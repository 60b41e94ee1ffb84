/* ui_draw — the thin layer every view draws through (tig's draw.c): text cut to a width with
 * "…", fields, bars, sparklines, all coloured by what a thing is, never by a colour name.
 *
 *   int col = ui_draw_text(row, 0, 10, UI_C_LABEL, "backlog");
 *   col += ui_draw_textf(row, col, 20, UI_C_WARN, " %lld", (long long)backlog);
 *
 * Text is UTF-8 and is made safe here, once: control characters (ESC among them) and invalid
 * UTF-8 become '?', so data from the network can never drive the terminal; widths are display
 * columns (CJK two, combining marks zero). With NO_COLOR set, or on a terminal without colours,
 * the types map to attributes only (bold, reverse, underline, dim). Views never call ncurses:
 * only this file and ui_term.c do. */
#ifndef UI_DRAW_H
#define UI_DRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    UI_C_DEFAULT,
    UI_C_TITLE,       /* the top bar */
    UI_C_TITLE_SEL,   /* the current view in it */
    UI_C_STATUS,      /* the bottom bar */
    UI_C_HEADER,      /* column headings */
    UI_C_LABEL,       /* "backlog" */
    UI_C_VALUE,       /* a figure beside its label */
    UI_C_DIM,         /* secondary text */
    UI_C_OK,
    UI_C_WARN,
    UI_C_ERROR,       /* failures, drift, dead rows, backends down */
    UI_C_KEY,         /* key names in the help */
    UI_C_PROMPT,
    UI_C_JSON_KEY,
    UI_C_JSON_STR,
    UI_C_JSON_NUM,
    UI_C_JSON_LIT,    /* true, false, null */
    UI_C_JSON_PUNCT,
    UI_C_SVC0,        /* one per service, in order of appearance (waterfall) */
    UI_C_SVC1,
    UI_C_SVC2,
    UI_C_SVC3,
    UI_C_SVC4,
    UI_C_SVC5,
    UI_C_HOP,         /* an async hop's segment */
    UI_C_CRITICAL,    /* the critical path marker */
    UI_C_SPARK,
    UI_C_COUNT
} ui_color_t;

#define UI_SVC_COLORS 6

/* Sets up colour pairs (color false: attributes only). Call after the screen exists. */
void ui_draw_init(bool color);

/* While on, everything drawn is shown selected (the cursor's line). */
void ui_draw_select(bool on);

/* Clears the whole screen (the next frame is drawn on a blank one). */
void ui_draw_clear(void);

/* Draws text at (row, col) in at most width columns, cut with "…" when longer; returns the
 * columns used. width <= 0 draws nothing. */
int ui_draw_text(int row, int col, int width, ui_color_t c, const char *text);
int ui_draw_textf(int row, int col, int width, ui_color_t c, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same for n bytes of text (not NUL-terminated; a NUL inside shows as '?'). */
int ui_draw_bytes(int row, int col, int width, ui_color_t c, const char *text, size_t n);

/* Fills width columns with spaces in colour c (a selected line's background). */
void ui_draw_fill(int row, int col, int width, ui_color_t c);
/* A horizontal run of ch (a UTF-8 character such as "─", "█", "┄") over width columns. */
void ui_draw_run(int row, int col, int width, ui_color_t c, const char *ch);

/* A sparkline of n values (the last ones if n > width) in width columns; max <= 0: the
 * values' own maximum. Returns the columns used. */
int ui_draw_spark(int row, int col, int width, ui_color_t c, const double *v, size_t n, double max);

/* Columns of a table: fixed widths, and flexible ones (width 0) sharing what is left. */
typedef struct ui_col {
    const char *title;
    int width;    /* 0: flexible */
    bool right;   /* right-aligned (numbers) */
    int x, w;     /* computed by ui_cols_layout */
} ui_col_t;

/* Places n columns in cols, a space between each. */
void ui_cols_layout(ui_col_t *c, int n, int cols);
/* The headings row. */
void ui_draw_heads(int row, const ui_col_t *c, int n);
/* Cell i of a row. */
void ui_draw_cell(int row, const ui_col_t *c, int i, ui_color_t color, const char *text);
void ui_draw_cellf(int row, const ui_col_t *c, int i, ui_color_t color, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Display width of UTF-8 text (as ui_draw_text counts it). */
int ui_text_width(const char *text);

/* Places the terminal's cursor (a prompt's caret); row < 0 hides it. */
void ui_draw_caret(int row, int col);

/* Formats epoch ms as local "HH:MM:SS.mmm" (TZ applies) into out[16]. */
void ui_fmt_clock(int64_t ms, char *out, size_t outlen);

#endif
