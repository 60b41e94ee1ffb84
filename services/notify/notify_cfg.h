/* notify_cfg — notification-service's own settings, from environment variables (a lib/cfg
 * table). The standard ones (NOTIFY_HTTP_LISTEN, NOTIFY_DATABASE_URL, AUTH_GRPC_ADDR,
 * KAFKA_BROKERS, LOG_LEVEL …) are lib/svc's; `notification-service --help` lists both. */
#ifndef NOTIFY_CFG_H
#define NOTIFY_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"

typedef struct notify_cfg {
    const char *topic;
    const char *dlq_topic;
    const char *group;
    int batch_max;
    int64_t batch_wait_ms;
    const char *webhook_url; /* "": no webhook channel */
    int64_t webhook_timeout_ms;
    int webhook_max_attempts;
    int64_t webhook_backoff_ms;
    int64_t reminder_period_ms;
} notify_cfg_t;

extern const cfg_table_t notify_cfg;

#endif
