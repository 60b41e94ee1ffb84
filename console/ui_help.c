/* ui_help — the help screen, printed from the live key maps and the action and command
 * tables: what each key does in the view the operator came from, and everywhere. */
#include <stdio.h>
#include <string.h>

#include "ui.h"
#include "ui_draw.h"

typedef struct hline {
    char key[80], name[32], help[160];
    ui_color_t color;
    bool heading;
} hline_t;

typedef struct help {
    hline_t l[160];
    int n;
} help_t;

static help_t H;

static void heading(help_t *h, const char *text)
{
    if (h->n >= 160) return;
    hline_t *l = &h->l[h->n++];
    memset(l, 0, sizeof *l);
    snprintf(l->help, sizeof l->help, "%s", text);
    l->heading = true;
}

static void entry(help_t *h, const char *key, const char *name, const char *help, ui_color_t c)
{
    if (h->n >= 160) return;
    hline_t *l = &h->l[h->n++];
    snprintf(l->key, sizeof l->key, "%s", key);
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->help, sizeof l->help, "%s", help);
    l->color = c;
    l->heading = false;
}

static void actions_of(ui_t *ui, help_t *h, const char *keymap, const char *view)
{
    for (int r = 1; r < UI_REQ_COUNT; r++) {
        const ui_action_t *a = ui_action((ui_req_t)r);
        char keys[64];
        ui_keys_for(ui, keymap, view, (ui_req_t)r, keys, sizeof keys);
        if (!a || !keys[0]) continue;
        char help[160];
        bool off = ui->opts.readonly && (a->flags & UI_ACT_WRITES);
        snprintf(help, sizeof help, "%s%s%s", a->help, (a->flags & UI_ACT_ASKS) ? " (asks first)" : "",
                 off ? " — off: read-only" : "");
        entry(h, keys, a->name, help, off ? UI_C_DIM : UI_C_DEFAULT);
    }
}

static void cmd_line(const char *name, const char *args, const char *help, void *arg)
{
    char k[64];
    snprintf(k, sizeof k, ":%s %s", name, args);
    entry(arg, k, "", help, UI_C_DEFAULT);
}

static void build(ui_view_t *v)
{
    ui_t *ui = v->ui;
    help_t *h = &H;
    h->n = 0;
    ui_view_t *from = ui->nhistory ? ui->history[ui->nhistory - 1] : NULL;
    if (from) {
        char t[64];
        snprintf(t, sizeof t, "Keys in the %s view", from->ops->title);
        heading(h, t);
        actions_of(ui, h, from->ops->name, from->ops->name);
    }
    heading(h, "Keys everywhere");
    actions_of(ui, h, "generic", from ? from->ops->name : NULL);
    heading(h, "Commands (: then Tab completes; every action's name is a command too)");
    entry(h, ":VIEW", "", "open a view by name (:tasks, :outbox, …)", UI_C_DEFAULT);
    ui_command_help(cmd_line, h);
    heading(h, "Keys are rebound in the config file: KEY_<keymap>_<action>=KEYS (README)");
    v->nlines = h->n;
}

static void help_draw(ui_view_t *v, int top, int rows, int cols)
{
    build(v);
    int first = ui_list_scroll(v, rows);
    int kw = 0; /* the widest key list of the actions (commands have no name and run on) */
    for (int i = 0; i < H.n; i++) {
        int w = ui_text_width(H.l[i].key);
        if (!H.l[i].heading && H.l[i].name[0] && w > kw) kw = w;
    }
    if (kw > 16) kw = 16;
    for (int r = 0; r < rows && first + r < H.n; r++) {
        const hline_t *l = &H.l[first + r];
        int row = top + r;
        if (l->heading) {
            ui_draw_text(row, 0, cols, UI_C_HEADER, l->help);
            continue;
        }
        if (!l->name[0]) { /* a command: its synopsis, then its help */
            int c = 2 + ui_draw_text(row, 2, cols - 4, UI_C_KEY, l->key) + 2;
            if (c < 22 + kw) c = 22 + kw;
            ui_draw_text(row, c, cols - c, l->color, l->help);
            continue;
        }
        ui_draw_text(row, 2, kw, UI_C_KEY, l->key);
        ui_draw_text(row, 3 + kw, 18, UI_C_LABEL, l->name);
        ui_draw_text(row, 22 + kw, cols - 22 - kw, l->color, l->help);
    }
}

const ui_view_ops_t ui_help_view = {
    .name = "help",
    .title = "Help",
    .draw = help_draw,
};
