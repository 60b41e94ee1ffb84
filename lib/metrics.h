/* metrics — a Prometheus registry rendered in the text exposition format 0.0.4.
 *
 *   metrics_family_t *req = metrics_counter(reg, "http_requests_total",
 *                                           "HTTP requests by route and status.",
 *                                           "route,status", err, sizeof err);
 *   metrics_add(metrics_series(req, METRICS_LABELS("GET /tasks", "200")), 1);
 *
 * A family is a named metric with fixed label names; a series is one set of
 * label values, created on first use and kept for the registry's lifetime.
 * Updating a series is lock-free (atomics); finding a series by its label
 * values takes the family's mutex, so hot paths without labels, or with a
 * handful of fixed values, may keep the series pointer. Everything is
 * thread-safe. Follow Prometheus naming: base units (_seconds, _bytes),
 * counters end in _total. */
#ifndef TODO_METRICS_H
#define TODO_METRICS_H

#include <stddef.h>

#include "buf.h"

#define METRICS_MAX_LABELS 4

/* The Content-Type a /metrics response must carry. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct metrics_registry metrics_registry_t;
typedef struct metrics_family metrics_family_t;
typedef struct metrics_series metrics_series_t;

typedef enum { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_type_t;

/* Label values for metrics_series, in the order of the family's label names. */
#define METRICS_LABELS(...) ((const char *const[]){__VA_ARGS__})

/* Returns an empty registry, or NULL if memory ran out. */
metrics_registry_t *metrics_registry_new(void);

/* Frees the registry with all its families and series; no other thread may
 * still use it or pointers obtained from it. NULL is ignored. */
void metrics_registry_free(metrics_registry_t *reg);

/* Registers a counter or gauge. labels is a comma-separated list of label
 * names ("route,status"), or NULL/"" for none, at most METRICS_MAX_LABELS.
 * Returns the family, or NULL with a message in err if the metric or a label
 * name is invalid, the name is already registered, or memory ran out. */
metrics_family_t *metrics_counter(metrics_registry_t *reg, const char *name, const char *help,
                                  const char *labels, char *err, size_t errlen);
metrics_family_t *metrics_gauge(metrics_registry_t *reg, const char *name, const char *help,
                                const char *labels, char *err, size_t errlen);

/* Registers a histogram with the given upper bounds (finite, strictly
 * increasing; "+Inf" is implicit). buckets == NULL selects the default set for
 * HTTP latency in seconds: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10. Label "le"
 * is reserved. Errors as metrics_counter. */
metrics_family_t *metrics_histogram(metrics_registry_t *reg, const char *name, const char *help,
                                    const char *labels, const double *buckets, size_t nbuckets,
                                    char *err, size_t errlen);

/* Registers an unlabelled counter or gauge whose value is fn(ctx), evaluated at
 * every render (e.g. outbox backlog). fn runs under the registry's lock: it must
 * not call into this registry, and should be quick. Returns 0, or -1 with a
 * message in err (bad name, duplicate, histogram type, no memory). */
int metrics_callback(metrics_registry_t *reg, metrics_type_t type, const char *name,
                     const char *help, double (*fn)(void *ctx), void *ctx, char *err,
                     size_t errlen);

/* Finds or creates the series with these label values (exactly as many as the
 * family has label names; NULL when it has none). Values may be any bytes of
 * text; they are escaped when rendered. Returns NULL if f is NULL or a
 * callback, values is NULL for a labelled family, or memory ran out; the
 * update functions below ignore NULL, so calls can chain. */
metrics_series_t *metrics_series(metrics_family_t *f, const char *const *values);

/* Counter or gauge: adds v (a negative v is ignored for counters, which only go up). */
void metrics_add(metrics_series_t *s, double v);

/* Gauge: sets the value (ignored for other types). */
void metrics_set(metrics_series_t *s, double v);

/* Histogram: records one observation (ignored for other types). */
void metrics_observe(metrics_series_t *s, double v);

/* Appends the whole registry in text format 0.0.4 (families in registration
 * order, series in creation order) to out. Returns 0, or -1 if memory ran out. */
int metrics_render(metrics_registry_t *reg, buf_t *out);

#endif
