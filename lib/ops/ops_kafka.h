/* ops_kafka — reading Kafka as an operator: topics with partitions and offsets, the lag of each
 * consumer group, and tails (from the end, the beginning, an offset or a time; the last N
 * across partitions merged by timestamp; filtered by key, header or value).
 *
 *   ops_kafka_t *k;  ops_kafka_open(&k, brokers, &err);
 *   ops_tail_opts_t o = OPS_TAIL_OPTS_INIT;  o.topic = "task-events";  o.last_n = 10;
 *   ops_kafka_tail(k, &o, on_msg, arg, &err);         // on_msg(const ops_kmsg_t *, arg)
 *   ops_kafka_close(k);
 *
 * The reader never joins a group and never commits: it assigns partitions itself, so looking
 * at a topic cannot move any consumer's position (the notification-service group's included).
 * Memory is bounded: librdkafka's prefetch queue is capped (queued.max.messages.kbytes 2 MB per
 * partition, fetch.max.bytes 1 MB), and a "last N" collects at most N messages per partition.
 * Its librdkafka set-up is lib/kafka's consumer (kafka_consumer_new without a group) with a
 * small prefetch (reader_new in ops_kafka.c). */
#ifndef OPS_KAFKA_H
#define OPS_KAFKA_H

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ops_err.h"

typedef struct ops_kafka ops_kafka_t;

typedef struct ops_partition_info {
    int id, leader;
    int64_t low, high;      /* watermarks: first offset kept, next offset to be written */
} ops_partition_info_t;

typedef struct ops_topic_info {
    char name[256];
    int npart;
    int64_t messages;       /* sum of high - low */
    ops_partition_info_t *parts;
} ops_topic_info_t;

typedef struct ops_group_lag {
    char group[256], topic[256], state[32];
    int npart;
    int64_t lag;            /* sum over the partitions it has committed offsets for */
    struct { int id; int64_t committed, high, lag; } parts[64];
} ops_group_lag_t;

#define OPS_KMSG_MAX_HEADERS 16

typedef struct ops_kmsg {
    const char *topic;
    int partition;
    int64_t offset;
    int64_t ts_ms;          /* message timestamp (create or log-append time), -1 unknown */
    const char *key;        /* may be NULL; not NUL-terminated: use key_len */
    size_t key_len;
    const char *value;
    size_t value_len;
    size_t nh;
    struct { const char *name; const char *value; size_t len; } h[OPS_KMSG_MAX_HEADERS];
} ops_kmsg_t;

typedef enum { OPS_FROM_END, OPS_FROM_BEGINNING, OPS_FROM_OFFSET, OPS_FROM_TIME } ops_from_t;

typedef struct ops_tail_opts {
    const char *topic;
    ops_from_t from;
    int64_t at;                  /* offset (OPS_FROM_OFFSET) or time in ms (OPS_FROM_TIME) */
    int partition;               /* -1: all */
    long last_n;                 /* > 0: the last N across partitions, by timestamp */
    bool follow;                 /* keep waiting for new messages (else stop at the end) */
    const char *key;             /* exact key, NULL: any */
    const char *header;          /* "name=value" or "name", NULL: any */
    const char *grep;            /* substring of the value, NULL: any */
    long max;                    /* stop after this many matched messages, 0: no limit */
    int64_t idle_ms;             /* following: stop after this long without a message, 0: never */
    volatile sig_atomic_t *stop; /* set (e.g. by SIGINT) to stop; may be NULL */
} ops_tail_opts_t;

#define OPS_TAIL_OPTS_INIT {NULL, OPS_FROM_END, 0, -1, 0, false, NULL, NULL, NULL, 0, 0, NULL}

/* Called for each matching message; return non-zero to stop the tail. */
typedef int (*ops_kmsg_fn)(const ops_kmsg_t *m, void *arg);

/* A reader for brokers (KAFKA_BROKERS); nothing is connected until the first call. OPS_USAGE
 * when librdkafka refuses the configuration. ops_kafka_close frees it (NULL is ignored). */
ops_status_t ops_kafka_open(ops_kafka_t **out, const char *brokers, ops_err_t *err);
void ops_kafka_close(ops_kafka_t *k);

/* Connects and asks for metadata; *brokers gets the number of brokers. For health checks. */
ops_status_t ops_kafka_ping(const char *brokers, int timeout_ms, int *nbrokers, ops_err_t *err);

/* Every topic (internal ones, "__…", left out) with its partitions and watermarks, by name.
 * *out malloc'd: free with ops_kafka_topics_free. */
ops_status_t ops_kafka_topics(ops_kafka_t *k, ops_topic_info_t **out, size_t *n, ops_err_t *err);
/* Frees what ops_kafka_topics returned. */
void ops_kafka_topics_free(ops_topic_info_t *t, size_t n);

/* The lag of every consumer group (or only group, when not NULL) on every topic it has
 * committed offsets for: high watermark minus committed offset per partition. */
ops_status_t ops_kafka_lag(ops_kafka_t *k, const char *group, ops_group_lag_t **out, size_t *n,
                           ops_err_t *err);

/* Reads o->topic as described by o, calling fn for every message that passes the filters. */
ops_status_t ops_kafka_tail(ops_kafka_t *k, const ops_tail_opts_t *o, ops_kmsg_fn fn, void *arg,
                            ops_err_t *err);

/* True when m passes o's key, header and value filters. Pure. */
bool ops_kmsg_match(const ops_kmsg_t *m, const ops_tail_opts_t *o);

/* Appends m as one JSON object (no newline): {"topic","partition","offset","timestamp",
 * "key","headers":{…},"value"} with key, header values and value as JSON strings (invalid
 * UTF-8 replaced). Returns 0 or -1 (out of memory). */
int ops_kmsg_json(buf_t *b, const ops_kmsg_t *m);

/* ---- a bounded ring of message copies, for live views (the console's Topics view) ---------- */

typedef struct ops_kring ops_kring_t;

/* A ring keeping at most max_msgs messages and max_bytes of keys, values and headers; the
 * oldest are dropped to make room. NULL if memory ran out. */
ops_kring_t *ops_kring_new(size_t max_msgs, size_t max_bytes);
/* Frees the ring and every message in it; NULL is ignored. */
void ops_kring_free(ops_kring_t *r);

/* Copies m in. 0, or -1 if it alone is larger than max_bytes or memory ran out. */
int ops_kring_push(ops_kring_t *r, const ops_kmsg_t *m);

/* How many are kept, and the i-th oldest (0 = oldest) as a message valid until the next push. */
size_t ops_kring_len(const ops_kring_t *r);
const ops_kmsg_t *ops_kring_get(const ops_kring_t *r, size_t i);

/* Messages dropped for room so far. */
uint64_t ops_kring_dropped(const ops_kring_t *r);

#endif
