/* ui_tasks — the Tasks view: the logged-in user's tasks through the gateway (ops_api), with
 * the read source the API reported (X-Read-Source), filters by text, tag and done, and add,
 * edit, complete (or reopen) and delete. Every request runs on the gateway's worker; a write
 * is a root span "todo-console ui <action>", so its trace starts at the console, and is
 * followed by a reload (read-your-writes: the next list shows it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops_api.h"
#include "rfc3339.h"
#include "trace.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_prompt.h"
#include "ui_work.h"

typedef struct tasks {
    cJSON *list;            /* array of tasks as the API serves them */
    int n;
    char source[16];
    bool truncated, loading, have;
    int done;               /* -1 all, 0 open, 1 done */
    char tag[128], q[256];
    ops_status_t st;
    char err[512];
    int64_t loaded_at, next;
    int64_t pending_id;     /* the task a question is about */
    bool reload;            /* reload after the one in flight */
} tasks_t;

/* ---- loading ------------------------------------------------------------------------------- */

typedef struct list_job {
    ui_job_t job;
    int done, max;
    char tag[128], q[256];
    cJSON *list;
    char source[16];
    bool truncated;
} list_job_t;

static void list_run(ui_job_t *j, ui_conn_t *c)
{
    list_job_t *l = (list_job_t *)j;
    ops_api_t *api = ui_conn_api(c, j);
    if (!api) return;
    l->list = cJSON_CreateArray();
    char cursor[128] = "";
    for (;;) {
        ops_task_filter_t f = OPS_TASK_FILTER_INIT;
        f.done = l->done;
        f.tag = l->tag[0] ? l->tag : NULL;
        f.q = l->q[0] ? l->q : NULL;
        f.limit = 200;
        f.cursor = cursor[0] ? cursor : NULL;
        ops_api_resp_t r = OPS_API_RESP_INIT;
        j->st = ops_api_tasks_list(api, &f, &r, &j->err);
        if (j->st != OPS_OK) {
            ops_api_resp_free(&r);
            return;
        }
        snprintf(l->source, sizeof l->source, "%s", r.read_source);
        cJSON *page = cJSON_DetachItemFromObjectCaseSensitive(r.json, "tasks"), *t;
        while (page && (t = cJSON_DetachItemFromArray(page, 0))) {
            if (cJSON_GetArraySize(l->list) >= l->max) {
                cJSON_Delete(t);
                l->truncated = true;
                continue;
            }
            cJSON_AddItemToArray(l->list, t);
        }
        cJSON_Delete(page);
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "next_cursor");
        bool more = cJSON_IsString(next) && next->valuestring[0] && !l->truncated;
        if (more) snprintf(cursor, sizeof cursor, "%s", next->valuestring);
        ops_api_resp_free(&r);
        if (!more) break;
    }
}

static void list_dtor(ui_job_t *j)
{
    cJSON_Delete(((list_job_t *)j)->list);
}

static void load(ui_view_t *v);

static void list_done(ui_job_t *j, ui_t *ui)
{
    list_job_t *l = (list_job_t *)j;
    tasks_t *t = j->view->priv;
    t->loading = false;
    t->st = j->st;
    snprintf(t->err, sizeof t->err, "%s", j->err.msg);
    if (j->st == OPS_AUTH) {
        ui_auth_lost(ui, j->err.msg);
    } else if (j->st == OPS_OK) {
        cJSON_Delete(t->list);
        t->list = l->list;
        l->list = NULL;
        t->n = cJSON_GetArraySize(t->list);
        snprintf(t->source, sizeof t->source, "%s", l->source);
        t->truncated = l->truncated;
        t->have = true;
        t->loaded_at = ui_now_ms();
        j->view->nlines = t->n;
    }
    t->next = ui_now_ms() + 5000;
    if (t->reload) {
        t->reload = false;
        load(j->view);
    }
}

static void load(ui_view_t *v)
{
    tasks_t *t = v->priv;
    if (t->loading) {
        t->reload = true; /* the filter changed meanwhile */
        return;
    }
    if (!v->ui->session.logged_in) return;
    list_job_t *l = ui_job_new(sizeof *l, UI_BE_API, list_run, list_done, v);
    if (!l) return;
    l->job.dtor = list_dtor;
    l->done = t->done;
    l->max = (int)v->ui->limits.tasks_max;
    snprintf(l->tag, sizeof l->tag, "%s", t->tag);
    snprintf(l->q, sizeof l->q, "%s", t->q);
    if (ui_work_submit(v->ui, &l->job)) t->loading = true;
}

/* ---- writes -------------------------------------------------------------------------------- */

typedef enum { W_ADD, W_PATCH, W_COMPLETE, W_DELETE } wkind_t;

typedef struct write_job {
    ui_job_t job;
    wkind_t kind;
    int64_t id;
    cJSON *body;
    int64_t result_id;
} write_job_t;

static void write_run(ui_job_t *j, ui_conn_t *c)
{
    static const char *const names[] = {"todo-console ui add", "todo-console ui edit",
                                        "todo-console ui complete", "todo-console ui delete"};
    write_job_t *w = (write_job_t *)j;
    ops_api_t *api = ui_conn_api(c, j);
    if (!api) return;
    trace_span_t *sp = trace_span_start(names[w->kind], TRACE_KIND_INTERNAL, NULL);
    trace_span_activate(sp);
    ops_api_resp_t r = OPS_API_RESP_INIT;
    switch (w->kind) {
    case W_ADD: j->st = ops_api_task_create(api, w->body, &r, &j->err); break;
    case W_PATCH: j->st = ops_api_task_patch(api, w->id, w->body, &r, &j->err); break;
    case W_COMPLETE: j->st = ops_api_task_complete(api, w->id, &r, &j->err); break;
    case W_DELETE: j->st = ops_api_task_delete(api, w->id, &r, &j->err); break;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r.json, "id");
    w->result_id = cJSON_IsNumber(id) ? (int64_t)id->valuedouble : w->id;
    if (j->st != OPS_OK) trace_span_set_status(sp, TRACE_STATUS_ERROR, j->err.msg);
    trace_span_end(sp);
    ops_api_resp_free(&r);
}

static void write_dtor(ui_job_t *j)
{
    cJSON_Delete(((write_job_t *)j)->body);
}

static void write_done(ui_job_t *j, ui_t *ui)
{
    static const char *const done_words[] = {"created", "saved", "completed", "deleted"};
    write_job_t *w = (write_job_t *)j;
    if (j->st == OPS_AUTH) {
        ui_auth_lost(ui, j->err.msg);
        return;
    }
    if (j->st != OPS_OK) {
        ui_error(ui, "%s", j->err.msg);
        return;
    }
    bool reopened = w->kind == W_PATCH && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(w->body, "done")) &&
                    cJSON_GetArraySize(w->body) == 1;
    ui_say(ui, "task %lld %s", (long long)w->result_id, reopened ? "reopened" : done_words[w->kind]);
    load(j->view);
}

static void submit_write(ui_view_t *v, wkind_t kind, int64_t id, cJSON *body)
{
    write_job_t *w = ui_job_new(sizeof *w, UI_BE_API, write_run, write_done, v);
    if (!w) {
        cJSON_Delete(body);
        return;
    }
    w->job.dtor = write_dtor;
    w->kind = kind;
    w->id = id;
    w->body = body;
    if (!ui_work_submit(v->ui, &w->job)) ui_error(v->ui, "the gateway's queue is full; try again");
}

/* ---- the forms ----------------------------------------------------------------------------- */

static cJSON *selected(ui_view_t *v)
{
    tasks_t *t = v->priv;
    return t->list && v->cursor < t->n ? cJSON_GetArrayItem(t->list, v->cursor) : NULL;
}

static int64_t id_of(const cJSON *task)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(task, "id");
    return cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Tags typed as "a, b c" into a JSON array. */
static cJSON *tags_of(const char *text)
{
    cJSON *a = cJSON_CreateArray();
    char buf[UI_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save, *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
        cJSON_AddItemToArray(a, cJSON_CreateString(tok));
    return a;
}

/* The form's values as a body; NULL with the form's error set when one is bad. With before,
 * only what changed. */
static cJSON *body_of(ui_t *ui, char **val, const cJSON *before)
{
    cJSON *b = cJSON_CreateObject();
    if (!val[0][0]) {
        ui_prompt_form_error(ui, "a title, please");
        cJSON_Delete(b);
        return NULL;
    }
    if (!before || strcmp(val[0], str_of(before, "title"))) cJSON_AddStringToObject(b, "title", val[0]);
    if (val[1][0]) {
        char *end;
        long p = strtol(val[1], &end, 10);
        if (*end || p < 1 || p > 5) {
            ui_prompt_form_error(ui, "priority: 1 (highest) to 5");
            cJSON_Delete(b);
            return NULL;
        }
        const cJSON *old = before ? cJSON_GetObjectItemCaseSensitive(before, "priority") : NULL;
        if (!old || !cJSON_IsNumber(old) || old->valuedouble != (double)p)
            cJSON_AddNumberToObject(b, "priority", (double)p);
    }
    cJSON *tags = tags_of(val[2]);
    const cJSON *old_tags = before ? cJSON_GetObjectItemCaseSensitive(before, "tags") : NULL;
    if (!before || !cJSON_Compare(tags, old_tags, true)) cJSON_AddItemToObject(b, "tags", tags);
    else cJSON_Delete(tags);
    if (!before || strcmp(val[3], str_of(before, "due_at"))) {
        if (val[3][0]) cJSON_AddStringToObject(b, "due_at", val[3]);
        else if (before) cJSON_AddNullToObject(b, "due_at");
    }
    return b;
}

static void on_add(ui_t *ui, char **val, void *arg)
{
    cJSON *b = body_of(ui, val, NULL);
    if (!b) return;
    ui_modal_close(ui);
    submit_write(arg, W_ADD, 0, b);
}

static void on_edit(ui_t *ui, char **val, void *arg)
{
    ui_view_t *v = arg;
    tasks_t *t = v->priv;
    const cJSON *before = NULL;
    for (int i = 0; i < t->n; i++)
        if (id_of(cJSON_GetArrayItem(t->list, i)) == t->pending_id) before = cJSON_GetArrayItem(t->list, i);
    cJSON *b = body_of(ui, val, before);
    if (!b) return;
    ui_modal_close(ui);
    if (cJSON_GetArraySize(b) == 0) {
        cJSON_Delete(b);
        ui_say(ui, "nothing changed");
        return;
    }
    submit_write(v, W_PATCH, t->pending_id, b);
}

static void on_delete(ui_t *ui, void *arg)
{
    ui_view_t *v = arg;
    (void)ui;
    submit_write(v, W_DELETE, ((tasks_t *)v->priv)->pending_id, NULL);
}

static void on_tag(ui_t *ui, const char *text, void *arg)
{
    ui_view_t *v = arg;
    tasks_t *t = v->priv;
    snprintf(t->tag, sizeof t->tag, "%s", text);
    v->cursor = 0;
    load(v);
    ui->dirty = true;
}

static void edit_form(ui_view_t *v, const cJSON *task)
{
    tasks_t *t = v->priv;
    char pri[8] = "", tags[512] = "";
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(task, "priority"), *tag;
    if (cJSON_IsNumber(p)) snprintf(pri, sizeof pri, "%d", (int)p->valuedouble);
    size_t l = 0;
    cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(task, "tags"))
        if (cJSON_IsString(tag) && l < sizeof tags)
            l += (size_t)snprintf(tags + l, sizeof tags - l, "%s%s", l ? " " : "", tag->valuestring);
    t->pending_id = id_of(task);
    char title[64];
    snprintf(title, sizeof title, "Edit task %lld", (long long)t->pending_id);
    ui_field_t f[] = {{"Title", str_of(task, "title"), false}, {"Priority", pri, false},
                      {"Tags", tags, false}, {"Due (RFC 3339)", str_of(task, "due_at"), false}};
    ui_prompt_form(v->ui, title, f, 4, on_edit, NULL, v);
}

/* ---- the view ------------------------------------------------------------------------------ */

static void tasks_open(ui_view_t *v)
{
    tasks_t *t = calloc(1, sizeof *t);
    v->priv = t;
    if (!t) return;
    t->done = -1;
    load(v);
}

static void tasks_tick(ui_view_t *v, bool shown)
{
    tasks_t *t = v->priv;
    if (t && shown && !t->loading && ui_now_ms() >= t->next && v->ui->session.logged_in) load(v);
}

static bool tasks_request(ui_view_t *v, ui_req_t req)
{
    tasks_t *t = v->priv;
    ui_t *ui = v->ui;
    cJSON *sel = selected(v);
    if (req == UI_REQ_REFRESH && !ui->session.logged_in) { /* logged out: forget the list */
        cJSON_Delete(t->list);
        t->list = NULL;
        t->n = v->nlines = 0;
        t->have = false;
        return true;
    }
    bool needs_login = req == UI_REQ_ADD || req == UI_REQ_EDIT || req == UI_REQ_COMPLETE ||
                       req == UI_REQ_DELETE || req == UI_REQ_REFRESH;
    if (needs_login && !ui->session.logged_in) {
        ui_error(ui, "not logged in: L logs in");
        return true;
    }
    bool needs_sel = req == UI_REQ_EDIT || req == UI_REQ_COMPLETE || req == UI_REQ_DELETE ||
                     req == UI_REQ_FLOW || req == UI_REQ_ENTER;
    if (needs_sel && !sel) {
        if (req != UI_REQ_ENTER) ui_error(ui, "no task selected");
        return true;
    }
    switch (req) {
    case UI_REQ_REFRESH: load(v); return true;
    case UI_REQ_ADD: {
        ui_field_t f[] = {{"Title", "", false}, {"Priority", "", false}, {"Tags", "", false},
                          {"Due (RFC 3339)", "", false}};
        ui_prompt_form(ui, "Add a task", f, 4, on_add, NULL, v);
        return true;
    }
    case UI_REQ_EDIT: edit_form(v, sel); return true;
    case UI_REQ_COMPLETE: {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sel, "done"))) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddFalseToObject(b, "done");
            submit_write(v, W_PATCH, id_of(sel), b);
        } else {
            submit_write(v, W_COMPLETE, id_of(sel), NULL);
        }
        return true;
    }
    case UI_REQ_DELETE: {
        t->pending_id = id_of(sel);
        char q[300];
        snprintf(q, sizeof q, "Delete task %lld \"%.120s\"? (y/N)", (long long)t->pending_id,
                 str_of(sel, "title"));
        ui_prompt_confirm(ui, q, on_delete, v);
        return true;
    }
    case UI_REQ_TAG: ui_prompt_line(ui, "tag: ", t->tag, on_tag, v, false); return true;
    case UI_REQ_DONE_FILTER:
        t->done = t->done == -1 ? 0 : t->done == 0 ? 1 : -1;
        v->cursor = 0;
        load(v);
        return true;
    case UI_REQ_FLOW:
    case UI_REQ_ENTER: ui_flow_open_task(ui, id_of(sel), NULL); return true;
    default: return false;
    }
}

static void tasks_filter(ui_view_t *v, const char *text)
{
    tasks_t *t = v->priv;
    snprintf(t->q, sizeof t->q, "%s", text);
    v->cursor = 0;
    load(v);
}

/* "2026-12-24T18:00:00.000Z" as local "2026-12-24 18:00". */
static void fmt_due(const char *rfc, char *out, size_t outlen)
{
    int64_t ms;
    out[0] = '\0';
    if (!rfc || !*rfc || rfc3339_parse(rfc, &ms) < 0) return;
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (localtime_r(&s, &tm)) strftime(out, outlen, "%Y-%m-%d %H:%M", &tm);
}

static void tasks_draw(ui_view_t *v, int top, int rows, int cols)
{
    tasks_t *t = v->priv;
    ui_t *ui = v->ui;
    int row = top;
    if (!ui->session.logged_in) {
        ui_draw_text(row + 1, 2, cols - 4, UI_C_WARN, "not logged in: L logs in through the gateway");
        return;
    }
    /* the line above the list: count, read source, filters */
    char filt[512];
    snprintf(filt, sizeof filt, "%s%s%s%s%s%s", t->done == 0 ? " · open" : t->done == 1 ? " · done" : "",
             t->tag[0] ? " · tag " : "", t->tag, t->q[0] ? " · \"" : "", t->q, t->q[0] ? "\"" : "");
    int c = 1;
    c += ui_draw_textf(row, c, cols - c, UI_C_VALUE, "%d task%s%s", t->n, t->n == 1 ? "" : "s",
                       t->truncated ? " (first ones only: CONSOLE_TASKS_MAX)" : "");
    if (t->source[0]) {
        c += ui_draw_text(row, c, cols - c, UI_C_DIM, " · read from ");
        c += ui_draw_text(row, c, cols - c, !strcmp(t->source, "redis") ? UI_C_OK : UI_C_WARN, t->source);
    }
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, filt);
    if (t->loading) ui_draw_text(row, c, cols - c, UI_C_DIM, " · loading…");
    row++;
    if (t->st != OPS_OK) {
        ui_draw_textf(row++, 1, cols - 2, UI_C_ERROR, "%s%s", t->err,
                      t->have ? " (the list below is the last one loaded)" : "");
    }
    ui_col_t col[] = {{"ID", 7, true, 0, 0},   {"", 1, false, 0, 0},   {"PRI", 3, true, 0, 0},
                      {"TITLE", 0, false, 0, 0}, {"TAGS", 16, false, 0, 0}, {"DUE", 16, false, 0, 0},
                      {"VER", 4, true, 0, 0}};
    ui_cols_layout(col, 7, cols - 1);
    ui_draw_heads(row++, col, 7);
    int list_rows = top + rows - row;
    v->nlines = t->n;
    if (!t->have) {
        if (t->loading) ui_draw_text(row, 2, cols - 4, UI_C_DIM, "loading…");
        return;
    }
    if (t->n == 0) {
        ui_draw_text(row, 2, cols - 4, UI_C_DIM, "no tasks here: a adds one");
        return;
    }
    int first = ui_list_scroll(v, list_rows);
    for (int r = 0; r < list_rows && first + r < t->n; r++) {
        const cJSON *task = cJSON_GetArrayItem(t->list, first + r);
        bool sel = first + r == v->cursor;
        ui_draw_select(sel);
        if (sel) ui_draw_fill(row + r, 0, cols, UI_C_DEFAULT);
        bool done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(task, "done"));
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(task, "priority");
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(task, "version");
        char tags[256] = "", due[32];
        size_t l = 0;
        const cJSON *tag;
        cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(task, "tags"))
            if (cJSON_IsString(tag) && l < sizeof tags)
                l += (size_t)snprintf(tags + l, sizeof tags - l, "%s%s", l ? "," : "", tag->valuestring);
        fmt_due(str_of(task, "due_at"), due, sizeof due);
        ui_draw_cellf(row + r, col, 0, UI_C_DIM, "%lld", (long long)id_of(task));
        ui_draw_cell(row + r, col, 1, done ? UI_C_OK : UI_C_DIM, done ? "✓" : "·");
        ui_draw_cellf(row + r, col, 2, cJSON_IsNumber(p) && p->valuedouble <= 1 ? UI_C_WARN : UI_C_DEFAULT,
                      "%d", cJSON_IsNumber(p) ? (int)p->valuedouble : 0);
        ui_draw_cell(row + r, col, 3, done ? UI_C_DIM : UI_C_DEFAULT, str_of(task, "title"));
        ui_draw_cell(row + r, col, 4, UI_C_LABEL, tags);
        ui_draw_cell(row + r, col, 5, UI_C_DEFAULT, due);
        ui_draw_cellf(row + r, col, 6, UI_C_DIM, "%d", cJSON_IsNumber(ver) ? (int)ver->valuedouble : 0);
    }
    ui_draw_select(false);
}

static void tasks_close(ui_view_t *v)
{
    tasks_t *t = v->priv;
    if (t) cJSON_Delete(t->list);
    free(t);
    v->priv = NULL;
}

const ui_view_ops_t ui_tasks_view = {
    .name = "tasks",
    .title = "Tasks",
    .number = '1',
    .open = tasks_open,
    .tick = tasks_tick,
    .draw = tasks_draw,
    .request = tasks_request,
    .filter = tasks_filter,
    .close = tasks_close,
};
