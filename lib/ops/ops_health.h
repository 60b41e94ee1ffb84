/* ops_health — is every part of the stack alive and ready, and its key figures.
 *
 *   ops_part_t parts[OPS_PARTS_MAX];  size_t n = ops_health_check(&cfg, parts, OPS_PARTS_MAX);
 *
 * One table lists the parts (gateway, the three services, PostgreSQL, Redis, Kafka, Jaeger,
 * Prometheus) with the address key and the check of each; the checks run in parallel, one
 * thread each, every one bounded by a 2 s timeout, so a dead part costs 2 s, not a hang.
 * A service is "alive" when GET /health answers 200 and "ready" when GET /ready does (its 503
 * body names the failing dependency, kept in detail); its /metrics text gives the figures. */
#ifndef OPS_HEALTH_H
#define OPS_HEALTH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "ops_cfg.h"

#define OPS_PARTS_MAX 12
#define OPS_FIGURES_MAX 8

typedef struct ops_part {
    const char *name;        /* "tasks-service" */
    char address[256];       /* without credentials; "" when not configured */
    bool configured, alive, ready;
    long latency_ms;         /* of the readiness check */
    char detail[256];        /* why not alive/ready, or a version */
    size_t nfigures;
    struct { const char *name; double value; } figures[OPS_FIGURES_MAX];
} ops_part_t;

/* Checks every part (at most max); returns how many were filled. */
size_t ops_health_check(const ops_cfg_t *cfg, ops_part_t *parts, size_t max);

/* {"parts":[{"name","address","configured","alive","ready","latency_ms","detail","figures":{}}],
 *  "ready": all configured parts ready}. Caller frees. */
cJSON *ops_health_json(const ops_part_t *parts, size_t n);

#endif
