/* ops_trace — a trace as an operator reads it: Jaeger's JSON turned into a span tree with
 * depths and offsets, clock skew corrected, self times, the critical path and the async hops.
 *
 *   ops_trace_t t;
 *   if (ops_trace_parse(text, len, &t, &err) != OPS_OK) …     // /api/traces/{id} or one trace
 *   for (size_t k = 0; k < t.n; k++) { const ops_span_t *s = &t.spans[t.order[k]]; … }
 *   ops_trace_free(&t);
 *
 * Pure (no I/O), so trace-view --file, the console and the CLI share it and the unit tests
 * feed it saved JSON. The rules:
 * - Parent: a span's first CHILD_OF reference in the same trace, else its first FOLLOWS_FROM.
 *   A parent id not in the trace makes the span an orphan root (counted in t.orphans): traces
 *   arrive incomplete when an exporter dropped spans. A cycle in the parent links is an error.
 * - Clock skew (hosts' clocks differ): a child can not start before its parent, and a SERVER
 *   span can not outlast the CLIENT span that called it. Such a child's subtree is shifted —
 *   centred in the parent when it fits, else to the parent's start — and the shift is kept in
 *   skew_us, as Jaeger's UI does. Async children (a consumer after its producer) may end after
 *   their parent and are only moved if they start before it.
 * - Self time: the span's duration minus the union of its children's intervals within it.
 * - Critical path: from the root, repeatedly the child whose subtree finishes last before the
 *   current point, walking back in time (Jaeger's algorithm), with subtrees allowed to end after
 *   their parent so an async hop and its consumer can be on the path.
 * - Async hops: OUTBOX — from the end of the last work of the request that wrote the row (the
 *   latest span in the producer's parent's subtree ending before the publish started, else the
 *   parent's start) to the relay's PRODUCER span (one with an outbox.id tag); BROKER — from a
 *   PRODUCER span's end (the broker's acknowledgement) to the start of a CONSUMER child.
 * Limits: at most OPS_TRACE_MAX_SPANS spans (more is an error, never a crash). */
#ifndef OPS_TRACE_H
#define OPS_TRACE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops_err.h"

#define OPS_TRACE_MAX_SPANS 200000

typedef enum {
    OPS_SPAN_INTERNAL,
    OPS_SPAN_SERVER,
    OPS_SPAN_CLIENT,
    OPS_SPAN_PRODUCER,
    OPS_SPAN_CONSUMER
} ops_span_kind_t;

typedef enum { OPS_HOP_NONE, OPS_HOP_OUTBOX, OPS_HOP_BROKER } ops_hop_kind_t;

typedef struct ops_span {
    char span_id[17], parent_id[17]; /* parent_id "" for a root */
    const char *service;             /* points into the trace's strings */
    char *name;
    char *status_msg;                /* error message or NULL */
    int64_t start_us, dur_us;        /* start after skew correction, epoch µs */
    int64_t skew_us;                 /* shift applied for clock skew */
    int64_t offset_us, self_us;      /* from the trace's start; own time */
    ops_span_kind_t kind;
    int parent;                      /* index, -1 for roots */
    int first_child, next_sibling;   /* children in start order; -1 ends */
    int depth;
    bool error, orphan, follows_from, critical, has_outbox_id;
    ops_hop_kind_t hop;              /* the async hop that ends at this span */
    int64_t hop_start_us, hop_dur_us;
} ops_span_t;

typedef struct ops_trace {
    char trace_id[33];
    size_t n;
    ops_span_t *spans;
    int *order;                      /* display order: depth-first, children by start */
    int64_t start_us, end_us;
    size_t roots, orphans, skewed, services;
    int slowest;                     /* the span with the most self time, -1 when empty */
    char **strings;                  /* service names */
    size_t nstrings;
} ops_trace_t;

/* Builds a trace from Jaeger JSON text: an /api/traces answer ({"data":[trace,…]}; the first
 * trace is taken) or one trace object. OPS_FAIL with a clear message for invalid JSON, wrong
 * types, a cycle, too many spans or a trace without spans. */
ops_status_t ops_trace_parse(const char *text, size_t len, ops_trace_t *out, ops_err_t *err);

/* The same from a parsed trace object ({"traceID","spans","processes"}). */
ops_status_t ops_trace_from_json(const cJSON *trace, ops_trace_t *out, ops_err_t *err);

/* Frees the spans and strings; t is empty again. */
void ops_trace_free(ops_trace_t *t);

/* The computed layout as JSON: {"trace_id","start_us","duration_us","spans":[{span_id,
 * parent_id, service, name, kind, depth, offset_us, duration_us, self_us, critical, error,
 * orphan, skew_us, hop, hop_offset_us, hop_duration_us}], "slowest_span", "services",
 * "orphans", "skewed"}. Spans in display order. Caller frees. */
cJSON *ops_trace_json(const ops_trace_t *t);

/* "internal", "server", … and "outbox", "broker", "" for the enums. */
const char *ops_span_kind_name(ops_span_kind_t k);
const char *ops_hop_kind_name(ops_hop_kind_t k);

/* The root span to name a trace by: the earliest-starting root. -1 when empty. */
int ops_trace_root(const ops_trace_t *t);

#endif
