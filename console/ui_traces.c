/* ui_traces — the Traces view: recent traces of a service from Jaeger (Tab: the next
 * service), and a trace's waterfall: one colour per service, error marks, children collapsed
 * and expanded, the critical path marked (c shows only it), the async hops (the outbox wait,
 * the time on the broker) drawn as segments of their own, and the selected span's details.
 *
 * The trace model is ops_trace's (tree, skew correction, self time, critical path, hops);
 * fetching and building it run on the Jaeger worker, so a 5,000-span trace never stalls a
 * key. The layout — which spans are rows, the columns, each bar and hop segment, the ruler,
 * the service colours — is lib/ops/ops_waterfall's, the one trace-view prints: this file only
 * chooses what is hidden (collapsed subtrees, the critical path only) and paints the rows. The view keeps one trace open (at most OPS_TRACE_MAX_SPANS spans) and the summaries of
 * the listed traces (at most LIST_MAX), never the listed traces themselves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_jaeger.h"
#include "ops_table.h"
#include "ops_trace.h"
#include "ops_waterfall.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_work.h"

#define LIST_MAX 50
#define FETCH_MAX 200 /* asked of Jaeger, so that LIST_MAX remain once the probes are left out */

/* Root spans of the probes every scraper and health checker makes: five a minute from
 * Prometheus alone, they would bury the traces an operator looks for. */
static const char *const probes[] = {"GET /metrics", "GET /health", "GET /ready", NULL};

static bool is_probe(const char *root)
{
    for (size_t i = 0; probes[i]; i++)
        if (!strcmp(root, probes[i])) return true;
    return false;
}

typedef struct summary {
    char id[33], root[160], root_svc[64];
    int64_t start_us, dur_us;
    size_t spans, errors, services;
} summary_t;

typedef struct traces {
    /* the list */
    char services[32][64];
    size_t nservices, service;
    summary_t list[LIST_MAX];
    size_t nlist, probes;
    bool list_loading, list_have;
    ops_status_t list_st;
    char list_err[512];
    int64_t list_next;
    int list_cursor, list_top;
    /* the waterfall */
    bool open, loading, details, critical_only;
    ops_status_t st;
    char err[512];
    cJSON *doc;
    ops_trace_t t;
    bool *collapsed, *hide; /* per span: its children folded; left out of the waterfall */
    ops_waterfall_t wf;     /* laid out for wf_width columns; rebuilt when either changes */
    int wf_width;
    bool laid_out;
    char want[600];   /* the trace id or file asked for */
} traces_t;

/* ---- the list -------------------------------------------------------------------------------- */

typedef struct list_job {
    ui_job_t job;
    char service[64];
    char services[32][64];
    size_t nservices;
    summary_t list[LIST_MAX];
    size_t nlist, probes;
} list_job_t;

static void list_run(ui_job_t *j, ui_conn_t *c)
{
    list_job_t *l = (list_job_t *)j;
    ops_jaeger_t *jq = ui_conn_jaeger(c, j);
    if (!jq) return;
    cJSON *svcs;
    if ((j->st = ops_jaeger_services(jq, &svcs, &j->err)) != OPS_OK) return;
    const cJSON *s;
    cJSON_ArrayForEach(s, svcs)
        if (cJSON_IsString(s) && l->nservices < 32)
            snprintf(l->services[l->nservices++], 64, "%s", s->valuestring);
    cJSON_Delete(svcs);
    if (!l->service[0]) {
        bool tasks = false;
        for (size_t i = 0; i < l->nservices; i++) tasks |= !strcmp(l->services[i], "tasks-service");
        snprintf(l->service, sizeof l->service, "%s", tasks || !l->nservices ? "tasks-service" : l->services[0]);
    }
    ops_jaeger_query_t q = {.service = l->service, .limit = FETCH_MAX};
    cJSON *found;
    if ((j->st = ops_jaeger_find(jq, &q, &found, &j->err)) != OPS_OK) return;
    const cJSON *tr;
    cJSON_ArrayForEach(tr, found)
    {
        if (l->nlist >= LIST_MAX) break;
        ops_trace_t t;
        ops_err_t e = OPS_ERR_INIT;
        if (ops_trace_from_json(tr, &t, &e) != OPS_OK) continue;
        int root = ops_trace_root(&t);
        if (root >= 0 && t.n == 1 && is_probe(t.spans[root].name)) {
            l->probes++;
            ops_trace_free(&t);
            continue;
        }
        summary_t *x = &l->list[l->nlist++];
        snprintf(x->id, sizeof x->id, "%s", t.trace_id);
        if (root >= 0) {
            snprintf(x->root, sizeof x->root, "%s", t.spans[root].name);
            snprintf(x->root_svc, sizeof x->root_svc, "%s", t.spans[root].service);
        }
        x->start_us = t.start_us;
        x->dur_us = t.end_us - t.start_us;
        x->spans = t.n;
        x->services = t.services;
        for (size_t i = 0; i < t.n; i++) x->errors += t.spans[i].error;
        ops_trace_free(&t);
    }
    cJSON_Delete(found);
}

static void list_done(ui_job_t *j, ui_t *ui)
{
    list_job_t *l = (list_job_t *)j;
    traces_t *s = j->view->priv;
    (void)ui;
    s->list_loading = false;
    s->list_next = ui_now_ms() + 10000;
    s->list_st = j->st;
    snprintf(s->list_err, sizeof s->list_err, "%s", j->err.msg);
    if (l->nservices) {
        memcpy(s->services, l->services, sizeof s->services);
        s->nservices = l->nservices;
        for (size_t i = 0; i < s->nservices; i++)
            if (!strcmp(s->services[i], l->service)) s->service = i;
    }
    if (j->st != OPS_OK) return;
    memcpy(s->list, l->list, sizeof s->list);
    s->nlist = l->nlist;
    s->probes = l->probes;
    s->list_have = true;
}

/* The listed traces the filter keeps (its text in the root span's service or name). */
static size_t shown(const ui_view_t *v, int *idx)
{
    const traces_t *s = v->priv;
    size_t n = 0;
    for (size_t i = 0; i < s->nlist; i++)
        if (!v->filter[0] || strcasestr(s->list[i].root, v->filter) || strcasestr(s->list[i].root_svc, v->filter))
            idx[n++] = (int)i;
    return n;
}

static const char *service_name(const traces_t *s)
{
    return s->nservices && s->service < s->nservices ? s->services[s->service] : "";
}

static void load_list(ui_view_t *v)
{
    traces_t *s = v->priv;
    if (s->list_loading) return;
    list_job_t *l = ui_job_new(sizeof *l, UI_BE_JAEGER, list_run, list_done, v);
    if (!l) return;
    snprintf(l->service, sizeof l->service, "%s", service_name(s));
    if (ui_work_submit(v->ui, &l->job)) s->list_loading = true;
}

/* ---- one trace ------------------------------------------------------------------------------- */

typedef struct trace_job {
    ui_job_t job;
    char id[600];
    bool file;
    cJSON *doc;
    ops_trace_t t;
    bool have;
} trace_job_t;

static void trace_run(ui_job_t *j, ui_conn_t *c)
{
    trace_job_t *x = (trace_job_t *)j;
    if (x->file) {
        FILE *f = fopen(x->id, "r");
        if (!f) {
            j->st = ops_fail(&j->err, OPS_FAIL, "%s: cannot read", x->id);
            return;
        }
        buf_t b = BUF_INIT;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (256u << 20)) buf_append(&b, chunk, n);
        fclose(f);
        x->doc = cJSON_ParseWithLength(buf_str(&b), b.len);
        buf_free(&b);
        if (!x->doc) {
            j->st = ops_fail(&j->err, OPS_FAIL, "%s: not JSON", x->id);
            return;
        }
    } else {
        ops_jaeger_t *jq = ui_conn_jaeger(c, j);
        if (!jq) return;
        if ((j->st = ops_jaeger_trace(jq, x->id, &x->doc, &j->err)) != OPS_OK) return;
    }
    const cJSON *tr = x->doc, *data = cJSON_GetObjectItemCaseSensitive(x->doc, "data");
    if (cJSON_IsArray(data)) tr = cJSON_GetArrayItem(data, 0);
    j->st = ops_trace_from_json(tr, &x->t, &j->err);
    x->have = j->st == OPS_OK;
}

static void trace_dtor(ui_job_t *j)
{
    trace_job_t *x = (trace_job_t *)j;
    cJSON_Delete(x->doc);
    if (x->have) ops_trace_free(&x->t);
}

static void close_trace(traces_t *s)
{
    cJSON_Delete(s->doc);
    s->doc = NULL;
    ops_trace_free(&s->t);
    free(s->collapsed);
    free(s->hide);
    ops_waterfall_free(&s->wf);
    s->collapsed = s->hide = NULL;
    s->laid_out = false;
}

/* What the waterfall leaves out: spans under a collapsed one, and with c every span off the
 * critical path. The layout is redone at the next draw (ops_waterfall_build, O(spans)). */
static void choose_rows(ui_view_t *v)
{
    traces_t *s = v->priv;
    for (size_t k = 0; k < s->t.n; k++) { /* display order: a parent before its children */
        int i = s->t.order[k], p = s->t.spans[i].parent;
        s->hide[i] = p >= 0 && (s->collapsed[p] || s->hide[p]);
    }
    if (s->critical_only)
        for (size_t i = 0; i < s->t.n; i++) s->hide[i] |= !s->t.spans[i].critical;
    ops_waterfall_free(&s->wf);
    s->laid_out = false;
}

/* Lays the trace out for width columns when the rows or the width changed. */
static bool lay_out(ui_view_t *v, int width)
{
    traces_t *s = v->priv;
    if (s->laid_out && s->wf_width == width) return true;
    ops_waterfall_free(&s->wf);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.width = width;
    o.hide = s->hide;
    ops_err_t e = OPS_ERR_INIT;
    s->laid_out = ops_waterfall_build(&s->t, &o, &s->wf, &e) == OPS_OK;
    s->wf_width = width;
    v->nlines = s->laid_out ? (int)s->wf.nrows : 0;
    return s->laid_out;
}

/* The span on row r of the waterfall, or NULL. */
static const ops_span_t *row_span(const traces_t *s, int r)
{
    return s->laid_out && r >= 0 && (size_t)r < s->wf.nrows ? &s->t.spans[s->wf.rows[r].span] : NULL;
}

static void trace_done(ui_job_t *j, ui_t *ui)
{
    trace_job_t *x = (trace_job_t *)j;
    traces_t *s = j->view->priv;
    s->loading = false;
    s->st = j->st;
    snprintf(s->err, sizeof s->err, "%s", j->err.msg);
    if (j->st != OPS_OK) {
        ui_error(ui, "%s", j->err.msg);
        return;
    }
    close_trace(s);
    s->doc = x->doc;
    x->doc = NULL;
    s->t = x->t;
    x->have = false;
    s->collapsed = calloc(s->t.n + 1, sizeof *s->collapsed);
    s->hide = calloc(s->t.n + 1, sizeof *s->hide);
    if (!s->collapsed || !s->hide) {
        close_trace(s);
        ui_error(ui, "out of memory for a trace of %zu spans", x->t.n);
        return;
    }
    s->open = true;
    s->critical_only = false;
    j->view->cursor = j->view->top = 0;
    choose_rows(j->view);
}

static void open_trace(ui_view_t *v, const char *id, bool file)
{
    traces_t *s = v->priv;
    trace_job_t *x = ui_job_new(sizeof *x, UI_BE_JAEGER, trace_run, trace_done, v);
    if (!x) return;
    x->job.dtor = trace_dtor;
    x->file = file;
    snprintf(x->id, sizeof x->id, "%s", id);
    snprintf(s->want, sizeof s->want, "%s", id);
    if (ui_work_submit(v->ui, &x->job)) {
        s->loading = true;
        s->open = true;
        s->st = OPS_OK;
    }
}

static bool traces_command(ui_view_t *v, int argc, char **argv);

void ui_traces_open(ui_t *ui, const char *trace_id)
{
    ui_view_t *v = ui_view_named(ui, "traces");
    ui_show(ui, v);
    char *argv[] = {(char *)"trace", (char *)trace_id};
    if (v->priv) traces_command(v, 2, argv);
}

/* ---- the view -------------------------------------------------------------------------------- */

static void traces_open(ui_view_t *v)
{
    v->priv = calloc(1, sizeof(traces_t));
    if (v->priv) load_list(v);
}

static void traces_tick(ui_view_t *v, bool shown)
{
    traces_t *s = v->priv;
    if (s && shown && !s->open && !s->list_loading && ui_now_ms() >= s->list_next) load_list(v);
}

/* The list and the waterfall each keep their own cursor. */
static void swap_cursor(ui_view_t *v)
{
    traces_t *s = v->priv;
    int c = v->cursor, t = v->top;
    v->cursor = s->list_cursor;
    v->top = s->list_top;
    s->list_cursor = c;
    s->list_top = t;
}

static bool traces_request(ui_view_t *v, ui_req_t req)
{
    traces_t *s = v->priv;
    if (!s->open) {
        switch (req) {
        case UI_REQ_ENTER: {
            int idx[LIST_MAX];
            size_t n = shown(v, idx);
            if ((size_t)v->cursor < n) {
                const char *id = s->list[idx[v->cursor]].id;
                swap_cursor(v);
                open_trace(v, id, false);
            }
            return true;
        }
        case UI_REQ_NEXT:
            if (s->nservices) {
                s->service = (s->service + 1) % s->nservices;
                s->nlist = 0;
                s->list_have = false;
                v->cursor = v->top = 0;
                load_list(v);
            }
            return true;
        case UI_REQ_REFRESH: load_list(v); return true;
        default: return false;
        }
    }
    const ops_span_t *sp = row_span(s, v->cursor);
    switch (req) {
    case UI_REQ_BACK:
        close_trace(s);
        s->open = s->loading = false;
        swap_cursor(v);
        v->nlines = (int)s->nlist;
        return true;
    case UI_REQ_COLLAPSE:
    case UI_REQ_EXPAND:
        if (sp && sp->first_child >= 0) {
            s->collapsed[sp - s->t.spans] = req == UI_REQ_COLLAPSE;
            choose_rows(v);
        } else if (sp && req == UI_REQ_COLLAPSE && sp->parent >= 0) {
            /* on a leaf, collapse its parent and go there */
            int parent = sp->parent;
            s->collapsed[parent] = true;
            choose_rows(v);
            lay_out(v, s->wf_width);
            for (size_t r = 0; r < s->wf.nrows; r++)
                if (s->wf.rows[r].span == parent) v->cursor = (int)r;
        }
        return true;
    case UI_REQ_CRITICAL:
        s->critical_only = !s->critical_only;
        choose_rows(v);
        v->cursor = v->top = 0;
        return true;
    case UI_REQ_DETAILS:
    case UI_REQ_ENTER:
        s->details = !s->details;
        return true;
    case UI_REQ_REFRESH:
        if (s->want[0] && !s->loading) open_trace(v, s->want, strchr(s->want, '/') != NULL);
        return true;
    default: return false;
    }
}

static bool traces_command(ui_view_t *v, int argc, char **argv)
{
    traces_t *s = v->priv;
    if (argc != 2) return false;
    if (!strcmp(argv[0], "trace") || !strcmp(argv[0], "trace-file")) {
        if (!s->open) swap_cursor(v);
        open_trace(v, argv[1], !strcmp(argv[0], "trace-file"));
        return true;
    }
    if (!strcmp(argv[0], "service")) {
        size_t i = 0;
        while (i < s->nservices && strcmp(s->services[i], argv[1])) i++;
        if (i == s->nservices) {
            if (s->nservices >= 32) return false;
            snprintf(s->services[s->nservices++], 64, "%s", argv[1]);
        }
        s->service = i;
        if (s->open) {
            close_trace(s);
            s->open = false;
            swap_cursor(v);
        }
        s->nlist = 0;
        s->list_have = false;
        load_list(v);
        return true;
    }
    return false;
}

/* ---- drawing --------------------------------------------------------------------------------- */

/* The layout's service number as one of the console's service colours. */
static ui_color_t svc_color(int service)
{
    return (ui_color_t)(UI_C_SVC0 + service % UI_SVC_COLORS);
}

static void draw_list(ui_view_t *v, int top, int rows, int cols)
{
    traces_t *s = v->priv;
    int row = top;
    int c = 1 + ui_draw_text(row, 1, cols - 2, UI_C_LABEL, "service ");
    c += ui_draw_text(row, c, cols - c, UI_C_VALUE, service_name(s)[0] ? service_name(s) : "…");
    c += ui_draw_textf(row, c, cols - c, UI_C_DIM, " (Tab: next of %zu) · the last hour, newest first",
                       s->nservices);
    if (s->probes) c += ui_draw_textf(row, c, cols - c, UI_C_DIM, " · %zu probe%s hidden (/metrics, /health, /ready)",
                                      s->probes, s->probes == 1 ? "" : "s");
    if (s->list_loading) ui_draw_text(row, c, cols - c, UI_C_DIM, " · asking Jaeger…");
    row++;
    if (s->list_st != OPS_OK)
        ui_draw_textf(row++, 1, cols - 2, UI_C_ERROR, "%s%s", s->list_err,
                      s->list_have ? " (the list below is the last one)" : "");
    ui_col_t col[] = {{"START", 12, false, 0, 0}, {"ROOT SPAN", 0, false, 0, 0}, {"SPANS", 6, true, 0, 0},
                      {"DURATION", 9, true, 0, 0}, {"ERR", 3, true, 0, 0}, {"SVCS", 4, true, 0, 0},
                      {"TRACE ID", 32, false, 0, 0}};
    ui_cols_layout(col, cols >= 110 ? 7 : 6, cols - 1);
    ui_draw_heads(row++, col, cols >= 110 ? 7 : 6);
    int list_rows = top + rows - row;
    int idx[LIST_MAX];
    size_t n = shown(v, idx);
    v->nlines = (int)n;
    if (s->list_have && n == 0)
        ui_draw_text(row, 2, cols - 4, UI_C_DIM, s->nlist ? "no listed trace matches the filter (/)"
                                                          : "no traces of this service in the last hour");
    int first = ui_list_scroll(v, list_rows);
    for (int r = 0; r < list_rows && (size_t)(first + r) < n; r++) {
        const summary_t *x = &s->list[idx[first + r]];
        ui_draw_select(first + r == v->cursor);
        if (first + r == v->cursor) ui_draw_fill(row + r, 0, cols, UI_C_DEFAULT);
        char when[16], dur[24];
        ui_fmt_clock(x->start_us / 1000, when, sizeof when);
        ops_fmt_us(x->dur_us, dur, sizeof dur);
        ui_draw_cell(row + r, col, 0, UI_C_DIM, when);
        ui_draw_cellf(row + r, col, 1, x->errors ? UI_C_ERROR : UI_C_DEFAULT, "%s: %s", x->root_svc, x->root);
        ui_draw_cellf(row + r, col, 2, UI_C_DEFAULT, "%zu", x->spans);
        ui_draw_cell(row + r, col, 3, UI_C_VALUE, dur);
        ui_draw_cellf(row + r, col, 4, x->errors ? UI_C_ERROR : UI_C_DIM, "%zu", x->errors);
        ui_draw_cellf(row + r, col, 5, UI_C_DIM, "%zu", x->services);
        if (cols >= 110) ui_draw_cell(row + r, col, 6, UI_C_DIM, x->id);
    }
    ui_draw_select(false);
}

static void draw_span_details(ui_view_t *v, const ops_span_t *sp, int top, int rows, int cols)
{
    traces_t *s = v->priv;
    ui_draw_run(top, 0, cols, UI_C_DIM, "─");
    ui_draw_textf(top, 2, cols - 4, UI_C_HEADER, " %s · %s ", sp->service, sp->name);
    char off[24], dur[24], self[24], skew[24];
    ops_fmt_us(sp->offset_us, off, sizeof off);
    ops_fmt_us(sp->dur_us, dur, sizeof dur);
    ops_fmt_us(sp->self_us, self, sizeof self);
    ops_fmt_us(sp->skew_us, skew, sizeof skew);
    int row = top + 1, end = top + rows;
    ui_draw_textf(row++, 2, cols - 4, UI_C_DEFAULT, "%s span %s · starts at +%s · takes %s · self %s%s%s%s%s",
                  ops_span_kind_name(sp->kind), sp->span_id, off, dur, self, sp->critical ? " · critical path" : "",
                  sp->skew_us ? " · moved " : "", sp->skew_us ? skew : "", sp->skew_us ? " for clock skew" : "");
    if (sp->error) ui_draw_textf(row++, 2, cols - 4, UI_C_ERROR, "error: %s", sp->status_msg ? sp->status_msg : "");
    if (sp->orphan) ui_draw_textf(row++, 2, cols - 4, UI_C_WARN, "its parent %s is not in the trace", sp->parent_id);
    const cJSON *js = s->doc ? ops_span_source(s->doc, sp) : NULL;
    const cJSON *tag;
    int half = (cols - 4) / 2, k = 0;
    const cJSON *tags = js ? cJSON_GetObjectItemCaseSensitive(js, "tags") : NULL;
    cJSON_ArrayForEach(tag, tags)
    {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(tag, "key");
        if (!cJSON_IsString(key) || row >= end) continue;
        char val[256];
        ops_span_tag(js, key->valuestring, val, sizeof val);
        int col = 2 + (k % 2) * half;
        int w = ui_draw_textf(row, col, half / 2, UI_C_LABEL, "%s", key->valuestring);
        ui_draw_text(row, col + w + 1, half - w - 2, UI_C_DEFAULT, val);
        if (++k % 2 == 0) row++;
    }
}

/* Paints a row's bar area from the layout's cells: the span in its service's colour (red
 * when it failed), the outbox wait and the time on the broker in the hop colour. */
static void draw_bar(int y, int x, const ops_waterfall_t *wf, const ops_waterfall_row_t *row, char *cells,
                     size_t cap)
{
    ops_waterfall_cells(wf, row, cells, cap);
    for (int c = 0; c < wf->bar_w;) {
        int run = 1;
        while (c + run < wf->bar_w && cells[c + run] == cells[c]) run++;
        switch (cells[c]) {
        case '#': ui_draw_run(y, x + c, run, row->error ? UI_C_ERROR : svc_color(row->service), "█"); break;
        case 'o': ui_draw_run(y, x + c, run, UI_C_HOP, "░"); break;
        case 'b': ui_draw_run(y, x + c, run, UI_C_HOP, "▒"); break;
        default: break;
        }
        c += run;
    }
}

static void draw_waterfall(ui_view_t *v, int top, int rows, int cols)
{
    traces_t *s = v->priv;
    int row = top;
    if (s->loading) {
        ui_draw_textf(row, 1, cols - 2, UI_C_DIM, "fetching %s…", s->want);
        return;
    }
    if (!s->hide) {
        ui_draw_textf(row, 1, cols - 2, UI_C_ERROR, "%s (q: back to the list)", s->err);
        return;
    }
    if (!lay_out(v, cols - 1)) {
        ui_draw_text(row, 1, cols - 2, UI_C_ERROR, "out of memory laying the trace out (q: back to the list)");
        return;
    }
    const ops_trace_t *t = &s->t;
    const ops_waterfall_t *wf = &s->wf;
    char total[24];
    ops_fmt_us(t->end_us - t->start_us, total, sizeof total);
    size_t errors = 0;
    for (size_t i = 0; i < t->n; i++) errors += t->spans[i].error;
    int c = 1 + ui_draw_textf(row, 1, cols - 2, UI_C_VALUE, "trace %s", t->trace_id);
    ui_draw_textf(row, c, cols - c, UI_C_DIM, " · %zu spans · %zu services · %s · %zu error%s%s%s%s", t->n,
                  t->services, total, errors, errors == 1 ? "" : "s", t->orphans ? " · parents missing" : "",
                  wf->hidden ? " · some folded" : "", s->critical_only ? " · critical path only (c)" : "");
    row++;
    c = 1;
    for (size_t i = 0; i < wf->nservices && c < cols - 4; i++) {
        c += ui_draw_text(row, c, 2, svc_color((int)i), "█") + 1;
        c += ui_draw_text(row, c, cols - c, UI_C_DEFAULT, wf->services[i]) + 2;
    }
    c += ui_draw_text(row, c, cols - c, UI_C_CRITICAL, "* critical  ");
    c += ui_draw_text(row, c, cols - c, UI_C_ERROR, "! error  ");
    ui_draw_text(row, c, cols - c, UI_C_HOP, "░ outbox wait  ▒ on the broker");
    row++;
    /* the headings share their line with the ruler's labels, as trace-view prints them */
    size_t cap = (size_t)wf->bar_w * 2 + 1;
    char *labels = malloc(cap), *ticks = malloc(cap), *cells = malloc(cap);
    if (!labels || !ticks || !cells) {
        free(labels);
        free(ticks);
        free(cells);
        return;
    }
    ops_waterfall_ruler(wf, labels, ticks, cap);
    int x = 1 + wf->marks_w + 1; /* the layout's columns, from screen column 1 */
    ui_draw_text(row, x, wf->name_w, UI_C_HEADER, "SPAN");
    x += wf->name_w + 1;
    ui_draw_text(row, x, wf->svc_w, UI_C_HEADER, "SERVICE");
    x += wf->svc_w + 1;
    ui_draw_text(row, x + wf->dur_w - 8, 8, UI_C_HEADER, "DURATION");
    ui_draw_text(row, 1 + wf->bar_x, wf->bar_w, UI_C_DIM, labels);
    row++;
    ui_draw_text(row, 1 + wf->bar_x, wf->bar_w, UI_C_DIM, ticks);
    row++;
    int avail = top + rows - row;
    int list_rows = s->details ? avail - avail * 2 / 5 : avail;
    int first = ui_list_scroll(v, list_rows);
    for (int r = 0; r < list_rows && (size_t)(first + r) < wf->nrows; r++) {
        const ops_waterfall_row_t *wr = &wf->rows[first + r];
        const ops_span_t *sp = &t->spans[wr->span];
        int y = row + r;
        bool sel = first + r == v->cursor;
        ui_draw_select(sel);
        if (sel) ui_draw_fill(y, 0, cols, UI_C_DEFAULT);
        x = 1;
        ui_draw_text(y, x, 1, UI_C_CRITICAL, wr->critical ? "*" : "");
        if (wr->error) ui_draw_text(y, x + 1, 1, UI_C_ERROR, "!");
        /* the marks' third column (trace-view's '>' for the slowest span): folded (▸) or
         * unfolded (▾) children */
        ui_draw_text(y, x + 2, 1, UI_C_DIM, sp->first_child < 0 ? "" : s->collapsed[wr->span] ? "▸" : "▾");
        x += wf->marks_w + 1;
        int indent = wr->indent < wf->name_w - 4 ? wr->indent : wf->name_w > 4 ? wf->name_w - 4 : 0;
        ui_draw_text(y, x + indent, wf->name_w - indent,
                     sp->error ? UI_C_ERROR : sp->critical ? UI_C_VALUE : UI_C_DEFAULT, sp->name);
        x += wf->name_w + 1;
        ui_draw_text(y, x, wf->svc_w, svc_color(wr->service), sp->service);
        x += wf->svc_w + 1;
        char d[24];
        ops_fmt_us(sp->dur_us, d, sizeof d);
        ui_draw_text(y, x + wf->dur_w - ui_text_width(d), ui_text_width(d), UI_C_DIM, d);
        draw_bar(y, 1 + wf->bar_x, wf, wr, cells, cap);
        if (wf->note_w && sp->hop != OPS_HOP_NONE) {
            char note[64];
            ops_waterfall_note(t, wr, note, sizeof note);
            ui_draw_text(y, 1 + wf->bar_x + wf->bar_w + 1, wf->note_w, UI_C_HOP, note);
        }
    }
    ui_draw_select(false);
    free(labels);
    free(ticks);
    free(cells);
    const ops_span_t *cur = row_span(s, v->cursor);
    if (s->details && cur) draw_span_details(v, cur, row + list_rows, avail - list_rows, cols);
}

static void traces_draw(ui_view_t *v, int top, int rows, int cols)
{
    traces_t *s = v->priv;
    if (s->open) draw_waterfall(v, top, rows, cols);
    else draw_list(v, top, rows, cols);
}

static void traces_filter(ui_view_t *v, const char *text)
{
    (void)text; /* v->filter holds it; the list is filtered as it is drawn */
    v->cursor = v->top = 0;
}

static void traces_close(ui_view_t *v)
{
    traces_t *s = v->priv;
    if (s) close_trace(s);
    free(s);
    v->priv = NULL;
}

const ui_view_ops_t ui_traces_view = {
    .name = "traces",
    .title = "Traces",
    .number = '5',
    .open = traces_open,
    .tick = traces_tick,
    .draw = traces_draw,
    .request = traces_request,
    .command = traces_command,
    .filter = traces_filter,
    .close = traces_close,
};
