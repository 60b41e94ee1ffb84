/* ops_err — the one status type of the ops library, and the exit codes of every ops program.
 *
 *   ops_err_t e = OPS_ERR_INIT;
 *   if (ops_outbox_stats(ob, &st, &e) != OPS_OK) { ops_err_print(&e, "todo-console"); return e.st; }
 *
 * The values of ops_status_t ARE the documented exit codes of todo-console, outbox-inspect and
 * trace-view (their man pages list them from here), so a library failure becomes the right exit
 * code without a mapping table in each program:
 *   0 ok · 1 failure (an operation failed, or drift was found) · 2 usage (bad verb, flag or
 *   value) · 3 not logged in, or refused (401/403, spent session) · 4 unreachable (connection
 *   refused or timed out, DNS, gateway 502/503/504). */
#ifndef OPS_ERR_H
#define OPS_ERR_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    OPS_OK = 0,
    OPS_FAIL = 1,
    OPS_USAGE = 2,
    OPS_AUTH = 3,
    OPS_UNREACHABLE = 4,
} ops_status_t;

typedef struct ops_err {
    ops_status_t st;
    char msg[512]; /* one line, no secrets (URLs are redacted by the caller's module) */
} ops_err_t;

#define OPS_ERR_INIT {OPS_OK, ""}

/* Sets err (if not NULL) to status st with a printf-formatted message and returns st, so a
 * function can `return ops_fail(err, OPS_UNREACHABLE, "redis %s: %s", addr, why);`. */
ops_status_t ops_fail(ops_err_t *err, ops_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The short name of a status ("ok", "failure", "usage", "auth", "unreachable"). */
const char *ops_status_name(ops_status_t st);

/* What a status means as an exit code, one line, for --help and the man page. */
const char *ops_status_help(ops_status_t st);

/* Prints "PROG: error: MSG" to f (stderr if NULL); usage errors add "(try 'PROG --help')". */
void ops_err_print(const ops_err_t *err, const char *prog, FILE *f);

#endif
