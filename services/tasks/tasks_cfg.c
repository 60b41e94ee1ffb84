/* tasks_cfg — the settings table; see tasks_cfg.h. */
#include "tasks_cfg.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "tasks_relay.h"

#define F(field) offsetof(tasks_cfg_t, field)
#define MS_DAY 86400000LL

static const cfg_entry_t rows[] = {
    CFG_ROW("REDIS_URL", CFG_STRING, "redis://127.0.0.1:26379/0", 0, 0, F(redis_url),
            "Redis for the read model: redis://[[user]:password@]host[:port][/db]", true),
    CFG_ROW("TASKS_TOPIC", CFG_STRING, "task-events", 0, 0, F(topic),
            "Kafka topic the relay publishes task events to", false),
    CFG_ROW("TASKS_RELAY_HTTP_LISTEN", CFG_HOSTPORT, "", 0, 0, F(relay_http_listen),
            "--relay-only: host:port for /health, /ready and /metrics (empty: none)", false),
    CFG_ROW("TASKS_READ_MODEL", CFG_BOOL, "true", 0, 0, F(read_model),
            "serve GET /api/tasks from the Redis read model (false: always PostgreSQL)", false),
    CFG_ROW("TASKS_REDIS_POOL_SIZE", CFG_INT, "32", 1, 256, F(redis_pool_size),
            "Redis connections (a request holds one for a script call)", false),
    CFG_ROW("TASKS_REDIS_TIMEOUT", CFG_DURATION, "250ms", 10, 10000, F(redis_timeout_ms),
            "connect and command timeout for Redis; past it a read falls back to PostgreSQL", false),
    CFG_ROW("TASKS_RELAY_ENABLED", CFG_BOOL, "true", 0, 0, F(relay_enabled),
            "run the outbox relay inside the service (more relays: tasks-service --relay-only)", false),
    CFG_ROW("TASKS_RELAY_BATCH_SIZE", CFG_INT, "500", 1, 20000, F(relay_batch_size),
            "outbox rows read per relay round", false),
    CFG_ROW("TASKS_RELAY_POLL_INTERVAL", CFG_DURATION, "500ms", 10, 60000, F(relay_poll_interval_ms),
            "relay poll when no NOTIFY wakes it", false),
    CFG_ROW("TASKS_RELAY_LINGER", CFG_DURATION, "0", 0, 1000, F(relay_linger_ms),
            "after a round with few rows, wait this long so the next carries more (0: never)", false),
    CFG_ROW("TASKS_RELAY_MAX_ATTEMPTS", CFG_INT, "5", 1, 1000, F(relay_max_attempts),
            "deliveries Kafka rejects for good before a row becomes dead", false),
    CFG_ROW("TASKS_RELAY_RETRY_BACKOFF", CFG_DURATION, "500ms", 10, 3600000, F(relay_retry_backoff_ms),
            "first wait before a rejected row is tried again (doubles, at most 5 minutes)", false),
    CFG_ROW("TASKS_RELAY_DELIVERY_TIMEOUT", CFG_DURATION, "5s", 1000, 600000,
            F(relay_delivery_timeout_ms),
            "how long one message may wait for Kafka (message.timeout.ms) before the row is "
            "retried; at most TASKS_RELAY_LEASE - 3s",
            false),
    CFG_ROW("TASKS_RELAY_LEASE", CFG_DURATION, "10s", 4000, 600000, F(relay_lease_ms),
            "a relay whose database session is idle this long loses its shards to the others "
            "(a frozen or cut-off relay); it stops publishing before that",
            false),
    CFG_ROW("TASKS_RELAY_QUEUE_MAX", CFG_INT, "100000", 100, 10000000, F(relay_queue_max),
            "messages the Kafka producer queues at most; a full queue makes the relay wait", false),
    CFG_ROW("TASKS_MAX_PER_USER", CFG_INT, "100000", 0, 100000000, F(max_tasks_per_user),
            "tasks one user may have; a create past it is 409 task_limit_reached (0: no limit)",
            false),
    CFG_ROW("TASKS_OUTBOX_RETENTION", CFG_DURATION, "7d", 0, 365 * MS_DAY, F(outbox_retention_ms),
            "published outbox rows are deleted this long after publication", false),
};

static int check(const void *cfg, char *err, size_t errlen)
{
    const tasks_cfg_t *c = cfg;
    if (!*c->topic) return snprintf(err, errlen, "TASKS_TOPIC: must not be empty"), -1;
    /* tasks_relay.h: every message must time out before the relay's lease can end */
    if (c->relay_delivery_timeout_ms + TASKS_RELAY_LEASE_SLACK_MS > c->relay_lease_ms)
        return snprintf(err, errlen,
                        "TASKS_RELAY_DELIVERY_TIMEOUT: %lld ms is more than TASKS_RELAY_LEASE "
                        "(%lld ms) minus %d ms; a message could outlive its relay's lease",
                        (long long)c->relay_delivery_timeout_ms, (long long)c->relay_lease_ms,
                        TASKS_RELAY_LEASE_SLACK_MS),
               -1;
    return 0;
}

const cfg_table_t tasks_cfg = {rows, sizeof rows / sizeof rows[0], check};
