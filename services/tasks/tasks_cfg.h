/* tasks_cfg — tasks-service settings, from environment variables (lib/cfg.h table).
 * `tasks-service --help` prints the table. */
#ifndef TASKS_CFG_H
#define TASKS_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tasks_cfg {
    const char *http_listen;
    const char *database_url;
    const char *redis_url;
    const char *kafka_brokers;
    const char *auth_grpc_addr;
    const char *otlp_endpoint;
    const char *log_level;
    const char *migrations_dir;
    const char *topic;
    const char *relay_http_listen;
    int db_pool_size;
    int64_t db_statement_timeout_ms;
    int http_max_connections;
    int64_t shutdown_drain_ms;
    int64_t auth_deadline_ms;
    int64_t auth_cache_ttl_ms;
    int auth_cache_size;
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
    int relay_queue_max;
    int64_t outbox_retention_ms;
} tasks_cfg_t;

/* Loads and checks every setting; -1 with a message naming the variable. */
int tasks_cfg_load(tasks_cfg_t *cfg, char *err, size_t errlen);

/* The effective settings as one log line (secrets and URL passwords masked). */
void tasks_cfg_log(const tasks_cfg_t *cfg);

/* The table for --help. */
void tasks_cfg_usage(FILE *f);


#endif
