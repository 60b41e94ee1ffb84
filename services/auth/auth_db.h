/* auth_db — what every database call of the service shares: a CLIENT span per operation
 * (so a request's trace shows its PostgreSQL work), the migrations directory lookup, and
 * the mapping of a database error to an HTTP answer. */
#ifndef AUTH_DB_H
#define AUTH_DB_H

#include <stddef.h>

#include "pg.h"
#include "trace.h"

/* Starts a CLIENT span "pg <op>" under this thread's current span (db.system=postgresql,
 * db.operation=op) and makes it current. Pair with auth_db_span_end. */
trace_span_t *auth_db_span(const char *op);

/* Ends a span from auth_db_span; with rc < 0 marks it failed with err's SQLSTATE. */
void auth_db_span_end(trace_span_t *span, int rc, const pg_err *err);

/* Finds the migrations directory: override if non-empty, else the first of
 * EXE_DIR/../services/auth/migrations, EXE_DIR/../../../services/auth/migrations (the
 * sanitizer build in build/asan/bin) and /usr/share/auth-service/migrations that exists.
 * Returns 0 with the path in out, or -1 with what was tried in err. */
int auth_db_migrations_dir(const char *override, char *out, size_t outlen, char *err,
                           size_t errlen);

#endif
