/* auth_db — spans around database work; see auth_db.h. */
#include "auth_db.h"

#include <stdio.h>

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
