/* ui_prompt — the line prompt, the yes/no question and forms; see ui_prompt.h. */
#include "ui_prompt.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "ui_draw.h"

typedef enum { M_LINE, M_CONFIRM, M_FORM } mkind_t;

typedef struct text {
    char s[UI_TEXT_MAX];
    size_t len, pos; /* bytes; pos on a character boundary */
} text_t;

struct ui_modal {
    mkind_t kind;
    char label[256];
    void *arg;
    bool commands;
    void (*line_done)(ui_t *, const char *, void *);
    void (*yes)(ui_t *, void *);
    void (*form_done)(ui_t *, char **, void *);
    void (*cancel)(ui_t *, void *);
    int nfields, field;
    ui_field_t fields[UI_FIELD_MAX];
    char flabels[UI_FIELD_MAX][64];
    text_t text[UI_FIELD_MAX];
    char error[256];
};

/* ---- editing ------------------------------------------------------------------------------- */

static void text_set(text_t *t, const char *s)
{
    snprintf(t->s, sizeof t->s, "%s", s ? s : "");
    t->len = t->pos = strlen(t->s);
}

static size_t prev_char(const text_t *t, size_t p)
{
    while (p > 0 && ((unsigned char)t->s[--p] & 0xC0) == 0x80) {
    }
    return p;
}

static size_t next_char(const text_t *t, size_t p)
{
    if (p < t->len) p++;
    while (p < t->len && ((unsigned char)t->s[p] & 0xC0) == 0x80) p++;
    return p;
}

static void text_insert(text_t *t, int key)
{
    char b[4];
    size_t n;
    unsigned v = (unsigned)key;
    if (v < 0x80) { b[0] = (char)v; n = 1; }
    else if (v < 0x800) { b[0] = (char)(0xC0 | v >> 6); b[1] = (char)(0x80 | (v & 0x3F)); n = 2; }
    else if (v < 0x10000) { b[0] = (char)(0xE0 | v >> 12); b[1] = (char)(0x80 | ((v >> 6) & 0x3F)); b[2] = (char)(0x80 | (v & 0x3F)); n = 3; }
    else { b[0] = (char)(0xF0 | v >> 18); b[1] = (char)(0x80 | ((v >> 12) & 0x3F)); b[2] = (char)(0x80 | ((v >> 6) & 0x3F)); b[3] = (char)(0x80 | (v & 0x3F)); n = 4; }
    if (t->len + n >= sizeof t->s) return;
    memmove(t->s + t->pos + n, t->s + t->pos, t->len - t->pos + 1);
    memcpy(t->s + t->pos, b, n);
    t->len += n;
    t->pos += n;
}

static void text_delete(text_t *t, size_t from, size_t to)
{
    memmove(t->s + from, t->s + to, t->len - to + 1);
    t->len -= to - from;
    t->pos = from;
}

/* Line editing keys; true when the key was one. */
static bool text_key(text_t *t, int key)
{
    if (key == UI_KEY_FN + KEY_BACKSPACE) {
        if (t->pos) text_delete(t, prev_char(t, t->pos), t->pos);
    } else if (key == UI_KEY_FN + KEY_DC || key == 4 /* C-d */) {
        if (t->pos < t->len) text_delete(t, t->pos, next_char(t, t->pos));
    } else if (key == UI_KEY_FN + KEY_LEFT || key == 2 /* C-b */) {
        t->pos = prev_char(t, t->pos);
    } else if (key == UI_KEY_FN + KEY_RIGHT || key == 6 /* C-f */) {
        t->pos = next_char(t, t->pos);
    } else if (key == UI_KEY_FN + KEY_HOME || key == 1 /* C-a */) {
        t->pos = 0;
    } else if (key == UI_KEY_FN + KEY_END || key == 5 /* C-e */) {
        t->pos = t->len;
    } else if (key == 21 /* C-u */) {
        text_delete(t, 0, t->pos);
    } else if (key == 11 /* C-k */) {
        t->len = t->pos;
        t->s[t->len] = '\0';
    } else if (key == 23 /* C-w */) {
        size_t p = t->pos;
        while (p > 0 && t->s[p - 1] == ' ') p--;
        while (p > 0 && t->s[p - 1] != ' ') p--;
        text_delete(t, p, t->pos);
    } else if (key >= 0x20 && key < UI_KEY_FN && key != 0x7f) {
        text_insert(t, key);
    } else {
        return false;
    }
    return true;
}

/* ---- opening and closing ------------------------------------------------------------------- */

static struct ui_modal *open_modal(ui_t *ui, mkind_t kind, const char *label, void *arg)
{
    ui_modal_close(ui);
    struct ui_modal *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = kind;
    m->arg = arg;
    snprintf(m->label, sizeof m->label, "%s", label);
    ui->modal = m;
    ui->dirty = true;
    return m;
}

void ui_modal_close(ui_t *ui)
{
    free(ui->modal);
    ui->modal = NULL;
    ui->dirty = true;
    ui_draw_caret(-1, 0);
}

bool ui_modal_active(const ui_t *ui)
{
    return ui->modal != NULL;
}

bool ui_modal_is_form(const ui_t *ui)
{
    return ui->modal && ui->modal->kind == M_FORM;
}

void ui_prompt_line(ui_t *ui, const char *label, const char *initial,
                    void (*done)(ui_t *ui, const char *text, void *arg), void *arg, bool commands)
{
    struct ui_modal *m = open_modal(ui, M_LINE, label, arg);
    if (!m) return;
    m->line_done = done;
    m->commands = commands;
    text_set(&m->text[0], initial);
}

void ui_prompt_confirm(ui_t *ui, const char *question, void (*yes)(ui_t *ui, void *arg), void *arg)
{
    struct ui_modal *m = open_modal(ui, M_CONFIRM, question, arg);
    if (m) m->yes = yes;
}

void ui_prompt_form(ui_t *ui, const char *title, const ui_field_t *fields, int n,
                    void (*done)(ui_t *ui, char **values, void *arg),
                    void (*cancel)(ui_t *ui, void *arg), void *arg)
{
    struct ui_modal *m = open_modal(ui, M_FORM, title, arg);
    if (!m) return;
    m->form_done = done;
    m->cancel = cancel;
    m->nfields = n < UI_FIELD_MAX ? n : UI_FIELD_MAX;
    for (int i = 0; i < m->nfields; i++) {
        snprintf(m->flabels[i], sizeof m->flabels[i], "%s", fields[i].label);
        m->fields[i] = fields[i];
        m->fields[i].label = m->flabels[i];
        text_set(&m->text[i], fields[i].value);
    }
}

void ui_prompt_form_error(ui_t *ui, const char *msg)
{
    if (ui->modal && ui->modal->kind == M_FORM) {
        snprintf(ui->modal->error, sizeof ui->modal->error, "%s", msg);
        ui->dirty = true;
    }
}

/* ---- completion ---------------------------------------------------------------------------- */

typedef struct cands {
    char word[64][64];
    int n;
} cands_t;

static void collect(const char *cand, void *arg)
{
    cands_t *c = arg;
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->word[i], cand)) return;
    if (c->n < 64) snprintf(c->word[c->n++], sizeof c->word[0], "%s", cand);
}

static void complete(ui_t *ui, text_t *t)
{
    char upto[UI_TEXT_MAX];
    snprintf(upto, sizeof upto, "%.*s", (int)t->pos, t->s);
    cands_t c;
    c.n = 0;
    ui_command_complete(ui, upto, collect, &c);
    if (c.n == 0) return;
    const char *sp = strrchr(upto, ' ');
    size_t start = sp ? (size_t)(sp - upto) + 1 : 0, typed = t->pos - start;
    /* the longest common prefix of the candidates */
    size_t common = strlen(c.word[0]);
    for (int i = 1; i < c.n; i++) {
        size_t k = 0;
        while (k < common && c.word[i][k] == c.word[0][k]) k++;
        common = k;
    }
    if (common > typed) {
        for (size_t k = typed; k < common; k++) text_insert(t, (unsigned char)c.word[0][k]);
    }
    if (c.n == 1) {
        text_insert(t, ' ');
    } else {
        char list[512] = "";
        size_t l = 0;
        for (int i = 0; i < c.n && l + 2 < sizeof list; i++)
            l += (size_t)snprintf(list + l, sizeof list - l, "%s%s", i ? "  " : "", c.word[i]);
        ui_say(ui, "%s", list);
    }
}

/* ---- keys ---------------------------------------------------------------------------------- */

bool ui_modal_key(ui_t *ui, int key)
{
    struct ui_modal *m = ui->modal;
    if (!m) return false;
    ui->dirty = true;
    if (m->kind == M_CONFIRM) {
        void (*yes)(ui_t *, void *) = m->yes;
        void *arg = m->arg;
        ui_modal_close(ui);
        if (key == 'y' || key == 'Y') yes(ui, arg);
        else ui_say(ui, "cancelled");
        return true;
    }
    if (m->kind == M_LINE) {
        if (key == UI_KEY_ESC) {
            ui_modal_close(ui);
        } else if (key == UI_KEY_ENTER) {
            char text[UI_TEXT_MAX];
            snprintf(text, sizeof text, "%s", m->text[0].s);
            void (*done)(ui_t *, const char *, void *) = m->line_done;
            void *arg = m->arg;
            ui_modal_close(ui);
            done(ui, text, arg);
        } else if (key == UI_KEY_TAB && m->commands) {
            complete(ui, &m->text[0]);
        } else {
            text_key(&m->text[0], key);
        }
        return true;
    }
    /* a form */
    if (key == UI_KEY_ESC) {
        void (*cancel)(ui_t *, void *) = m->cancel;
        void *arg = m->arg;
        ui_modal_close(ui);
        if (cancel) cancel(ui, arg);
    } else if (key == UI_KEY_TAB || key == UI_KEY_FN + KEY_DOWN) {
        m->field = (m->field + 1) % m->nfields;
    } else if (key == UI_KEY_FN + KEY_BTAB || key == UI_KEY_FN + KEY_UP) {
        m->field = (m->field + m->nfields - 1) % m->nfields;
    } else if (key == UI_KEY_ENTER) {
        char *values[UI_FIELD_MAX];
        for (int i = 0; i < m->nfields; i++) values[i] = m->text[i].s;
        m->error[0] = '\0';
        m->form_done(ui, values, m->arg); /* may close the form */
    } else {
        text_key(&m->text[m->field], key);
    }
    return true;
}

/* ---- drawing ------------------------------------------------------------------------------- */

/* Draws a text field in width columns with the caret visible; returns the caret's column. */
static int draw_field(int row, int col, int width, const text_t *t, bool secret)
{
    char shown[UI_TEXT_MAX * 3];
    if (secret) {
        size_t n = 0, chars = 0;
        for (size_t i = 0; i < t->len; i = next_char(t, i)) chars++;
        for (size_t i = 0; i < chars && n + 4 < sizeof shown; i++) n += (size_t)snprintf(shown + n, 4, "•");
        shown[n] = '\0';
        int caret = 0;
        for (size_t i = 0; i < t->pos; i = next_char(t, i)) caret++;
        ui_draw_fill(row, col, width, UI_C_PROMPT);
        ui_draw_text(row, col, width, UI_C_PROMPT, shown);
        return col + (caret < width ? caret : width - 1);
    }
    /* scroll so the caret stays inside */
    char before[UI_TEXT_MAX];
    snprintf(before, sizeof before, "%.*s", (int)t->pos, t->s);
    int cw = ui_text_width(before);
    size_t start = 0;
    while (cw >= width && start < t->pos) {
        text_t tmp = *t;
        size_t nx = next_char(&tmp, start);
        char one[8];
        snprintf(one, sizeof one, "%.*s", (int)(nx - start), t->s + start);
        cw -= ui_text_width(one);
        start = nx;
    }
    ui_draw_fill(row, col, width, UI_C_PROMPT);
    ui_draw_text(row, col, width, UI_C_PROMPT, t->s + start);
    return col + cw;
}

void ui_modal_draw(ui_t *ui, int rows, int cols)
{
    struct ui_modal *m = ui->modal;
    if (!m) return;
    if (m->kind == M_CONFIRM) {
        ui_draw_fill(rows - 1, 0, cols, UI_C_WARN);
        ui_draw_text(rows - 1, 0, cols, UI_C_WARN, m->label);
        ui_draw_caret(-1, 0);
        return;
    }
    if (m->kind == M_LINE) {
        ui_draw_fill(rows - 1, 0, cols, UI_C_DEFAULT);
        int c = ui_draw_text(rows - 1, 0, cols, UI_C_PROMPT, m->label);
        int caret = draw_field(rows - 1, c, cols - c - 1, &m->text[0], false);
        ui_draw_caret(rows - 1, caret);
        return;
    }
    int w = cols - 8 < 72 ? cols - 8 : 72, h = m->nfields + 6;
    int top = (rows - h) / 2, left = (cols - w) / 2;
    for (int r = 0; r < h; r++) ui_draw_fill(top + r, left, w, UI_C_DEFAULT);
    ui_draw_run(top, left, w, UI_C_LABEL, "─");
    ui_draw_run(top + h - 1, left, w, UI_C_LABEL, "─");
    ui_draw_textf(top, left + 2, w - 4, UI_C_HEADER, " %s ", m->label);
    int lw = 0;
    for (int i = 0; i < m->nfields; i++)
        if (ui_text_width(m->fields[i].label) > lw) lw = ui_text_width(m->fields[i].label);
    int caret_r = -1, caret_c = 0;
    for (int i = 0; i < m->nfields; i++) {
        int r = top + 2 + i;
        ui_draw_text(r, left + 2, lw + 1, i == m->field ? UI_C_KEY : UI_C_LABEL, m->fields[i].label);
        int c = draw_field(r, left + 4 + lw, w - lw - 6, &m->text[i], m->fields[i].secret);
        if (i == m->field) {
            caret_r = r;
            caret_c = c;
        }
    }
    if (m->error[0]) ui_draw_text(top + h - 3, left + 2, w - 4, UI_C_ERROR, m->error);
    ui_draw_text(top + h - 2, left + 2, w - 4, UI_C_DIM, "Enter: submit · Tab: next field · Esc: cancel");
    ui_draw_caret(caret_r, caret_c);
}
