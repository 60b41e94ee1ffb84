/* ui_flow — the Flow view: pick a task change (the outbox's rows, newest first, or the newest
 * change of a task from the Tasks view) and follow it across the system on one time line —
 * request, outbox row, commit, publish with partition and offset, consumer, notification, read
 * model — joined by event id and trace id, with the time spent in each hop (ops_flow).
 *
 * Each source is asked on its own backend's worker — the row on the database's, the trace on
 * Jaeger's, the event in Kafka on Kafka's, the notification on the gateway's, the task's
 * version in Redis on Redis's — and the time line is rebuilt as each answers, so a backend
 * that is down marks only its own steps. While a step is still pending (a row waiting in the
 * outbox while Kafka is down, a consumer span not exported yet) the sources are asked again
 * every two seconds, and the wait grows on the screen until the change arrives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ops_flow.h"
#include "ops_table.h"
#include "rfc3339.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_work.h"

#define LIST_MAX 200

enum { SRC_ROW, SRC_TRACE, SRC_KAFKA, SRC_NOTIFY, SRC_RM, NSRC };

typedef struct flowv {
    /* the list of changes */
    ops_outbox_row_t *list;
    size_t nlist;
    bool list_loading, list_have;
    ops_status_t list_st;
    char list_err[512];
    int64_t list_next;
    int list_cursor, list_top;
    /* the change followed */
    bool open, from_list, looking_up;
    int64_t want_task;
    char want_event[40];
    ops_outbox_row_t row;
    bool have_row;
    int64_t user_id;
    cJSON *trace_doc;
    ops_trace_t trace;
    bool have_trace;
    ops_kring_t *kmsg;         /* the event found in Kafka (one message) */
    cJSON *notification;
    int64_t rm_version;
    ops_flow_src_t src[NSRC];
    char src_msg[NSRC][512];
    bool busy[NSRC];
    int64_t next, opened_at;
    ops_flow_t flow;
} flowv_t;

static void gather(ui_view_t *v);

/* ---- the list -------------------------------------------------------------------------------- */

typedef struct rows_job {
    ui_job_t job;
    int64_t task;            /* > 0: this task's rows (opening a task's flow) */
    ops_outbox_row_t *rows;
    size_t n;
} rows_job_t;

static void rows_run(ui_job_t *j, ui_conn_t *c)
{
    rows_job_t *r = (rows_job_t *)j;
    ops_outbox_t *ob = ui_conn_outbox(c, j);
    if (ob) j->st = ops_outbox_list(ob, OPS_OUTBOX_ALL, r->task, r->task ? 100 : LIST_MAX, 0, &r->rows, &r->n, &j->err);
}

static void rows_dtor(ui_job_t *j)
{
    rows_job_t *r = (rows_job_t *)j;
    ops_outbox_rows_free(r->rows, r->n);
}

static void reset_change(flowv_t *f)
{
    if (f->have_row) ops_outbox_row_free(&f->row);
    memset(&f->row, 0, sizeof f->row);
    f->have_row = false;
    cJSON_Delete(f->trace_doc);
    f->trace_doc = NULL;
    if (f->have_trace) ops_trace_free(&f->trace);
    f->have_trace = false;
    ops_kring_free(f->kmsg);
    f->kmsg = NULL;
    cJSON_Delete(f->notification);
    f->notification = NULL;
    f->rm_version = -1;
    f->user_id = 0;
    for (int i = 0; i < NSRC; i++) f->src[i] = (ops_flow_src_t){false, OPS_OK, NULL};
}

/* Starts following row (copied). */
static void follow(ui_view_t *v, const ops_outbox_row_t *row)
{
    flowv_t *f = v->priv;
    reset_change(f);
    f->row = *row;
    f->row.last_error = row->last_error ? strdup(row->last_error) : NULL;
    f->row.payload = row->payload ? strdup(row->payload) : NULL;
    f->have_row = true;
    f->open = true;
    f->opened_at = ui_now_ms();
    f->next = 0;
    v->cursor = v->top = 0;
    gather(v);
}

static void rows_done(ui_job_t *j, ui_t *ui)
{
    rows_job_t *r = (rows_job_t *)j;
    flowv_t *f = j->view->priv;
    if (r->task) { /* a task's flow: its newest change, or the one with the event asked for */
        f->looking_up = false;
        if (j->st != OPS_OK) {
            ui_error(ui, "flow: %s", j->err.msg);
            return;
        }
        const ops_outbox_row_t *pick = r->n ? &r->rows[0] : NULL;
        for (size_t i = 0; i < r->n && f->want_event[0]; i++)
            if (!strcmp(r->rows[i].event_id, f->want_event)) pick = &r->rows[i];
        if (!pick) {
            ui_error(ui, "flow: task %lld has no outbox rows (pruned, or another task id)", (long long)r->task);
            return;
        }
        follow(j->view, pick);
        return;
    }
    f->list_loading = false;
    f->list_next = ui_now_ms() + 5000;
    f->list_st = j->st;
    snprintf(f->list_err, sizeof f->list_err, "%s", j->err.msg);
    if (j->st != OPS_OK) return;
    ops_outbox_rows_free(f->list, f->nlist);
    f->list = r->rows;
    f->nlist = r->n;
    r->rows = NULL;
    r->n = 0;
    f->list_have = true;
    if (!f->open) j->view->nlines = (int)f->nlist;
}

static void load_list(ui_view_t *v)
{
    flowv_t *f = v->priv;
    if (f->list_loading) return;
    rows_job_t *r = ui_job_new(sizeof *r, UI_BE_DB, rows_run, rows_done, v);
    if (!r) return;
    r->job.dtor = rows_dtor;
    if (ui_work_submit(v->ui, &r->job)) f->list_loading = true;
}

void ui_flow_open_task(ui_t *ui, int64_t task_id, const char *event_id)
{
    ui_view_t *v = ui_view_named(ui, "flow");
    ui_show(ui, v);
    flowv_t *f = v->priv;
    if (!f || task_id <= 0) return;
    rows_job_t *r = ui_job_new(sizeof *r, UI_BE_DB, rows_run, rows_done, v);
    if (!r) return;
    r->job.dtor = rows_dtor;
    r->task = task_id;
    f->want_task = task_id;
    snprintf(f->want_event, sizeof f->want_event, "%s", event_id ? event_id : "");
    if (ui_work_submit(ui, &r->job)) {
        f->looking_up = true;
        if (!f->open) { /* the list keeps its place */
            f->list_cursor = v->cursor;
            f->list_top = v->top;
        }
        f->from_list = false;
    }
}

/* ---- the sources ----------------------------------------------------------------------------- */

typedef struct src_job {
    ui_job_t job;
    int which;
    ops_outbox_row_t row;      /* a copy of what is followed (strings not owned) */
    int64_t user_id;
    /* results */
    ops_outbox_row_t fresh;
    bool have_fresh;
    cJSON *doc;
    ops_trace_t trace;
    bool have_trace;
    ops_kring_t *kmsg;
    cJSON *notification;
    int64_t rm_version;
} src_job_t;

static int keep_first(const ops_kmsg_t *m, void *arg)
{
    ops_kring_push(arg, m);
    return 1; /* one is enough */
}

static void src_run(ui_job_t *j, ui_conn_t *c)
{
    src_job_t *s = (src_job_t *)j;
    switch (s->which) {
    case SRC_ROW: {
        ops_outbox_t *ob = ui_conn_outbox(c, j);
        if (ob && (j->st = ops_outbox_show(ob, s->row.id, &s->fresh, &j->err)) == OPS_OK) s->have_fresh = true;
        break;
    }
    case SRC_TRACE: {
        char id[33];
        if (!ops_flow_trace_id(s->row.traceparent, id)) {
            j->st = OPS_OK; /* no trace to ask for: ops_flow says so */
            break;
        }
        ops_jaeger_t *jq = ui_conn_jaeger(c, j);
        if (!jq || (j->st = ops_jaeger_trace(jq, id, &s->doc, &j->err)) != OPS_OK) break;
        const cJSON *tr = s->doc, *data = cJSON_GetObjectItemCaseSensitive(s->doc, "data");
        if (cJSON_IsArray(data)) tr = cJSON_GetArrayItem(data, 0);
        j->st = ops_trace_from_json(tr, &s->trace, &j->err);
        s->have_trace = j->st == OPS_OK;
        break;
    }
    case SRC_KAFKA: {
        ops_kafka_t *k = ui_conn_kafka(c, j);
        if (!k) break;
        int64_t ms;
        if (rfc3339_parse(s->row.created_at, &ms) < 0) ms = clock_wall_ms() - 3600 * 1000;
        char header[64];
        snprintf(header, sizeof header, "event_id=%s", s->row.event_id);
        ops_tail_opts_t o = OPS_TAIL_OPTS_INIT;
        o.topic = s->row.topic;
        o.from = OPS_FROM_TIME;
        o.at = ms - 2000; /* the relay publishes after the commit; a little earlier is safe */
        o.key = s->row.key;
        o.header = header;
        o.max = 1;
        s->kmsg = ops_kring_new(1, SIZE_MAX);
        if (s->kmsg) j->st = ops_kafka_tail(k, &o, keep_first, s->kmsg, &j->err);
        break;
    }
    case SRC_NOTIFY: {
        ops_api_t *api = ui_conn_api(c, j);
        if (!api) break;
        char cursor[128] = "";
        for (int page = 0; page < 5 && !s->notification; page++) {
            ops_api_resp_t r = OPS_API_RESP_INIT;
            if ((j->st = ops_api_notifications(api, 100, cursor[0] ? cursor : NULL, &r, &j->err)) != OPS_OK) {
                ops_api_resp_free(&r);
                break;
            }
            cJSON *n;
            cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(r.json, "notifications"))
            {
                const cJSON *ev = cJSON_GetObjectItemCaseSensitive(n, "event_id");
                if (cJSON_IsString(ev) && !strcmp(ev->valuestring, s->row.event_id)) {
                    s->notification = cJSON_Duplicate(n, true);
                    break;
                }
            }
            const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "next_cursor");
            bool more = cJSON_IsString(next) && next->valuestring[0];
            if (more) snprintf(cursor, sizeof cursor, "%s", next->valuestring);
            ops_api_resp_free(&r);
            if (!more) break;
        }
        break;
    }
    case SRC_RM: {
        ops_rm_t *rm = ui_conn_rm(c, j);
        ops_rm_user_t u;
        if (!rm || (j->st = ops_rm_user_read(rm, s->user_id, &u, &j->err)) != OPS_OK) break;
        s->rm_version = -1;
        for (size_t i = 0; i < u.n; i++)
            if (u.tasks[i].id == s->row.task_id) s->rm_version = u.tasks[i].version;
        ops_rm_user_free(&u);
        break;
    }
    }
}

static void src_dtor(ui_job_t *j)
{
    src_job_t *s = (src_job_t *)j;
    if (s->have_fresh) ops_outbox_row_free(&s->fresh);
    cJSON_Delete(s->doc);
    if (s->have_trace) ops_trace_free(&s->trace);
    ops_kring_free(s->kmsg);
    cJSON_Delete(s->notification);
}

static void rebuild(flowv_t *f)
{
    ops_flow_in_t in = OPS_FLOW_IN_INIT;
    ops_kmsg_t m;
    in.row = &f->row;
    in.trace = f->have_trace ? &f->trace : NULL;
    in.trace_json = f->trace_doc;
    in.trace_src = f->src[SRC_TRACE];
    in.kmsg = f->kmsg && ops_kring_at(f->kmsg, 0, &m) ? &m : NULL;
    in.kafka_src = f->src[SRC_KAFKA];
    in.notification = f->notification;
    in.notify_src = f->src[SRC_NOTIFY];
    in.rm_version = f->rm_version;
    in.rm_src = f->src[SRC_RM];
    ops_flow_build(&in, clock_wall_ms() * 1000, &f->flow);
}

/* The user a row's task belongs to, from its payload. */
static int64_t user_of(const ops_outbox_row_t *row)
{
    cJSON *p = row->payload ? cJSON_Parse(row->payload) : NULL;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(p, "user_id");
    int64_t id = cJSON_IsNumber(u) ? (int64_t)u->valuedouble : 0;
    cJSON_Delete(p);
    return id;
}

static void src_done(ui_job_t *j, ui_t *ui)
{
    src_job_t *s = (src_job_t *)j;
    flowv_t *f = j->view->priv;
    f->busy[s->which] = false;
    if (!f->open || !f->have_row || s->row.id != f->row.id) return; /* followed another since */
    ops_flow_src_t *src = &f->src[s->which];
    src->looked = true;
    src->st = j->st;
    snprintf(f->src_msg[s->which], sizeof f->src_msg[0], "%s", j->err.msg);
    src->msg = f->src_msg[s->which];
    switch (s->which) {
    case SRC_ROW:
        if (s->have_fresh) {
            ops_outbox_row_free(&f->row);
            f->row = s->fresh;
            s->have_fresh = false;
            f->user_id = user_of(&f->row);
        }
        break;
    case SRC_TRACE:
        if (s->have_trace) {
            cJSON_Delete(f->trace_doc);
            if (f->have_trace) ops_trace_free(&f->trace);
            f->trace_doc = s->doc;
            f->trace = s->trace;
            f->have_trace = true;
            s->doc = NULL;
            s->have_trace = false;
        }
        break;
    case SRC_KAFKA:
        if (s->kmsg && ops_kring_len(s->kmsg)) {
            ops_kring_free(f->kmsg);
            f->kmsg = s->kmsg;
            s->kmsg = NULL;
        }
        break;
    case SRC_NOTIFY:
        if (j->st == OPS_AUTH) {
            src->msg = "not logged in (the notification is the user's: L logs in)";
        } else if (s->notification) {
            cJSON_Delete(f->notification);
            f->notification = s->notification;
            s->notification = NULL;
        }
        break;
    case SRC_RM:
        if (j->st == OPS_OK) f->rm_version = s->rm_version;
        break;
    }
    rebuild(f);
    (void)ui;
    /* the row tells the user (for Redis) and whether there is anything to find in Kafka */
    if (s->which == SRC_ROW) gather(j->view);
}

static bool needs(const flowv_t *f, int which)
{
    const ops_flow_t *fl = &f->flow;
    if (!f->src[which].looked || f->src[which].st != OPS_OK) return true;
    switch (which) {
    case SRC_ROW: return !f->row.published && !f->row.dead;
    case SRC_TRACE: /* until the trace shows the publish and the consumer (spans export late) */
        return fl->step[OPS_FLOW_PUBLISH].state != OPS_STEP_DONE || fl->step[OPS_FLOW_CONSUME].state != OPS_STEP_DONE;
    case SRC_KAFKA: return f->row.published && !f->kmsg;
    case SRC_NOTIFY: return !f->notification;
    case SRC_RM: return f->rm_version < f->row.version && strcmp(f->row.event_type, "task.deleted");
    }
    return false;
}

/* Asks every source that has something left to tell (and is not already asked). */
static void gather(ui_view_t *v)
{
    flowv_t *f = v->priv;
    static const ui_backend_t be[NSRC] = {UI_BE_DB, UI_BE_JAEGER, UI_BE_KAFKA, UI_BE_API, UI_BE_REDIS};
    rebuild(f);
    for (int w = 0; w < NSRC; w++) {
        if (f->busy[w] || !needs(f, w)) continue;
        if (w == SRC_RM && !f->user_id) continue;         /* after the row's payload */
        if (w == SRC_KAFKA && !f->row.published) continue; /* nothing to find yet */
        if (w == SRC_NOTIFY && !v->ui->session.logged_in) {
            f->src[w] = (ops_flow_src_t){true, OPS_AUTH, "not logged in (the notification is the user's: L logs in)"};
            continue;
        }
        src_job_t *s = ui_job_new(sizeof *s, be[w], src_run, src_done, v);
        if (!s) continue;
        s->job.dtor = src_dtor;
        s->which = w;
        s->row = f->row;
        s->row.last_error = s->row.payload = NULL; /* not owned, not needed */
        s->user_id = f->user_id;
        if (ui_work_submit(v->ui, &s->job)) f->busy[w] = true;
    }
    rebuild(f);
}

/* ---- the view -------------------------------------------------------------------------------- */

static void flow_open(ui_view_t *v)
{
    flowv_t *f = calloc(1, sizeof *f);
    v->priv = f;
    if (!f) return;
    f->rm_version = -1;
    load_list(v);
}

static void flow_tick(ui_view_t *v, bool shown)
{
    flowv_t *f = v->priv;
    if (!f || !shown) return;
    int64_t now = ui_now_ms();
    if (!f->open) {
        if (!f->list_loading && now >= f->list_next) load_list(v);
        return;
    }
    /* pending steps are asked again every 2 s (for 10 minutes); the waits on screen grow */
    if (now >= f->next) {
        f->next = now + 2000;
        if (now - f->opened_at < 600000) gather(v);
        else rebuild(f);
        v->ui->dirty = true;
    }
}

static bool flow_request(ui_view_t *v, ui_req_t req)
{
    flowv_t *f = v->priv;
    if (!f->open) {
        if (req == UI_REQ_ENTER && (size_t)v->cursor < f->nlist) {
            f->list_cursor = v->cursor;
            f->list_top = v->top;
            f->from_list = true;
            follow(v, &f->list[v->cursor]);
            return true;
        }
        if (req == UI_REQ_REFRESH) {
            load_list(v);
            return true;
        }
        return false;
    }
    switch (req) {
    case UI_REQ_BACK:
        if (!f->from_list) return false; /* back to the view it came from */
        f->open = false;
        reset_change(f);
        v->cursor = f->list_cursor;
        v->top = f->list_top;
        v->nlines = (int)f->nlist;
        load_list(v);
        return true;
    case UI_REQ_ENTER:
    case UI_REQ_DETAILS:
        if (f->flow.trace_id[0]) ui_traces_open(v->ui, f->flow.trace_id);
        else ui_error(v->ui, "this change carries no trace id");
        return true;
    case UI_REQ_REFRESH:
        for (int i = 0; i < NSRC; i++) f->src[i].looked = false;
        f->opened_at = ui_now_ms();
        gather(v);
        return true;
    default: return false;
    }
}

static bool flow_command(ui_view_t *v, int argc, char **argv)
{
    if (strcmp(argv[0], "flow") || argc != 2) return false;
    char *end;
    long long id = strtoll(argv[1], &end, 10);
    if (*end || id < 1) return false;
    ui_flow_open_task(v->ui, id, NULL);
    return true;
}

static ui_color_t state_color(ops_step_state_t s)
{
    switch (s) {
    case OPS_STEP_DONE: return UI_C_OK;
    case OPS_STEP_PENDING: return UI_C_WARN;
    case OPS_STEP_DOWN: return UI_C_ERROR;
    default: return UI_C_DIM;
    }
}

static void draw_list(ui_view_t *v, int top, int rows, int cols)
{
    flowv_t *f = v->priv;
    int row = top;
    ui_draw_text(row++, 1, cols - 2, UI_C_DIM,
                 f->looking_up ? "finding the task's newest change…"
                               : "task changes, newest first (the outbox's rows) · Enter follows one across the system");
    if (f->list_st != OPS_OK) ui_draw_text(row++, 1, cols - 2, UI_C_ERROR, f->list_err);
    ui_col_t col[] = {{"ROW", 8, true, 0, 0},  {"TASK", 7, true, 0, 0},     {"EVENT", 15, false, 0, 0},
                      {"VER", 4, true, 0, 0},  {"CREATED", 12, false, 0, 0}, {"STATE", 0, false, 0, 0}};
    ui_cols_layout(col, 6, cols - 1);
    ui_draw_heads(row++, col, 6);
    int list_rows = top + rows - row;
    v->nlines = (int)f->nlist;
    if (f->list_have && !f->nlist) ui_draw_text(row, 2, cols - 4, UI_C_DIM, "no task changes yet");
    int first = ui_list_scroll(v, list_rows);
    for (int r = 0; r < list_rows && (size_t)(first + r) < f->nlist; r++) {
        const ops_outbox_row_t *x = &f->list[first + r];
        ui_draw_select(first + r == v->cursor);
        if (first + r == v->cursor) ui_draw_fill(row + r, 0, cols, UI_C_DEFAULT);
        int64_t ms;
        char when[16] = "";
        if (rfc3339_parse(x->created_at, &ms) == 0) ui_fmt_clock(ms, when, sizeof when);
        ui_draw_cellf(row + r, col, 0, UI_C_DIM, "%lld", (long long)x->id);
        ui_draw_cellf(row + r, col, 1, UI_C_VALUE, "%lld", (long long)x->task_id);
        ui_draw_cell(row + r, col, 2, UI_C_DEFAULT, x->event_type);
        ui_draw_cellf(row + r, col, 3, UI_C_DIM, "%lld", (long long)x->version);
        ui_draw_cell(row + r, col, 4, UI_C_DEFAULT, when);
        ui_draw_cell(row + r, col, 5, x->dead ? UI_C_ERROR : x->published ? UI_C_OK : UI_C_WARN,
                     x->dead ? "dead" : x->published ? "published" : "waiting in the outbox");
    }
    ui_draw_select(false);
}

static void draw_flow(ui_view_t *v, int top, int rows, int cols)
{
    flowv_t *f = v->priv;
    const ops_flow_t *fl = &f->flow;
    int row = top;
    int c = 1 + ui_draw_textf(row, 1, cols - 2, UI_C_VALUE, "task %lld · %s v%lld", (long long)fl->task_id,
                              fl->event_type, (long long)fl->version);
    ui_draw_textf(row, c, cols - c, UI_C_DIM, " · event %s · trace %s", fl->event_id,
                  fl->trace_id[0] ? fl->trace_id : "none");
    row++;
    char total[24] = "";
    if (fl->start_us && fl->end_us > fl->start_us) ops_fmt_us(fl->end_us - fl->start_us, total, sizeof total);
    ui_draw_textf(row++, 1, cols - 2, UI_C_DIM, "%s%s%sEnter: its trace · F5 asks again%s",
                  total[0] ? "from the request to the last step: " : "", total, total[0] ? " · " : "",
                  f->from_list ? " · q: the list" : "");
    row++;
    /* a wide terminal has the detail beside each step, a narrow one below it */
    bool wide = cols >= 140;
    ui_col_t col[] = {{"STEP", 12, false, 0, 0}, {"AT", 9, true, 0, 0},   {"HOP", 30, false, 0, 0},
                      {"", 0, false, 0, 0},      {"DETAIL", 0, false, 0, 0}};
    if (wide) col[3].width = 16;
    ui_cols_layout(col, wide ? 5 : 4, cols - 1);
    ui_draw_heads(row++, col, wide ? 5 : 4);
    int64_t whole = fl->end_us > fl->start_us ? fl->end_us - fl->start_us : 0;
    for (int k = 0; k < OPS_FLOW_STEPS && row < top + rows; k++, row++) {
        const ops_flow_step_t *s = &fl->step[k];
        ui_color_t sc = state_color(s->state);
        ui_draw_cell(row, col, 0, s->state == OPS_STEP_DONE ? UI_C_VALUE : sc, s->name);
        char at[24] = "—";
        if (s->at_us && fl->start_us) {
            ops_fmt_us(s->at_us - fl->start_us, at + 1, sizeof at - 1);
            at[0] = '+';
        }
        ui_draw_cell(row, col, 1, UI_C_DIM, at);
        if (s->hop_us >= 0 && s->hop_name[0]) {
            char hop[64], d[24];
            ops_fmt_us(s->hop_us, d, sizeof d);
            snprintf(hop, sizeof hop, "%s %s%s", d, s->hop_name, s->state == OPS_STEP_PENDING ? " so far" : "");
            ui_draw_cell(row, col, 2, s->state == OPS_STEP_PENDING ? UI_C_WARN : UI_C_DEFAULT, hop);
            /* the hop's share of the whole: the long wait stands out */
            int64_t base = whole > s->hop_us ? whole : s->hop_us;
            int bl = base > 0 ? (int)(s->hop_us * col[3].w / base) : 0;
            if (s->hop_us > 0 && bl < 1) bl = 1;
            ui_draw_run(row, col[3].x, bl, s->state == OPS_STEP_PENDING ? UI_C_WARN : UI_C_HOP, "█");
        }
        char detail[320];
        snprintf(detail, sizeof detail, "%s%s%s", s->service[0] ? s->service : "", s->service[0] ? ": " : "", s->detail);
        if (wide) {
            ui_draw_cell(row, col, 4, s->state == OPS_STEP_DONE ? UI_C_DEFAULT : sc, detail);
        } else if (row + 1 < top + rows) {
            row++;
            ui_draw_text(row, col[1].x + 2, cols - col[1].x - 3, s->state == OPS_STEP_DONE ? UI_C_DIM : sc, detail);
        }
    }
    row++;
    if (row < top + rows)
        ui_draw_text(row, 1, cols - 2, UI_C_DIM,
                     "joined by event id (outbox row, Kafka header, notification) and trace id (Jaeger)");
}

static void flow_draw(ui_view_t *v, int top, int rows, int cols)
{
    flowv_t *f = v->priv;
    if (f->open) draw_flow(v, top, rows, cols);
    else draw_list(v, top, rows, cols);
}

static void flow_close(ui_view_t *v)
{
    flowv_t *f = v->priv;
    if (!f) return;
    reset_change(f);
    ops_outbox_rows_free(f->list, f->nlist);
    free(f);
    v->priv = NULL;
}

const ui_view_ops_t ui_flow_view = {
    .name = "flow",
    .title = "Flow",
    .number = '8',
    .open = flow_open,
    .tick = flow_tick,
    .draw = flow_draw,
    .request = flow_request,
    .command = flow_command,
    .close = flow_close,
};
