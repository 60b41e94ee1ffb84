/* ui_login — log in through the gateway (ops_api_login on the gateway's worker) in a form;
 * the saved session is used when there is one, so this view shows only when there is none or
 * it is spent. Esc goes on without a session: the operator's views (topics, outbox, traces,
 * services) need none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "ui_draw.h"
#include "ui_prompt.h"
#include "ui_work.h"

typedef struct login {
    bool busy;        /* a login or logout is on its way */
    bool dismissed;   /* Esc: no form until asked again */
    char email[256];
} login_t;

typedef struct login_job {
    ui_job_t job;
    bool logout;
    char email[256], password[1100];
    int64_t user_id;
} login_job_t;

static void login_run(ui_job_t *j, ui_conn_t *c)
{
    login_job_t *l = (login_job_t *)j;
    ops_api_t *api = ui_conn_api(c, j);
    if (!api) return;
    if (l->logout) {
        j->st = ops_api_logout(api, &j->err);
        return;
    }
    j->st = ops_api_login(api, l->email, l->password, &j->err);
    memset(l->password, 0, sizeof l->password);
    const ops_session_t *s = j->st == OPS_OK ? ops_api_session(api, &j->err) : NULL;
    if (s) l->user_id = s->user_id;
}

static void login_dtor(ui_job_t *j)
{
    memset(((login_job_t *)j)->password, 0, sizeof ((login_job_t *)j)->password);
}

static void login_done(ui_job_t *j, ui_t *ui)
{
    login_job_t *l = (login_job_t *)j;
    login_t *st = j->view->priv;
    st->busy = false;
    if (l->logout) {
        ui->session.logged_in = false;
        if (j->st == OPS_OK)
            ui_say(ui, "logged out: the refresh token is revoked and the session forgotten");
        else
            ui_error(ui, "logged out here, but: %s", j->err.msg);
        st->dismissed = false;
        ui_session_changed(ui);
        ui_show(ui, j->view);
        return;
    }
    if (j->st != OPS_OK) {
        ui_prompt_form_error(ui, j->err.msg);
        return;
    }
    ui->session.logged_in = true;
    ui->session.user_id = l->user_id;
    snprintf(ui->session.email, sizeof ui->session.email, "%s", l->email);
    ui_modal_close(ui);
    ui_say(ui, "logged in as %s (user %lld)", l->email, (long long)l->user_id);
    ui_session_changed(ui);
    ui_view_t *first = ui->opts.view ? ui_view_named(ui, ui->opts.view) : NULL;
    ui_show(ui, first ? first : ui_view_named(ui, "tasks"));
}

static void on_submit(ui_t *ui, char **values, void *arg)
{
    ui_view_t *v = arg;
    login_t *st = v->priv;
    if (st->busy) return;
    if (!values[0][0] || !values[1][0]) {
        ui_prompt_form_error(ui, "an email and a password, please");
        return;
    }
    login_job_t *l = ui_job_new(sizeof *l, UI_BE_API, login_run, login_done, v);
    if (!l) return;
    l->job.dtor = login_dtor;
    snprintf(l->email, sizeof l->email, "%s", values[0]);
    snprintf(l->password, sizeof l->password, "%s", values[1]);
    snprintf(st->email, sizeof st->email, "%s", values[0]);
    if (ui_work_submit(ui, &l->job)) {
        st->busy = true;
        ui_prompt_form_error(ui, "logging in…");
    }
}

static void on_cancel(ui_t *ui, void *arg)
{
    ui_view_t *v = arg;
    ((login_t *)v->priv)->dismissed = true;
    ui_say(ui, "not logged in: L logs in; Topics, Outbox, Traces and Services need no session");
    ui_show(ui, ui_view_named(ui, "tasks"));
}

static void show_form(ui_view_t *v)
{
    login_t *st = v->priv;
    ui_field_t f[] = {{"Email", st->email, false}, {"Password", "", true}};
    ui_prompt_form(v->ui, "Log in through the gateway", f, 2, on_submit, on_cancel, v);
}

static void login_open(ui_view_t *v)
{
    v->priv = calloc(1, sizeof(login_t));
}

static void login_tick(ui_view_t *v, bool shown)
{
    login_t *st = v->priv;
    if (!st) return;
    if (!shown) {
        st->dismissed = false; /* coming back (L, a spent session) asks again */
        return;
    }
    if (!ui_modal_active(v->ui) && !st->busy && !st->dismissed) show_form(v);
}

static void login_draw(ui_view_t *v, int top, int rows, int cols)
{
    ui_t *ui = v->ui;
    const char *gw = ops_cfg_get(ui->cfg, OPS_GATEWAY_URL);
    ui_draw_text(top + 1, 2, cols - 4, UI_C_HEADER, "todo-console");
    ui_draw_textf(top + 2, 2, cols - 4, UI_C_DIM, "gateway: %s", gw ? gw : "GATEWAY_URL is not set");
    if (ui->session.logged_in)
        ui_draw_textf(top + 3, 2, cols - 4, UI_C_DIM, "logged in as %s; log in again as someone else, or Esc",
                      ui->session.email);
    ui_draw_text(top + rows - 2, 2, cols - 4, UI_C_DIM,
                 "Esc: go on without a session (Topics, Outbox, Traces, Services need none) · Q quits");
}

static bool login_command(ui_view_t *v, int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "logout")) return false;
    login_t *st = v->priv;
    if (!v->ui->session.logged_in) {
        ui_error(v->ui, "not logged in");
        return true;
    }
    login_job_t *l = ui_job_new(sizeof *l, UI_BE_API, login_run, login_done, v);
    if (!l) return true;
    l->logout = true;
    if (ui_work_submit(v->ui, &l->job)) st->busy = true;
    return true;
}

static void login_close(ui_view_t *v)
{
    free(v->priv);
    v->priv = NULL;
}

const ui_view_ops_t ui_login_view = {
    .name = "login",
    .title = "Login",
    .open = login_open,
    .tick = login_tick,
    .draw = login_draw,
    .command = login_command,
    .close = login_close,
};
