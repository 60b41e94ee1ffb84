/* ops_err — statuses and messages; see ops_err.h. */
#include "ops_err.h"

#include <stdarg.h>
#include <stdlib.h>

#include "ops_table.h"

ops_status_t ops_fail(ops_err_t *err, ops_status_t st, const char *fmt, ...)
{
    if (err) {
        err->st = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

const char *ops_status_name(ops_status_t st)
{
    static const char *const names[] = {"ok", "failure", "usage", "auth", "unreachable"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "failure";
}

const char *ops_status_help(ops_status_t st)
{
    static const char *const help[] = {
        "ok",
        "failure: the operation failed, or drift/errors were found (readmodel diff, health)",
        "usage: unknown verb or flag, a bad value, missing configuration",
        "not logged in, session expired, or refused (401/403)",
        "unreachable: a part of the stack did not answer (connection refused, timeout, 502-504)",
    };
    return (unsigned)st < sizeof help / sizeof help[0] ? help[st] : help[OPS_FAIL];
}

void ops_err_print(const ops_err_t *err, const char *prog, FILE *f)
{
    if (!f) f = stderr;
    /* messages may quote a server's answer: never let it drive the terminal */
    char *safe = ops_sanitize(err->msg[0] ? err->msg : ops_status_name(err->st));
    fprintf(f, "%s: error: %s", prog, safe ? safe : "(out of memory)");
    free(safe);
    if (err->st == OPS_USAGE) fprintf(f, " (try '%s --help')", prog);
    fputc('\n', f);
}
