/* tasks_cfg — the settings table; see tasks_cfg.h. */
#include "tasks_cfg.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define F(field) offsetof(tasks_cfg_t, field)
#define MS_DAY 86400000LL

static const cfg_entry_t table[] = {
    {"TASKS_HTTP_LISTEN", CFG_STRING, "127.0.0.1:28082", 0, 0, F(http_listen),
     "HTTP listen address host:port (API, /health, /ready, /metrics)", false},
    {"TASKS_DATABASE_URL", CFG_STRING, NULL, 0, 0, F(database_url),
     "PostgreSQL URL of the tasks database", false},
    {"REDIS_URL", CFG_STRING, "redis://127.0.0.1:26379/0", 0, 0, F(redis_url),
     "Redis for the read model: redis://[:password@]host[:port][/db]", false},
    {"KAFKA_BROKERS", CFG_STRING, "127.0.0.1:29092", 0, 0, F(kafka_brokers),
     "Kafka bootstrap servers for the outbox relay (host:port,…)", false},
    {"AUTH_GRPC_ADDR", CFG_STRING, "127.0.0.1:28051", 0, 0, F(auth_grpc_addr),
     "auth-service gRPC address (ValidateToken)", false},
    {"OTLP_ENDPOINT", CFG_STRING, "", 0, 0, F(otlp_endpoint),
     "OTLP/HTTP collector base URL for traces (empty: no export)", false},
    {"LOG_LEVEL", CFG_STRING, "info", 0, 0, F(log_level), "debug, info, warn or error", false},
    {"TASKS_MIGRATIONS_DIR", CFG_STRING, "", 0, 0, F(migrations_dir),
     "migrations directory (default: services/tasks/migrations next to the binary)", false},
    {"TASKS_TOPIC", CFG_STRING, "task-events", 0, 0, F(topic),
     "Kafka topic the relay publishes task events to", false},
    {"TASKS_RELAY_HTTP_LISTEN", CFG_STRING, "", 0, 0, F(relay_http_listen),
     "--relay-only: host:port for /health, /ready and /metrics (empty: none)", false},
    {"TASKS_DB_POOL_SIZE", CFG_INT, "16", 2, 200, F(db_pool_size),
     "PostgreSQL connections in the request pool", false},
    {"TASKS_DB_STATEMENT_TIMEOUT", CFG_DURATION, "5s", 100, 600000, F(db_statement_timeout_ms),
     "server-side limit per SQL statement", false},
    {"TASKS_HTTP_MAX_CONNECTIONS", CFG_INT, "512", 1, 10000, F(http_max_connections),
     "concurrent HTTP connections (one thread each)", false},
    {"TASKS_SHUTDOWN_DRAIN", CFG_DURATION, "10s", 0, 120000, F(shutdown_drain_ms),
     "how long a stop waits for requests in progress", false},
    {"TASKS_AUTH_DEADLINE", CFG_DURATION, "1s", 10, 30000, F(auth_deadline_ms),
     "deadline of a ValidateToken call; past it the request fails closed with 503", false},
    {"TASKS_AUTH_CACHE_TTL", CFG_DURATION, "10s", 0, 300000, F(auth_cache_ttl_ms),
     "how long a positive validation is reused (never past the token's expiry; 0: off)", false},
    {"TASKS_AUTH_CACHE_SIZE", CFG_INT, "8192", 16, 1000000, F(auth_cache_size),
     "validations kept at most (older ones are overwritten)", false},
    {"TASKS_READ_MODEL", CFG_BOOL, "true", 0, 0, F(read_model),
     "serve GET /api/tasks from the Redis read model (false: always PostgreSQL)", false},
    {"TASKS_REDIS_POOL_SIZE", CFG_INT, "32", 1, 256, F(redis_pool_size),
     "Redis connections (a request holds one for a script call)", false},
    {"TASKS_REDIS_TIMEOUT", CFG_DURATION, "250ms", 10, 10000, F(redis_timeout_ms),
     "connect and command timeout for Redis; past it a read falls back to PostgreSQL", false},
    {"TASKS_RELAY_ENABLED", CFG_BOOL, "true", 0, 0, F(relay_enabled),
     "run the outbox relay inside the service (more relays: tasks-service --relay-only)", false},
    {"TASKS_RELAY_BATCH_SIZE", CFG_INT, "500", 1, 20000, F(relay_batch_size),
     "outbox rows read per relay round", false},
    {"TASKS_RELAY_POLL_INTERVAL", CFG_DURATION, "500ms", 10, 60000, F(relay_poll_interval_ms),
     "relay poll when no NOTIFY wakes it", false},
    {"TASKS_RELAY_LINGER", CFG_DURATION, "0", 0, 1000, F(relay_linger_ms),
     "after a round with few rows, wait this long so the next carries more (0: never)", false},
    {"TASKS_RELAY_MAX_ATTEMPTS", CFG_INT, "5", 1, 1000, F(relay_max_attempts),
     "deliveries Kafka rejects for good before a row becomes dead", false},
    {"TASKS_RELAY_RETRY_BACKOFF", CFG_DURATION, "500ms", 10, 3600000, F(relay_retry_backoff_ms),
     "first wait before a rejected row is tried again (doubles, at most 5 minutes)", false},
    {"TASKS_RELAY_DELIVERY_TIMEOUT", CFG_DURATION, "10s", 1000, 600000,
     F(relay_delivery_timeout_ms),
     "how long one message may wait for Kafka (message.timeout.ms) before the row is retried",
     false},
    {"TASKS_RELAY_QUEUE_MAX", CFG_INT, "100000", 100, 10000000, F(relay_queue_max),
     "messages the Kafka producer queues at most; a full queue makes the relay wait", false},
    {"TASKS_OUTBOX_RETENTION", CFG_DURATION, "7d", 0, 365 * MS_DAY, F(outbox_retention_ms),
     "published outbox rows are deleted this long after publication", false},
};
#define NTABLE (sizeof table / sizeof table[0])

int tasks_cfg_load(tasks_cfg_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (cfg_load(table, NTABLE, cfg, err, errlen) < 0) return -1;
    char host[256];
    uint16_t port;
    if (cfg_split_hostport(cfg->http_listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "TASKS_HTTP_LISTEN: '%s' is not host:port", cfg->http_listen);
        return -1;
    }
    if (*cfg->relay_http_listen &&
        cfg_split_hostport(cfg->relay_http_listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "TASKS_RELAY_HTTP_LISTEN: '%s' is not host:port",
                 cfg->relay_http_listen);
        return -1;
    }
    if (cfg_split_hostport(cfg->auth_grpc_addr, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "AUTH_GRPC_ADDR: '%s' is not host:port", cfg->auth_grpc_addr);
        return -1;
    }
    if (!*cfg->topic) {
        snprintf(err, errlen, "TASKS_TOPIC: must not be empty");
        return -1;
    }
    return 0;
}

void tasks_cfg_log(const tasks_cfg_t *cfg)
{
    cfg_log(table, NTABLE, cfg);
}

void tasks_cfg_usage(FILE *f)
{
    cfg_usage(f, table, NTABLE);
}
