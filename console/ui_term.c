/* ui_term — ncurses set-up, keys and the screen as text; see ui_term.h. */
#include "ui_term.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "ui.h"

static SCREEN *screen;
static FILE *hl_out, *hl_in;
static bool headless;

int ui_term_open(bool is_headless, char *err, size_t errlen)
{
    setlocale(LC_ALL, "");
    if (strcmp(nl_langinfo(CODESET), "UTF-8")) setlocale(LC_CTYPE, "C.UTF-8");
    headless = is_headless;
    const char *term = getenv("TERM");
    if (headless) {
        hl_out = fopen("/dev/null", "w");
        hl_in = fopen("/dev/null", "r");
        if (!hl_out || !hl_in) {
            snprintf(err, errlen, "/dev/null: cannot open");
            return -1;
        }
        screen = newterm(term && *term ? term : "xterm-256color", hl_out, hl_in);
    } else {
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
            snprintf(err, errlen, "the console needs a terminal (use a verb, or 'ui --headless SCRIPT')");
            return -1;
        }
        screen = newterm(NULL, stdout, stdin);
    }
    if (!screen) {
        snprintf(err, errlen, "cannot set up the terminal (TERM=%s)", term ? term : "");
        return -1;
    }
    set_term(screen);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25); /* Esc alone is a key here, not the start of a sequence for long */
    curs_set(0);
    return 0;
}

void ui_term_close(void)
{
    if (!screen) return;
    endwin();
    delscreen(screen);
    screen = NULL;
    if (hl_out) fclose(hl_out);
    if (hl_in) fclose(hl_in);
    hl_out = hl_in = NULL;
}

void ui_term_size(int *rows, int *cols)
{
    *rows = LINES;
    *cols = COLS;
}

int ui_term_fd(void)
{
    return headless ? -1 : STDIN_FILENO;
}

int ui_term_key(void)
{
    wint_t wc;
    int r = get_wch(&wc);
    if (r == ERR) return -1;
    if (r == KEY_CODE_YES) {
        if (wc == KEY_ENTER) return UI_KEY_ENTER;
        return UI_KEY_FN + (int)wc;
    }
    if (wc == '\r' || wc == '\n') return UI_KEY_ENTER;
    if (wc == 127 || wc == 8) return UI_KEY_FN + KEY_BACKSPACE;
    return (int)wc;
}

void ui_term_flush(void)
{
    wnoutrefresh(stdscr);
    doupdate();
}

void ui_term_resize(int rows, int cols)
{
    resizeterm(rows, cols);
}

/* Row y as UTF-8 without trailing spaces. */
static void row_text(int y, char *out, size_t outlen)
{
    wchar_t w[1024];
    int n = COLS < 1023 ? COLS : 1023;
    if (mvinnwstr(y, 0, w, n) == ERR) w[0] = 0;
    w[n] = 0;
    size_t k = 0;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; w[i] && k + MB_CUR_MAX + 1 < outlen; i++) {
        size_t l = wcrtomb(out + k, w[i], &st);
        if (l == (size_t)-1) out[k++] = '?';
        else k += l;
    }
    while (k > 0 && out[k - 1] == ' ') k--;
    out[k] = '\0';
}

void ui_term_dump(FILE *f)
{
    char line[4096];
    for (int y = 0; y < LINES; y++) {
        row_text(y, line, sizeof line);
        fprintf(f, "%s\n", line);
    }
}

bool ui_term_contains(const char *text)
{
    char line[4096];
    for (int y = 0; y < LINES; y++) {
        row_text(y, line, sizeof line);
        if (strstr(line, text)) return true;
    }
    return false;
}
