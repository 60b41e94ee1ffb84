/* kafka — librdkafka set-up shared by every Kafka client; see kafka.h. */
#include "kafka.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

struct kafka_client {
    rd_kafka_t *rk;
    kafka_config_t cfg; /* callbacks and user; the strings are not kept */
    char client_id[64];
    bool consumer;
    atomic_bool fatal;
    pthread_mutex_t mu; /* the logging budget and the last error */
    long long window_start_ms;
    int lines_in_window;
    long suppressed;
    rd_kafka_resp_err_t last_err;
    long long last_err_ms, last_err_logged_ms;
    char last_reason[160];
};

/* The system's policy, before any caller's properties. */
static const char *const common_props[][2] = {
    /* a broker that comes back is used again within a second (issue 13, item 2): librdkafka
     * jitters the backoff by -25 %..+50 %, so a 500 ms cap means a new attempt at most
     * 750 ms apart; while the broker is down that is two refused connects a second */
    {"reconnect.backoff.ms", "100"},
    {"reconnect.backoff.max.ms", "500"},
    {"socket.keepalive.enable", "true"},
    /* warnings and worse; debug lines would flood the JSON log */
    {"log_level", "4"},
};

static const char *const producer_props[][2] = {
    /* no duplicates from the producer's own retries, order kept per partition */
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"linger.ms", "1"},
    {"compression.type", "lz4"},
    /* Java's partitioner: any client that hashes the key agrees on the partition */
    {"partitioner", "murmur2_random"},
};

static const char *const consumer_props[][2] = {
    /* an offset is committed only by the owner, after the event is processed */
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"},
    /* a rebalance moves only the partitions that change owner */
    {"partition.assignment.strategy", "cooperative-sticky"},
    /* partition EOF events are noise for a consumer; readers ask for watermarks instead */
    {"enable.partition.eof", "false"},
};

/* ==== logging =========================================================================== */

/* True when one more line fits this client's budget; says how many were suppressed when a
 * new window opens. Called with k->mu held. */
static bool log_budget(kafka_client_t *k)
{
    long long now = clock_mono_ms();
    if (now - k->window_start_ms >= KAFKA_LOG_REPEAT_MS) {
        if (k->suppressed)
            log_warn("librdkafka: lines suppressed", LOG_STR("client", k->client_id),
                     LOG_INT("suppressed", k->suppressed));
        k->window_start_ms = now;
        k->lines_in_window = 0;
        k->suppressed = 0;
    }
    if (k->lines_in_window >= KAFKA_LOG_BURST) {
        k->suppressed++;
        return false;
    }
    k->lines_in_window++;
    return true;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_client_t *k = rk ? rd_kafka_opaque(rk) : NULL;
    if (k) {
        pthread_mutex_lock(&k->mu);
        bool ok = log_budget(k);
        pthread_mutex_unlock(&k->mu);
        if (!ok) return;
    }
    log_emit(level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN : LOG_DEBUG, "librdkafka",
             (const log_field_t[]){LOG_STR("client", k ? k->client_id : ""),
                                   LOG_STR("facility", fac), LOG_STR("detail", buf)},
             3);
}

/* Client-level errors: one line per change of error, repeated at most every
 * KAFKA_LOG_REPEAT_MS while it lasts. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_client_t *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        if (!atomic_exchange(&k->fatal, true))
            log_error("kafka: fatal client error; the client must be made again",
                      LOG_STR("client", k->client_id), LOG_STR("error", why));
        return;
    }
    long long now = clock_mono_ms();
    pthread_mutex_lock(&k->mu);
    bool say = err != (int)k->last_err || now - k->last_err_logged_ms >= KAFKA_LOG_REPEAT_MS;
    k->last_err = (rd_kafka_resp_err_t)err;
    k->last_err_ms = now;
    snprintf(k->last_reason, sizeof k->last_reason, "%s", reason ? reason : "");
    if (say) k->last_err_logged_ms = now;
    pthread_mutex_unlock(&k->mu);
    if (say)
        log_warn("kafka: client error", LOG_STR("client", k->client_id),
                 LOG_STR("error", rd_kafka_err2name(err)), LOG_STR("reason", reason));
}

/* ==== callbacks forwarded to the owner ================================================== */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kafka_client_t *k = opaque;
    if (k->cfg.on_delivery) k->cfg.on_delivery(m, k->cfg.user);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kafka_client_t *k = opaque;
    if (k->cfg.on_rebalance) k->cfg.on_rebalance(err, parts, k->cfg.user);
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        cooperative ? (void)(e = rd_kafka_incremental_assign(rk, parts))
                    : (void)(re = rd_kafka_assign(rk, parts));
    else
        cooperative ? (void)(e = rd_kafka_incremental_unassign(rk, parts))
                    : (void)(re = rd_kafka_assign(rk, NULL));
    if (e) {
        log_error("kafka: (un)assign failed", LOG_STR("client", k->client_id),
                  LOG_STR("error", rd_kafka_error_string(e)));
        rd_kafka_error_destroy(e);
    } else if (re) {
        log_error("kafka: (un)assign failed", LOG_STR("client", k->client_id),
                  LOG_STR("error", rd_kafka_err2str(re)));
    }
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    kafka_client_t *k = opaque;
    if (k->cfg.on_commit) k->cfg.on_commit(err, offsets, k->cfg.user);
}

/* ==== set-up ============================================================================ */

static int set_all(rd_kafka_conf_t *conf, const char *const (*props)[2], size_t n, char *err,
                   size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "kafka property %s: %s", props[i][0], why);
            return -1;
        }
    }
    return 0;
}

#define NPROPS(t) (sizeof(t) / sizeof((t)[0]))

static kafka_client_t *client_new(const kafka_config_t *cfg, bool consumer, char *err,
                                  size_t errlen)
{
    if (!cfg->brokers || !*cfg->brokers) {
        snprintf(err, errlen, "no Kafka bootstrap servers given");
        return NULL;
    }
    kafka_client_t *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->cfg = *cfg;
    k->consumer = consumer;
    snprintf(k->client_id, sizeof k->client_id, "%s", cfg->client_id ? cfg->client_id : "todo");
    pthread_mutex_init(&k->mu, NULL);
    atomic_init(&k->fatal, false);
    k->window_start_ms = clock_mono_ms();

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const base[][2] = {{"bootstrap.servers", cfg->brokers},
                                   {"client.id", k->client_id}};
    if (set_all(conf, base, NPROPS(base), err, errlen) < 0 ||
        set_all(conf, common_props, NPROPS(common_props), err, errlen) < 0 ||
        (consumer ? set_all(conf, consumer_props, NPROPS(consumer_props), err, errlen)
                  : set_all(conf, producer_props, NPROPS(producer_props), err, errlen)) < 0 ||
        (consumer && cfg->group_id &&
         set_all(conf, (const char *const[][2]){{"group.id", cfg->group_id}}, 1, err, errlen) <
             0) ||
        set_all(conf, cfg->props, cfg->nprops, err, errlen) < 0)
        goto fail;
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, k);
    if (consumer) {
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    }
    else
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char why[256];
    k->rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!k->rk) {
        snprintf(err, errlen, "kafka client: %s", why);
        goto fail;
    }
    if (consumer) rd_kafka_poll_set_consumer(k->rk);
    return k;
fail:
    rd_kafka_conf_destroy(conf);
    pthread_mutex_destroy(&k->mu);
    free(k);
    return NULL;
}

kafka_client_t *kafka_producer_new(const kafka_config_t *cfg, char *err, size_t errlen)
{
    return client_new(cfg, false, err, errlen);
}

kafka_client_t *kafka_consumer_new(const kafka_config_t *cfg, char *err, size_t errlen)
{
    return client_new(cfg, true, err, errlen);
}

rd_kafka_t *kafka_handle(kafka_client_t *k)
{
    return k->rk;
}

bool kafka_fatal(const kafka_client_t *k)
{
    return atomic_load(&k->fatal);
}

long long kafka_last_error(const kafka_client_t *k, char *why, size_t whylen)
{
    kafka_client_t *mk = (kafka_client_t *)k; /* the mutex, not the state, changes */
    pthread_mutex_lock(&mk->mu);
    long long at = k->last_err_ms;
    if (why && whylen)
        snprintf(why, whylen, "%s%s%s", at ? rd_kafka_err2name(k->last_err) : "",
                 at && k->last_reason[0] ? ": " : "", at ? k->last_reason : "");
    pthread_mutex_unlock(&mk->mu);
    return at;
}

void kafka_free(kafka_client_t *k, int flush_ms, bool purge_first)
{
    if (!k) return;
    if (k->consumer) {
        rd_kafka_consumer_close(k->rk);
    } else {
        if (purge_first) rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(k->rk, flush_ms);
    }
    rd_kafka_destroy(k->rk);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

int kafka_header(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v ||
        memchr(v, '\0', n) || !outlen)
        return -1;
    size_t c = n < outlen - 1 ? n : outlen - 1;
    memcpy(out, v, c);
    out[c] = '\0';
    return 0;
}
