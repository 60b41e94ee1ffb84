/* ui_main — the console's loop: settings, the view table, keys to actions, the title and
 * status bars, and the frame; see ui.h. */
#include "ui.h"

#include <curses.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops_session.h"
#include "trace.h"
#include "ui_draw.h"
#include "ui_prompt.h"
#include "ui_script.h"
#include "ui_term.h"
#include "ui_work.h"

/* The views, in the order of their number keys; login and help have none. */
static const ui_view_ops_t *const view_table[] = {
    &ui_login_view,    &ui_tasks_view,    &ui_topics_view, &ui_outbox_view, &ui_readmodel_view,
    &ui_traces_view,   &ui_services_view, &ui_notify_view, &ui_flow_view,   &ui_help_view,
};
#define NVIEWS (sizeof view_table / sizeof view_table[0])

/* The console's own settings: environment, then the config file (ops_cfg_setting). */
static const struct {
    const char *name;
    long def, min, max;
    size_t off;
    const char *help;
} settings[] = {
    {"CONSOLE_TAIL_MESSAGES", 50000, 100, 10000000, offsetof(ui_limits_t, tail_messages),
     "messages the Topics view keeps (the oldest are dropped)"},
    {"CONSOLE_TAIL_MB", 12, 1, 65536, offsetof(ui_limits_t, tail_mb),
     "megabytes of message data the Topics view keeps"},
    {"CONSOLE_TASKS_MAX", 1000, 10, 100000, offsetof(ui_limits_t, tasks_max),
     "tasks the Tasks view loads (pages are followed up to this)"},
};

int64_t ui_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int load_limits(ui_t *ui, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        long *slot = (long *)((char *)&ui->limits + settings[i].off);
        *slot = settings[i].def;
        const char *v = ops_cfg_setting(ui->cfg, settings[i].name);
        if (!v) continue;
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < settings[i].min || x > settings[i].max) {
            snprintf(err, errlen, "%s: '%.40s' is not an integer from %ld to %ld (%s)",
                     settings[i].name, v, settings[i].min, settings[i].max, settings[i].help);
            return -1;
        }
        *slot = x;
    }
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------ */

static void vsay(ui_t *ui, bool error, const char *fmt, va_list ap)
{
    vsnprintf(ui->msg, sizeof ui->msg, fmt, ap);
    ui->msg_error = error;
    ui->msg_until = ui_now_ms() + (error ? 10000 : 6000);
    ui->dirty = true;
}

void ui_say(ui_t *ui, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(ui, false, fmt, ap);
    va_end(ap);
}

void ui_error(ui_t *ui, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(ui, true, fmt, ap);
    va_end(ap);
}

bool ui_refuse_write(ui_t *ui, const char *what)
{
    if (!ui->opts.readonly) return false;
    ui_error(ui, "read-only console (--readonly): %s is not allowed", what);
    return true;
}

/* ---- views --------------------------------------------------------------------------------- */

ui_view_t *ui_view_named(ui_t *ui, const char *name)
{
    for (size_t i = 0; name && i < ui->nviews; i++)
        if (!strcmp(ui->views[i].ops->name, name)) return &ui->views[i];
    return NULL;
}

ui_view_t *ui_current(ui_t *ui)
{
    return ui->cur;
}

static void open_view(ui_view_t *v)
{
    if (v->opened) return;
    v->opened = true;
    if (v->ops->open) v->ops->open(v);
}

void ui_show(ui_t *ui, ui_view_t *v)
{
    if (!v || v == ui->cur) return;
    /* the login form and the help are not places to come back to */
    if (ui->cur && strcmp(ui->cur->ops->name, "login") && strcmp(ui->cur->ops->name, "help")) {
        if (ui->nhistory == sizeof ui->history / sizeof ui->history[0]) {
            memmove(ui->history, ui->history + 1, (ui->nhistory - 1) * sizeof ui->history[0]);
            ui->nhistory--;
        }
        ui->history[ui->nhistory++] = ui->cur;
    }
    ui->cur = v;
    open_view(v);
    ui->dirty = true;
}

static void go_back(ui_t *ui)
{
    while (ui->nhistory) {
        ui_view_t *v = ui->history[--ui->nhistory];
        if (v != ui->cur) {
            ui->cur = v;
            ui->dirty = true;
            return;
        }
    }
    ui->quit = true;
}

void ui_session_changed(ui_t *ui)
{
    static const char *const mine[] = {"tasks", "notifications", "readmodel"};
    for (size_t i = 0; i < 3; i++) {
        ui_view_t *v = ui_view_named(ui, mine[i]);
        if (v && v->opened && v->ops->request) v->ops->request(v, UI_REQ_REFRESH);
    }
    ui->dirty = true;
}

/* ---- lists --------------------------------------------------------------------------------- */

void ui_list_move(ui_view_t *v, ui_req_t req)
{
    int page = v->page > 1 ? v->page - 1 : 1;
    switch (req) {
    case UI_REQ_UP: v->cursor--; break;
    case UI_REQ_DOWN: v->cursor++; break;
    case UI_REQ_PAGE_UP: v->cursor -= page; v->top -= page; break;
    case UI_REQ_PAGE_DOWN: v->cursor += page; v->top += page; break;
    case UI_REQ_HOME: v->cursor = 0; break;
    case UI_REQ_END: v->cursor = v->nlines - 1; break;
    default: return;
    }
    if (v->cursor >= v->nlines) v->cursor = v->nlines - 1;
    if (v->cursor < 0) v->cursor = 0;
    v->ui->dirty = true;
}

int ui_list_scroll(ui_view_t *v, int rows)
{
    v->page = rows > 0 ? rows : 1;
    if (v->cursor >= v->nlines) v->cursor = v->nlines - 1;
    if (v->cursor < 0) v->cursor = 0;
    if (v->top > v->cursor) v->top = v->cursor;
    if (v->cursor >= v->top + v->page) v->top = v->cursor - v->page + 1;
    if (v->top > v->nlines - v->page) v->top = v->nlines - v->page;
    if (v->top < 0) v->top = 0;
    return v->top;
}

/* ---- actions ------------------------------------------------------------------------------- */

static void on_command(ui_t *ui, const char *text, void *arg)
{
    (void)arg;
    ui_command(ui, text);
}

static void on_filter(ui_t *ui, const char *text, void *arg)
{
    ui_view_t *v = arg;
    snprintf(v->filter, sizeof v->filter, "%s", text);
    v->ops->filter(v, text);
    ui->dirty = true;
}

void ui_dispatch(ui_t *ui, ui_req_t req)
{
    const ui_action_t *a = ui_action(req);
    ui_view_t *v = ui->cur;
    if (!a) return;
    if ((a->flags & UI_ACT_WRITES) && ui_refuse_write(ui, a->name)) return;
    ui->dirty = true;
    switch (req) {
    case UI_REQ_QUIT: ui->quit = true; return;
    case UI_REQ_HELP: ui_show(ui, ui_view_named(ui, "help")); return;
    case UI_REQ_PROMPT: ui_prompt_line(ui, ":", "", on_command, NULL, true); return;
    case UI_REQ_LOGIN: ui_show(ui, ui_view_named(ui, "login")); return;
    case UI_REQ_VIEW_TASKS: ui_show(ui, ui_view_named(ui, "tasks")); return;
    case UI_REQ_VIEW_TOPICS: ui_show(ui, ui_view_named(ui, "topics")); return;
    case UI_REQ_VIEW_OUTBOX: ui_show(ui, ui_view_named(ui, "outbox")); return;
    case UI_REQ_VIEW_READMODEL: ui_show(ui, ui_view_named(ui, "readmodel")); return;
    case UI_REQ_VIEW_TRACES: ui_show(ui, ui_view_named(ui, "traces")); return;
    case UI_REQ_VIEW_SERVICES: ui_show(ui, ui_view_named(ui, "services")); return;
    case UI_REQ_VIEW_NOTIFICATIONS: ui_show(ui, ui_view_named(ui, "notifications")); return;
    case UI_REQ_VIEW_FLOW: ui_show(ui, ui_view_named(ui, "flow")); return;
    case UI_REQ_KAFKA: ui_kafka_toggle(ui); return;
    default: break;
    }
    if (v->ops->request && v->ops->request(v, req)) return;
    switch (req) {
    case UI_REQ_BACK: go_back(ui); return;
    case UI_REQ_FILTER:
        if (!v->ops->filter) {
            ui_error(ui, "the %s view has no filter", v->ops->title);
            return;
        }
        ui_prompt_line(ui, "/", v->filter, on_filter, v, false);
        return;
    case UI_REQ_UP: case UI_REQ_DOWN: case UI_REQ_PAGE_UP: case UI_REQ_PAGE_DOWN:
    case UI_REQ_HOME: case UI_REQ_END:
        ui_list_move(v, req);
        return;
    case UI_REQ_REFRESH: case UI_REQ_ENTER: return;
    default:
        ui_say(ui, "%s does nothing in the %s view (? lists its keys)", a->name, v->ops->title);
    }
}

static void on_key(ui_t *ui, int key)
{
    if (key == UI_KEY_FN + KEY_RESIZE) {
        ui_term_size(&ui->rows, &ui->cols);
        ui_draw_clear();
        ui->dirty = true;
        return;
    }
    if (ui_modal_key(ui, key)) return;
    ui_req_t req = ui_keys_lookup(ui, ui->cur->ops->name, key);
    if (req == UI_REQ_NONE) {
        char name[32];
        ui_key_name(key, name, sizeof name);
        ui_say(ui, "%s: no action in the %s view (? lists the keys)", name, ui->cur->ops->title);
        return;
    }
    ui_dispatch(ui, req);
}

/* ---- the frame ----------------------------------------------------------------------------- */

static void draw_title(ui_t *ui)
{
    ui_draw_fill(0, 0, ui->cols, UI_C_TITLE);
    /* the full titles when they fit, else the short names */
    int need = 0;
    for (size_t i = 0; i < ui->nviews; i++)
        if (ui->views[i].ops->number) need += 3 + ui_text_width(ui->views[i].ops->title);
    bool full = need + 14 <= ui->cols;
    int col = 0;
    if (full) col += ui_draw_text(0, 0, 14, UI_C_TITLE, " todo-console ");
    for (size_t i = 0; i < ui->nviews; i++) {
        const ui_view_ops_t *o = ui->views[i].ops;
        if (!o->number) continue;
        bool sel = &ui->views[i] == ui->cur;
        char t[64];
        snprintf(t, sizeof t, "%c %s", o->number, full ? o->title : o->name);
        if (col) col++;
        col += ui_draw_text(0, col, ui->cols - col, sel ? UI_C_TITLE_SEL : UI_C_TITLE, t);
    }
    const char *who = ui->session.logged_in ? ui->session.email : "not logged in";
    int ww = ui_text_width(who);
    if (col + 3 + ww <= ui->cols) ui_draw_text(0, ui->cols - ww - 1, ww, UI_C_TITLE, who);
}

static void draw_status(ui_t *ui, int row)
{
    ui_draw_fill(row, 0, ui->cols, UI_C_STATUS);
    static const ui_backend_t shown[] = {UI_BE_API, UI_BE_DB, UI_BE_REDIS, UI_BE_KAFKA, UI_BE_JAEGER};
    int right = 0;
    for (size_t i = 0; i < 5; i++) right += ui_text_width(ui_backend_name(shown[i])) + 2;
    if (ui->opts.readonly) right += 10;
    int col = ui->cols - right;
    if (ui->opts.readonly) col += ui_draw_text(row, col, 10, UI_C_WARN, "READ-ONLY ");
    for (size_t i = 0; i < 5; i++) {
        const ui_be_state_t *b = &ui->be[shown[i]];
        const char *mark = !b->known ? "·" : b->down ? "✗" : "✓";
        col += ui_draw_textf(row, col, ui->cols - col, !b->known ? UI_C_STATUS : b->down ? UI_C_ERROR : UI_C_STATUS,
                             "%s%s ", ui_backend_name(shown[i]), mark);
    }
    int room = ui->cols - right - 2;
    if (ui->msg[0] && ui_now_ms() < ui->msg_until)
        ui_draw_text(row, 1, room, ui->msg_error ? UI_C_ERROR : UI_C_STATUS, ui->msg);
    else
        ui_draw_textf(row, 1, room, UI_C_STATUS, "%s · ? help · : command · q back",
                      ui->cur->ops->title);
}

static void draw_frame(ui_t *ui)
{
    ui_term_size(&ui->rows, &ui->cols);
    ui_draw_clear();
    ui_draw_select(false);
    if (ui->rows < 24 || ui->cols < 80) {
        ui_draw_textf(0, 0, ui->cols, UI_C_WARN, "todo-console needs at least 80×24");
        ui_draw_textf(1, 0, ui->cols, UI_C_DIM, "this terminal is %d×%d", ui->cols, ui->rows);
        ui_draw_caret(-1, 0);
        return;
    }
    draw_title(ui);
    ui->cur->ops->draw(ui->cur, 1, ui->rows - 2, ui->cols);
    ui_draw_select(false);
    draw_status(ui, ui->rows - 1);
    if (ui->msg[0] && ui_now_ms() >= ui->msg_until) ui->msg[0] = '\0';
    if (ui->modal)
        ui_modal_draw(ui, ui->rows, ui->cols);
    else
        ui_draw_caret(-1, 0);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void tick_views(ui_t *ui)
{
    for (size_t i = 0; i < ui->nviews; i++) {
        ui_view_t *v = &ui->views[i];
        if (v->opened && v->ops->tick) v->ops->tick(v, v == ui->cur);
    }
}

static int run(ui_t *ui)
{
    int64_t last_draw = 0;
    bool urgent = true;
    while (!ui->quit) {
        /* a job's result (an answer the operator asked for) is drawn at once, as a key is */
        if (ui_work_drain(ui) > 0) urgent = true;
        tick_views(ui);
        int64_t now = ui_now_ms();
        /* tail messages may arrive thousands of times a second: draw at most every 33 ms for
         * them, but at once after a key or a job's result */
        if (ui->dirty && (urgent || now - last_draw >= 33)) {
            draw_frame(ui);
            ui_term_flush();
            if (ui->script) ui_script_frame(ui);
            ui->dirty = false;
            urgent = false;
            last_draw = now;
        }
        if (ui->msg[0] && now >= ui->msg_until) ui->dirty = true;
        int timeout = ui->dirty ? (int)(33 - (now - last_draw)) : 250;
        if (timeout < 0) timeout = 0;
        if (ui->script) {
            int wait = 50;
            int k = ui_script_step(ui, &wait);
            if (k == UI_SCRIPT_END) break;
            if (k == UI_SCRIPT_FAIL) {
                ui->exit_code = 1;
                break;
            }
            if (k >= 0) {
                on_key(ui, k);
                urgent = true;
                continue;
            }
            if (wait < timeout) timeout = wait;
            struct pollfd p = {ui_work_fd(ui), POLLIN, 0};
            poll(&p, ui->dirty ? 0 : 1, timeout);
            continue;
        }
        /* a frame is due anyway: results that arrive meanwhile wait for it (a busy tail would
         * otherwise wake this loop for every message) */
        struct pollfd p[2] = {{ui_term_fd(), POLLIN, 0}, {ui_work_fd(ui), POLLIN, 0}};
        poll(p, ui->dirty ? 1 : 2, timeout); /* EINTR (SIGWINCH) is fine: KEY_RESIZE follows */
        int k;
        while ((k = ui_term_key()) >= 0) {
            on_key(ui, k);
            urgent = true;
            if (ui->quit) break;
        }
    }
    return ui->exit_code;
}

void ui_auth_lost(ui_t *ui, const char *why)
{
    if (!ui->session.logged_in && ui->cur && !strcmp(ui->cur->ops->name, "login")) return;
    ui->session.logged_in = false;
    ui_error(ui, "%s", why && *why ? why : "not logged in");
    ui_show(ui, ui_view_named(ui, "login"));
}

int ui_main(ops_cfg_t *cfg, const ui_opts_t *opts)
{
    ui_t *ui = calloc(1, sizeof *ui);
    ui_view_t *views = calloc(NVIEWS, sizeof *views);
    if (!ui || !views) {
        fprintf(stderr, "todo-console: out of memory\n");
        free(ui);
        free(views);
        return 1;
    }
    ui->cfg = cfg;
    ui->opts = *opts;
    ui->views = views;
    ui->nviews = NVIEWS;
    for (size_t i = 0; i < NVIEWS; i++) {
        views[i].ops = view_table[i];
        views[i].ui = ui;
    }
    char err[512];
    int rc = 0;
    if (load_limits(ui, err, sizeof err) < 0 || ui_keys_load(ui, err, sizeof err) < 0 ||
        (opts->script && ui_script_open(ui, opts->script, err, sizeof err) < 0)) {
        fprintf(stderr, "todo-console: error: %s\n", err);
        rc = 2;
        goto out;
    }
    ui_view_t *first = opts->view ? ui_view_named(ui, opts->view) : NULL;
    if (opts->view && (!first || !strcmp(opts->view, "help") || !strcmp(opts->view, "login"))) {
        fprintf(stderr, "todo-console: error: --view: no view '%s' (tasks, topics, outbox, "
                        "readmodel, traces, services, notifications, flow)\n", opts->view);
        rc = 2;
        goto out;
    }
    /* the saved session, if it is for this gateway; a spent one shows when a call fails */
    ops_session_t s;
    ops_err_t e = OPS_ERR_INIT;
    if (ops_session_load(cfg->state_dir, ops_cfg_get(cfg, OPS_GATEWAY_URL), &s, &e) == OPS_OK) {
        ui->session.logged_in = true;
        ui->session.user_id = s.user_id;
        snprintf(ui->session.email, sizeof ui->session.email, "%s", s.email);
    }
    memset(&s, 0, sizeof s); /* tokens do not linger on this stack */
    /* requests made from the console start their traces here (service todo-console) */
    const char *otlp = ops_cfg_get(cfg, OPS_OTLP_ENDPOINT);
    bool exporting = otlp && trace_exporter_start("todo-console", otlp, err, sizeof err) == 0;
    if (ui_term_open(opts->script != NULL, err, sizeof err) < 0) {
        fprintf(stderr, "todo-console: error: %s\n", err);
        rc = 1;
        if (exporting) trace_exporter_stop();
        goto out;
    }
    const char *nc = getenv("NO_COLOR"); /* https://no-color.org: set and not empty */
    ui->color = !(nc && *nc);
    ui_draw_init(ui->color);
    ui_term_size(&ui->rows, &ui->cols);
    if (ui_work_start(ui) < 0) {
        ui_term_close();
        fprintf(stderr, "todo-console: error: cannot start the worker threads\n");
        rc = 1;
        if (exporting) trace_exporter_stop();
        goto out;
    }
    /* the Services view's health checks feed the status bar from the start, and the Outbox
     * view samples from the start, so its history is there when it is opened */
    open_view(ui_view_named(ui, "services"));
    open_view(ui_view_named(ui, "outbox"));
    ui_show(ui, ui->session.logged_in || first ? (first ? first : ui_view_named(ui, "tasks"))
                                               : ui_view_named(ui, "login"));
    rc = run(ui);
    ui_modal_close(ui);
    ui_work_stop(ui);
    /* views stop their own threads (the Topics view's tails) while the wake pipe still exists */
    for (size_t i = 0; i < ui->nviews; i++)
        if (views[i].opened && views[i].ops->close) views[i].ops->close(&views[i]);
    ui_work_free(ui);
    ui_term_close();
    if (exporting) {
        trace_exporter_flush(1500);
        trace_exporter_stop();
    }
out:
    ui_keys_free(ui);
    ui_script_close(ui);
    for (size_t i = 0; i < ui->ntopics; i++) free(ui->topic_names[i]);
    free(views);
    free(ui);
    return rc;
}
