/* ui_outbox — the Outbox view: backlog, oldest unpublished age, dead rows and the drain rate
 * as sparklines over the last five minutes, and the rows (waiting, dead or published), with
 * replay of dead rows after a question. Sampled once a second on the database's worker from
 * the moment the console starts (so the history is there when the view is opened); the
 * drain is counted by ops_outbox_drained, on the database's own clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_outbox.h"
#include "ops_table.h"
#include "rfc3339.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_prompt.h"
#include "ui_work.h"

#define HISTORY 300 /* samples, one a second: five minutes */
#define ROWS_MAX 200

typedef struct sample {
    int64_t backlog, drained;
    double age_s, dt_s;
} sample_t;

static const ops_outbox_state_t row_states[] = {OPS_OUTBOX_UNPUBLISHED, OPS_OUTBOX_DEAD,
                                                OPS_OUTBOX_PUBLISHED};
static const char *const row_state_names[] = {"waiting", "dead", "published"};

typedef struct outbox {
    ops_outbox_stats_t stats;
    bool have, loading;
    ops_status_t st;
    char err[512];
    double since;                 /* ops_outbox_drained's window start (database clock) */
    int64_t since_mono;           /* when that was, for the interval */
    sample_t hist[HISTORY];
    size_t nhist, head;           /* ring: oldest at head */
    int state;                    /* index into row_states */
    ops_outbox_row_t *rows;
    size_t nrows;
    bool rows_have;
    int64_t next;
    int64_t replay_from, replay_to;
} outbox_t;

/* ---- sampling ------------------------------------------------------------------------------ */

typedef struct sample_job {
    ui_job_t job;
    ops_outbox_stats_t stats;
    double since;
    int64_t drained;
    bool want_rows;
    ops_outbox_state_t state;
    int state_index;
    ops_outbox_row_t *rows;
    size_t nrows;
    ops_status_t rows_st;
} sample_job_t;

static void sample_run(ui_job_t *j, ui_conn_t *c)
{
    sample_job_t *s = (sample_job_t *)j;
    ops_outbox_t *ob = ui_conn_outbox(c, j);
    if (!ob) return;
    if ((j->st = ops_outbox_stats(ob, &s->stats, &j->err)) != OPS_OK) return;
    if ((j->st = ops_outbox_drained(ob, &s->since, &s->drained, &j->err)) != OPS_OK) return;
    if (s->want_rows)
        s->rows_st = ops_outbox_list(ob, s->state, 0, ROWS_MAX, 0, &s->rows, &s->nrows, &j->err);
}

static void sample_dtor(ui_job_t *j)
{
    sample_job_t *s = (sample_job_t *)j;
    ops_outbox_rows_free(s->rows, s->nrows);
}

static void sample_done(ui_job_t *j, ui_t *ui)
{
    sample_job_t *s = (sample_job_t *)j;
    outbox_t *o = j->view->priv;
    (void)ui;
    o->loading = false;
    o->st = j->st;
    snprintf(o->err, sizeof o->err, "%s", j->err.msg);
    if (j->st != OPS_OK) return;
    o->stats = s->stats;
    o->have = true;
    int64_t now = ui_now_ms();
    if (o->since > 0) { /* the first answer only starts the drain's count */
        sample_t x = {s->stats.backlog, s->drained, s->stats.oldest_unpublished_age_s,
                      (double)(now - o->since_mono) / 1000.0};
        size_t at = (o->head + o->nhist) % HISTORY;
        if (o->nhist == HISTORY) o->head = (o->head + 1) % HISTORY;
        else o->nhist++;
        o->hist[at] = x;
    }
    o->since = s->since;
    o->since_mono = now;
    if (s->want_rows && s->rows_st == OPS_OK && s->state_index == o->state) {
        ops_outbox_rows_free(o->rows, o->nrows);
        o->rows = s->rows;
        o->nrows = s->nrows;
        s->rows = NULL;
        s->nrows = 0;
        o->rows_have = true;
        j->view->nlines = (int)o->nrows;
    }
}

static void sample(ui_view_t *v, bool rows)
{
    outbox_t *o = v->priv;
    if (o->loading) return;
    sample_job_t *s = ui_job_new(sizeof *s, UI_BE_DB, sample_run, sample_done, v);
    if (!s) return;
    s->job.dtor = sample_dtor;
    s->since = o->since;
    s->want_rows = rows;
    s->state_index = o->state;
    s->state = row_states[o->state];
    if (ui_work_submit(v->ui, &s->job)) o->loading = true;
}

/* ---- replay -------------------------------------------------------------------------------- */

typedef struct replay_job {
    ui_job_t job;
    int64_t from, to, count, tasks[8];
    size_t ntasks;
} replay_job_t;

static void replay_run(ui_job_t *j, ui_conn_t *c)
{
    replay_job_t *r = (replay_job_t *)j;
    ops_outbox_t *ob = ui_conn_outbox(c, j);
    if (ob)
        j->st = ops_outbox_replay(ob, r->from, r->to, false, false, &r->count, r->tasks, 8,
                                  &r->ntasks, &j->err);
}

static void replay_done(ui_job_t *j, ui_t *ui)
{
    replay_job_t *r = (replay_job_t *)j;
    if (j->st != OPS_OK) {
        ui_error(ui, "replay: %s", j->err.msg);
        return;
    }
    if (r->count == 0)
        ui_say(ui, "replay: no dead row in %lld..%lld", (long long)r->from, (long long)r->to);
    else
        ui_say(ui, "replayed %lld dead row%s (task %lld%s): the relay publishes them now",
               (long long)r->count, r->count == 1 ? "" : "s", (long long)r->tasks[0],
               r->ntasks > 1 ? " and others" : "");
    ((outbox_t *)j->view->priv)->next = 0;
}

static void on_replay(ui_t *ui, void *arg)
{
    ui_view_t *v = arg;
    outbox_t *o = v->priv;
    replay_job_t *r = ui_job_new(sizeof *r, UI_BE_DB, replay_run, replay_done, v);
    if (!r) return;
    r->from = o->replay_from;
    r->to = o->replay_to;
    if (!ui_work_submit(ui, &r->job)) ui_error(ui, "the database's queue is full; try again");
}

static void ask_replay(ui_view_t *v, int64_t from, int64_t to, const char *what)
{
    outbox_t *o = v->priv;
    o->replay_from = from;
    o->replay_to = to;
    char q[300];
    snprintf(q, sizeof q, "Replay %s? The relay publishes it again. (y/N)", what);
    ui_prompt_confirm(v->ui, q, on_replay, v);
}

/* ---- the view ------------------------------------------------------------------------------ */

static void outbox_open(ui_view_t *v)
{
    v->priv = calloc(1, sizeof(outbox_t));
    if (v->priv) sample(v, false);
}

static void outbox_tick(ui_view_t *v, bool shown)
{
    outbox_t *o = v->priv;
    if (!o || o->loading) return;
    int64_t now = ui_now_ms();
    if (now >= o->next) {
        o->next = now + 1000;
        sample(v, shown);
    }
}

static const ops_outbox_row_t *sel_row(ui_view_t *v)
{
    outbox_t *o = v->priv;
    return o->rows && (size_t)v->cursor < o->nrows ? &o->rows[v->cursor] : NULL;
}

static bool outbox_request(ui_view_t *v, ui_req_t req)
{
    outbox_t *o = v->priv;
    const ops_outbox_row_t *r = sel_row(v);
    switch (req) {
    case UI_REQ_REFRESH: o->next = 0; return true;
    case UI_REQ_NEXT:
        o->state = (o->state + 1) % 3;
        ops_outbox_rows_free(o->rows, o->nrows);
        o->rows = NULL;
        o->nrows = 0;
        o->rows_have = false;
        v->cursor = v->top = v->nlines = 0;
        o->next = 0;
        return true;
    case UI_REQ_REPLAY: {
        if (!r || !r->dead) {
            ui_error(v->ui, "replay takes a dead row: Tab shows them");
            return true;
        }
        char what[160];
        snprintf(what, sizeof what, "dead outbox row %lld (task %lld, %s v%lld)", (long long)r->id,
                 (long long)r->task_id, r->event_type, (long long)r->version);
        ask_replay(v, r->id, r->id, what);
        return true;
    }
    case UI_REQ_FLOW:
    case UI_REQ_ENTER:
        if (r) ui_flow_open_task(v->ui, r->task_id, r->event_id);
        return true;
    default: return false;
    }
}

static bool outbox_command(ui_view_t *v, int argc, char **argv)
{
    if (strcmp(argv[0], "replay") || argc < 2 || argc > 3) return false;
    char *end;
    long long from = strtoll(argv[1], &end, 10), to = from;
    if (*end || from < 1) return false;
    if (argc == 3 && ((to = strtoll(argv[2], &end, 10)) < from || *end)) return false;
    if (ui_refuse_write(v->ui, "replay")) return true;
    char what[128];
    snprintf(what, sizeof what, "the dead outbox rows %lld..%lld", from, to);
    ask_replay(v, from, to, what);
    return true;
}

/* The history in width buckets over the five minutes: drain per second and the backlog. */
static size_t buckets(const outbox_t *o, int width, double *drain, double *backlog)
{
    if (o->nhist == 0 || width <= 0) return 0;
    size_t per = (HISTORY + (size_t)width - 1) / (size_t)width, n = 0;
    if (per < 1) per = 1;
    /* align so the newest sample closes the last bucket */
    size_t first = o->nhist % per;
    double d = 0, dt = 0, b = 0;
    for (size_t i = 0; i < o->nhist; i++) {
        const sample_t *s = &o->hist[(o->head + i) % HISTORY];
        d += (double)s->drained;
        dt += s->dt_s;
        if ((double)s->backlog > b) b = (double)s->backlog;
        if ((i + 1 >= first && (i + 1 - first) % per == 0) || i + 1 == o->nhist) {
            drain[n] = dt > 0 ? d / dt : 0;
            backlog[n] = b;
            n++;
            d = dt = b = 0;
        }
    }
    return n;
}

static void draw_header(ui_view_t *v, int *rowp, int cols)
{
    outbox_t *o = v->priv;
    int row = *rowp, c = 1;
    if (!o->have) {
        ui_draw_text(row++, 1, cols - 2, o->st != OPS_OK ? UI_C_ERROR : UI_C_DIM,
                     o->st != OPS_OK ? o->err : "asking the tasks database…");
        *rowp = row + 1;
        return;
    }
    const ops_outbox_stats_t *s = &o->stats;
    char age[32];
    ops_fmt_us((int64_t)(s->oldest_unpublished_age_s * 1e6), age, sizeof age);
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "backlog ");
    c += ui_draw_textf(row, c, cols - c, s->backlog ? UI_C_WARN : UI_C_OK, "%lld", (long long)s->backlog);
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "  oldest unpublished ");
    c += ui_draw_text(row, c, cols - c, s->oldest_unpublished_age_s > 5 ? UI_C_ERROR : UI_C_VALUE,
                      s->backlog ? age : "-");
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "  dead ");
    c += ui_draw_textf(row, c, cols - c, s->dead ? UI_C_ERROR : UI_C_VALUE, "%lld", (long long)s->dead);
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "  published 1m ");
    c += ui_draw_textf(row, c, cols - c, UI_C_VALUE, "%lld", (long long)s->published_last_minute);
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, " 1h ");
    c += ui_draw_textf(row, c, cols - c, UI_C_VALUE, "%lld", (long long)s->published_last_hour);
    int shards = 0;
    for (size_t i = 0; i < s->nrelays; i++) shards += s->relays[i].shards;
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "  relays ");
    ui_draw_textf(row, c, cols - c, s->nrelays ? UI_C_VALUE : UI_C_ERROR, "%zu (%d shards)", s->nrelays, shards);
    row++;
    if (o->st != OPS_OK) ui_draw_textf(row++, 1, cols - 2, UI_C_ERROR, "%s (figures above: the last answer)", o->err);
    /* the sparklines: the last five minutes in the width there is */
    int sw = cols - 40;
    double drain[HISTORY], backlog[HISTORY];
    size_t nb = buckets(o, sw, drain, backlog);
    double dmax = 0, bmax = 0, dnow = 0;
    for (size_t i = 0; i < nb; i++) {
        if (drain[i] > dmax) dmax = drain[i];
        if (backlog[i] > bmax) bmax = backlog[i];
    }
    if (o->nhist) {
        const sample_t *last = &o->hist[(o->head + o->nhist - 1) % HISTORY];
        dnow = last->dt_s > 0 ? (double)last->drained / last->dt_s : 0;
    }
    ui_draw_text(row, 1, 10, UI_C_LABEL, "drain/s");
    int w = ui_draw_spark(row, 11, sw, UI_C_SPARK, drain, nb, dmax);
    ui_draw_textf(row, 12 + (w ? w : 1), cols - 13 - w, UI_C_DIM, "now %.1f/s, max %.1f/s", dnow, dmax);
    row++;
    ui_draw_text(row, 1, 10, UI_C_LABEL, "backlog");
    w = ui_draw_spark(row, 11, sw, UI_C_WARN, backlog, nb, bmax);
    ui_draw_textf(row, 12 + (w ? w : 1), cols - 13 - w, UI_C_DIM, "max %.0f (%zu s sampled)", bmax, o->nhist);
    row++;
    *rowp = row;
}

static void outbox_draw(ui_view_t *v, int top, int rows, int cols)
{
    outbox_t *o = v->priv;
    int row = top;
    draw_header(v, &row, cols);
    int c = 1;
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "rows: ");
    for (int i = 0; i < 3; i++) {
        c += ui_draw_textf(row, c, cols - c, i == o->state ? UI_C_TITLE_SEL : UI_C_DIM, " %s ",
                           row_state_names[i]);
        c++;
    }
    ui_draw_text(row, c, cols - c, UI_C_DIM, "(Tab) · Enter: flow · R: replay a dead row");
    row++;
    ui_col_t col[] = {{"ID", 8, true, 0, 0},       {"TASK", 7, true, 0, 0},  {"TYPE", 14, false, 0, 0},
                      {"VER", 4, true, 0, 0},      {"CREATED", 12, false, 0, 0}, {"TRIES", 5, true, 0, 0},
                      {"STATE / LAST ERROR", 0, false, 0, 0}};
    ui_cols_layout(col, 7, cols - 1);
    ui_draw_heads(row++, col, 7);
    int list_rows = top + rows - row;
    if (!o->rows_have) {
        ui_draw_text(row, 2, cols - 4, UI_C_DIM, o->have ? "loading…" : "");
        return;
    }
    if (o->nrows == 0) {
        ui_draw_textf(row, 2, cols - 4, UI_C_DIM, "no %s rows", row_state_names[o->state]);
        return;
    }
    v->nlines = (int)o->nrows;
    int first = ui_list_scroll(v, list_rows);
    for (int r = 0; r < list_rows && (size_t)(first + r) < o->nrows; r++) {
        const ops_outbox_row_t *x = &o->rows[first + r];
        ui_draw_select(first + r == v->cursor);
        if (first + r == v->cursor) ui_draw_fill(row + r, 0, cols, UI_C_DEFAULT);
        int64_t ms;
        char when[16] = "";
        if (rfc3339_parse(x->created_at, &ms) == 0) ui_fmt_clock(ms, when, sizeof when);
        ui_draw_cellf(row + r, col, 0, UI_C_DIM, "%lld", (long long)x->id);
        ui_draw_cellf(row + r, col, 1, UI_C_DEFAULT, "%lld", (long long)x->task_id);
        ui_draw_cell(row + r, col, 2, UI_C_DEFAULT, x->event_type);
        ui_draw_cellf(row + r, col, 3, UI_C_DIM, "%lld", (long long)x->version);
        ui_draw_cell(row + r, col, 4, UI_C_DEFAULT, when);
        ui_draw_cellf(row + r, col, 5, x->attempts > 1 ? UI_C_WARN : UI_C_DIM, "%d", x->attempts);
        if (x->dead)
            ui_draw_cellf(row + r, col, 6, UI_C_ERROR, "dead: %s", x->last_error ? x->last_error : "");
        else if (x->published)
            ui_draw_cellf(row + r, col, 6, UI_C_OK, "published %s", x->published_at);
        else
            ui_draw_cellf(row + r, col, 6, x->last_error ? UI_C_WARN : UI_C_DIM, "%s",
                          x->last_error ? x->last_error : "waiting");
    }
    ui_draw_select(false);
}

static void outbox_close(ui_view_t *v)
{
    outbox_t *o = v->priv;
    if (o) ops_outbox_rows_free(o->rows, o->nrows);
    free(o);
    v->priv = NULL;
}

const ui_view_ops_t ui_outbox_view = {
    .name = "outbox",
    .title = "Outbox",
    .number = '3',
    .open = outbox_open,
    .tick = outbox_tick,
    .draw = outbox_draw,
    .request = outbox_request,
    .command = outbox_command,
    .close = outbox_close,
};
