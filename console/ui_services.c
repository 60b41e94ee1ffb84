/* ui_services — the Services view: health and readiness of every part and the key figures of
 * each service's /metrics (ops_health), checked on the health worker every few seconds. Its
 * results also feed the status bar's backend marks, so it is opened at start-up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_health.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_work.h"

typedef struct svc {
    ops_part_t parts[OPS_PARTS_MAX];
    size_t n;
    bool loading, have;
    int64_t next, at;
} svc_t;

typedef struct health_job {
    ui_job_t job;
    ops_part_t parts[OPS_PARTS_MAX];
    size_t n;
} health_job_t;

static void health_run(ui_job_t *j, ui_conn_t *c)
{
    health_job_t *h = (health_job_t *)j;
    h->n = ops_health_check(c->cfg, h->parts, OPS_PARTS_MAX);
    j->st = OPS_OK;
}

/* Which status-bar backend a part is. */
static int backend_of(const char *part)
{
    static const struct { const char *part; ui_backend_t be; } map[] = {
        {"gateway", UI_BE_API}, {"postgres", UI_BE_DB}, {"redis", UI_BE_REDIS},
        {"kafka", UI_BE_KAFKA}, {"jaeger", UI_BE_JAEGER},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].part, part)) return (int)map[i].be;
    return -1;
}

static void health_done(ui_job_t *j, ui_t *ui)
{
    health_job_t *h = (health_job_t *)j;
    svc_t *s = j->view->priv;
    memcpy(s->parts, h->parts, sizeof s->parts);
    s->n = h->n;
    s->have = true;
    s->loading = false;
    s->at = ui_now_ms();
    for (size_t i = 0; i < h->n; i++) {
        int be = backend_of(h->parts[i].name);
        if (be < 0) continue;
        ui_be_state_t *b = &ui->be[be];
        b->known = h->parts[i].configured;
        b->down = h->parts[i].configured && !h->parts[i].ready && !h->parts[i].alive;
        snprintf(b->msg, sizeof b->msg, "%s", b->down ? h->parts[i].detail : "");
    }
}

static void check(ui_view_t *v)
{
    svc_t *s = v->priv;
    if (s->loading) return;
    health_job_t *h = ui_job_new(sizeof *h, UI_BE_HEALTH, health_run, health_done, v);
    if (h && ui_work_submit(v->ui, &h->job)) s->loading = true;
}

static void svc_open(ui_view_t *v)
{
    v->priv = calloc(1, sizeof(svc_t));
    if (v->priv) check(v);
}

static void svc_tick(ui_view_t *v, bool shown)
{
    svc_t *s = v->priv;
    if (!s || s->loading) return;
    int64_t now = ui_now_ms();
    if (!s->next) s->next = now + (shown ? 2000 : 5000);
    if (now >= s->next) {
        s->next = 0;
        check(v);
    }
}

static bool svc_request(ui_view_t *v, ui_req_t req)
{
    if (req != UI_REQ_REFRESH) return false;
    svc_t *s = v->priv;
    if (s) s->next = 0;
    if (s && !s->loading) check(v);
    return true;
}

static void svc_draw(ui_view_t *v, int top, int rows, int cols)
{
    svc_t *s = v->priv;
    int row = top;
    if (!s || !s->have) {
        ui_draw_text(row, 1, cols - 2, UI_C_DIM, "checking every part (at most 2 s each)…");
        return;
    }
    ui_draw_textf(row++, 1, cols - 2, UI_C_DIM, "health and readiness of every part, checked %.1f s ago%s",
                  (double)(ui_now_ms() - s->at) / 1000.0, s->loading ? " (checking…)" : "");
    ui_col_t c[] = {{"PART", 21, false, 0, 0}, {"STATE", 13, false, 0, 0}, {"LATENCY", 8, true, 0, 0},
                    {"ADDRESS", 0, false, 0, 0}, {"DETAIL", 0, false, 0, 0}};
    ui_cols_layout(c, 5, cols - 2);
    for (int i = 0; i < 5; i++) c[i].x += 1;
    ui_draw_heads(row++, c, 5);
    int end = top + rows;
    for (size_t i = 0; i < s->n && row < end; i++) {
        const ops_part_t *p = &s->parts[i];
        const char *state = !p->configured ? "not set" : p->ready ? "ready" : p->alive ? "alive, not ready" : "down";
        ui_color_t sc = !p->configured ? UI_C_DIM : p->ready ? UI_C_OK : p->alive ? UI_C_WARN : UI_C_ERROR;
        ui_draw_cell(row, c, 0, UI_C_VALUE, p->name);
        ui_draw_cell(row, c, 1, sc, state);
        if (p->configured) ui_draw_cellf(row, c, 2, UI_C_DEFAULT, "%ldms", p->latency_ms);
        ui_draw_cell(row, c, 3, UI_C_DIM, p->address);
        ui_draw_cell(row, c, 4, sc == UI_C_OK ? UI_C_DEFAULT : sc, p->detail);
        row++;
        if (p->nfigures && row < end) {
            char line[512];
            size_t l = 0;
            for (size_t f = 0; f < p->nfigures && l < sizeof line; f++) {
                double x = p->figures[f].value;
                if (x == (double)(long long)x)
                    l += (size_t)snprintf(line + l, sizeof line - l, "%s%s %lld", f ? " · " : "",
                                          p->figures[f].name, (long long)x);
                else
                    l += (size_t)snprintf(line + l, sizeof line - l, "%s%s %.2f", f ? " · " : "",
                                          p->figures[f].name, x);
            }
            ui_draw_text(row++, c[1].x, cols - c[1].x - 1, UI_C_LABEL, line);
        }
    }
    if (row + 1 < end)
        ui_draw_text(row + 1, 1, cols - 2, UI_C_DIM,
                     v->ui->opts.readonly ? "read-only: the stack's parts cannot be stopped from here"
                                          : "K stops or starts the local stack's Kafka (asks first); "
                                            ":stack stop|start|restart PART");
}

static void svc_close(ui_view_t *v)
{
    free(v->priv);
    v->priv = NULL;
}

const ui_view_ops_t ui_services_view = {
    .name = "services",
    .title = "Services",
    .number = '6',
    .open = svc_open,
    .tick = svc_tick,
    .draw = svc_draw,
    .request = svc_request,
    .close = svc_close,
};
