/* ui_readmodel — the Read model view: a user's Redis projection (tasks:user:U) beside what
 * PostgreSQL holds for the same tasks, with the library's drift verdict per task (ops_rm_diff:
 * missing, extra, older, newer, differs, each confirmed by a second look) highlighted. The
 * three reads run on the Redis worker; each side that fails says so where its column would be,
 * and the other side still shows. d (or Enter) shows both documents of the selected task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_rm.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_json.h"
#include "ui_work.h"

typedef struct side {
    ops_status_t st;
    char err[512];
} side_t;

typedef struct rm_row {
    int64_t id;
    const ops_rm_task_t *redis, *pg;
    const ops_drift_t *drift;
} rm_row_t;

typedef struct rmv {
    int64_t user;              /* 0: the logged-in user */
    ops_rm_user_t u;
    ops_rm_task_t *pg;
    size_t npg;
    ops_drift_t *drift;
    size_t ndrift;
    bool compared, have, loading, details;
    side_t redis, postgres, diff;
    rm_row_t *rows;
    size_t nrows;
    int64_t next, at_user;
    ui_jdoc_t doc_redis, doc_pg;
    int64_t doc_id;
} rmv_t;

typedef struct rm_job {
    ui_job_t job;
    int64_t user;
    ops_rm_user_t u;
    ops_rm_task_t *pg;
    size_t npg;
    ops_drift_t *drift;
    size_t ndrift;
    bool compared, have_u;
    side_t redis, postgres, diff;
} rm_job_t;

static void rm_run(ui_job_t *j, ui_conn_t *c)
{
    rm_job_t *r = (rm_job_t *)j;
    ops_rm_t *rm = ui_conn_rm(c, j);
    if (!rm) return;
    ops_err_t e = OPS_ERR_INIT;
    r->redis.st = ops_rm_user_read(rm, r->user, &r->u, &e);
    snprintf(r->redis.err, sizeof r->redis.err, "%s", e.msg);
    r->have_u = r->redis.st == OPS_OK;
    e = (ops_err_t)OPS_ERR_INIT;
    r->postgres.st = ops_rm_pg_tasks(rm, r->user, &r->pg, &r->npg, &e);
    snprintf(r->postgres.err, sizeof r->postgres.err, "%s", e.msg);
    if (r->redis.st == OPS_OK && r->postgres.st == OPS_OK) {
        e = (ops_err_t)OPS_ERR_INIT;
        r->diff.st = ops_rm_diff(rm, r->user, &r->drift, &r->ndrift, &r->compared, &e);
        snprintf(r->diff.err, sizeof r->diff.err, "%s", e.msg);
    } else {
        r->diff.st = OPS_FAIL;
        snprintf(r->diff.err, sizeof r->diff.err, "no comparison without both sides");
    }
    /* the job's own status is Redis's, which the status bar shows */
    j->st = r->redis.st;
    snprintf(j->err.msg, sizeof j->err.msg, "%s", r->redis.err);
}

static void rm_dtor(ui_job_t *j)
{
    rm_job_t *r = (rm_job_t *)j;
    if (r->have_u) ops_rm_user_free(&r->u);
    ops_rm_tasks_free(r->pg, r->npg);
    free(r->drift);
}

static void free_data(rmv_t *m)
{
    if (m->have) ops_rm_user_free(&m->u);
    memset(&m->u, 0, sizeof m->u);
    ops_rm_tasks_free(m->pg, m->npg);
    free(m->drift);
    free(m->rows);
    m->pg = NULL;
    m->drift = NULL;
    m->rows = NULL;
    m->npg = m->ndrift = m->nrows = 0;
}

/* Both sides merged by id, newest first (both lists are id-descending). */
static void merge(rmv_t *m)
{
    size_t cap = m->u.n + m->npg + 1;
    m->rows = calloc(cap, sizeof *m->rows);
    if (!m->rows) return;
    size_t i = 0, k = 0;
    while (i < m->u.n || k < m->npg) {
        int64_t rid = i < m->u.n ? m->u.tasks[i].id : INT64_MIN;
        int64_t pid = k < m->npg ? m->pg[k].id : INT64_MIN;
        rm_row_t *r = &m->rows[m->nrows++];
        r->id = rid > pid ? rid : pid;
        if (rid == r->id) r->redis = &m->u.tasks[i++];
        if (pid == r->id) r->pg = &m->pg[k++];
        for (size_t d = 0; d < m->ndrift; d++)
            if (m->drift[d].task_id == r->id) r->drift = &m->drift[d];
    }
}

static void rm_done(ui_job_t *j, ui_t *ui)
{
    rm_job_t *r = (rm_job_t *)j;
    rmv_t *m = j->view->priv;
    (void)ui;
    m->loading = false;
    m->next = ui_now_ms() + 3000;
    if (j->st == OPS_USAGE && !r->have_u && !r->pg) { /* not configured */
        m->redis.st = j->st;
        snprintf(m->redis.err, sizeof m->redis.err, "%s", j->err.msg);
        return;
    }
    free_data(m);
    m->u = r->u;
    m->have = r->have_u;
    r->have_u = false;
    m->pg = r->pg;
    m->npg = r->npg;
    r->pg = NULL;
    m->drift = r->drift;
    m->ndrift = r->ndrift;
    r->drift = NULL;
    m->compared = r->compared;
    m->redis = r->redis;
    m->postgres = r->postgres;
    m->diff = r->diff;
    m->at_user = r->user;
    merge(m);
    j->view->nlines = (int)m->nrows;
    m->doc_id = 0; /* the details are laid out again */
}

static int64_t user_of(ui_view_t *v)
{
    rmv_t *m = v->priv;
    return m->user ? m->user : v->ui->session.logged_in ? v->ui->session.user_id : 0;
}

static void load(ui_view_t *v)
{
    rmv_t *m = v->priv;
    int64_t user = user_of(v);
    if (m->loading || user <= 0) return;
    rm_job_t *r = ui_job_new(sizeof *r, UI_BE_REDIS, rm_run, rm_done, v);
    if (!r) return;
    r->job.dtor = rm_dtor;
    r->user = user;
    if (ui_work_submit(v->ui, &r->job)) m->loading = true;
}

static void rm_open(ui_view_t *v)
{
    v->priv = calloc(1, sizeof(rmv_t));
    if (v->priv) load(v);
}

static void rm_tick(ui_view_t *v, bool shown)
{
    rmv_t *m = v->priv;
    if (m && shown && !m->loading && ui_now_ms() >= m->next) load(v);
}

static bool rm_request(ui_view_t *v, ui_req_t req)
{
    rmv_t *m = v->priv;
    if (req == UI_REQ_REFRESH) {
        m->next = 0;
        load(v);
        return true;
    }
    if (req == UI_REQ_DETAILS || req == UI_REQ_ENTER) {
        m->details = !m->details;
        return true;
    }
    return false;
}

static bool rm_command(ui_view_t *v, int argc, char **argv)
{
    rmv_t *m = v->priv;
    if (strcmp(argv[0], "user") || argc > 2) return false;
    if (argc == 1) {
        m->user = 0; /* back to the logged-in user */
    } else {
        char *end;
        long long u = strtoll(argv[1], &end, 10);
        if (*end || u < 1) return false;
        m->user = u;
    }
    v->cursor = v->top = 0;
    m->next = 0;
    load(v);
    return true;
}

static const char *title_of(const rm_row_t *r)
{
    static char t[256];
    const char *doc = r->pg ? r->pg->doc : r->redis ? r->redis->doc : NULL;
    cJSON *j = doc ? cJSON_Parse(doc) : NULL;
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(j, "title");
    snprintf(t, sizeof t, "%s", cJSON_IsString(title) ? title->valuestring : "");
    cJSON_Delete(j);
    return t;
}

static void draw_details(ui_view_t *v, const rm_row_t *r, int top, int rows, int cols)
{
    rmv_t *m = v->priv;
    if (m->doc_id != r->id) {
        ui_json_render(&m->doc_redis, r->redis ? r->redis->doc : "(not in Redis)",
                       r->redis ? strlen(r->redis->doc) : 14, true);
        ui_json_render(&m->doc_pg, r->pg ? r->pg->doc : "(not in PostgreSQL)", r->pg ? strlen(r->pg->doc) : 19, true);
        m->doc_id = r->id;
    }
    int half = cols / 2;
    ui_draw_run(top, 0, cols, UI_C_DIM, "─");
    ui_draw_textf(top, 2, half - 4, UI_C_HEADER, " Redis: task %lld as served ", (long long)r->id);
    ui_draw_text(top, half + 2, half - 4, UI_C_HEADER, " PostgreSQL: the served fields ");
    for (int i = 0; i + 1 < rows; i++) {
        ui_json_draw_line(&m->doc_redis, (size_t)i, top + 1 + i, 1, half - 2);
        ui_json_draw_line(&m->doc_pg, (size_t)i, top + 1 + i, half + 1, cols - half - 2);
    }
}

static void rm_draw(ui_view_t *v, int top, int rows, int cols)
{
    rmv_t *m = v->priv;
    int row = top;
    int64_t user = user_of(v);
    if (user <= 0) {
        ui_draw_text(row + 1, 2, cols - 4, UI_C_WARN, "not logged in: L logs in, or :user ID shows anyone's");
        return;
    }
    if (!m->at_user && m->redis.st == OPS_OK) {
        ui_draw_textf(row, 1, cols - 2, UI_C_DIM, "reading user %lld's projection…", (long long)user);
        return;
    }
    /* Redis's side */
    int c = 1;
    c += ui_draw_textf(row, c, cols - c, UI_C_VALUE, "user %lld", (long long)m->at_user);
    c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "  Redis ");
    if (m->redis.st != OPS_OK) {
        ui_draw_text(row, c, cols - c, UI_C_ERROR, m->redis.err);
    } else if (!m->u.exists) {
        ui_draw_text(row, c, cols - c, UI_C_WARN, "no projection (built on the user's next read)");
    } else {
        c += ui_draw_textf(row, c, cols - c, m->u.built_current ? UI_C_OK : UI_C_WARN, "%zu tasks, %s",
                           m->u.n, m->u.built_current ? "built in the current epoch" : "not built in this epoch");
        ui_draw_textf(row, c, cols - c, UI_C_DIM, " (%s) · %lld tombstones", m->u.epoch, (long long)m->u.tombstones);
    }
    row++;
    c = 1 + ui_draw_text(row, 1, cols - 2, UI_C_LABEL, "PostgreSQL ");
    if (m->postgres.st != OPS_OK) ui_draw_text(row, c, cols - c, UI_C_ERROR, m->postgres.err);
    else ui_draw_textf(row, c, cols - c, UI_C_VALUE, "%zu tasks", m->npg);
    row++;
    c = 1 + ui_draw_text(row, 1, cols - 2, UI_C_LABEL, "drift ");
    if (m->diff.st != OPS_OK)
        ui_draw_text(row, c, cols - c, UI_C_DIM, m->diff.err);
    else if (!m->compared)
        ui_draw_text(row, c, cols - c, UI_C_WARN, "not compared: the projection is not built in this epoch");
    else if (m->ndrift == 0)
        ui_draw_text(row, c, cols - c, UI_C_OK, "none (compared twice, 200 ms apart)");
    else
        ui_draw_textf(row, c, cols - c, UI_C_ERROR, "%zu task%s differ%s (seen twice, 200 ms apart)",
                      m->ndrift, m->ndrift == 1 ? "" : "s", m->ndrift == 1 ? "s" : "");
    if (m->loading) ui_draw_text(row, cols - 12, 11, UI_C_DIM, "reading…");
    row++;
    ui_col_t col[] = {{"ID", 7, true, 0, 0},      {"TITLE", 0, false, 0, 0}, {"REDIS", 7, true, 0, 0},
                      {"POSTGRES", 8, true, 0, 0}, {"DRIFT", 16, false, 0, 0}};
    ui_cols_layout(col, 5, cols - 1);
    ui_draw_heads(row++, col, 5);
    int avail = top + rows - row;
    int list_rows = m->details ? avail / 2 : avail;
    int first = ui_list_scroll(v, list_rows);
    for (int r = 0; r < list_rows && (size_t)(first + r) < m->nrows; r++) {
        const rm_row_t *x = &m->rows[first + r];
        ui_draw_select(first + r == v->cursor);
        if (first + r == v->cursor) ui_draw_fill(row + r, 0, cols, UI_C_DEFAULT);
        ui_color_t dc = x->drift ? UI_C_ERROR : UI_C_DEFAULT;
        ui_draw_cellf(row + r, col, 0, UI_C_DIM, "%lld", (long long)x->id);
        ui_draw_cell(row + r, col, 1, dc, title_of(x));
        if (x->redis) ui_draw_cellf(row + r, col, 2, dc, "v%lld", (long long)x->redis->version);
        else ui_draw_cell(row + r, col, 2, m->redis.st == OPS_OK ? UI_C_ERROR : UI_C_DIM, m->redis.st == OPS_OK ? "—" : "?");
        if (x->pg) ui_draw_cellf(row + r, col, 3, UI_C_DEFAULT, "v%lld", (long long)x->pg->version);
        else ui_draw_cell(row + r, col, 3, m->postgres.st == OPS_OK ? UI_C_ERROR : UI_C_DIM, m->postgres.st == OPS_OK ? "—" : "?");
        if (x->drift)
            ui_draw_cellf(row + r, col, 4, UI_C_ERROR, "%s%s%s", ops_drift_kind_name(x->drift->kind),
                          x->drift->field[0] ? " " : "", x->drift->field);
        else
            ui_draw_cell(row + r, col, 4, m->diff.st == OPS_OK && m->compared ? UI_C_OK : UI_C_DIM,
                         m->diff.st == OPS_OK && m->compared ? "ok" : "");
    }
    ui_draw_select(false);
    if (m->details && (size_t)v->cursor < m->nrows)
        draw_details(v, &m->rows[v->cursor], row + list_rows, avail - list_rows, cols);
}

static void rm_close(ui_view_t *v)
{
    rmv_t *m = v->priv;
    if (!m) return;
    free_data(m);
    ui_json_free(&m->doc_redis);
    ui_json_free(&m->doc_pg);
    free(m);
    v->priv = NULL;
}

const ui_view_ops_t ui_readmodel_view = {
    .name = "readmodel",
    .title = "Read model",
    .number = '4',
    .open = rm_open,
    .tick = rm_tick,
    .draw = rm_draw,
    .request = rm_request,
    .command = rm_command,
    .close = rm_close,
};
