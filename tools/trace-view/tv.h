/* trace-view — a trace as a waterfall in the terminal (CONTRACT §9). main.c holds the option
 * table; tv_source.c finds the trace(s) (a file or standard input, Jaeger by id, the last N
 * of a service, the slowest recent one); tv_view.c lays each out (lib/ops/ops_waterfall) and
 * prints it, or its layout as JSON. The model is lib/ops/ops_trace. */
#ifndef TV_H
#define TV_H

#include "ops_cmd.h"
#include "ops_trace.h"

#define TV_PROG "trace-view"
/* A file or standard input larger than this is refused before it is parsed: about 50,000
 * spans of Jaeger's JSON, and cJSON holds several times the text in memory. */
#define TV_MAX_INPUT (32 * 1024 * 1024)

typedef struct tv_traces {
    ops_trace_t *t;      /* the models, most recent first for --last */
    size_t n;
    cJSON *compared;     /* --slowest: the ids of the traces compared (an array), else NULL */
    const char *service; /* --last / --slowest: the service searched */
} tv_traces_t;

/* Loads what the options ask for: exactly one of TRACE_ID, --file, --last, --slowest (a usage
 * error otherwise). Errors name the file or the Jaeger address. */
ops_status_t tv_source_load(ops_cmd_t *c, tv_traces_t *out);
void tv_source_free(tv_traces_t *tr);

/* The program's one verb: load, lay out, print. */
ops_status_t tv_view_run(ops_cmd_t *c);

#endif
