/* tasks_relay — the outbox relay; the mechanism is described in tasks_relay.h.
 *
 * One relay is one thread with one PostgreSQL connection (LISTEN, the shard locks, the batch
 * queries and the marks) and one idempotent Kafka producer. A round:
 *   rebalance (at most once a second): count relays, keep ceil(64/N) shard locks
 *   read      the pending heads of the held shards, oldest first (one row per task)
 *   produce   every row, serving delivery reports while the producer queue is full
 *   wait      until every row has its delivery report (bounded; purge on stop)
 *   mark      published = true for the delivered rows; attempts/last_error/dead for the rest
 * and, when a round found nothing, sleep on the connection's socket (NOTIFY), the local
 * eventfd and the stop eventfd, at most poll_interval. */
#include "tasks_relay.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "clock.h"
#include "kafka.h"
#include "buf.h"
#include "log.h"
#include "pg.h"
#include "shutdown.h"
#include "tasks_outbox.h"
#include "trace.h"

/* pg_try_advisory_lock(RELAY_LOCK_CLASS, shard): ASCII "task" as an int4. */
#define RELAY_LOCK_CLASS "1952543595"
#define REBALANCE_MS 1000
#define PRUNE_EVERY_MS 60000
#define PRUNE_MAX_ROWS 200000
#define RECONNECT_MS 250 /* the database back: publishing again within a second */
#define STOP_GRACE_MS 3000
#define PROGRESS_LOG_MS 10000
/* Kafka unavailable: a round already waited message.timeout.ms for its deliveries, so the
 * pause between such rounds stays short; a broker that returns during it is used at once */
#define TRANSIENT_BACKOFF_MAX_MS 500
#define MAX_BACKOFF_MS (5 * 60 * 1000)
#define SLOW_READ_MS 50
#define HEARTBEAT_MS 1000 /* the session never idles longer than this while the relay waits */
#define ANALYZE_EVERY_MS 60000

/* A row of the batch being published. Strings point into the batch's PGresult, which lives
 * until the round is over (messages are copied into librdkafka anyway). */
typedef struct relay_row {
    int64_t id;
    int64_t aggregate_id;
    int attempts;
    int64_t created_ms;
    const char *event_id, *event_type, *topic, *key, *payload, *traceparent;
    size_t payload_len;
    trace_span_t *span;
    bool sent;      /* handed to librdkafka: a delivery report will come */
    bool reported;  /* the delivery report (or a produce error) is in */
    rd_kafka_resp_err_t err;
} relay_row_t;

struct tasks_relay {
    tasks_relay_config_t cfg;
    char *url, *brokers; /* owned copies */
    pthread_t thread;
    bool threaded;
    atomic_bool stop;
    int stop_fd;
    PGconn *conn;
    kafka_client_t *kafka;
    rd_kafka_t *rk; /* kafka_handle(kafka), or NULL */
    bool held[TASKS_RELAY_SHARDS];
    int nheld;
    long long lease_until_ms; /* our end of the session's lease: last query sent + lease_ms */
    long long next_heartbeat_ms;
    atomic_int shards_gauge;
    unsigned rotor;
    long long next_rebalance_ms, next_prune_ms, next_progress_ms, next_analyze_ms;
    /* the batch */
    uintptr_t round;
    relay_row_t *rows;
    tasks_relay_pick_row_t *picks;
    bool *send;
    size_t outstanding;
    /* what happened, for logs and metrics */
    atomic_uint_fast64_t published;
    uint64_t published_logged, failed, queue_full_waits;
    bool kafka_down_logged;
    metrics_series_t *m_published, *m_failed_transient, *m_failed_permanent, *m_dead,
        *m_batches, *m_latency, *m_queue_full;
};

static bool stopping(tasks_relay_t *r);
static bool wait_for_work(tasks_relay_t *r, long long timeout_ms);

/* ==== pure parts ======================================================================== */

size_t tasks_relay_pick(const tasks_relay_pick_row_t *rows, size_t n, bool *send)
{
    size_t picked = 0;
    for (size_t i = 0; i < n; i++) {
        send[i] = true;
        /* batches are at most a few thousand rows: the quadratic scan is cheaper than a hash */
        for (size_t j = 0; j < i; j++)
            if (rows[j].aggregate_id == rows[i].aggregate_id) {
                send[i] = false;
                break;
            }
        picked += send[i];
    }
    return picked;
}

bool tasks_relay_err_purged(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
}

bool tasks_relay_err_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return true;
    default:
        /* broker down, timeouts, no leader, unknown topic (it may be created yet), fatal
         * producer state (a new producer is made): the same bytes may well go through later */
        return false;
    }
}

int64_t tasks_relay_backoff_ms(int64_t base_ms, int attempts)
{
    if (base_ms <= 0) base_ms = 1;
    int64_t b = base_ms;
    for (int i = 1; i < attempts && b < MAX_BACKOFF_MS; i++)
        b *= 2;
    return b < MAX_BACKOFF_MS ? b : MAX_BACKOFF_MS;
}

int tasks_relay_shard_target(int shards, int n)
{
    if (n < 1) n = 1;
    return (shards + n - 1) / n;
}

bool tasks_relay_may_produce(long long now_ms, long long lease_until_ms, int64_t timeout_ms)
{
    return now_ms + timeout_ms + TASKS_RELAY_LEASE_SLACK_MS <= lease_until_ms;
}

/* ==== small helpers ===================================================================== */

static bool stopping(tasks_relay_t *r)
{
    return atomic_load(&r->stop) || shutdown_requested();
}

static double shards_gauge(void *ctx)
{
    return (double)atomic_load(&((tasks_relay_t *)ctx)->shards_gauge);
}

/* ==== Kafka ============================================================================= */

/* Delivery report: runs inside rd_kafka_poll on the relay thread. */
static void on_delivery(const rd_kafka_message_t *m, void *opaque)
{
    tasks_relay_t *r = opaque;
    /* the opaque is (round << 24 | index + 1), not a pointer: a report that arrives after its
     * round gave up on it (it cannot, short of a hung librdkafka) must not touch the rows of
     * a later round */
    uintptr_t tag = (uintptr_t)m->_private;
    size_t idx = (size_t)(tag & 0xFFFFFF);
    if (idx == 0 || (tag >> 24) != (r->round & ((uintptr_t)-1 >> 24)) ||
        idx > (size_t)r->cfg.batch_size)
        return;
    relay_row_t *row = &r->rows[idx - 1];
    if (!row->sent || row->reported) return;
    row->err = m->err;
    row->reported = true;
    if (r->outstanding) r->outstanding--;
    if (row->span) {
        if (m->err) {
            trace_span_set_status(row->span, TRACE_STATUS_ERROR, rd_kafka_err2str(m->err));
        } else {
            trace_span_set_int(row->span, "messaging.kafka.destination.partition", m->partition);
            trace_span_set_int(row->span, "messaging.kafka.message.offset", m->offset);
        }
        trace_span_end(row->span);
        row->span = NULL;
    }
    if (!m->err) {
        double lat = (double)(clock_wall_ms() - row->created_ms) / 1000.0;
        metrics_observe(r->m_latency, lat < 0 ? 0 : lat);
    }
}

/* The idempotent producer (lib/kafka's policy) with the relay's own limits. */
static int producer_create(tasks_relay_t *r, char *err, size_t errlen)
{
    char timeout[24], qmax[24];
    snprintf(timeout, sizeof timeout, "%lld", (long long)r->cfg.delivery_timeout_ms);
    snprintf(qmax, sizeof qmax, "%d", r->cfg.queue_max);
    const char *const props[][2] = {
        {"message.timeout.ms", timeout},
        {"queue.buffering.max.messages", qmax},
    };
    kafka_config_t kc = {.brokers = r->brokers,
                         .client_id = TASKS_RELAY_APP_NAME,
                         .props = props,
                         .nprops = sizeof props / sizeof props[0],
                         .on_delivery = on_delivery,
                         .user = r};
    if (!(r->kafka = kafka_producer_new(&kc, err, errlen))) return -1;
    r->rk = kafka_handle(r->kafka);
    return 0;
}

/* Drops the producer: what is still queued is purged (its rows stay pending). */
static void producer_destroy(tasks_relay_t *r)
{
    kafka_free(r->kafka, 2000, true);
    r->kafka = NULL;
    r->rk = NULL;
}

/* ==== PostgreSQL ======================================================================== */

/* The relay's own session: its application_name is how relays count each other, and its
 * advisory locks are its shards, released by the server when the session ends. Its commits
 * (the marks) do not wait for the WAL flush: a mark lost in a database crash only makes the
 * row go out again — a duplicate, which at-least-once allows — and not waiting for a disk
 * flush per round is most of a round's time when a busy task drains one event at a time.
 * The session is also the relay's lease (tasks_relay.h): the server ends it after lease_ms
 * without a statement (idle_session_timeout), or when the relay's host stops answering TCP
 * (server-side keepalives, and tcp_user_timeout for data it cannot deliver); the client side
 * has the same keepalives and user timeout for a server that vanished. */
static int relay_connect(tasks_relay_t *r)
{
    char options[256], user_timeout[24];
    snprintf(options, sizeof options,
             "-c statement_timeout=60000 -c synchronous_commit=off -c jit=off "
             "-c idle_session_timeout=%lld -c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 "
             "-c tcp_keepalives_count=3 -c tcp_user_timeout=%lld",
             (long long)r->cfg.lease_ms, (long long)r->cfg.lease_ms);
    snprintf(user_timeout, sizeof user_timeout, "%lld", (long long)r->cfg.lease_ms);
    const char *kw[] = {"dbname", "application_name", "connect_timeout", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "options",
                        NULL};
    const char *val[] = {r->url, TASKS_RELAY_APP_NAME, "3", "2", "1", "3", user_timeout, options,
                         NULL};
    long long sent = clock_mono_ms();
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        log_warn("relay: cannot connect to the database; retrying",
                 LOG_STR("error", c ? PQerrorMessage(c) : "out of memory"));
        PQfinish(c);
        return -1;
    }
    PGresult *res = PQexec(c, "LISTEN " TASKS_OUTBOX_CHANNEL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        log_warn("relay: LISTEN failed", LOG_STR("error", PQerrorMessage(c)));
        PQfinish(c);
        return -1;
    }
    r->conn = c;
    memset(r->held, 0, sizeof r->held);
    r->nheld = 0;
    atomic_store(&r->shards_gauge, 0);
    r->next_rebalance_ms = 0;
    r->lease_until_ms = sent + r->cfg.lease_ms;
    r->next_heartbeat_ms = 0;
    return 0;
}

/* A statement sent at sent_ms succeeded: the server's idle clock restarted no earlier. */
static void renewed(tasks_relay_t *r, long long sent_ms)
{
    r->lease_until_ms = sent_ms + r->cfg.lease_ms;
    r->next_heartbeat_ms = sent_ms + HEARTBEAT_MS;
}

/* While the relay waits (for Kafka's reports, for room in its queue), a statement once a
 * second keeps its session from idling into the lease's end. 0, or -1 when the session is
 * gone (the lease is lost: the caller stops producing). */
static int heartbeat(tasks_relay_t *r)
{
    long long now = clock_mono_ms();
    if (!r->conn) return -1;
    if (now < r->next_heartbeat_ms) return 0;
    PGresult *res = PQexec(r->conn, "SELECT 1");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    if (!ok) return -1;
    renewed(r, now);
    return 0;
}

/* Closing the session releases every shard lock at once. Only between rounds. */
static void relay_disconnect(tasks_relay_t *r, const char *why)
{
    if (!r->conn) return;
    if (why) log_warn("relay: database connection dropped", LOG_STR("why", why));
    PQfinish(r->conn);
    r->conn = NULL;
    memset(r->held, 0, sizeof r->held);
    r->nheld = 0;
    atomic_store(&r->shards_gauge, 0);
}

static void shard_list(const bool *which, int first, int count, buf_t *b)
{
    buf_putc(b, '{');
    bool any = false;
    for (int s = first; s < TASKS_RELAY_SHARDS && count; s++)
        if (which[s]) {
            buf_printf(b, "%s%d", any ? "," : "", s);
            any = true;
            count--;
        }
    buf_putc(b, '}');
}

/* Keeps ceil(64/N) shards for N live relays. Called only between rounds, when nothing of
 * this relay is in flight, so a released shard's rows are either marked or pending. */
static int rebalance(tasks_relay_t *r)
{
    pg_err e;
    long long sent = clock_mono_ms();
    const char *p[] = {TASKS_RELAY_APP_NAME};
    PGresult *res = pg_query(r->conn,
                             "SELECT count(*) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND application_name = $1",
                             1, p, &e);
    if (!res) return -1;
    renewed(r, sent);
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    int target = tasks_relay_shard_target(TASKS_RELAY_SHARDS, n);
    int before = r->nheld;

    if (r->nheld > target) {
        bool drop[TASKS_RELAY_SHARDS] = {false};
        int extra = r->nheld - target;
        for (int s = TASKS_RELAY_SHARDS - 1; s >= 0 && extra; s--)
            if (r->held[s]) drop[s] = true, extra--;
        buf_t list = BUF_INIT;
        shard_list(drop, 0, TASKS_RELAY_SHARDS, &list);
        const char *up[] = {buf_str(&list)};
        res = pg_query(r->conn,
                       "SELECT pg_advisory_unlock(" RELAY_LOCK_CLASS ", s) "
                       "FROM unnest($1::int[]) s",
                       1, up, &e);
        buf_free(&list);
        if (!res) return -1;
        PQclear(res);
        for (int s = 0; s < TASKS_RELAY_SHARDS; s++)
            if (drop[s]) r->held[s] = false, r->nheld--;
    } else if (r->nheld < target) {
        /* candidates from a per-relay starting point, so relays starting together spread;
         * the executor stops calling pg_try_advisory_lock once LIMIT rows passed */
        buf_t list = BUF_INIT;
        buf_putc(&list, '{');
        int k = 0;
        for (int i = 0; i < TASKS_RELAY_SHARDS; i++) {
            int s = (int)((r->rotor + (unsigned)i) % TASKS_RELAY_SHARDS);
            if (!r->held[s]) buf_printf(&list, "%s%d", k++ ? "," : "", s);
        }
        buf_putc(&list, '}');
        char need[16];
        snprintf(need, sizeof need, "%d", target - r->nheld);
        const char *lp[] = {buf_str(&list), need};
        res = pg_query(r->conn,
                       "SELECT s FROM unnest($1::int[]) s "
                       "WHERE pg_try_advisory_lock(" RELAY_LOCK_CLASS ", s) LIMIT $2::int",
                       2, lp, &e);
        buf_free(&list);
        if (!res) return -1;
        for (int i = 0; i < PQntuples(res); i++) {
            int s = atoi(PQgetvalue(res, i, 0));
            if (s >= 0 && s < TASKS_RELAY_SHARDS && !r->held[s]) r->held[s] = true, r->nheld++;
        }
        PQclear(res);
    }
    atomic_store(&r->shards_gauge, r->nheld);
    if (r->nheld != before)
        log_info("relay: shards rebalanced", LOG_INT("relays", n), LOG_INT("target", target),
                 LOG_INT("held", r->nheld), LOG_INT("before", before));
    return 0;
}

/* ==== one round ========================================================================= */

/* Hands one row to librdkafka, waiting for room while the queue is full (backpressure).
 * Returns 0 when queued (or failed for good: row->reported is set), -1 when stopping or when
 * the lease no longer leaves room for the message's timeout (the row stays pending). */
static int produce_row(tasks_relay_t *r, size_t idx)
{
    relay_row_t *row = &r->rows[idx];
    /* fencing: the message must be past its timeout before another relay can take the shard */
    if (!tasks_relay_may_produce(clock_mono_ms(), r->lease_until_ms, r->cfg.delivery_timeout_ms) &&
        (heartbeat(r) < 0 ||
         !tasks_relay_may_produce(clock_mono_ms(), r->lease_until_ms, r->cfg.delivery_timeout_ms)))
        return -1;
    void *tag = (void *)((r->round << 24) | (uintptr_t)(idx + 1));
    trace_ctx_t parent;
    bool has_parent = row->traceparent && trace_parent_parse(row->traceparent, &parent) == 0;
    char name[160];
    snprintf(name, sizeof name, "%s publish", row->topic);
    row->span = trace_span_start(name, TRACE_KIND_PRODUCER, has_parent ? &parent : NULL);
    trace_span_set_str(row->span, "messaging.system", "kafka");
    trace_span_set_str(row->span, "messaging.destination.name", row->topic);
    trace_span_set_str(row->span, "messaging.message.id", row->event_id);
    trace_span_set_int(row->span, "outbox.id", row->id);
    /* the async hop the trace shows as its own segment: how long the row waited */
    long long waited = clock_wall_ms() - row->created_ms;
    trace_span_set_int(row->span, "outbox.wait_ms", waited > 0 ? waited : 0);
    trace_ctx_t mine;
    char tp[TRACE_PARENT_LEN + 1] = "";
    if (trace_span_ctx(row->span, &mine) == 0)
        trace_parent_format(&mine, tp);
    else if (has_parent)
        snprintf(tp, sizeof tp, "%s", row->traceparent);

    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(row->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(row->key, strlen(row->key)),
            RD_KAFKA_V_VALUE((void *)row->payload, row->payload_len),
            RD_KAFKA_V_HEADER("event_id", row->event_id, -1),
            RD_KAFKA_V_HEADER("event_type", row->event_type, -1),
            RD_KAFKA_V_HEADER("traceparent", tp, -1),
            RD_KAFKA_V_HEADER("content-type", "application/json", -1), RD_KAFKA_V_OPAQUE(tag),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            row->sent = true;
            r->outstanding++;
            return 0;
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (stopping(r) || heartbeat(r) < 0 ||
                !tasks_relay_may_produce(clock_mono_ms(), r->lease_until_ms,
                                         r->cfg.delivery_timeout_ms))
                break;
            r->queue_full_waits++;
            metrics_add(r->m_queue_full, 1);
            rd_kafka_poll(r->rk, 100); /* delivery reports make room */
            continue;
        }
        row->err = err; /* refused locally: too large, unknown topic, fatal … */
        row->reported = true;
        trace_span_set_status(row->span, TRACE_STATUS_ERROR, rd_kafka_err2str(err));
        trace_span_end(row->span);
        row->span = NULL;
        return 0;
    }
    trace_span_end(row->span);
    row->span = NULL;
    return -1;
}

/* Waits for every delivery report of the round. On stop, waits STOP_GRACE_MS more, then
 * purges: purged rows report __PURGE_* and stay pending. A lost lease purges at once. */
static void await_reports(tasks_relay_t *r)
{
    long long deadline = clock_mono_ms() + r->cfg.delivery_timeout_ms + 5000;
    long long stop_deadline = 0;
    while (r->outstanding > 0) {
        rd_kafka_poll(r->rk, 50);
        long long now = clock_mono_ms();
        if (stopping(r) && !stop_deadline) stop_deadline = now + STOP_GRACE_MS;
        /* a lost lease: what is still queued must not go out (its timeout has passed or is
         * about to); the rows stay pending for the shard's next owner */
        bool lost = heartbeat(r) < 0 || now > r->lease_until_ms - TASKS_RELAY_LEASE_SLACK_MS;
        if (lost) log_warn("relay: lease lost while waiting for Kafka; purging what is queued");
        if (lost || (stop_deadline && now > stop_deadline) || now > deadline) {
            rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            long long hard = clock_mono_ms() + 5000;
            while (r->outstanding > 0 && clock_mono_ms() < hard)
                rd_kafka_poll(r->rk, 50);
            break;
        }
    }
}

/* Writes the outcome: published for delivered rows, attempts/last_error/backoff/dead for the
 * failed ones. Returns -1 when the database failed (the rows stay pending: sent again later,
 * which is the at-least-once duplicate, never a loss). */
static int mark_rows(tasks_relay_t *r, size_t n, size_t *ok_out, size_t *transient_out)
{
    buf_t ok = BUF_INIT, bad = BUF_INIT;
    size_t nok = 0, nbad = 0, ntransient = 0, ndead = 0;
    buf_putc(&ok, '{');
    buf_putc(&bad, '[');
    for (size_t i = 0; i < n; i++) {
        relay_row_t *row = &r->rows[i];
        if (!r->send[i] || !row->reported || tasks_relay_err_purged(row->err)) continue;
        if (row->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            buf_printf(&ok, "%s%lld", nok++ ? "," : "", (long long)row->id);
            continue;
        }
        bool perm = tasks_relay_err_permanent(row->err);
        if (perm && row->attempts + 1 >= r->cfg.max_attempts) ndead++;
        ntransient += !perm;
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", rd_kafka_err2name(row->err),
                 rd_kafka_err2str(row->err));
        buf_printf(&bad, "%s{\"id\":%lld,\"perm\":%s,\"backoff_ms\":%lld,\"err\":", nbad++ ? "," : "",
                   (long long)row->id, perm ? "true" : "false",
                   (long long)tasks_relay_backoff_ms(r->cfg.retry_backoff_ms, row->attempts + 1));
        buf_json_str(&bad, msg);
        buf_putc(&bad, '}');
        metrics_add(perm ? r->m_failed_permanent : r->m_failed_transient, 1);
        if (perm)
            log_warn("relay: kafka rejected a message", LOG_INT("outbox_id", row->id),
                     LOG_STR("event_id", row->event_id), LOG_INT("attempts", row->attempts + 1),
                     LOG_STR("error", msg));
    }
    buf_putc(&ok, '}');
    buf_putc(&bad, ']');
    int rc = (ok.oom || bad.oom) ? -1 : 0;
    pg_err e = {{0}, {0}, {0}};
    if (rc == 0 && nok) {
        const char *p[] = {buf_str(&ok)};
        if (pg_command(r->conn,
                       "UPDATE outbox SET published = true, published_at = now(), "
                       "next_attempt_at = NULL WHERE id = ANY($1::bigint[]) AND published = false",
                       1, p, &e) < 0)
            rc = -1;
    }
    if (rc == 0 && nbad) {
        char max[16];
        snprintf(max, sizeof max, "%d", r->cfg.max_attempts);
        const char *p[] = {buf_str(&bad), max};
        if (pg_command(r->conn,
                       "UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.err, "
                       "next_attempt_at = CASE WHEN f.perm THEN now() + f.backoff_ms * "
                       "  interval '1 millisecond' END, "
                       "dead = f.perm AND o.attempts + 1 >= $2::int, "
                       "dead_at = CASE WHEN f.perm AND o.attempts + 1 >= $2::int THEN now() END "
                       "FROM json_to_recordset($1::json) "
                       "  AS f(id bigint, perm boolean, backoff_ms bigint, err text) "
                       "WHERE o.id = f.id AND o.published = false",
                       2, p, &e) < 0)
            rc = -1;
    }
    buf_free(&ok);
    buf_free(&bad);
    if (rc < 0) {
        log_warn("relay: marking rows failed; they will be sent again",
                 LOG_STR("error", e.msg[0] ? e.msg : "out of memory"));
        return -1;
    }
    metrics_add(r->m_published, (double)nok);
    metrics_add(r->m_dead, (double)ndead);
    atomic_fetch_add(&r->published, nok);
    r->failed += nbad;
    *ok_out = nok;
    *transient_out = ntransient;
    if (ndead) log_error("relay: rows moved to dead", LOG_INT("rows", (int64_t)ndead));
    return 0;
}

/* A bulk of rows committed at once (a backlog after an outage, a replay) leaves the planner
 * with statistics of a nearly empty queue, and then the head query's subplan may walk the id
 * index instead of probing (aggregate_id, id): rounds become linear in the backlog. A slow
 * read therefore refreshes the statistics itself, at most once a minute, rather than wait for
 * autovacuum. (JIT is off in this session for the same reason: its compile time, tens of ms,
 * dwarfs every query the relay runs.) */
static void maybe_analyze(tasks_relay_t *r, long long read_ms)
{
    long long now = clock_mono_ms();
    if (read_ms < SLOW_READ_MS || now < r->next_analyze_ms) return;
    r->next_analyze_ms = now + ANALYZE_EVERY_MS;
    PGresult *res = PQexec(r->conn, "ANALYZE outbox");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    log_info("relay: outbox statistics refreshed", LOG_INT("slow_read_ms", read_ms),
             LOG_BOOL("ok", ok));
}

/* One round. Returns the number of rows sent (> 0), 0 when nothing was pending, -1 when the
 * database failed, -2 when every row failed for a transient reason (Kafka unavailable). */
static int run_round(tasks_relay_t *r)
{
    long long t_start = clock_mono_ms();
    buf_t list = BUF_INIT;
    shard_list(r->held, 0, TASKS_RELAY_SHARDS, &list);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", r->cfg.batch_size);
    const char *p[] = {buf_str(&list), lim};
    pg_err e;
    /* Only heads: a row whose task has an older pending row (not dead) waits for it. Reading
     * by the published flag, not by "id > last seen", cannot skip a row whose transaction
     * committed after a later id's (BIGSERIAL ids commit out of order).
     * The head test is a correlated subquery on purpose: as NOT EXISTS the planner, trusting
     * stale statistics right after a bulk insert, may pick an anti join whose inner side
     * scans every pending row for each candidate (measured: 24 s for one batch over a 100,000
     * row backlog); a SubPlan always probes (aggregate_id, id) once per candidate (1 ms). */
    PGresult *res = pg_query(
        r->conn,
        "SELECT o.id, o.event_id, o.event_type, o.aggregate_id, o.topic, o.key, "
        "  o.payload::text, o.traceparent, o.attempts, "
        "  (extract(epoch FROM o.created_at) * 1000)::bigint "
        "FROM outbox o WHERE o.published = false AND o.dead = false "
        "  AND o.shard = ANY($1::smallint[]) "
        "  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now()) "
        "  AND o.id = (SELECT h.id FROM outbox h WHERE h.aggregate_id = o.aggregate_id "
        "              AND h.published = false AND h.dead = false ORDER BY h.id LIMIT 1) "
        "ORDER BY o.id LIMIT $2::int",
        2, p, &e);
    buf_free(&list);
    if (!res) {
        log_warn("relay: reading the outbox failed", LOG_STR("error", e.msg));
        return -1;
    }
    renewed(r, t_start);
    size_t n = (size_t)PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        relay_row_t *row = &r->rows[i];
        memset(row, 0, sizeof *row);
        row->id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        row->event_id = PQgetvalue(res, (int)i, 1);
        row->event_type = PQgetvalue(res, (int)i, 2);
        row->aggregate_id = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10);
        row->topic = PQgetvalue(res, (int)i, 4);
        row->key = PQgetvalue(res, (int)i, 5);
        row->payload = PQgetvalue(res, (int)i, 6);
        row->payload_len = (size_t)PQgetlength(res, (int)i, 6);
        row->traceparent = PQgetisnull(res, (int)i, 7) ? NULL : PQgetvalue(res, (int)i, 7);
        row->attempts = atoi(PQgetvalue(res, (int)i, 8));
        row->created_ms = strtoll(PQgetvalue(res, (int)i, 9), NULL, 10);
        r->picks[i] = (tasks_relay_pick_row_t){row->id, row->aggregate_id};
    }
    tasks_relay_pick(r->picks, n, r->send); /* the query returns heads only; this keeps it so */
    long long t_read = clock_mono_ms();
    maybe_analyze(r, t_read - t_start);

    r->outstanding = 0;
    r->round++;
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r->send[i]) continue;
        if (produce_row(r, i) < 0) break; /* stopping, or the lease leaves no room */
        sent++;
    }
    await_reports(r);
    metrics_add(r->m_batches, 1);
    long long t_kafka = clock_mono_ms();

    size_t ok = 0, transient = 0;
    int rc = mark_rows(r, n, &ok, &transient);
    if (log_enabled(LOG_DEBUG))
        log_debug("relay: round", LOG_INT("rows", (int64_t)n), LOG_INT("sent", (int64_t)sent),
                  LOG_INT("read_ms", t_read - t_start), LOG_INT("kafka_ms", t_kafka - t_read),
                  LOG_INT("mark_ms", clock_mono_ms() - t_kafka));
    for (size_t i = 0; i < n; i++) /* spans of rows never reported (stop, hard timeout) */
        if (r->rows[i].span) trace_span_end(r->rows[i].span), r->rows[i].span = NULL;
    PQclear(res);
    if (rc < 0) return -1;
    if (ok > 0 && r->kafka_down_logged) {
        log_info("relay: kafka is back; publishing");
        r->kafka_down_logged = false;
    }
    if (ok == 0 && transient > 0) {
        if (!r->kafka_down_logged)
            log_warn("relay: kafka unavailable; rows wait in the outbox",
                     LOG_INT("rows", (int64_t)transient));
        r->kafka_down_logged = true;
        return -2;
    }
    return sent > 0 ? (int)sent : 0;
}

/* ==== the loop ========================================================================== */

/* Sleeps until a NOTIFY, a local poke, a stop, or timeout_ms. Returns true when woken by
 * a NOTIFY or a poke (rows may be waiting), false on timeout. */
static bool wait_for_work(tasks_relay_t *r, long long timeout_ms)
{
    struct pollfd fds[3];
    int nfds = 0;
    fds[nfds++] = (struct pollfd){.fd = r->stop_fd, .events = POLLIN};
    int local = tasks_outbox_local_wake_fd();
    if (local >= 0) fds[nfds++] = (struct pollfd){.fd = local, .events = POLLIN};
    int pgfd = r->conn ? PQsocket(r->conn) : -1;
    if (pgfd >= 0) fds[nfds++] = (struct pollfd){.fd = pgfd, .events = POLLIN};
    if (timeout_ms < 0) timeout_ms = 0;
    int n = poll(fds, (nfds_t)nfds, (int)timeout_ms);
    if (n <= 0) return false;
    bool woken = false;
    uint64_t v;
    if (local >= 0 && (fds[1].revents & POLLIN)) {
        ssize_t rd = read(local, &v, sizeof v); /* another relay thread may have read it */
        woken |= rd == (ssize_t)sizeof v;
    }
    if (r->conn) {
        if (PQconsumeInput(r->conn) == 0) {
            relay_disconnect(r, PQerrorMessage(r->conn));
            return true;
        }
        PGnotify *nt;
        while ((nt = PQnotifies(r->conn)) != NULL) {
            PQfreemem(nt);
            woken = true;
        }
    }
    return woken;
}

static void interruptible_sleep(tasks_relay_t *r, long long ms)
{
    struct pollfd fd = {.fd = r->stop_fd, .events = POLLIN};
    if (!stopping(r)) poll(&fd, 1, (int)ms);
}

static void maybe_prune(tasks_relay_t *r)
{
    long long now = clock_mono_ms();
    if (now < r->next_prune_ms) return;
    r->next_prune_ms = now + PRUNE_EVERY_MS;
    long long deleted = 0;
    pg_err e;
    if (tasks_outbox_prune(r->conn, r->cfg.retention_ms, PRUNE_MAX_ROWS, &deleted, &e) < 0)
        log_warn("relay: pruning the outbox failed", LOG_STR("error", e.msg));
    else if (deleted)
        log_info("relay: pruned published outbox rows", LOG_INT("rows", deleted),
                 LOG_INT("retention_ms", r->cfg.retention_ms));
}

static void maybe_log_progress(tasks_relay_t *r)
{
    long long now = clock_mono_ms();
    if (now < r->next_progress_ms) return;
    r->next_progress_ms = now + PROGRESS_LOG_MS;
    uint64_t pub = atomic_load(&r->published);
    if (pub == r->published_logged) return;
    log_info("relay: progress", LOG_INT("published", (int64_t)pub),
             LOG_INT("since_last", (int64_t)(pub - r->published_logged)),
             LOG_INT("failed", (int64_t)r->failed), LOG_INT("shards", r->nheld));
    r->published_logged = pub;
}

/* The loop. Rounds run while rows are found; then the relay sleeps until a NOTIFY or a
 * local poke, or until the poll interval passes (the fallback). Rebalancing has its own
 * one-second clock and does not count as a poll: a relay woken only to rebalance does not
 * read the outbox unless the rebalance gave it new shards. */
void tasks_relay_run(tasks_relay_t *r)
{
    long long transient_backoff = 0;
    bool work_due = true;
    long long next_poll = 0;
    log_info("relay: started", LOG_INT("batch_size", r->cfg.batch_size),
             LOG_INT("poll_interval_ms", r->cfg.poll_interval_ms),
             LOG_INT("linger_ms", r->cfg.linger_ms));
    while (!stopping(r)) {
        if (!r->conn && relay_connect(r) < 0) {
            interruptible_sleep(r, RECONNECT_MS);
            continue;
        }
        if (!r->kafka || kafka_fatal(r->kafka)) {
            char err[512];
            producer_destroy(r);
            if (producer_create(r, err, sizeof err) < 0) {
                log_error("relay: cannot create the kafka producer", LOG_STR("error", err));
                interruptible_sleep(r, RECONNECT_MS);
                continue;
            }
        }
        rd_kafka_poll(r->rk, 0); /* error callbacks between rounds */
        long long now = clock_mono_ms();
        if (now >= r->next_rebalance_ms) {
            int before = r->nheld;
            if (rebalance(r) < 0) {
                relay_disconnect(r, PQerrorMessage(r->conn));
                continue;
            }
            r->next_rebalance_ms = now + REBALANCE_MS;
            if (r->nheld > before) work_due = true; /* new shards may hold pending rows */
        }
        if (now >= next_poll) work_due = true;
        int rc = 0;
        if (work_due && r->nheld) {
            rc = run_round(r);
            if (rc == -1) {
                relay_disconnect(r, "a query failed");
                interruptible_sleep(r, RECONNECT_MS);
                work_due = true;
                continue;
            }
        }
        maybe_prune(r);
        maybe_log_progress(r);
        if (rc > 0) {
            transient_backoff = 0;
            /* more may be pending: no sleep while draining — except, under a steady trickle,
             * a short linger so that a round carries several rows rather than one (fewer
             * queries, marks and produce requests per event, for at most linger ms more) */
            if (rc < r->cfg.batch_size / 4 && r->cfg.linger_ms > 0)
                interruptible_sleep(r, r->cfg.linger_ms);
            continue;
        }
        if (rc == -2) {
            transient_backoff = transient_backoff ? transient_backoff * 2 : 250;
            if (transient_backoff > TRANSIENT_BACKOFF_MAX_MS)
                transient_backoff = TRANSIENT_BACKOFF_MAX_MS;
            interruptible_sleep(r, transient_backoff);
            continue;
        }
        /* nothing pending (or no shards): sleep until woken, the poll or the rebalance */
        now = clock_mono_ms();
        if (work_due) next_poll = now + r->cfg.poll_interval_ms;
        work_due = false;
        long long t = next_poll - now;
        if (r->next_rebalance_ms - now < t) t = r->next_rebalance_ms - now;
        if (wait_for_work(r, t)) work_due = true;
    }
    producer_destroy(r);
    relay_disconnect(r, NULL);
    log_info("relay: stopped", LOG_INT("published", (int64_t)atomic_load(&r->published)),
             LOG_INT("failed", (int64_t)r->failed),
             LOG_INT("queue_full_waits", (int64_t)r->queue_full_waits));
}

/* ==== lifecycle ========================================================================= */

static metrics_series_t *counter(metrics_registry_t *reg, const char *name, const char *help,
                                 const char *label, const char *value)
{
    char err[256];
    metrics_family_t *f = metrics_counter(reg, name, help, label, err, sizeof err);
    if (!f) {
        log_warn("relay: metric not registered", LOG_STR("metric", name), LOG_STR("error", err));
        return NULL;
    }
    return metrics_series(f, label ? METRICS_LABELS(value) : NULL);
}

int tasks_relay_new(const tasks_relay_config_t *cfg, tasks_relay_t **out, char *err, size_t errlen)
{
    *out = NULL;
    tasks_relay_t *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->stop_fd = -1;
    r->cfg = *cfg;
    if (r->cfg.batch_size < 1) r->cfg.batch_size = 1;
    r->url = strdup(cfg->database_url);
    r->brokers = strdup(cfg->brokers);
    r->rows = calloc((size_t)r->cfg.batch_size, sizeof *r->rows);
    r->picks = calloc((size_t)r->cfg.batch_size, sizeof *r->picks);
    r->send = calloc((size_t)r->cfg.batch_size, sizeof *r->send);
    if (!r->url || !r->brokers || !r->rows || !r->picks || !r->send) goto oom;
    r->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->stop_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        tasks_relay_free(r);
        return -1;
    }
    if (getrandom(&r->rotor, sizeof r->rotor, GRND_NONBLOCK) != (ssize_t)sizeof r->rotor)
        r->rotor = (unsigned)getpid();
    atomic_init(&r->stop, false);
    atomic_init(&r->published, 0);
    atomic_init(&r->shards_gauge, 0);

    metrics_registry_t *reg = cfg->metrics;
    if (reg) {
        char merr[256];
        r->m_published = counter(reg, "outbox_published_total",
                                 "Outbox rows published to Kafka (delivery confirmed).", NULL, NULL);
        metrics_family_t *f = metrics_counter(reg, "outbox_publish_failures_total",
                                              "Deliveries that failed, by kind (transient: the row "
                                              "waits; permanent: it counts towards dead).",
                                              "kind", merr, sizeof merr);
        r->m_failed_transient = metrics_series(f, METRICS_LABELS("transient"));
        r->m_failed_permanent = metrics_series(f, METRICS_LABELS("permanent"));
        r->m_dead = counter(reg, "outbox_dead_total", "Outbox rows moved to the dead state.", NULL,
                            NULL);
        r->m_batches = counter(reg, "outbox_relay_batches_total", "Relay rounds that sent rows.",
                               NULL, NULL);
        r->m_queue_full = counter(reg, "outbox_relay_queue_full_waits_total",
                                  "Times the relay waited for room in the producer queue.", NULL,
                                  NULL);
        static const double lat_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                             1,     2.5,  5,     10,   30,  60,  300};
        f = metrics_histogram(reg, "outbox_commit_to_publish_seconds",
                              "From the change's transaction to Kafka's acknowledgement.", NULL,
                              lat_buckets, sizeof lat_buckets / sizeof lat_buckets[0], merr,
                              sizeof merr);
        r->m_latency = metrics_series(f, NULL);
        metrics_callback(reg, METRICS_GAUGE, "outbox_relay_shards_held",
                         "Outbox shards this relay holds (of 64).", shards_gauge, r, merr,
                         sizeof merr);
    }
    *out = r;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    tasks_relay_free(r);
    return -1;
}

static void *relay_thread(void *arg)
{
    tasks_relay_run(arg);
    return NULL;
}

int tasks_relay_start_thread(tasks_relay_t *r, char *err, size_t errlen)
{
    if (pthread_create(&r->thread, NULL, relay_thread, r) != 0) {
        snprintf(err, errlen, "cannot start the relay thread");
        return -1;
    }
    r->threaded = true;
    return 0;
}

void tasks_relay_stop(tasks_relay_t *r)
{
    if (!r) return;
    atomic_store(&r->stop, true);
    uint64_t one = 1;
    ssize_t w = write(r->stop_fd, &one, sizeof one);
    (void)w;
}

void tasks_relay_free(tasks_relay_t *r)
{
    if (!r) return;
    if (r->threaded) {
        tasks_relay_stop(r);
        pthread_join(r->thread, NULL);
    }
    producer_destroy(r);
    relay_disconnect(r, NULL);
    if (r->stop_fd >= 0) close(r->stop_fd);
    free(r->url);
    free(r->brokers);
    free(r->rows);
    free(r->picks);
    free(r->send);
    free(r);
}

uint64_t tasks_relay_published(const tasks_relay_t *r)
{
    return atomic_load(&((tasks_relay_t *)r)->published);
}
