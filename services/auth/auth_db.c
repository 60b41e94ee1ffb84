/* auth_db — spans around database work and the migrations directory; see auth_db.h. */
#include "auth_db.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

trace_span_t *auth_db_span(const char *op)
{
    char name[96];
    snprintf(name, sizeof name, "pg %s", op);
    trace_span_t *sp = trace_span_start(name, TRACE_KIND_CLIENT, NULL);
    trace_span_set_str(sp, "db.system", "postgresql");
    trace_span_set_str(sp, "db.name", "auth");
    trace_span_set_str(sp, "db.operation", op);
    trace_span_activate(sp);
    return sp;
}

void auth_db_span_end(trace_span_t *span, int rc, const pg_err *err)
{
    if (rc < 0) {
        trace_span_set_str(span, "db.sqlstate", err && err->sqlstate[0] ? err->sqlstate : "");
        trace_span_set_status(span, TRACE_STATUS_ERROR, err ? err->msg : NULL);
    }
    trace_span_end(span);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int auth_db_migrations_dir(const char *override, char *out, size_t outlen, char *err, size_t errlen)
{
    if (override && *override) {
        if (!is_dir(override)) {
            snprintf(err, errlen, "AUTH_MIGRATIONS_DIR %s is not a directory", override);
            return -1;
        }
        snprintf(out, outlen, "%s", override);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(err, errlen, "cannot find the executable's directory; set AUTH_MIGRATIONS_DIR");
        return -1;
    }
    exe[n] = '\0';
    const char *dir = dirname(exe);
    const char *rel[] = {"/../services/auth/migrations", "/../../../services/auth/migrations"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX];
        snprintf(cand, sizeof cand, "%s%s", dir, rel[i]);
        char real[PATH_MAX];
        if (is_dir(cand) && realpath(cand, real)) {
            snprintf(out, outlen, "%s", real);
            return 0;
        }
    }
    if (is_dir("/usr/share/auth-service/migrations")) {
        snprintf(out, outlen, "/usr/share/auth-service/migrations");
        return 0;
    }
    snprintf(err, errlen,
             "no migrations directory next to %s (tried ../services/auth/migrations); set "
             "AUTH_MIGRATIONS_DIR",
             dir);
    return -1;
}
