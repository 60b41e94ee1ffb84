/* ops_table — plain-text tables for terminals and pipes.
 *
 *   static const char *const cols[] = {"ID", "TITLE", "PRI"};
 *   ops_table_t *t = ops_table_new(cols, 3);
 *   ops_table_flex(t, 1);                       // TITLE gives up width first
 *   ops_table_add(t, (const char *const[]){"7", "write the runbook", "2"});
 *   ops_table_print(t, stdout, ops_term_width(stdout), ops_use_color(stdout));
 *   ops_table_free(t);
 *
 * Widths are display columns (UTF-8 decoded, wide CJK characters count two), so a table of
 * Cyrillic or CJK titles still lines up. When the natural width exceeds the terminal, flexible
 * columns are cut (with "…") before the others; off a terminal (width 0) nothing is cut, so
 * scripts get whole values. Every cell is made safe to print: control characters (ESC among
 * them) and invalid UTF-8 become '?', so a hostile task title cannot drive the terminal. */
#ifndef OPS_TABLE_H
#define OPS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct ops_table ops_table_t;

/* A table with ncols columns named by headers (copied). NULL if memory ran out. */
ops_table_t *ops_table_new(const char *const *headers, size_t ncols);

/* Marks column col as the one to shrink first (several may be marked). */
void ops_table_flex(ops_table_t *t, size_t col);

/* Right-aligns column col (numbers). */
void ops_table_right(ops_table_t *t, size_t col);

/* Appends a row of ncols cells (copied, sanitised; NULL is shown as empty). 0 or -1 (OOM). */
int ops_table_add(ops_table_t *t, const char *const *cells);

/* Rows added so far. */
size_t ops_table_rows(const ops_table_t *t);

/* Prints the header and rows, each line at most width columns (0: no limit); with color the
 * header is bold. Columns are separated by two spaces; trailing spaces are trimmed. */
void ops_table_print(const ops_table_t *t, FILE *f, int width, bool color);

/* Frees the table; NULL is ignored. */
void ops_table_free(ops_table_t *t);

/* Prints s (already sanitised) cut to width display columns with "…" (0: whole), then a
 * newline. */
void ops_put_fit(FILE *f, const char *s, int width);

/* The terminal's width for f: $COLUMNS if set, else the tty's, else 0 (not a terminal). */
int ops_term_width(FILE *f);

/* True when f is a terminal and NO_COLOR is unset (https://no-color.org). */
bool ops_use_color(FILE *f);

/* The display width of a UTF-8 string (invalid bytes count one, control characters one). */
size_t ops_display_width(const char *s);

/* Copies s into a malloc'd string in which control characters and invalid UTF-8 are '?'.
 * NULL if memory ran out. */
char *ops_sanitize(const char *s);

#endif
