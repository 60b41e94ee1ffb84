/* ui_script — headless runs (tig's test scripts): the console reads its keys from a script
 * and writes screens to files, so tests compare exact screens with TERM, LINES, COLUMNS and TZ
 * fixed. One command a line:
 *
 *   keys TEXT        type TEXT; <Enter> <Esc> <Tab> <S-Tab> <Up> <Down> <Left> <Right> <PgUp>
 *                    <PgDn> <Home> <End> <Space> <Backspace> <Del> <C-x> <F5> name keys, <lt> is '<'
 *   wait TEXT        until TEXT is on the screen (polled after every frame, never by sleeping)
 *   wait-not TEXT    until TEXT is no longer on the screen
 *   timeout SECONDS  how long a wait may take before the script fails (default 60)
 *   save FILE        write the screen to FILE (UTF-8, trailing spaces cut)
 *   resize ROWS COLS the terminal changes size
 *   mark NAME        print "mark NAME MS" (milliseconds since the start) on stderr
 *   time KEYS        type KEYS and print "time KEYS MS" when the screen shows their effect
 *   quit             the end (so is the end of the file)
 *   # …              a comment
 *
 * A wait that times out fails the run: the screen is printed to stderr with the script's line,
 * and the exit code is 1. */
#ifndef UI_SCRIPT_H
#define UI_SCRIPT_H

#include "ui.h"

/* Reads the script at path. 0, or -1 with err. */
int ui_script_open(ui_t *ui, const char *path, char *err, size_t errlen);

/* What the loop should do next: a key to feed (>= 0); UI_SCRIPT_WAIT (draw, wait for results
 * up to *wait_ms, ask again); UI_SCRIPT_END (quit, ok); UI_SCRIPT_FAIL (quit, exit 1). */
#define UI_SCRIPT_WAIT (-1)
#define UI_SCRIPT_END (-2)
#define UI_SCRIPT_FAIL (-3)
int ui_script_step(ui_t *ui, int *wait_ms);

/* The loop drew and flushed a frame (timing a key ends here). */
void ui_script_frame(ui_t *ui);

void ui_script_close(ui_t *ui);

#endif
