/* ops_metrics — Prometheus text format (0.0.4) parsed into samples, for the figures the console
 * shows (backlog, request counts, lag) without a Prometheus server in between.
 *
 *   ops_metrics_t m;
 *   if (ops_metrics_parse(text, &m) == 0) {
 *       double backlog;  ops_metrics_get(&m, "outbox_backlog", NULL, &backlog);
 *       double errors = ops_metrics_sum(&m, "http_requests_total", "status=\"5");  // 5xx
 *   }
 *   ops_metrics_free(&m);
 *
 * Pure. Comments (# HELP, # TYPE) are skipped; a malformed line is skipped and counted, so one
 * odd exporter line does not hide the rest. Values: floats, +Inf, -Inf, NaN. */
#ifndef OPS_METRICS_H
#define OPS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ops_sample {
    char *name;
    char *labels;  /* the text between { and } ("" when none), as exposed */
    double value;
} ops_sample_t;

typedef struct ops_metrics {
    ops_sample_t *s;
    size_t n, cap;
    size_t bad_lines;
} ops_metrics_t;

/* Parses text. 0, or -1 if memory ran out (m is then empty). */
int ops_metrics_parse(const char *text, ops_metrics_t *m);

/* The first sample named name whose labels contain label_substr (NULL: any); true if found. */
bool ops_metrics_get(const ops_metrics_t *m, const char *name, const char *label_substr,
                     double *out);

/* The sum over samples named name whose labels contain label_substr (NULL: all); 0 if none. */
double ops_metrics_sum(const ops_metrics_t *m, const char *name, const char *label_substr);

/* Frees the samples; m is empty again. */
void ops_metrics_free(ops_metrics_t *m);

#endif
