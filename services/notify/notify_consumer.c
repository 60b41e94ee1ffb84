/* notify_consumer — consume, apply exactly once in effect, then commit; see notify_consumer.h. */
#include "notify_consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "notify_event.h"
#include "notify_store.h"
#include "trace.h"

#define RETRY_MS 250          /* a held round is tried again this often (recovery < 1 s) */
#define DLQ_TIMEOUT_MS 10000  /* how long one dead letter may take to be acknowledged */
#define LAG_EVERY_MS 1000
#define MAX_PARTITIONS 256    /* for the lag gauge's series */

struct notify_consumer {
    notify_consumer_config_t cfg;
    kafka_client_t *kafka, *dlq;
    rd_kafka_t *rk;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    /* the round */
    rd_kafka_message_t **msgs; /* batch_max */
    size_t nmsgs;
    notify_event_t *evs;
    size_t *ev_msg; /* evs[i] came from msgs[ev_msg[i]] */
    notify_outcome_t *out;
    int64_t *ids;
    bool held;               /* the round failed: partitions paused, retried every RETRY_MS */
    atomic_bool held_flag;   /* the same, for the readiness check */
    long long next_try_ms, next_lag_ms;
    rd_kafka_resp_err_t dlq_err; /* set by the DLQ's delivery report */
    bool dlq_reported;
    /* metrics */
    metrics_family_t *m_processed, *m_dead, *m_lag;
    metrics_series_t *m_duplicates, *m_stale, *m_rounds_failed, *m_commit_failed, *m_seconds;
    metrics_series_t *m_lag_series[MAX_PARTITIONS];
};

/* ==== partitions ======================================================================== */

static void pause_all(notify_consumer_t *c, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) return;
    if (pause)
        rd_kafka_pause_partitions(c->rk, parts);
    else
        rd_kafka_resume_partitions(c->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Forgets the held messages of partitions taken away: their next owner reads them again
 * from the committed offset (nothing of them was recorded). */
static void on_rebalance(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *parts,
                         void *user)
{
    notify_consumer_t *c = user;
    log_info(err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "consumer: partitions assigned"
                                                         : "consumer: partitions revoked",
             LOG_INT("count", parts->cnt));
    /* rebalances run inside rd_kafka_consumer_poll: between rounds, or while a round is
     * gathered or held — never while one is being recorded */
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) return;
    size_t keep = 0;
    for (size_t i = 0; i < c->nmsgs; i++) {
        bool revoked = false;
        for (int k = 0; k < parts->cnt; k++)
            if (parts->elems[k].partition == c->msgs[i]->partition) revoked = true;
        if (revoked)
            rd_kafka_message_destroy(c->msgs[i]);
        else
            c->msgs[keep++] = c->msgs[i];
    }
    c->nmsgs = keep;
    if (keep == 0 && c->held) {
        c->held = false;
        atomic_store(&c->held_flag, false);
    }
}

/* ==== the dead-letter topic ============================================================= */

static void on_dlq_delivery(const rd_kafka_message_t *m, void *user)
{
    notify_consumer_t *c = user;
    c->dlq_err = m->err;
    c->dlq_reported = true;
}

/* Copies m to the DLQ with its key and headers plus dlq_reason, dlq_detail and its origin,
 * and waits for the broker's acknowledgement. 0, or -1 (the round must be held). */
static int dead_letter(notify_consumer_t *c, const rd_kafka_message_t *m, const char *reason,
                       const char *detail)
{
    rd_kafka_headers_t *h = NULL, *orig = NULL;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(8);
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    rd_kafka_header_add(h, "dlq_reason", -1, reason, -1);
    rd_kafka_header_add(h, "dlq_detail", -1, detail, -1);
    rd_kafka_header_add(h, "dlq_source_topic", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(h, "dlq_source_partition", -1, part, -1);
    rd_kafka_header_add(h, "dlq_source_offset", -1, off, -1);
    c->dlq_reported = false;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        kafka_handle(c->dlq), RD_KAFKA_V_TOPIC(c->cfg.dlq_topic),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        log_warn("consumer: dead letter not queued", LOG_STR("error", rd_kafka_err2str(err)));
        return -1;
    }
    long long until = clock_mono_ms() + DLQ_TIMEOUT_MS;
    while (!c->dlq_reported && clock_mono_ms() < until && !atomic_load(&c->stop))
        rd_kafka_poll(kafka_handle(c->dlq), 100);
    if (!c->dlq_reported || c->dlq_err) {
        log_warn("consumer: dead letter not acknowledged",
                 LOG_STR("error", c->dlq_reported ? rd_kafka_err2str(c->dlq_err) : "timed out"));
        return -1;
    }
    metrics_add(metrics_series(c->m_dead, METRICS_LABELS(reason)), 1);
    log_warn("consumer: event dead-lettered", LOG_STR("reason", reason), LOG_STR("detail", detail),
             LOG_INT("partition", m->partition), LOG_INT("offset", m->offset));
    return 0;
}

/* Gives a message back: the partition is moved back to it, so it is read again (a message
 * dropped without this would be skipped by the next commit). */
static void unread(notify_consumer_t *c, rd_kafka_message_t *m)
{
    if (!m->err) {
        rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(at, rd_kafka_topic_name(m->rkt), m->partition)->offset =
            m->offset;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, at, 2000);
        if (e) {
            log_error("consumer: cannot seek back; the partition is read again after a restart",
                      LOG_STR("error", rd_kafka_error_string(e)));
            rd_kafka_error_destroy(e);
        }
        rd_kafka_topic_partition_list_destroy(at);
    }
    rd_kafka_message_destroy(m);
}

/* ==== a round =========================================================================== */

/* Polls up to batch_max messages, waiting at most batch_wait_ms in all. */
static void gather(notify_consumer_t *c)
{
    long long until = clock_mono_ms() + c->cfg.batch_wait_ms;
    while (c->nmsgs < (size_t)c->cfg.batch_max && !atomic_load(&c->stop)) {
        long long left = until - clock_mono_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);
        if (!m) {
            if (left <= 0 || c->nmsgs > 0) break; /* nothing more now: go with what there is */
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn("consumer: error", LOG_STR("error", rd_kafka_message_errstr(m)));
            rd_kafka_message_destroy(m);
            continue;
        }
        c->msgs[c->nmsgs++] = m;
    }
}

/* A CONSUMER span per event, child of the publish span through the traceparent header. */
static trace_span_t *consume_span(notify_consumer_t *c, const notify_event_t *e)
{
    trace_ctx_t parent;
    bool has = e->traceparent[0] && trace_parent_parse(e->traceparent, &parent) == 0;
    char name[160];
    snprintf(name, sizeof name, "%s process", c->cfg.topic);
    trace_span_t *sp = trace_span_start(name, TRACE_KIND_CONSUMER, has ? &parent : NULL);
    trace_span_set_str(sp, "messaging.system", "kafka");
    trace_span_set_str(sp, "messaging.destination.name", c->cfg.topic);
    trace_span_set_str(sp, "messaging.consumer.group.name", c->cfg.group);
    trace_span_set_str(sp, "messaging.message.id", e->id);
    trace_span_set_int(sp, "messaging.kafka.destination.partition", e->partition);
    trace_span_set_int(sp, "messaging.kafka.message.offset", e->offset);
    trace_span_set_str(sp, "event.type", notify_event_type_name(e->type));
    return sp;
}

/* Parses the round's messages, dead-letters the invalid ones, applies the rest.
 * 0 done (commit), -1 failed (hold and retry). */
static int process(notify_consumer_t *c)
{
    size_t nev = 0;
    for (size_t i = 0; i < c->nmsgs; i++) {
        rd_kafka_message_t *m = c->msgs[i];
        char hid[64], reason[32], detail[128];
        bool has_hid = kafka_header(m, "event_id", hid, sizeof hid) == 0;
        notify_event_t *e = &c->evs[nev];
        if (notify_event_parse(m->payload, m->len, has_hid ? hid : NULL, e, reason, sizeof reason,
                               detail, sizeof detail) < 0) {
            if (dead_letter(c, m, reason, detail) < 0) return -1;
            continue;
        }
        if (kafka_header(m, "traceparent", e->traceparent, sizeof e->traceparent) < 0)
            e->traceparent[0] = '\0';
        e->partition = m->partition;
        e->offset = m->offset;
        c->ev_msg[nev++] = i;
    }
    if (nev == 0) return 0;
    trace_span_t **spans = calloc(nev, sizeof *spans);
    for (size_t i = 0; spans && i < nev; i++) {
        spans[i] = consume_span(c, &c->evs[i]);
        /* what the notification keeps is this span's context: its deliveries (the webhook
         * call) are children of the processing, not of the publish */
        trace_ctx_t ctx;
        if (trace_span_ctx(spans[i], &ctx) == 0) trace_parent_format(&ctx, c->evs[i].traceparent);
    }
    int64_t t0 = clock_mono_ns();
    pg_err e;
    int rc = notify_store_apply(c->cfg.pool, c->evs, nev, c->cfg.webhook, c->out, c->ids, &e);
    metrics_observe(c->m_seconds, clock_since_s(t0));
    for (size_t i = 0; i < nev; i++) {
        trace_span_t *sp = spans ? spans[i] : NULL;
        if (rc < 0) {
            trace_span_set_status(sp, TRACE_STATUS_ERROR, e.msg);
            trace_span_end(sp);
            continue;
        }
        const notify_event_t *ev = &c->evs[i];
        const char *outcome = notify_store_outcome_name(c->out[i]);
        trace_span_set_str(sp, "notify.outcome", outcome);
        if (c->ids[i]) trace_span_set_int(sp, "notify.notification_id", c->ids[i]);
        metrics_add(metrics_series(c->m_processed,
                                   METRICS_LABELS(notify_event_type_name(ev->type), outcome)),
                    1);
        if (c->out[i] == NOTIFY_OUT_DUPLICATE) metrics_add(c->m_duplicates, 1);
        if (c->out[i] == NOTIFY_OUT_STALE) metrics_add(c->m_stale, 1);
        if (c->ids[i]) {
            /* the log channel: one JSON line per notification, inside the event's trace */
            trace_span_activate(sp);
            log_info("notification", LOG_INT("notification_id", c->ids[i]),
                     LOG_INT("user_id", ev->user_id), LOG_INT("task_id", ev->task_id),
                     LOG_STR("event_id", ev->id), LOG_STR("event_type", notify_event_type_name(ev->type)),
                     LOG_STR("channel", "log"));
            trace_span_deactivate(sp);
            metrics_add(metrics_series(c->cfg.deliveries, METRICS_LABELS("log", "delivered")), 1);
        }
        trace_span_end(sp);
    }
    free(spans);
    if (rc < 0) {
        if (!c->held)
            log_error("consumer: the batch could not be recorded; consumption paused",
                      LOG_STR("sqlstate", e.sqlstate), LOG_STR("error", e.msg),
                      LOG_INT("events", (long long)nev));
        return -1;
    }
    return 0;
}

/* The outcome of an (asynchronous) commit. A failed one loses nothing: the rounds since the
 * last good commit are read again after a restart or rebalance, and found recorded. */
static void on_commit(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *offsets,
                      void *user)
{
    notify_consumer_t *c = user;
    if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    metrics_add(c->m_commit_failed, 1);
    log_warn("consumer: offset commit failed; the rounds since the last one may be read again",
             LOG_STR("error", rd_kafka_err2str(err)), LOG_INT("partitions", offsets ? offsets->cnt : 0));
}

/* Commits, per partition, the offset after the last message of the round — asynchronously:
 * the round is recorded already, so waiting for the broker would only idle the consumer for
 * a round trip per round; the outcome comes to on_commit. */
static void commit(notify_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)c->nmsgs);
    for (size_t i = 0; i < c->nmsgs; i++) {
        rd_kafka_message_t *m = c->msgs[i];
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(offs, rd_kafka_topic_name(m->rkt), m->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(offs, rd_kafka_topic_name(m->rkt), m->partition);
        if (m->offset + 1 > p->offset) p->offset = m->offset + 1;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, offs, 1 /* async */);
    if (err) on_commit(err, offs, c);
    rd_kafka_topic_partition_list_destroy(offs);
}

static void drop_round(notify_consumer_t *c)
{
    for (size_t i = 0; i < c->nmsgs; i++) rd_kafka_message_destroy(c->msgs[i]);
    c->nmsgs = 0;
}

/* The lag of each assigned partition: the end of the partition (as last fetched) minus this
 * consumer's position. */
static void update_lag(notify_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) return;
    rd_kafka_position(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = 0;
        if (p->partition < 0 || p->partition >= MAX_PARTITIONS ||
            rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) != 0 ||
            hi < 0)
            continue;
        int64_t pos = p->offset >= 0 ? p->offset : lo;
        if (!c->m_lag_series[p->partition]) {
            char label[16];
            snprintf(label, sizeof label, "%d", (int)p->partition);
            c->m_lag_series[p->partition] = metrics_series(c->m_lag, METRICS_LABELS(label));
        }
        metrics_set(c->m_lag_series[p->partition], (double)(hi > pos ? hi - pos : 0));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void *run(void *arg)
{
    notify_consumer_t *c = arg;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, c->cfg.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) log_error("consumer: subscribe failed", LOG_STR("error", rd_kafka_err2str(err)));
    log_info("consumer: started", LOG_STR("topic", c->cfg.topic), LOG_STR("group", c->cfg.group));
    while (!atomic_load(&c->stop)) {
        long long now = clock_mono_ms();
        if (now >= c->next_lag_ms) {
            update_lag(c);
            c->next_lag_ms = now + LAG_EVERY_MS;
        }
        if (c->held) {
            /* serve rebalances and keep the group membership; paused partitions give nothing */
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
            if (m) unread(c, m); /* fetched before the pause took hold */
            if (!c->held || clock_mono_ms() < c->next_try_ms) continue;
        } else {
            gather(c);
            if (c->nmsgs == 0) continue;
        }
        if (process(c) < 0) {
            if (!c->held) pause_all(c, true);
            c->held = true;
            atomic_store(&c->held_flag, true);
            metrics_add(c->m_rounds_failed, 1);
            c->next_try_ms = clock_mono_ms() + RETRY_MS;
            continue;
        }
        commit(c);
        drop_round(c);
        if (c->held) {
            log_info("consumer: the batch went through; consumption resumed");
            pause_all(c, false);
            c->held = false;
            atomic_store(&c->held_flag, false);
        }
    }
    drop_round(c); /* uncommitted: read again by the next owner */
    return NULL;
}

/* ==== lifecycle ========================================================================= */

int notify_consumer_ready_check(void *arg, char *err, size_t errlen)
{
    notify_consumer_t *c = arg;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 0, NULL, &md, 1500);
    if (md) rd_kafka_metadata_destroy(md);
    if (e) return snprintf(err, errlen, "kafka: %s", rd_kafka_err2str(e)), -1;
    return 0;
}

static void register_metrics(notify_consumer_t *c, metrics_registry_t *reg)
{
    if (!reg) return;
    char e[256];
    c->m_processed = metrics_counter(reg, "notify_events_processed_total",
                                     "Task events handled, by type and outcome "
                                     "(notified, ignored, stale, duplicate).",
                                     "type,outcome", e, sizeof e);
    c->m_duplicates = metrics_series(
        metrics_counter(reg, "notify_duplicates_total",
                        "Events delivered again and found already processed (no effect).", NULL,
                        e, sizeof e),
        NULL);
    c->m_stale = metrics_series(
        metrics_counter(reg, "notify_stale_total",
                        "Events older than a version already processed for their task.", NULL, e,
                        sizeof e),
        NULL);
    c->m_dead = metrics_counter(reg, "notify_dead_lettered_total",
                                "Messages sent to the dead-letter topic, by reason.", "reason", e,
                                sizeof e);
    c->m_rounds_failed = metrics_series(
        metrics_counter(reg, "notify_batches_failed_total",
                        "Batches that could not be recorded (held and retried).", NULL, e,
                        sizeof e),
        NULL);
    c->m_commit_failed = metrics_series(
        metrics_counter(reg, "notify_offset_commits_failed_total",
                        "Offset commits that failed after a recorded batch.", NULL, e, sizeof e),
        NULL);
    static const double b[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    c->m_seconds = metrics_series(
        metrics_histogram(reg, "notify_batch_seconds", "Time to record one batch in PostgreSQL.",
                          NULL, b, sizeof b / sizeof b[0], e, sizeof e),
        NULL);
    c->m_lag = metrics_gauge(reg, "notify_consumer_lag",
                             "Messages of task-events not yet consumed, per partition.",
                             "partition", e, sizeof e);
}

int notify_consumer_new(const notify_consumer_config_t *cfg, notify_consumer_t **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    notify_consumer_t *c = calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), -1;
    c->cfg = *cfg;
    if (c->cfg.batch_max < 1) c->cfg.batch_max = 1;
    size_t n = (size_t)c->cfg.batch_max;
    c->msgs = calloc(n, sizeof *c->msgs);
    c->evs = calloc(n, sizeof *c->evs);
    c->ev_msg = calloc(n, sizeof *c->ev_msg);
    c->out = calloc(n, sizeof *c->out);
    c->ids = calloc(n, sizeof *c->ids);
    atomic_init(&c->stop, false);
    atomic_init(&c->held_flag, false);
    if (!c->msgs || !c->evs || !c->ev_msg || !c->out || !c->ids) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    register_metrics(c, cfg->metrics);
    /* a prefetch of 16 MB keeps a backlog flowing (a round takes about 1,000 events of a few
     * hundred bytes) without the default 64 MB per consumer in memory */
    const char *const props[][2] = {{"queued.max.messages.kbytes", "16384"}};
    kafka_config_t kc = {.brokers = cfg->brokers,
                         .client_id = "notification-service",
                         .group_id = cfg->group,
                         .props = props,
                         .nprops = 1,
                         .on_rebalance = on_rebalance,
                         .on_commit = on_commit,
                         .user = c};
    if (!(c->kafka = kafka_consumer_new(&kc, err, errlen))) goto fail;
    c->rk = kafka_handle(c->kafka);
    kafka_config_t dc = {.brokers = cfg->brokers,
                         .client_id = "notification-service-dlq",
                         .on_delivery = on_dlq_delivery,
                         .user = c};
    if (!(c->dlq = kafka_producer_new(&dc, err, errlen))) goto fail;
    *out = c;
    return 0;
fail:
    notify_consumer_free(c);
    return -1;
}

int notify_consumer_start(notify_consumer_t *c, char *err, size_t errlen)
{
    if (pthread_create(&c->thread, NULL, run, c) != 0)
        return snprintf(err, errlen, "cannot start the consumer thread"), -1;
    c->started = true;
    return 0;
}

void notify_consumer_free(notify_consumer_t *c)
{
    if (!c) return;
    atomic_store(&c->stop, true);
    if (c->started) pthread_join(c->thread, NULL);
    kafka_free(c->kafka, 0, false); /* leaves the group: its partitions go to the others */
    kafka_free(c->dlq, 2000, false);
    free(c->msgs);
    free(c->evs);
    free(c->ev_msg);
    free(c->out);
    free(c->ids);
    free(c);
}
