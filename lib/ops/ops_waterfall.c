/* ops_waterfall — a trace laid out for a width, and printed as text; see ops_waterfall.h.
 * Every pass is linear in the spans (the filters walk the display order once each way). */
#include "ops_waterfall.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ops_table.h"

#define MARKS_W 3
#define DUR_W 9
#define SVC_MAX 22
#define NAME_MAX_NATURAL 60
#define NAME_MIN 12

void ops_waterfall_free(ops_waterfall_t *wf)
{
    free(wf->rows);
    free(wf->services);
    memset(wf, 0, sizeof *wf);
}

/* A ruler label: the shortest exact form ("0", "500µs", "1.5ms", "10ms", "2s"). */
static void fmt_tick(int64_t us, char *out, size_t outlen)
{
    const char *unit = "µs";
    double v = (double)us;
    if (us == 0) {
        snprintf(out, outlen, "0");
        return;
    }
    if (us >= 1000000) {
        v = us / 1e6;
        unit = "s";
    } else if (us >= 1000) {
        v = us / 1e3;
        unit = "ms";
    }
    char num[24];
    snprintf(num, sizeof num, "%.3f", v < 1e15 ? v : 1e15);
    char *e = num + strlen(num);
    while (e > num && e[-1] == '0') *--e = '\0';
    if (e > num && e[-1] == '.') *--e = '\0';
    snprintf(out, outlen, "%s%s", num, unit);
}

void ops_waterfall_note(const ops_trace_t *t, const ops_waterfall_row_t *row, char *out,
                        size_t outlen)
{
    const ops_span_t *s = &t->spans[row->span];
    if (s->hop == OPS_HOP_NONE) {
        if (outlen) out[0] = '\0';
        return;
    }
    char d[32];
    ops_fmt_us(s->hop_dur_us, d, sizeof d);
    snprintf(out, outlen, "(%s %s)", ops_hop_kind_name(s->hop), d);
}

/* (at_us - origin) × bar_w / span_us, exactly (integer arithmetic, 128 bits: no rounding
 * surprises at column boundaries), rounded down or up. */
static int64_t scale(const ops_waterfall_t *wf, int64_t at_us, bool up)
{
    __int128 num = (__int128)(at_us - wf->origin_us) * wf->bar_w;
    if (num <= 0) return 0;
    __int128 q = num / wf->span_us;
    if (up && q * wf->span_us < num) q++;
    return q > wf->bar_w ? wf->bar_w : (int64_t)q;
}

int ops_waterfall_col(const ops_waterfall_t *wf, int64_t at_us)
{
    if (wf->bar_w <= 0) return 0;
    int64_t c = scale(wf, at_us, false);
    return c >= wf->bar_w ? wf->bar_w - 1 : (int)c;
}

/* The end column (exclusive) of time at_us: rounded up, so a bar covers its whole extent. */
static int end_col(const ops_waterfall_t *wf, int64_t at_us)
{
    return (int)scale(wf, at_us, true);
}

/* ---- which spans are rows ----------------------------------------------------------------- */

/* keep[i]: the span passes the duration rule (see the header), propagated to its ancestors. */
static void duration_filter(const ops_trace_t *t, const ops_waterfall_opts_t *o, bool *keep)
{
    for (size_t i = 0; i < t->n; i++) {
        const ops_span_t *s = &t->spans[i];
        keep[i] = o->min_dur_us <= 0 || s->dur_us >= o->min_dur_us || s->error ||
                  (int)i == o->mark;
    }
    if (o->min_dur_us <= 0) return;
    for (size_t k = t->n; k-- > 0;) { /* display order is a preorder: children after parents */
        int i = t->order[k], p = t->spans[i].parent;
        if (p >= 0 && keep[i]) keep[p] = true;
    }
}

/* ---- columns ------------------------------------------------------------------------------ */

static void columns(ops_waterfall_t *wf, const ops_trace_t *t, int width)
{
    int name_nat = 4, svc = 7, note = 0; /* the headings: SPAN, SERVICE */
    for (size_t r = 0; r < wf->nrows; r++) {
        const ops_span_t *s = &t->spans[wf->rows[r].span];
        int w = wf->rows[r].indent + (int)ops_display_width(s->name);
        if (w > name_nat) name_nat = w;
        int sw = (int)ops_display_width(s->service);
        if (sw > svc) svc = sw;
        if (s->hop != OPS_HOP_NONE) {
            char n[64];
            ops_waterfall_note(t, &wf->rows[r], n, sizeof n);
            int nw = (int)ops_display_width(n);
            if (nw > note) note = nw;
        }
    }
    if (name_nat > NAME_MAX_NATURAL) name_nat = NAME_MAX_NATURAL;
    if (svc > SVC_MAX) svc = SVC_MAX;
    int avail = 0;
    for (;;) { /* give up service and note columns before the name and bar get too narrow */
        int fixed = MARKS_W + 1 + svc + 1 + DUR_W + 1 + (note ? note + 1 : 0);
        avail = width - fixed; /* for the name, a space and the bar */
        if (avail >= NAME_MIN + 1 + OPS_WATERFALL_MIN_BAR) break;
        if (svc > 8)
            svc--;
        else if (note > 0)
            note = note > 8 ? note - 1 : 0;
        else
            break;
    }
    int name = name_nat;
    if (avail - name - 1 < OPS_WATERFALL_MIN_BAR) name = avail - 1 - OPS_WATERFALL_MIN_BAR;
    if (name < NAME_MIN) name = NAME_MIN;
    int bar = avail - name - 1;
    if (bar < OPS_WATERFALL_MIN_BAR) bar = OPS_WATERFALL_MIN_BAR;
    wf->marks_w = MARKS_W;
    wf->name_w = name;
    wf->svc_w = svc;
    wf->dur_w = DUR_W;
    wf->bar_x = MARKS_W + 1 + name + 1 + svc + 1 + DUR_W + 1;
    wf->bar_w = bar;
    wf->note_w = note;
}

/* A step of 1, 2 or 5 × 10^k µs that puts ticks at least 10 columns apart, and at most
 * OPS_WATERFALL_MAX_TICKS of them. */
static void ticks(ops_waterfall_t *wf)
{
    double raw = (double)wf->span_us * 10.0 / wf->bar_w;
    int64_t p = 1, step = 1;
    while ((double)(p * 10) <= raw) p *= 10;
    static const int mult[] = {1, 2, 5, 10, 20, 50, 100};
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++) {
        step = p * mult[i];
        if ((double)step >= raw && wf->span_us / step + 1 <= OPS_WATERFALL_MAX_TICKS) break;
    }
    wf->tick_us = step;
    wf->nticks = 0;
    for (int64_t at = 0; at <= wf->span_us && wf->nticks < OPS_WATERFALL_MAX_TICKS; at += step) {
        wf->ticks[wf->nticks].at_us = at;
        wf->ticks[wf->nticks].col = ops_waterfall_col(wf, wf->origin_us + at);
        wf->nticks++;
    }
}

ops_status_t ops_waterfall_build(const ops_trace_t *t, const ops_waterfall_opts_t *o,
                                 ops_waterfall_t *out, ops_err_t *err)
{
    static const ops_waterfall_opts_t defaults = OPS_WATERFALL_OPTS_INIT;
    if (!o) o = &defaults;
    memset(out, 0, sizeof *out);
    out->width = o->width > 0 ? o->width : OPS_WATERFALL_DEFAULT_WIDTH;
    out->origin_us = t->start_us;
    out->span_us = t->end_us - t->start_us > 0 ? t->end_us - t->start_us : 1;
    out->mark = o->mark >= 0 && (size_t)o->mark < t->n ? o->mark : -1;
    size_t n = t->n;
    bool *keep = malloc((n ? n : 1) * sizeof *keep);
    out->rows = malloc((n ? n : 1) * sizeof *out->rows);
    out->services = malloc((t->nstrings ? t->nstrings : 1) * sizeof *out->services);
    if (!keep || !out->rows || !out->services) {
        free(keep);
        ops_waterfall_free(out);
        return ops_fail(err, OPS_FAIL, "out of memory");
    }
    duration_filter(t, o, keep);
    for (size_t k = 0; k < n; k++) {
        int i = t->order[k];
        const ops_span_t *s = &t->spans[i];
        if (!keep[i] || (o->hide && o->hide[i]) || (o->max_depth >= 0 && s->depth > o->max_depth))
            continue;
        ops_waterfall_row_t *row = &out->rows[out->nrows++];
        memset(row, 0, sizeof *row);
        row->span = i;
        row->indent = 2 * (s->depth < OPS_WATERFALL_MAX_INDENT ? s->depth : OPS_WATERFALL_MAX_INDENT);
        size_t sv = 0; /* services are interned: compare pointers */
        while (sv < out->nservices && out->services[sv] != s->service) sv++;
        if (sv == out->nservices) out->services[out->nservices++] = s->service;
        row->service = (int)sv;
        row->critical = s->critical;
        row->error = s->error;
        row->marked = i == o->mark;
        snprintf(row->marks, sizeof row->marks, "%s%s%s", row->critical ? "*" : "",
                 row->error ? "!" : "", row->marked ? ">" : "");
    }
    out->hidden = n - out->nrows;
    free(keep);
    columns(out, t, out->width);
    ticks(out);
    for (size_t r = 0; r < out->nrows; r++) {
        ops_waterfall_row_t *row = &out->rows[r];
        const ops_span_t *s = &t->spans[row->span];
        int c0 = ops_waterfall_col(out, s->start_us);
        int c1 = end_col(out, s->start_us + s->dur_us);
        if (c1 <= c0) c1 = c0 + 1;
        if (s->hop != OPS_HOP_NONE && s->hop_dur_us > 0) {
            int h0 = ops_waterfall_col(out, s->hop_start_us);
            if (h0 < c0) row->seg[row->nseg++] = (ops_waterfall_seg_t){h0, c0 - h0, s->hop};
        }
        row->seg[row->nseg++] = (ops_waterfall_seg_t){c0, c1 - c0, OPS_HOP_NONE};
    }
    return OPS_OK;
}

/* ---- ruler and cells ---------------------------------------------------------------------- */

void ops_waterfall_ruler(const ops_waterfall_t *wf, char *labels, char *tick, size_t cap)
{
    if (!cap) return;
    buf_t b = BUF_INIT;
    int col = 0; /* display columns written so far */
    for (size_t k = 0; k < wf->nticks; k++) {
        char l[48];
        fmt_tick(wf->ticks[k].at_us, l, sizeof l);
        int lw = (int)ops_display_width(l);
        int at = wf->ticks[k].col;
        if (at < col + (k ? 1 : 0) || at + lw > wf->bar_w) continue; /* would overlap or overrun */
        for (; col < at; col++) buf_putc(&b, ' ');
        buf_puts(&b, l);
        col += lw;
    }
    for (; col < wf->bar_w; col++) buf_putc(&b, ' ');
    snprintf(labels, cap, "%s", b.data ? b.data : "");
    buf_free(&b);
    size_t w = (size_t)wf->bar_w < cap - 1 ? (size_t)wf->bar_w : cap - 1;
    memset(tick, ' ', w);
    tick[w] = '\0';
    for (size_t k = 0; k < wf->nticks; k++)
        if ((size_t)wf->ticks[k].col < w) tick[wf->ticks[k].col] = '|';
}

void ops_waterfall_cells(const ops_waterfall_t *wf, const ops_waterfall_row_t *row, char *cells,
                         size_t cap)
{
    if (!cap) return;
    size_t w = (size_t)wf->bar_w < cap - 1 ? (size_t)wf->bar_w : cap - 1;
    memset(cells, ' ', w);
    cells[w] = '\0';
    for (int k = 0; k < row->nseg; k++) {
        char ch = row->seg[k].hop == OPS_HOP_OUTBOX ? 'o' : row->seg[k].hop == OPS_HOP_BROKER ? 'b' : '#';
        for (int c = row->seg[k].col; c < row->seg[k].col + row->seg[k].len; c++)
            if ((size_t)c < w) cells[c] = ch;
    }
}

/* ---- text ----------------------------------------------------------------------------------- */

/* ANSI colours of services, in order (red is kept for errors). */
static const char *const palette[] = {"36", "32", "33", "35", "34", "96", "92", "93", "95", "94"};
#define NPALETTE (sizeof palette / sizeof palette[0])

static const char *glyph(ops_hop_kind_t hop, bool utf8)
{
    if (hop == OPS_HOP_OUTBOX) return utf8 ? "░" : "-";
    if (hop == OPS_HOP_BROKER) return utf8 ? "▒" : "~";
    return utf8 ? "█" : "=";
}

/* Appends s sanitised, in exactly w columns. */
static void cell(buf_t *b, const char *s, int w, bool right)
{
    char *safe = ops_sanitize(s);
    ops_table_cell(b, safe ? safe : "?", w > 0 ? (size_t)w : 0, right);
    free(safe);
}

static void trim(buf_t *b)
{
    while (b->len && b->data[b->len - 1] == ' ') b->data[--b->len] = '\0';
}

static void heading(FILE *f, const ops_trace_t *t, const ops_waterfall_t *wf,
                    const ops_waterfall_style_t *st)
{
    char d[32];
    ops_fmt_us(t->end_us - t->start_us, d, sizeof d);
    char *id = ops_sanitize(t->trace_id[0] ? t->trace_id : "(no id)"); /* from the input as is */
    fprintf(f, "%strace %s%s  %s  %zu spans  %zu services", st->color ? "\033[1m" : "",
            id ? id : "?", st->color ? "\033[0m" : "", d, t->n, t->services);
    free(id);
    if (t->orphans)
        fprintf(f, "  (incomplete: %zu span%s without %s parent)", t->orphans,
                t->orphans == 1 ? "" : "s", t->orphans == 1 ? "its" : "their");
    if (t->skewed)
        fprintf(f, "  (clock skew corrected in %zu span%s)", t->skewed, t->skewed == 1 ? "" : "s");
    fputc('\n', f);
    buf_t b = BUF_INIT;
    buf_puts(&b, "services:");
    for (size_t i = 0; i < wf->nservices; i++) {
        char *safe = ops_sanitize(wf->services[i]);
        if (st->color)
            buf_printf(&b, "  \033[%sm%s\033[0m %s", palette[i % NPALETTE], glyph(OPS_HOP_NONE, st->utf8),
                       safe ? safe : "?");
        else
            buf_printf(&b, "  %s", safe ? safe : "?");
        free(safe);
    }
    fprintf(f, "%s\n", buf_str(&b));
    buf_free(&b);
    fprintf(f, "legend: * critical path  ! error  > slowest span  %s span  %s waiting in the outbox"
               "  %s on the broker\n\n",
            glyph(OPS_HOP_NONE, st->utf8), glyph(OPS_HOP_OUTBOX, st->utf8),
            glyph(OPS_HOP_BROKER, st->utf8));
}

void ops_waterfall_print(FILE *f, const ops_trace_t *t, const ops_waterfall_t *wf,
                         const ops_waterfall_style_t *style)
{
    static const ops_waterfall_style_t plain = {false, false};
    const ops_waterfall_style_t *st = style ? style : &plain;
    heading(f, t, wf, st);
    size_t cap = (size_t)wf->bar_w * 2 + 1;
    char *labels = malloc(cap), *ticks = malloc(cap);
    buf_t b = BUF_INIT;
    /* runs of each glyph (span, outbox, broker) and of spaces, bar_w long, made once */
    char *runs[4] = {NULL, NULL, NULL, NULL};
    size_t glen[4];
    for (int k = 0; k < 4; k++) {
        const char *gl = k == 3 ? " " : glyph(k == 1 ? OPS_HOP_OUTBOX : k == 2 ? OPS_HOP_BROKER : OPS_HOP_NONE, st->utf8);
        glen[k] = strlen(gl);
        if ((runs[k] = malloc(glen[k] * (size_t)wf->bar_w + 1)))
            for (int c = 0; c < wf->bar_w; c++) memcpy(runs[k] + (size_t)c * glen[k], gl, glen[k]);
    }
    if (!labels || !ticks || !runs[0] || !runs[1] || !runs[2] || !runs[3]) goto done;
    ops_waterfall_ruler(wf, labels, ticks, cap);
    /* the headings share their line with the ruler's labels */
    buf_printf(&b, "%*s ", wf->marks_w, "");
    cell(&b, "SPAN", wf->name_w, false);
    buf_putc(&b, ' ');
    cell(&b, "SERVICE", wf->svc_w, false);
    buf_putc(&b, ' ');
    cell(&b, "DURATION", wf->dur_w, true);
    buf_putc(&b, ' ');
    buf_puts(&b, labels);
    trim(&b);
    fprintf(f, "%s%s%s\n", st->color ? "\033[1m" : "", buf_str(&b), st->color ? "\033[0m" : "");
    buf_reset(&b);
    buf_printf(&b, "%*s%s", wf->bar_x, "", ticks);
    trim(&b);
    fprintf(f, "%s\n", buf_str(&b));
    for (size_t r = 0; r < wf->nrows; r++) {
        const ops_waterfall_row_t *row = &wf->rows[r];
        const ops_span_t *s = &t->spans[row->span];
        buf_reset(&b);
        if (st->color && row->error) buf_puts(&b, "\033[31m");
        cell(&b, row->marks, wf->marks_w, false);
        buf_putc(&b, ' ');
        int indent = row->indent < wf->name_w - 4 ? row->indent : wf->name_w > 4 ? wf->name_w - 4 : 0;
        buf_printf(&b, "%*s", indent, "");
        if (st->color && row->marked) buf_puts(&b, "\033[1m");
        cell(&b, s->name, wf->name_w - indent, false);
        if (st->color && (row->marked || row->error)) buf_puts(&b, "\033[0m");
        buf_putc(&b, ' ');
        cell(&b, s->service, wf->svc_w, false);
        buf_putc(&b, ' ');
        char d[32];
        ops_fmt_us(s->dur_us, d, sizeof d);
        cell(&b, d, wf->dur_w, true);
        buf_putc(&b, ' ');
        /* the bar, segment by segment (a hop's segment comes first and ends where the span
           starts), each a run of one glyph copied from the prepared runs */
        int col = 0;
        for (int k = 0; k < row->nseg; k++) {
            const ops_waterfall_seg_t *g = &row->seg[k];
            if (g->col > col) buf_append(&b, runs[3], (size_t)(g->col - col));
            int kind = g->hop == OPS_HOP_OUTBOX ? 1 : g->hop == OPS_HOP_BROKER ? 2 : 0;
            if (st->color && kind == 0)
                buf_printf(&b, "\033[%sm", palette[row->service % NPALETTE]);
            else if (st->color)
                buf_puts(&b, "\033[2m");
            buf_append(&b, runs[kind], (size_t)g->len * glen[kind]);
            if (st->color) buf_puts(&b, "\033[0m");
            col = g->col + g->len;
        }
        if (wf->note_w && s->hop != OPS_HOP_NONE && col < wf->bar_w) /* align the notes */
            buf_append(&b, runs[3], (size_t)(wf->bar_w - col));
        if (wf->note_w && s->hop != OPS_HOP_NONE) {
            char note[64];
            ops_waterfall_note(t, row, note, sizeof note);
            buf_putc(&b, ' ');
            cell(&b, note, wf->note_w, false);
        }
        trim(&b);
        fputs(buf_str(&b), f);
        fputc('\n', f);
    }
    if (wf->hidden)
        fprintf(f, "\n%zu of %zu spans hidden by the depth and duration filters\n", wf->hidden, t->n);
    if (wf->mark >= 0) {
        const ops_span_t *s = &t->spans[wf->mark];
        char self[32], dur[32];
        ops_fmt_us(s->self_us, self, sizeof self);
        ops_fmt_us(s->dur_us, dur, sizeof dur);
        buf_reset(&b);
        buf_printf(&b, "%s (>): %s (%s) span %s, %s of its own time in %s",
                   wf->mark == t->slowest ? "slowest span" : "marked span", s->name, s->service,
                   s->span_id, self, dur);
        char *safe = ops_sanitize(buf_str(&b));
        fprintf(f, "%s%s\n", wf->hidden ? "" : "\n", safe ? safe : "");
        free(safe);
    }
done:
    buf_free(&b);
    free(labels);
    free(ticks);
    for (int k = 0; k < 4; k++) free(runs[k]);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static cJSON *seg_json(const ops_waterfall_seg_t *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "col", s->col);
    cJSON_AddNumberToObject(o, "len", s->len);
    return o;
}

cJSON *ops_waterfall_json(const ops_trace_t *t, const ops_waterfall_t *wf)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "trace_id", t->trace_id);
    cJSON_AddNumberToObject(o, "start_us", (double)t->start_us);
    cJSON_AddNumberToObject(o, "duration_us", (double)(t->end_us - t->start_us));
    cJSON_AddNumberToObject(o, "services", (double)t->services);
    cJSON_AddNumberToObject(o, "orphans", (double)t->orphans);
    cJSON_AddNumberToObject(o, "skewed", (double)t->skewed);
    if (t->slowest >= 0)
        cJSON_AddStringToObject(o, "slowest_span", t->spans[t->slowest].span_id);
    cJSON_AddNumberToObject(o, "width", wf->width);
    cJSON *bar = cJSON_AddObjectToObject(o, "bar");
    cJSON_AddNumberToObject(bar, "x", wf->bar_x);
    cJSON_AddNumberToObject(bar, "width", wf->bar_w);
    cJSON_AddNumberToObject(bar, "tick_us", (double)wf->tick_us);
    cJSON *legend = cJSON_AddArrayToObject(o, "legend");
    for (size_t i = 0; i < wf->nservices; i++)
        cJSON_AddItemToArray(legend, cJSON_CreateString(wf->services[i]));
    cJSON_AddNumberToObject(o, "shown", (double)wf->nrows);
    cJSON_AddNumberToObject(o, "hidden", (double)wf->hidden);
    cJSON *a = cJSON_AddArrayToObject(o, "spans");
    for (size_t r = 0; r < wf->nrows; r++) {
        const ops_waterfall_row_t *row = &wf->rows[r];
        cJSON *x = ops_trace_span_json(t, row->span);
        cJSON_AddBoolToObject(x, "marked", row->marked);
        cJSON_AddItemToObject(x, "bar", seg_json(&row->seg[row->nseg - 1]));
        if (row->nseg == 2)
            cJSON_AddItemToObject(x, "hop_bar", seg_json(&row->seg[0]));
        else
            cJSON_AddNullToObject(x, "hop_bar");
        cJSON_AddItemToArray(a, x);
    }
    if (wf->mark >= 0)
        cJSON_AddStringToObject(o, "marked_span", t->spans[wf->mark].span_id);
    else
        cJSON_AddNullToObject(o, "marked_span");
    return o;
}
