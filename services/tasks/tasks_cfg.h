/* tasks_cfg — tasks-service settings, from environment variables (lib/cfg.h table).
 * `tasks-service --help` prints the table; LOG_LEVEL and OTLP_ENDPOINT are lib/svc's. */
#ifndef TASKS_CFG_H
#define TASKS_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "cfg.h"

typedef struct tasks_cfg {

    const char *redis_url;
    const char *topic;
    cfg_hostport_t relay_http_listen; /* text "": none */
    bool read_model;
    int redis_pool_size;
    int64_t redis_timeout_ms;
    bool relay_enabled;
    int relay_batch_size;
    int64_t relay_poll_interval_ms;
    int64_t relay_linger_ms;
    int relay_max_attempts;
    int64_t relay_retry_backoff_ms;
    int64_t relay_delivery_timeout_ms;
    int64_t relay_lease_ms;
    int relay_queue_max;
    int64_t outbox_retention_ms;
    int max_tasks_per_user; /* 0: no limit */
} tasks_cfg_t;

/* The service's own settings (lib/svc loads them after its standard ones — TASKS_HTTP_LISTEN,
 * TASKS_DATABASE_URL, … — logs them and prints them for --help). */
extern const cfg_table_t tasks_cfg;

#endif
