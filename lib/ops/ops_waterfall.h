/* ops_waterfall — a trace (ops_trace) laid out as a waterfall for a given width: which spans are
 * rows, the columns of a line, each row's bar and its async-hop segment, the time ruler and a
 * colour index per service. trace-view prints it (ops_waterfall_print) and the full-screen
 * console draws it from the same rows, so both show exactly the same picture.
 *
 *   ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
 *   o.width = ops_term_width(stdout);  o.max_depth = 3;  o.mark = t.slowest;
 *   ops_waterfall_t wf;
 *   if (ops_waterfall_build(&t, &o, &wf, &err) != OPS_OK) …
 *   for (size_t r = 0; r < wf.nrows; r++) {
 *       const ops_waterfall_row_t *row = &wf.rows[r];   // t.spans[row->span]
 *       for (int k = 0; k < row->nseg; k++) draw(row->seg[k].col, row->seg[k].len, row->seg[k].hop);
 *   }
 *   ops_waterfall_free(&wf);
 *
 * A line is: marks (3), the span's name indented two columns per depth level, its service,
 * its duration, the bar area, and a note (the hop's kind and duration). Columns are display
 * columns (ops_table's rules), separated by one space.
 *
 * The bar area shows the whole trace: column = floor(offset × bar_w / trace duration); a span
 * gets at least one column; an async hop (OUTBOX: waiting in the outbox; BROKER: on Kafka)
 * is drawn as its own segment from where it starts to where the span starts.
 *
 * Filters, to tame large traces: a span deeper than max_depth is hidden; with min_dur_us a
 * span is shown only when it, or a span below it, lasts at least that long, or is an error, or
 * is the marked span — so the path down to a long or failing span is never cut and the tree
 * stays a tree. A caller may also hide spans of its own choosing (opts.hide). Hidden spans are
 * counted.
 *
 * Colours: services are numbered in the order they first appear (the root's first); a drawer
 * maps the number to its palette. Pure: no I/O except ops_waterfall_print. */
#ifndef OPS_WATERFALL_H
#define OPS_WATERFALL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ops_err.h"
#include "ops_trace.h"

#define OPS_WATERFALL_DEFAULT_WIDTH 120
#define OPS_WATERFALL_MIN_BAR 16      /* the bar area never gets fewer columns */
#define OPS_WATERFALL_MAX_INDENT 24   /* depth levels indented; deeper rows stay at this indent */
#define OPS_WATERFALL_MAX_TICKS 32

typedef struct ops_waterfall_opts {
    int width;          /* columns of a whole line; 0: OPS_WATERFALL_DEFAULT_WIDTH */
    int max_depth;      /* deepest depth shown; -1: no limit */
    int64_t min_dur_us; /* see the file comment; 0: every span */
    int mark;           /* a span index to mark ('>'), e.g. the slowest; -1: none */
    const bool *hide;   /* NULL, or one flag per span: true leaves it out (the console's
                         * collapsed subtrees and its critical-path-only mode); counted hidden */
} ops_waterfall_opts_t;

#define OPS_WATERFALL_OPTS_INIT {0, -1, 0, -1, NULL}

typedef struct ops_waterfall_seg {
    int col, len;       /* within the bar area: 0 ≤ col, col + len ≤ bar_w */
    ops_hop_kind_t hop; /* OPS_HOP_NONE: the span itself; else the async hop before it */
} ops_waterfall_seg_t;

typedef struct ops_waterfall_row {
    int span;           /* index into the trace's spans */
    int indent;         /* columns before the name */
    int service;        /* index into services[]: the colour */
    int nseg;           /* 1 or 2: the hop's segment (if drawn) comes first */
    ops_waterfall_seg_t seg[2];
    bool critical, error, marked;
    char marks[4];      /* "*" critical, "!" error, ">" marked, in that order */
} ops_waterfall_row_t;

typedef struct ops_waterfall {
    int width;                       /* the width laid out for */
    int marks_w, name_w, svc_w, dur_w, bar_x, bar_w, note_w; /* bar_x: the bar's first column */
    int64_t origin_us, span_us;      /* the time the bar area covers: the trace's start, length */
    int64_t tick_us;                 /* the ruler's step */
    size_t nticks;
    struct { int col; int64_t at_us; } ticks[OPS_WATERFALL_MAX_TICKS];
    ops_waterfall_row_t *rows;
    size_t nrows, hidden;
    int mark;                        /* the marked span (opts.mark), shown or not; -1: none */
    const char **services;           /* names (the trace's strings), in colour order */
    size_t nservices;
} ops_waterfall_t;

/* Lays t out with o (NULL: OPS_WATERFALL_OPTS_INIT). OPS_FAIL only when memory runs out; an
 * empty trace gives no rows. The waterfall points into t: free it before t. */
ops_status_t ops_waterfall_build(const ops_trace_t *t, const ops_waterfall_opts_t *o,
                                 ops_waterfall_t *out, ops_err_t *err);

/* Frees the rows; wf is empty again. */
void ops_waterfall_free(ops_waterfall_t *wf);

/* The column of time at_us (epoch µs) in the bar area, clamped to [0, bar_w - 1]. */
int ops_waterfall_col(const ops_waterfall_t *wf, int64_t at_us);

/* The ruler as two ASCII strings of exactly bar_w columns: labels ("0", "10ms", "1.5s", each
 * starting at its tick, dropped where it would overlap the previous one or run past the end)
 * and tick marks ('|' at each tick, ' ' elsewhere). Each buffer needs bar_w + 1 bytes; a
 * smaller cap truncates. */
void ops_waterfall_ruler(const ops_waterfall_t *wf, char *labels, char *ticks, size_t cap);

/* What each of the bar area's columns of row shows: ' ' nothing, '#' the span, 'o' the outbox
 * wait, 'b' time on the broker. cells needs bar_w + 1 bytes (NUL-terminated). */
void ops_waterfall_cells(const ops_waterfall_t *wf, const ops_waterfall_row_t *row, char *cells,
                         size_t cap);

/* The row's note: "(outbox 18.00ms)", "(broker 2.10ms)", or "" without a hop. */
void ops_waterfall_note(const ops_trace_t *t, const ops_waterfall_row_t *row, char *out,
                        size_t outlen);

typedef struct ops_waterfall_style {
    bool color; /* ANSI colours: a colour per service, errors red, the legend */
    bool utf8;  /* block characters (█ ░ ▒) instead of ASCII (= - ~) */
} ops_waterfall_style_t;

/* Prints the waterfall as text to f: a heading (trace id, duration, spans, services, orphans,
 * skew), the legend, the ruler, one line per row, and a footer (hidden spans, the marked
 * span). Every name is sanitised (ops_sanitize): span data never drives the terminal. */
void ops_waterfall_print(FILE *f, const ops_trace_t *t, const ops_waterfall_t *wf,
                         const ops_waterfall_style_t *style);

/* The layout as JSON: ops_trace_json's trace fields, then "width", "bar" {x, width, tick_us},
 * "legend" [service names in colour order], "shown", "hidden", "marked_span", and "spans": the
 * shown rows in display order, each ops_trace_span_json's fields plus "marked", "bar" {col,
 * len} and "hop_bar" {col, len} or null. Caller frees. */
cJSON *ops_waterfall_json(const ops_trace_t *t, const ops_waterfall_t *wf);

#endif
