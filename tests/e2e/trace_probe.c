/* trace-probe — proves libtodo's tracing end to end against the real Jaeger:
 * sends a server span with a child client span through the OTLP exporter, logs
 * one line inside the child, and prints the root's traceparent on stdout.
 * tests/e2e/test_lib_tracing.py reads the trace back from Jaeger's query API.
 *
 * usage: trace-probe OTLP_ENDPOINT      exit 0 when the exporter sent every span */
#include <stdio.h>

#include "log.h"
#include "trace.h"

int main(int argc, char **argv)
{
    char err[256];
    if (argc != 2) {
        fprintf(stderr, "usage: trace-probe OTLP_ENDPOINT\n");
        return 2;
    }
    log_init("trace-probe", LOG_INFO);
    if (trace_exporter_start("trace-probe", argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "trace-probe: %s\n", err);
        return 1;
    }

    trace_span_t *root = trace_span_start("probe GET /thing", TRACE_KIND_SERVER, NULL);
    trace_span_activate(root);
    trace_span_set_str(root, "http.request.method", "GET");
    trace_span_set_int(root, "http.response.status_code", 200);

    trace_span_t *child = trace_span_start("probe SELECT", TRACE_KIND_CLIENT, NULL);
    trace_span_activate(child);
    trace_span_set_str(child, "db.system", "postgresql");
    trace_span_set_status(child, TRACE_STATUS_ERROR, "probe error status");
    log_info("inside the child span", LOG_STR("probe", "yes"));
    trace_span_end(child);

    trace_ctx_t ctx;
    char tp[TRACE_PARENT_LEN + 1];
    trace_span_ctx(root, &ctx);
    trace_parent_format(&ctx, tp);
    trace_span_end(root);

    int rc = trace_exporter_flush(10000);
    trace_stats_t st;
    trace_exporter_stats(&st);
    trace_exporter_stop();
    printf("%s\n", tp);
    if (rc != 0 || st.exported < 2) {
        fprintf(stderr, "trace-probe: exported %llu spans, dropped %llu+%llu\n",
                (unsigned long long)st.exported, (unsigned long long)st.dropped_queue_full,
                (unsigned long long)st.dropped_export);
        return 1;
    }
    return 0;
}
