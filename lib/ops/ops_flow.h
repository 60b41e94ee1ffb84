/* ops_flow — one task change followed across the system on one time line: the request, the
 * outbox row, the commit, the publish (partition and offset), the consumer, the notification
 * and the read model, joined by event id and trace id, with the time spent in each hop.
 *
 *   ops_flow_in_t in = OPS_FLOW_IN_INIT;
 *   in.row = &row;                                  // the change: an outbox row
 *   in.trace = &t;  in.trace_json = doc;            // its trace (id from row.traceparent)
 *   in.trace_src.looked = true;                     // … or trace_src.st/msg when Jaeger failed
 *   in.kmsg = &m;   in.kafka_src.looked = true;     // the event as found in Kafka, or NULL
 *   in.notification = n; in.notify_src.looked = true;  // the API's notification, or NULL
 *   in.rm_version = 3;   in.rm_src.looked = true;   // Redis's version of the task now, -1 none
 *   ops_flow_t f;  ops_flow_build(&in, now_us, &f);
 *
 * Pure: the console gathers each input on its own backend's worker and rebuilds the flow as
 * they arrive, so a backend that is down marks only the steps that need it, with its message,
 * and the others still show. The row is the only required input.
 *
 * Where each step's time comes from (µs since the epoch; one host's clocks locally):
 *   request       the SERVER span above the relay's PRODUCER span (the one whose outbox.id or
 *                 messaging.message.id is this change's), else the trace's first SERVER span;
 *   outbox row    the row's created_at (clock_timestamp() at the INSERT: milliseconds);
 *   commit        the end of the last COMMIT span of the request before the publish;
 *   publish       the PRODUCER span that delivered it (a retried row has a failed one per
 *                 attempt; with none delivered, the latest; start: the relay took the row;
 *                 duration: until the broker's acknowledgement), else the row's
 *                 published_at; partition and
 *                 offset from the span's tags or from the message found in Kafka;
 *   consume       notification-service's CONSUMER span for the event;
 *   notification  the notification's created_at (the API's);
 *   read model    Redis's version of the task compared with the change's (no time: the
 *                 projection is written by the request and keeps no timestamp).
 * Each hop is measured from the previous step's point: the request's start, the row's insert,
 * the commit, the broker's acknowledgement (publish end), the consumer's start. */
#ifndef OPS_FLOW_H
#define OPS_FLOW_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "ops_err.h"
#include "ops_kafka.h"
#include "ops_outbox.h"
#include "ops_trace.h"

typedef enum {
    OPS_FLOW_REQUEST,
    OPS_FLOW_OUTBOX,
    OPS_FLOW_COMMIT,
    OPS_FLOW_PUBLISH,
    OPS_FLOW_CONSUME,
    OPS_FLOW_NOTIFY,
    OPS_FLOW_READMODEL,
    OPS_FLOW_STEPS
} ops_flow_kind_t;

typedef enum {
    OPS_STEP_UNKNOWN, /* its source has not answered yet */
    OPS_STEP_DONE,    /* it happened */
    OPS_STEP_PENDING, /* not yet: the row waits in the outbox, Redis is behind */
    OPS_STEP_NONE,    /* does not apply or was not found (no notification for this event) */
    OPS_STEP_DOWN,    /* its source is unreachable or failed: detail says which */
} ops_step_state_t;

typedef struct ops_flow_step {
    ops_flow_kind_t kind;
    ops_step_state_t state;
    const char *name;      /* "request", "outbox row", … */
    const char *hop_name;  /* what the hop into this step is ("outbox wait", "on the broker") */
    char service[32];      /* who did it ("tasks-service"), "" unknown */
    char source[16];       /* where the fact came from: trace, outbox, kafka, api, redis */
    int64_t at_us;         /* when, 0 unknown */
    int64_t dur_us;        /* how long the step itself took, -1 unknown */
    int64_t hop_us;        /* from the previous known step's point, -1 unknown */
    char detail[256];      /* one line, already safe to print */
} ops_flow_step_t;

typedef struct ops_flow {
    char event_id[40], event_type[48], trace_id[33];
    int64_t task_id, version, outbox_id;
    int64_t start_us, end_us;  /* the earliest and latest known points; 0 when none */
    int64_t partition, offset; /* of the published event, -1 unknown */
    ops_flow_step_t step[OPS_FLOW_STEPS];
} ops_flow_t;

/* How one source answered: not yet (looked false), or its status and message. */
typedef struct ops_flow_src {
    bool looked;
    ops_status_t st;
    const char *msg;
} ops_flow_src_t;

typedef struct ops_flow_in {
    const ops_outbox_row_t *row;
    const ops_trace_t *trace;       /* NULL: not fetched or failed (trace_src says) */
    const cJSON *trace_json;        /* the JSON trace was built from (for tags) */
    ops_flow_src_t trace_src;
    const ops_kmsg_t *kmsg;         /* the event found in Kafka, NULL: not found */
    ops_flow_src_t kafka_src;
    const cJSON *notification;      /* the API's notification with this event_id, NULL: none */
    ops_flow_src_t notify_src;
    int64_t rm_version;             /* Redis's version of the task, -1: not in Redis */
    ops_flow_src_t rm_src;
} ops_flow_in_t;

#define OPS_FLOW_IN_INIT {NULL, NULL, NULL, {false, OPS_OK, NULL}, NULL, {false, OPS_OK, NULL}, \
                          NULL, {false, OPS_OK, NULL}, -1, {false, OPS_OK, NULL}}

/* Builds the flow of in->row from what in holds; now_us dates a pending outbox wait. Never
 * fails: a step whose input is missing says so in its state and detail. */
void ops_flow_build(const ops_flow_in_t *in, int64_t now_us, ops_flow_t *out);

/* The trace id (32 hex digits) of a W3C traceparent, into out[33]; false when malformed. */
bool ops_flow_trace_id(const char *traceparent, char out[33]);

/* The flow as JSON: {"event_id","event_type","trace_id","task_id","version","outbox_id",
 * "partition","offset","steps":[{"name","state","service","source","at_us","duration_us",
 * "hop","hop_us","detail"}]}. Caller frees. */
cJSON *ops_flow_json(const ops_flow_t *f);

/* "unknown", "done", "pending", "none", "down". */
const char *ops_step_state_name(ops_step_state_t s);

#endif
