/* ui_script — scripted keys, waits and screen files for headless runs; see ui_script.h. */
#include "ui_script.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ui_term.h"

struct ui_script {
    char **lines;
    size_t n, at;          /* the next line to run */
    int keys[512];         /* keys still to type from the current line */
    size_t nkeys, kat;
    char waiting[512];     /* text waited for, "" when not waiting */
    bool wait_not;
    int64_t deadline, timeout_ms, started;
    bool timing;           /* a `time` line: report when its last key's frame is drawn */
    int64_t time_from;
    char time_label[128];
    bool time_fed;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
    return mono_us() / 1000;
}

int ui_script_open(ui_t *ui, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the script", path);
        return -1;
    }
    struct ui_script *s = calloc(1, sizeof *s);
    char line[4096];
    size_t cap = 0;
    while (s && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (s->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **l = realloc(s->lines, cap * sizeof *l);
            if (!l) break;
            s->lines = l;
        }
        s->lines[s->n++] = strdup(line);
    }
    fclose(f);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->timeout_ms = 60000;
    s->started = mono_ms();
    ui->script = s;
    return 0;
}

void ui_script_close(ui_t *ui)
{
    struct ui_script *s = ui->script;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->lines[i]);
    free(s->lines);
    free(s);
    ui->script = NULL;
}

/* Parses TEXT with <Name> escapes into keys. -1 names the bad escape in err. */
static int parse_keys(const char *text, int *keys, size_t max, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p && *n < max) {
        if (*p == '<') {
            const char *end = strchr((const char *)p, '>');
            if (!end) {
                snprintf(err, errlen, "unclosed '<'");
                return -1;
            }
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(end - (const char *)p - 1), p + 1);
            int k;
            if (!strcmp(name, "lt")) k = '<';
            else if (ui_key_parse(name, &k) < 0) {
                snprintf(err, errlen, "unknown key <%s>", name);
                return -1;
            }
            keys[(*n)++] = k;
            p = (const unsigned char *)end + 1;
            continue;
        }
        size_t l = *p < 0x80 ? 1 : (*p >= 0xC2 && *p < 0xE0) ? 2 : (*p >= 0xE0 && *p < 0xF0) ? 3 : 4;
        int v = l == 1 ? *p : (*p & (0x7F >> l));
        for (size_t i = 1; i < l && p[i]; i++) v = (v << 6) | (p[i] & 0x3F);
        keys[(*n)++] = v;
        p += l;
    }
    return 0;
}

static int fail(ui_t *ui, const char *what)
{
    struct ui_script *s = ui->script;
    fprintf(stderr, "todo-console: script line %zu: %s", s->at, what);
    fprintf(stderr, "\n---- the screen ----\n");
    ui_term_dump(stderr);
    fprintf(stderr, "--------------------\n");
    return UI_SCRIPT_FAIL;
}

int ui_script_step(ui_t *ui, int *wait_ms)
{
    struct ui_script *s = ui->script;
    *wait_ms = 50;
    if (s->kat < s->nkeys) {
        int k = s->keys[s->kat++];
        if (s->timing && s->kat == s->nkeys) s->time_fed = true;
        return k;
    }
    if (s->timing) return UI_SCRIPT_WAIT; /* until the frame after the last key */
    if (s->waiting[0]) {
        bool on = ui_term_contains(s->waiting);
        if (on != s->wait_not) {
            s->waiting[0] = '\0';
        } else if (mono_ms() > s->deadline) {
            char what[600];
            snprintf(what, sizeof what, "%s'%s'", s->wait_not ? "the end of " : "", s->waiting);
            char msg[700];
            snprintf(msg, sizeof msg, "timed out waiting for %s", what);
            return fail(ui, msg);
        } else {
            return UI_SCRIPT_WAIT;
        }
    }
    while (s->at < s->n) {
        const char *line = s->lines[s->at++];
        while (*line == ' ' || *line == '\t') line++;
        if (!*line || *line == '#') continue;
        char cmd[32];
        size_t cl = strcspn(line, " ");
        snprintf(cmd, sizeof cmd, "%.*s", (int)(cl < 31 ? cl : 31), line);
        const char *arg = line + cl + (line[cl] == ' ');
        char err[128];
        if (!strcmp(cmd, "keys") || !strcmp(cmd, "time")) {
            if (parse_keys(arg, s->keys, 512, &s->nkeys, err, sizeof err) < 0) return fail(ui, err);
            s->kat = 0;
            if (!strcmp(cmd, "time")) {
                s->timing = true;
                s->time_fed = false;
                s->time_from = mono_us();
                snprintf(s->time_label, sizeof s->time_label, "%s", arg);
            }
            return ui_script_step(ui, wait_ms);
        } else if (!strcmp(cmd, "wait") || !strcmp(cmd, "wait-not")) {
            snprintf(s->waiting, sizeof s->waiting, "%s", arg);
            s->wait_not = !strcmp(cmd, "wait-not");
            s->deadline = mono_ms() + s->timeout_ms;
            return UI_SCRIPT_WAIT;
        } else if (!strcmp(cmd, "timeout")) {
            s->timeout_ms = atol(arg) * 1000;
        } else if (!strcmp(cmd, "save")) {
            FILE *f = fopen(arg, "w");
            if (!f) return fail(ui, "cannot write the screen file");
            ui_term_dump(f);
            fclose(f);
        } else if (!strcmp(cmd, "resize")) {
            int r, c;
            if (sscanf(arg, "%d %d", &r, &c) != 2 || r < 2 || c < 2) return fail(ui, "resize: want ROWS COLS");
            ui_term_resize(r, c);
            return UI_KEY_FN + KEY_RESIZE;
        } else if (!strcmp(cmd, "mark")) {
            fprintf(stderr, "mark %s %lld\n", arg, (long long)(mono_ms() - s->started));
        } else if (!strcmp(cmd, "quit")) {
            return UI_SCRIPT_END;
        } else {
            char msg[64];
            snprintf(msg, sizeof msg, "unknown command '%s'", cmd);
            return fail(ui, msg);
        }
    }
    return UI_SCRIPT_END;
}

void ui_script_frame(ui_t *ui)
{
    struct ui_script *s = ui->script;
    if (!s || !s->timing || !s->time_fed) return;
    fprintf(stderr, "time %s %.3f\n", s->time_label, (double)(mono_us() - s->time_from) / 1000.0);
    s->timing = false;
}
