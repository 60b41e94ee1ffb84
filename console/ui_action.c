/* ui_action — the one table of actions (names, help, flags), the default key bindings as
 * data, key names, and the key maps the config file can change; see ui.h. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"

/* ---- the actions --------------------------------------------------------------------------- */

static const ui_action_t actions[UI_REQ_COUNT] = {
    [UI_REQ_QUIT] = {"quit", "quit the console", 0},
    [UI_REQ_BACK] = {"back", "back to the previous view; quits from the first", 0},
    [UI_REQ_HELP] = {"help", "this help: the keys of the view and of everywhere", 0},
    [UI_REQ_PROMPT] = {"prompt", "command line (:tasks, :stack stop kafka, …; Tab completes)", 0},
    [UI_REQ_FILTER] = {"filter", "filter the view (empty clears)", 0},
    [UI_REQ_REFRESH] = {"refresh", "ask the backends again now", 0},
    [UI_REQ_UP] = {"up", "previous line", UI_ACT_MOVE},
    [UI_REQ_DOWN] = {"down", "next line", UI_ACT_MOVE},
    [UI_REQ_PAGE_UP] = {"page-up", "previous page", UI_ACT_MOVE},
    [UI_REQ_PAGE_DOWN] = {"page-down", "next page", UI_ACT_MOVE},
    [UI_REQ_HOME] = {"home", "first line", UI_ACT_MOVE},
    [UI_REQ_END] = {"end", "last line", UI_ACT_MOVE},
    [UI_REQ_ENTER] = {"enter", "open the selected line", 0},
    [UI_REQ_LOGIN] = {"login", "log in through the gateway (or as someone else)", 0},
    [UI_REQ_VIEW_TASKS] = {"view-tasks", "Tasks view", 0},
    [UI_REQ_VIEW_TOPICS] = {"view-topics", "Topics view: live tail of task-events and its DLQ", 0},
    [UI_REQ_VIEW_OUTBOX] = {"view-outbox", "Outbox view: backlog, age, drain, dead rows", 0},
    [UI_REQ_VIEW_READMODEL] = {"view-readmodel", "Read model view: Redis beside PostgreSQL", 0},
    [UI_REQ_VIEW_TRACES] = {"view-traces", "Traces view: recent traces, waterfall", 0},
    [UI_REQ_VIEW_SERVICES] = {"view-services", "Services view: health, readiness, figures", 0},
    [UI_REQ_VIEW_NOTIFICATIONS] = {"view-notifications", "Notifications view", 0},
    [UI_REQ_VIEW_FLOW] = {"view-flow", "Flow view: a task change across the system", 0},
    [UI_REQ_ADD] = {"add", "add a task", UI_ACT_WRITES},
    [UI_REQ_EDIT] = {"edit", "edit the selected task", UI_ACT_WRITES},
    [UI_REQ_COMPLETE] = {"complete", "complete the selected task (or reopen a done one)", UI_ACT_WRITES},
    [UI_REQ_DELETE] = {"delete", "delete the selected task", UI_ACT_WRITES | UI_ACT_ASKS},
    [UI_REQ_TAG] = {"tag", "show only tasks with a tag (empty: all)", 0},
    [UI_REQ_DONE_FILTER] = {"done-filter", "show open / done / all tasks", 0},
    [UI_REQ_FLOW] = {"flow", "follow the selection's change across the system (Flow view)", 0},
    [UI_REQ_RAW] = {"raw", "raw value / pretty coloured JSON", 0},
    [UI_REQ_PAUSE] = {"pause", "pause / resume following (messages are still kept)", 0},
    [UI_REQ_FOLLOW] = {"follow", "follow: jump to the newest and stay there", 0},
    [UI_REQ_NEXT] = {"next", "next topic set / row state / service", 0},
    [UI_REQ_REPLAY] = {"replay", "replay the selected dead outbox row", UI_ACT_WRITES | UI_ACT_ASKS},
    [UI_REQ_COLLAPSE] = {"collapse", "collapse the selected span's children", 0},
    [UI_REQ_EXPAND] = {"expand", "expand the selected span's children", 0},
    [UI_REQ_DETAILS] = {"details", "show / hide the selection's details", 0},
    [UI_REQ_CRITICAL] = {"critical", "show only the critical path / every span", 0},
    [UI_REQ_MARK_READ] = {"mark-read", "mark the selected notification read", UI_ACT_WRITES},
    [UI_REQ_KAFKA] = {"kafka", "stop / start the local stack's Kafka (the outage demo)", UI_ACT_WRITES | UI_ACT_ASKS},
};

const ui_action_t *ui_action(ui_req_t req)
{
    return req > UI_REQ_NONE && req < UI_REQ_COUNT && actions[req].name ? &actions[req] : NULL;
}

ui_req_t ui_action_find(const char *name)
{
    char norm[64];
    snprintf(norm, sizeof norm, "%s", name);
    for (char *p = norm; *p; p++)
        if (*p == '_') *p = '-';
    for (int r = 1; r < UI_REQ_COUNT; r++)
        if (actions[r].name && !strcmp(actions[r].name, norm)) return (ui_req_t)r;
    return UI_REQ_NONE;
}

/* ---- key names ----------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int key;
} key_names[] = {
    {"Enter", UI_KEY_ENTER},
    {"Esc", UI_KEY_ESC},
    {"Tab", UI_KEY_TAB},
    {"Space", ' '},
    {"S-Tab", UI_KEY_FN + KEY_BTAB},
    {"Up", UI_KEY_FN + KEY_UP},
    {"Down", UI_KEY_FN + KEY_DOWN},
    {"Left", UI_KEY_FN + KEY_LEFT},
    {"Right", UI_KEY_FN + KEY_RIGHT},
    {"PgUp", UI_KEY_FN + KEY_PPAGE},
    {"PgDn", UI_KEY_FN + KEY_NPAGE},
    {"Home", UI_KEY_FN + KEY_HOME},
    {"End", UI_KEY_FN + KEY_END},
    {"Ins", UI_KEY_FN + KEY_IC},
    {"Del", UI_KEY_FN + KEY_DC},
    {"Backspace", UI_KEY_FN + KEY_BACKSPACE},
};
#define NKEYNAMES (sizeof key_names / sizeof key_names[0])

int ui_key_parse(const char *name, int *key)
{
    for (size_t i = 0; i < NKEYNAMES; i++)
        if (!strcasecmp(name, key_names[i].name)) {
            *key = key_names[i].key;
            return 0;
        }
    if ((name[0] == 'F' || name[0] == 'f') && name[1] >= '1' && name[1] <= '9') {
        int n = atoi(name + 1);
        if (n >= 1 && n <= 12) {
            *key = UI_KEY_FN + KEY_F(n);
            return 0;
        }
    }
    if ((!strncmp(name, "C-", 2) || !strncmp(name, "^", 1)) && strlen(name) == (name[0] == '^' ? 2u : 3u)) {
        char c = name[name[0] == '^' ? 1 : 2];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (c >= '@' && c <= '_') {
            *key = c - '@';
            return 0;
        }
        return -1;
    }
    /* one printable character, UTF-8 */
    const unsigned char *s = (const unsigned char *)name;
    size_t l = s[0] < 0x80 ? 1 : (s[0] >= 0xC2 && s[0] < 0xE0) ? 2 : (s[0] >= 0xE0 && s[0] < 0xF0) ? 3
               : (s[0] >= 0xF0 && s[0] <= 0xF4) ? 4 : 0;
    if (!l || strlen(name) != l || (l == 1 && (s[0] <= 0x20 || s[0] == 0x7f))) return -1;
    int v = l == 1 ? s[0] : (s[0] & (0x7F >> l));
    for (size_t i = 1; i < l; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *key = v;
    return 0;
}

void ui_key_name(int key, char *out, size_t outlen)
{
    for (size_t i = 0; i < NKEYNAMES; i++)
        if (key_names[i].key == key) {
            snprintf(out, outlen, "%s", key_names[i].name);
            return;
        }
    if (key >= UI_KEY_FN + KEY_F(1) && key <= UI_KEY_FN + KEY_F(12)) {
        snprintf(out, outlen, "F%d", key - UI_KEY_FN - KEY_F(0));
    } else if (key > 0 && key < 0x20) {
        snprintf(out, outlen, "C-%c", (char)(key + 'a' - 1));
    } else if (key >= 0x20 && key < UI_KEY_FN) {
        char b[8];
        int n = 0;
        unsigned v = (unsigned)key;
        if (v < 0x80) b[n++] = (char)v;
        else if (v < 0x800) { b[n++] = (char)(0xC0 | v >> 6); b[n++] = (char)(0x80 | (v & 0x3F)); }
        else if (v < 0x10000) { b[n++] = (char)(0xE0 | v >> 12); b[n++] = (char)(0x80 | ((v >> 6) & 0x3F)); b[n++] = (char)(0x80 | (v & 0x3F)); }
        else { b[n++] = (char)(0xF0 | v >> 18); b[n++] = (char)(0x80 | ((v >> 12) & 0x3F)); b[n++] = (char)(0x80 | ((v >> 6) & 0x3F)); b[n++] = (char)(0x80 | (v & 0x3F)); }
        b[n] = '\0';
        snprintf(out, outlen, "%s", b);
    } else {
        snprintf(out, outlen, "key-%d", key);
    }
}

/* ---- default bindings ---------------------------------------------------------------------- */

typedef struct binding {
    const char *keymap; /* "generic" or a view's name */
    const char *key;
    ui_req_t req;
} binding_t;

static const binding_t defaults[] = {
    {"generic", "Q", UI_REQ_QUIT},
    {"generic", "q", UI_REQ_BACK},
    {"generic", "Esc", UI_REQ_BACK},
    {"generic", "?", UI_REQ_HELP},
    {"generic", "F1", UI_REQ_HELP},
    {"generic", ":", UI_REQ_PROMPT},
    {"generic", "/", UI_REQ_FILTER},
    {"generic", "C-r", UI_REQ_REFRESH},
    {"generic", "F5", UI_REQ_REFRESH},
    {"generic", "Up", UI_REQ_UP},
    {"generic", "k", UI_REQ_UP},
    {"generic", "Down", UI_REQ_DOWN},
    {"generic", "j", UI_REQ_DOWN},
    {"generic", "PgUp", UI_REQ_PAGE_UP},
    {"generic", "C-b", UI_REQ_PAGE_UP},
    {"generic", "PgDn", UI_REQ_PAGE_DOWN},
    {"generic", "C-f", UI_REQ_PAGE_DOWN},
    {"generic", "Home", UI_REQ_HOME},
    {"generic", "g", UI_REQ_HOME},
    {"generic", "End", UI_REQ_END},
    {"generic", "G", UI_REQ_END},
    {"generic", "Enter", UI_REQ_ENTER},
    {"generic", "L", UI_REQ_LOGIN},
    {"generic", "1", UI_REQ_VIEW_TASKS},
    {"generic", "2", UI_REQ_VIEW_TOPICS},
    {"generic", "3", UI_REQ_VIEW_OUTBOX},
    {"generic", "4", UI_REQ_VIEW_READMODEL},
    {"generic", "5", UI_REQ_VIEW_TRACES},
    {"generic", "6", UI_REQ_VIEW_SERVICES},
    {"generic", "7", UI_REQ_VIEW_NOTIFICATIONS},
    {"generic", "8", UI_REQ_VIEW_FLOW},
    {"tasks", "a", UI_REQ_ADD},
    {"tasks", "e", UI_REQ_EDIT},
    {"tasks", "c", UI_REQ_COMPLETE},
    {"tasks", "d", UI_REQ_DELETE},
    {"tasks", "t", UI_REQ_TAG},
    {"tasks", "o", UI_REQ_DONE_FILTER},
    {"tasks", "f", UI_REQ_FLOW},
    {"topics", "r", UI_REQ_RAW},
    {"topics", "p", UI_REQ_PAUSE},
    {"topics", "Space", UI_REQ_PAUSE},
    {"topics", "F", UI_REQ_FOLLOW},
    {"topics", "Tab", UI_REQ_NEXT},
    {"topics", "d", UI_REQ_DETAILS},
    {"outbox", "Tab", UI_REQ_NEXT},
    {"outbox", "R", UI_REQ_REPLAY},
    {"outbox", "f", UI_REQ_FLOW},
    {"outbox", "K", UI_REQ_KAFKA},
    {"readmodel", "d", UI_REQ_DETAILS},
    {"traces", "Tab", UI_REQ_NEXT},
    {"traces", "Left", UI_REQ_COLLAPSE},
    {"traces", "-", UI_REQ_COLLAPSE},
    {"traces", "Right", UI_REQ_EXPAND},
    {"traces", "+", UI_REQ_EXPAND},
    {"traces", "d", UI_REQ_DETAILS},
    {"traces", "c", UI_REQ_CRITICAL},
    {"services", "K", UI_REQ_KAFKA},
    {"notifications", "m", UI_REQ_MARK_READ},
    {"notifications", "f", UI_REQ_FLOW},
    {"flow", "t", UI_REQ_DETAILS},
};

/* ---- key maps ------------------------------------------------------------------------------ */

typedef struct keymap {
    char name[32];
    size_t n, cap;
    struct { int key; ui_req_t req; } *b;
} keymap_t;

struct ui_keymaps {
    keymap_t *m;
    size_t n;
};

static keymap_t *map_of(struct ui_keymaps *k, const char *name, bool create)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->m[i].name, name)) return &k->m[i];
    if (!create) return NULL;
    keymap_t *m = realloc(k->m, (k->n + 1) * sizeof *m);
    if (!m) return NULL;
    k->m = m;
    m = &k->m[k->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

/* Binds key to req in m, replacing what the key did there. */
static int bind(keymap_t *m, int key, ui_req_t req)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->b[i].key == key) {
            m->b[i].req = req;
            return 0;
        }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        void *b = realloc(m->b, cap * sizeof *m->b);
        if (!b) return -1;
        m->b = b;
        m->cap = cap;
    }
    m->b[m->n].key = key;
    m->b[m->n++].req = req;
    return 0;
}

static bool keymap_known(const ui_t *ui, const char *name)
{
    if (!strcmp(name, "generic")) return true;
    for (size_t i = 0; i < ui->nviews; i++)
        if (!strcmp(ui->views[i].ops->name, name)) return true;
    return false;
}

typedef struct load_ctx {
    ui_t *ui;
    char *err;
    size_t errlen;
    int failed;
} load_ctx_t;

/* KEY_<keymap>_<action>=KEYS */
static void load_line(const char *key, const char *val, int line, void *arg)
{
    load_ctx_t *c = arg;
    if (c->failed) return;
    const char *file = c->ui->cfg->config_file;
    char map[32], act[64];
    const char *rest = key + 4, *us = strchr(rest, '_');
    if (!us || us == rest || (size_t)(us - rest) >= sizeof map) {
        snprintf(c->err, c->errlen, "%s:%d: %s: expected KEY_<keymap>_<action>", file, line, key);
        c->failed = 1;
        return;
    }
    snprintf(map, sizeof map, "%.*s", (int)(us - rest), rest);
    snprintf(act, sizeof act, "%s", us + 1);
    if (!keymap_known(c->ui, map)) {
        snprintf(c->err, c->errlen, "%s:%d: %s: no key map '%s' (generic or a view's name)", file,
                 line, key, map);
        c->failed = 1;
        return;
    }
    ui_req_t req = ui_action_find(act);
    if (req == UI_REQ_NONE && strcmp(act, "none")) {
        snprintf(c->err, c->errlen, "%s:%d: %s: no action '%s' (see the help screen, '?')", file,
                 line, key, act);
        c->failed = 1;
        return;
    }
    char keys[256];
    snprintf(keys, sizeof keys, "%s", val);
    keymap_t *m = map_of(c->ui->keys, map, true);
    for (char *save, *tok = strtok_r(keys, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        int k;
        if (ui_key_parse(tok, &k) < 0) {
            snprintf(c->err, c->errlen, "%s:%d: %s: '%s' is not a key (q, Enter, C-r, F5, PgDn …)",
                     file, line, key, tok);
            c->failed = 1;
            return;
        }
        if (!m || bind(m, k, req) < 0) {
            snprintf(c->err, c->errlen, "out of memory");
            c->failed = 1;
            return;
        }
    }
}

int ui_keys_load(ui_t *ui, char *err, size_t errlen)
{
    ui->keys = calloc(1, sizeof *ui->keys);
    if (!ui->keys) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        int k;
        keymap_t *m = map_of(ui->keys, defaults[i].keymap, true);
        if (ui_key_parse(defaults[i].key, &k) < 0 || !m || bind(m, k, defaults[i].req) < 0) {
            snprintf(err, errlen, "default binding %s %s: bad key", defaults[i].keymap, defaults[i].key);
            return -1;
        }
    }
    load_ctx_t c = {ui, err, errlen, 0};
    ops_cfg_each(ui->cfg, "KEY_", load_line, &c);
    return c.failed ? -1 : 0;
}

void ui_keys_free(ui_t *ui)
{
    if (!ui->keys) return;
    for (size_t i = 0; i < ui->keys->n; i++) free(ui->keys->m[i].b);
    free(ui->keys->m);
    free(ui->keys);
    ui->keys = NULL;
}

ui_req_t ui_keys_lookup(const ui_t *ui, const char *keymap, int key)
{
    const char *maps[] = {keymap, "generic"};
    for (int i = 0; i < 2; i++) {
        keymap_t *m = maps[i] ? map_of(ui->keys, maps[i], false) : NULL;
        for (size_t j = 0; m && j < m->n; j++)
            if (m->b[j].key == key) return m->b[j].req;
    }
    return UI_REQ_NONE;
}

void ui_keys_for(const ui_t *ui, const char *keymap, const char *view, ui_req_t req, char *out,
                 size_t outlen)
{
    out[0] = '\0';
    keymap_t *m = map_of(ui->keys, keymap, false);
    size_t l = 0;
    for (size_t j = 0; m && j < m->n; j++) {
        if (m->b[j].req != req) continue;
        /* a generic key the view rebinds does not do this there */
        if (view && ui_keys_lookup(ui, view, m->b[j].key) != req) continue;
        char name[32];
        ui_key_name(m->b[j].key, name, sizeof name);
        l += (size_t)snprintf(out + l, l < outlen ? outlen - l : 0, "%s%s", l ? " " : "", name);
        if (l >= outlen) break;
    }
}
