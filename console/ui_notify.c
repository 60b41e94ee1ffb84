/* ui_notify — the Notifications view: the logged-in user's notifications through the gateway,
 * newest first (the first pages, up to 500), marked read with m; Enter follows the event that
 * made one in the Flow view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_api.h"
#include "rfc3339.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_work.h"

#define NOTIFY_MAX 500

typedef struct notify {
    cJSON *list;
    int n;
    bool loading, have;
    ops_status_t st;
    char err[512];
    int64_t next;
} notify_t;

typedef struct nlist_job {
    ui_job_t job;
    cJSON *list;
    char read_id[32]; /* mark this one read first */
} nlist_job_t;

static void nlist_run(ui_job_t *j, ui_conn_t *c)
{
    nlist_job_t *l = (nlist_job_t *)j;
    ops_api_t *api = ui_conn_api(c, j);
    if (!api) return;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    if (l->read_id[0]) {
        j->st = ops_api_notification_read(api, l->read_id, &r, &j->err);
        ops_api_resp_free(&r);
        if (j->st != OPS_OK) return;
    }
    l->list = cJSON_CreateArray();
    char cursor[128] = "";
    for (;;) {
        j->st = ops_api_notifications(api, 100, cursor[0] ? cursor : NULL, &r, &j->err);
        if (j->st != OPS_OK) break;
        cJSON *page = cJSON_GetObjectItemCaseSensitive(r.json, "notifications"), *n;
        while (page && cJSON_GetArraySize(l->list) < NOTIFY_MAX && (n = cJSON_DetachItemFromArray(page, 0)))
            cJSON_AddItemToArray(l->list, n);
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(r.json, "next_cursor");
        bool more = cJSON_IsString(next) && next->valuestring[0] && cJSON_GetArraySize(l->list) < NOTIFY_MAX;
        if (more) snprintf(cursor, sizeof cursor, "%s", next->valuestring);
        ops_api_resp_free(&r);
        if (!more) break;
    }
    ops_api_resp_free(&r);
}

static void nlist_dtor(ui_job_t *j)
{
    cJSON_Delete(((nlist_job_t *)j)->list);
}

static void nlist_done(ui_job_t *j, ui_t *ui)
{
    nlist_job_t *l = (nlist_job_t *)j;
    notify_t *s = j->view->priv;
    s->loading = false;
    s->st = j->st;
    snprintf(s->err, sizeof s->err, "%s", j->err.msg);
    s->next = ui_now_ms() + 5000;
    if (j->st == OPS_AUTH) {
        ui_auth_lost(ui, j->err.msg);
        return;
    }
    if (l->read_id[0] && j->st == OPS_OK) ui_say(ui, "notification %s marked read", l->read_id);
    if (!l->list || j->st != OPS_OK) return;
    cJSON_Delete(s->list);
    s->list = l->list;
    l->list = NULL;
    s->n = cJSON_GetArraySize(s->list);
    s->have = true;
    j->view->nlines = s->n;
}

static void load(ui_view_t *v, const char *read_id)
{
    notify_t *s = v->priv;
    if (s->loading || !v->ui->session.logged_in) return;
    nlist_job_t *l = ui_job_new(sizeof *l, UI_BE_API, nlist_run, nlist_done, v);
    if (!l) return;
    l->job.dtor = nlist_dtor;
    if (read_id) snprintf(l->read_id, sizeof l->read_id, "%s", read_id);
    if (ui_work_submit(v->ui, &l->job)) s->loading = true;
}

static void notify_open(ui_view_t *v)
{
    v->priv = calloc(1, sizeof(notify_t));
    if (v->priv) load(v, NULL);
}

static void notify_tick(ui_view_t *v, bool shown)
{
    notify_t *s = v->priv;
    if (s && shown && !s->loading && ui_now_ms() >= s->next) load(v, NULL);
}

static const cJSON *sel_of(ui_view_t *v)
{
    notify_t *s = v->priv;
    return s->list && v->cursor < s->n ? cJSON_GetArrayItem(s->list, v->cursor) : NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static bool notify_request(ui_view_t *v, ui_req_t req)
{
    notify_t *s = v->priv;
    const cJSON *sel = sel_of(v);
    switch (req) {
    case UI_REQ_REFRESH:
        if (!v->ui->session.logged_in) {
            cJSON_Delete(s->list);
            s->list = NULL;
            s->n = v->nlines = 0;
            s->have = false;
        }
        load(v, NULL);
        return true;
    case UI_REQ_MARK_READ: {
        if (!sel) return true;
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)num(sel, "id"));
        load(v, id);
        return true;
    }
    case UI_REQ_FLOW:
    case UI_REQ_ENTER:
        if (sel) ui_flow_open_task(v->ui, (int64_t)num(sel, "task_id"), str(sel, "event_id"));
        return true;
    default: return false;
    }
}

static void notify_draw(ui_view_t *v, int top, int rows, int cols)
{
    notify_t *s = v->priv;
    int row = top;
    if (!v->ui->session.logged_in) {
        ui_draw_text(row + 1, 2, cols - 4, UI_C_WARN, "not logged in: L logs in through the gateway");
        return;
    }
    int unread = 0;
    for (int i = 0; i < s->n; i++) unread += !str(cJSON_GetArrayItem(s->list, i), "read_at")[0];
    ui_draw_textf(row++, 1, cols - 2, UI_C_VALUE, "%d notification%s, %d unread%s", s->n,
                  s->n == 1 ? "" : "s", unread, s->loading ? " · loading…" : "");
    if (s->st != OPS_OK) ui_draw_text(row++, 1, cols - 2, UI_C_ERROR, s->err);
    ui_col_t c[] = {{"ID", 7, true, 0, 0},   {"KIND", 18, false, 0, 0}, {"TASK", 7, true, 0, 0},
                    {"CREATED", 12, false, 0, 0}, {"TITLE", 0, false, 0, 0}, {"BODY", 0, false, 0, 0}};
    ui_cols_layout(c, 6, cols - 1);
    ui_draw_heads(row++, c, 6);
    int list_rows = top + rows - row;
    if (s->have && s->n == 0) ui_draw_text(row, 2, cols - 4, UI_C_DIM, "no notifications yet (completing a task makes one)");
    int first = ui_list_scroll(v, list_rows);
    for (int r = 0; r < list_rows && first + r < s->n; r++) {
        const cJSON *n = cJSON_GetArrayItem(s->list, first + r);
        bool unread_one = !str(n, "read_at")[0];
        ui_draw_select(first + r == v->cursor);
        if (first + r == v->cursor) ui_draw_fill(row + r, 0, cols, UI_C_DEFAULT);
        int64_t ms;
        char when[16] = "";
        if (rfc3339_parse(str(n, "created_at"), &ms) == 0) ui_fmt_clock(ms, when, sizeof when);
        ui_draw_cellf(row + r, c, 0, UI_C_DIM, "%lld", (long long)num(n, "id"));
        ui_draw_cell(row + r, c, 1, unread_one ? UI_C_WARN : UI_C_DIM, str(n, "kind"));
        ui_draw_cellf(row + r, c, 2, UI_C_DIM, "%lld", (long long)num(n, "task_id"));
        ui_draw_cell(row + r, c, 3, UI_C_DEFAULT, when);
        ui_draw_cell(row + r, c, 4, unread_one ? UI_C_VALUE : UI_C_DEFAULT, str(n, "title"));
        ui_draw_cell(row + r, c, 5, UI_C_DIM, str(n, "body"));
    }
    ui_draw_select(false);
}

static void notify_close(ui_view_t *v)
{
    notify_t *s = v->priv;
    if (s) cJSON_Delete(s->list);
    free(s);
    v->priv = NULL;
}

const ui_view_ops_t ui_notify_view = {
    .name = "notifications",
    .title = "Notifications",
    .number = '7',
    .open = notify_open,
    .tick = notify_tick,
    .draw = notify_draw,
    .request = notify_request,
    .close = notify_close,
};
