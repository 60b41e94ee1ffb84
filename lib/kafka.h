/* kafka — the librdkafka set-up every Kafka client of the system shares: the outbox relay
 * (producer), notification-service (group consumer) and the console's topic reader (a
 * consumer without a group that never commits).
 *
 *   static void delivered(const rd_kafka_message_t *m, void *user) { ... m->err ... }
 *   const char *const props[][2] = {{"message.timeout.ms", "10000"}};
 *   kafka_config_t kc = {.brokers = "127.0.0.1:29092", .client_id = "outbox-relay",
 *                        .props = props, .nprops = 1, .on_delivery = delivered, .user = r};
 *   kafka_client_t *k = kafka_producer_new(&kc, err, sizeof err);
 *   rd_kafka_producev(kafka_handle(k), ...);  rd_kafka_poll(kafka_handle(k), 100);
 *   if (kafka_fatal(k)) { kafka_free(k, 0); k = kafka_producer_new(...); }
 *   kafka_free(k, 2000);
 *
 * Why one module: the properties that matter for correctness (idempotence, acks=all, the
 * Java-compatible partitioner, manual commits), the reconnect backoff that makes a returning
 * broker be noticed within a second, and the logging of librdkafka's own messages were
 * copied per client before and had started to differ. The defaults below are the system's
 * policy; a caller adds or overrides properties with its own table (applied after them).
 *
 * Logging: librdkafka's log lines go through lib/log as "librdkafka" lines, and client-level
 * errors (broker down, all brokers down …) as one warning per error code, repeated at most
 * every KAFKA_LOG_REPEAT_MS — an outage writes a few lines, not one per reconnect attempt.
 * Both are rate-limited per client (KAFKA_LOG_BURST lines per KAFKA_LOG_REPEAT_MS, then a
 * count of what was suppressed). A fatal error (idempotent producer state lost) is logged
 * once and raises kafka_fatal(): the owner makes a new client.
 *
 * Threads: callbacks run on the thread that calls rd_kafka_poll / rd_kafka_consumer_poll
 * (delivery reports, rebalances) or on librdkafka's own threads (logs); the module's state
 * is locked, the caller's `user` is only handed back. */
#ifndef TODO_KAFKA_H
#define TODO_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#define KAFKA_LOG_REPEAT_MS 30000
#define KAFKA_LOG_BURST 20

typedef struct kafka_client kafka_client_t;

typedef struct kafka_config {
    const char *brokers;   /* bootstrap.servers: "host:port,host:port" */
    const char *client_id; /* client.id, also the "client" field of its log lines */
    const char *group_id;  /* consumers: the consumer group; NULL: a reader without a group,
                              which reads with the per-partition API (rd_kafka_consume_start
                              on a queue of its own) and never commits — librdkafka 2.0
                              refuses assign() without a group ("Local: Unknown group") */
    const char *const (*props)[2]; /* extra {name, value} properties, applied last */
    size_t nprops;
    /* producers: every delivery report (m->err == 0: the broker has it, with acks=all) */
    void (*on_delivery)(const rd_kafka_message_t *m, void *user);
    /* group consumers: partitions assigned (err RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) or
     * revoked (__REVOKE_PARTITIONS). The module performs the (incremental) assign/unassign
     * itself after the callback returns, so the callback only settles its own work — e.g.
     * finishes and commits what it processed of a partition being revoked. NULL: none. */
    void (*on_rebalance)(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *parts,
                         void *user);
    /* consumers: the outcome of every commit (err 0: the group has the offsets), served by
     * rd_kafka_consumer_poll — what an asynchronous commit reports through. NULL: none. */
    void (*on_commit)(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *offsets,
                      void *user);
    void *user; /* handed back to the callbacks */
} kafka_config_t;

/* An idempotent producer: acks=all, enable.idempotence, lz4, linger 1 ms, murmur2_random
 * (Java's partitioner, so every client agrees on a key's partition), fast reconnects.
 * Returns NULL with a message in err (a bad property names itself). */
kafka_client_t *kafka_producer_new(const kafka_config_t *cfg, char *err, size_t errlen);

/* A consumer: manual commits only (enable.auto.commit=false, auto offset store off), starts at
 * the earliest offset when its group has none, cooperative-sticky assignment, fast
 * reconnects. With a group_id it can subscribe; without one it is a reader of the
 * per-partition API (see group_id) and never commits. The main queue is redirected to the consumer queue, so
 * rd_kafka_consumer_poll serves every callback. Returns NULL with a message in err. */
kafka_client_t *kafka_consumer_new(const kafka_config_t *cfg, char *err, size_t errlen);

/* The librdkafka handle, for produce/poll/subscribe/metadata calls. */
rd_kafka_t *kafka_handle(kafka_client_t *k);

/* True once librdkafka reported a fatal error; the client is then useless and must be
 * replaced (what it had queued is lost to it; an outbox row simply stays pending). */
bool kafka_fatal(const kafka_client_t *k);

/* The time of the last client-level error (broker down …) on CLOCK_MONOTONIC in ms, or 0.
 * Lets a readiness check say "kafka: <error>" without its own bookkeeping. */
long long kafka_last_error(const kafka_client_t *k, char *why, size_t whylen);

/* Producers: purges what is queued (purge_first) or not, flushes up to flush_ms, destroys.
 * Consumers: closes (leaving the group, which revokes and so commits through on_rebalance)
 * and destroys. NULL is ignored. */
void kafka_free(kafka_client_t *k, int flush_ms, bool purge_first);

/* The value of header name of m copied NUL-terminated into out (cut to outlen - 1), or -1
 * when m has no such header (or a NULL value). Header values are bytes; a value with a NUL
 * inside is refused (-1) rather than cut silently. */
int kafka_header(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen);

#endif
