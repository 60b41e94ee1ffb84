/* auth_db — what every database call of the service shares: a CLIENT span per operation
 * (so a request's trace shows its PostgreSQL work). */
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

#endif
