/* ui_term — the screen and the keyboard: ncurses on the terminal, or headless (a screen of
 * LINES × COLUMNS that nobody sees, for scripted runs), keys as ui key codes, and the screen
 * read back as text (what a headless script saves and waits for).
 *
 * The locale's character type is set from the environment; a locale that is not UTF-8 falls
 * back to C.UTF-8, because every text the console shows is UTF-8. */
#ifndef UI_TERM_H
#define UI_TERM_H

#include <stdbool.h>
#include <stdio.h>

/* Sets up the screen: on the terminal (stdin/stdout), or headless. 0, or -1 with err. */
int ui_term_open(bool headless, char *err, size_t errlen);
/* Restores the terminal. */
void ui_term_close(void);

/* The screen's size now. */
void ui_term_size(int *rows, int *cols);

/* The descriptor to poll for keys (-1 headless). */
int ui_term_fd(void);

/* The next key if one is waiting: a Unicode code point, or UI_KEY_FN + KEY_* (KEY_RESIZE when
 * the terminal changed size); -1 when none. Enter is 10, Backspace UI_KEY_FN + KEY_BACKSPACE. */
int ui_term_key(void);

/* Shows what was drawn since the last call. */
void ui_term_flush(void);

/* Headless: the screen becomes rows × cols (as a terminal resize would). */
void ui_term_resize(int rows, int cols);

/* Writes the screen as UTF-8 text, one line per row, trailing spaces removed. */
void ui_term_dump(FILE *f);

/* True when text appears on one row of the screen. */
bool ui_term_contains(const char *text);

#endif
