/* ui_json — JSON shown to people: pretty-printed with a colour per token (keys, strings,
 * numbers, literals, punctuation), or the raw text in lines; laid out once into lines of
 * coloured segments, so a view scrolls through it without parsing again.
 *
 *   ui_jdoc_t d = UI_JDOC_INIT;
 *   ui_json_render(&d, value, len, true);      // not JSON: shown raw
 *   for (size_t i = 0; i < d.nlines; i++) ui_json_draw_line(&d, i, row + i, 2, width);
 *   ui_json_free(&d);
 *
 * The tokenizer keeps the text as it came (numbers are not reformatted, escapes are not
 * decoded); a document is cut at UI_JSON_MAX_LINES lines. Drawing goes through ui_draw, which
 * makes every byte safe to show. */
#ifndef UI_JSON_H
#define UI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ui_draw.h"

#define UI_JSON_MAX_LINES 5000

typedef struct ui_jseg {
    uint32_t off, len;
    ui_color_t color;
} ui_jseg_t;

typedef struct ui_jdoc {
    char *text;
    size_t tlen, tcap;
    ui_jseg_t *seg;
    size_t nseg, segcap;
    size_t *first;        /* per line: its first segment; line i has first[i]..first[i+1] */
    size_t nlines, linecap;
    bool json;            /* false: the text was not JSON (or raw was asked) */
} ui_jdoc_t;

#define UI_JDOC_INIT {NULL, 0, 0, NULL, 0, 0, NULL, 0, 0, false}

/* Lays out len bytes of text: pretty JSON when pretty and the text parses as JSON, else its
 * own lines. Replaces what d held. */
void ui_json_render(ui_jdoc_t *d, const char *text, size_t len, bool pretty);

/* Draws line i of d at (row, col) in width columns. */
void ui_json_draw_line(const ui_jdoc_t *d, size_t i, int row, int col, int width);

/* Frees d (it can be rendered into again). */
void ui_json_free(ui_jdoc_t *d);

#endif
