/* ops_jaeger — Jaeger's query API (the HTTP JSON API under /api that its UI uses).
 *
 *   ops_jaeger_t *jq = ops_jaeger_new(jaeger_url);
 *   ops_jaeger_query_t q = {.service = "tasks-service", .limit = 20};
 *   cJSON *traces;                       // the "data" array: trace objects for ops_trace
 *   ops_jaeger_find(jq, &q, &traces, &err);  … cJSON_Delete(traces);
 *   ops_jaeger_free(jq);
 *
 * Times are µs since the epoch, as the API takes them (start, end); durations are strings the
 * API parses ("250ms", "1.5s"). A transport failure is OPS_UNREACHABLE naming the address; a
 * trace id Jaeger does not know is OPS_FAIL "trace … not found". */
#ifndef OPS_JAEGER_H
#define OPS_JAEGER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "ops_err.h"

typedef struct ops_jaeger ops_jaeger_t;

typedef struct ops_jaeger_query {
    const char *service;       /* required by Jaeger */
    const char *operation;     /* NULL: any */
    const char *tags;          /* JSON object text {"http.status_code":"500"}, NULL: none */
    const char *min_duration;  /* "100ms", NULL: none */
    const char *max_duration;
    int64_t start_us, end_us;  /* 0: the last hour up to now */
    int limit;                 /* 0: 20 */
} ops_jaeger_query_t;

/* A client for base (JAEGER_QUERY_URL); NULL if memory ran out. */
ops_jaeger_t *ops_jaeger_new(const char *base);
/* Frees the client; NULL is ignored. */
void ops_jaeger_free(ops_jaeger_t *jq);

/* The services Jaeger knows (a JSON array of strings). */
ops_status_t ops_jaeger_services(ops_jaeger_t *jq, cJSON **out, ops_err_t *err);

/* A service's operations: [{"name","spanKind"}]. */
ops_status_t ops_jaeger_operations(ops_jaeger_t *jq, const char *service, cJSON **out,
                                   ops_err_t *err);

/* Traces matching q: the "data" array of trace objects (most recent first, as Jaeger orders). */
ops_status_t ops_jaeger_find(ops_jaeger_t *jq, const ops_jaeger_query_t *q, cJSON **out,
                             ops_err_t *err);

/* One trace object by id (32 hex digits). */
ops_status_t ops_jaeger_trace(ops_jaeger_t *jq, const char *trace_id, cJSON **out, ops_err_t *err);

#endif
