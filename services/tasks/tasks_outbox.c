/* tasks_outbox — outbox rows from the writer's side, the coalescing notifier, statistics and
 * maintenance; see tasks_outbox.h. */
#include "tasks_outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "buf.h"
#include "log.h"

/* At most one NOTIFY per this many milliseconds per process: a burst of commits costs one
 * wake-up, and NOTIFY's commit-time lock is taken by this thread, never by a writer. */
#define NOTIFY_MIN_INTERVAL_MS 2
#define NOTIFY_RETRY_MS 500
#define PRUNE_SLICE 5000

static struct notifier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending;
    bool stop;
    bool running;
    pthread_t thread;
    char *url;
} nf = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false, 0, NULL};

static atomic_int wake_fd = -1;
static pthread_once_t wake_once = PTHREAD_ONCE_INIT;

static void *notifier_main(void *arg);

/* ==== the event row ===================================================================== */

int tasks_outbox_insert(PGconn *conn, const char *topic, task_event_t ev, const task_t *t,
                  const char *traceparent, pg_err *err)
{
    uuid_t u;
    char event_id[37];
    uuid_generate_random(u);
    uuid_unparse_lower(u, event_id);
    buf_t payload = BUF_INIT;
    if (tasks_model_event_render(&payload, event_id, ev, t) < 0) {
        buf_free(&payload);
        snprintf(err->msg, sizeof err->msg, "out of memory rendering an event");
        return -1;
    }
    char agg[24], ver[24];
    snprintf(agg, sizeof agg, "%lld", (long long)t->id);
    snprintf(ver, sizeof ver, "%lld", (long long)t->version);
    const char *p[] = {event_id, tasks_model_event_name(ev), agg, ver, topic, agg, buf_str(&payload),
                       traceparent && *traceparent ? traceparent : NULL};
    /* created_at is the insert's own time, not the transaction's start (now()): the row is
     * the change's last statement, so it is the commit time to within the commit itself,
     * which makes commit-to-publish latency (metric and bench) mean what it says */
    long long n = pg_command(conn,
                             "INSERT INTO outbox (event_id, event_type, aggregate_id, version, "
                             "topic, key, payload, traceparent, created_at) "
                             "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, clock_timestamp())",
                             8, p, err);
    buf_free(&payload);
    return n == 1 ? 0 : -1;
}

/* ==== waking relays ===================================================================== */

static void wake_fd_init(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    atomic_store(&wake_fd, fd);
}

int tasks_outbox_local_wake_fd(void)
{
    pthread_once(&wake_once, wake_fd_init);
    return atomic_load(&wake_fd);
}

void tasks_outbox_poke(void)
{
    int fd = tasks_outbox_local_wake_fd();
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(fd, &one, sizeof one); /* EAGAIN: the counter is full, still readable */
        (void)w;
    }
    pthread_mutex_lock(&nf.mu);
    if (nf.running && !nf.pending) {
        nf.pending = true;
        pthread_cond_signal(&nf.cv);
    }
    pthread_mutex_unlock(&nf.mu);
}

static PGconn *notifier_connect(const char *url)
{
    const char *kw[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *val[] = {url, "tasks-outbox-notifier", "3", NULL};
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (c && PQstatus(c) == CONNECTION_OK) return c;
    PQfinish(c);
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Sends one NOTIFY per burst of pokes. A failed NOTIFY is not retried for the rows it was
 * for: the relays' polling fallback finds them; the connection is made again next time. */
static void *notifier_main(void *arg)
{
    (void)arg;
    PGconn *c = NULL;
    bool warned = false;
    pthread_mutex_lock(&nf.mu);
    for (;;) {
        while (!nf.pending && !nf.stop)
            pthread_cond_wait(&nf.cv, &nf.mu);
        if (nf.stop) break;
        nf.pending = false;
        pthread_mutex_unlock(&nf.mu);

        if (!c) c = notifier_connect(nf.url);
        PGresult *r = c ? PQexec(c, "SELECT pg_notify('" TASKS_OUTBOX_CHANNEL "', '')") : NULL;
        bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok) {
            if (!warned)
                log_warn("outbox notifier: NOTIFY failed; relays fall back to polling",
                         LOG_STR("error", c ? PQerrorMessage(c) : "cannot connect"));
            warned = true;
            PQfinish(c);
            c = NULL;
            sleep_ms(NOTIFY_RETRY_MS);
        } else {
            warned = false;
            sleep_ms(NOTIFY_MIN_INTERVAL_MS);
        }
        pthread_mutex_lock(&nf.mu);
    }
    pthread_mutex_unlock(&nf.mu);
    PQfinish(c);
    return NULL;
}

int tasks_outbox_notifier_start(const char *url, char *err, size_t errlen)
{
    pthread_mutex_lock(&nf.mu);
    nf.url = strdup(url);
    nf.stop = false;
    nf.pending = false;
    int rc = nf.url ? pthread_create(&nf.thread, NULL, notifier_main, NULL) : -1;
    nf.running = rc == 0;
    pthread_mutex_unlock(&nf.mu);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the outbox notifier thread");
        free(nf.url);
        nf.url = NULL;
        return -1;
    }
    return 0;
}

void tasks_outbox_notifier_stop(void)
{
    pthread_mutex_lock(&nf.mu);
    bool was = nf.running;
    nf.stop = true;
    nf.running = false;
    pthread_cond_signal(&nf.cv);
    pthread_mutex_unlock(&nf.mu);
    if (was) pthread_join(nf.thread, NULL);
    free(nf.url);
    nf.url = NULL;
}

/* ==== statistics ======================================================================== */

int tasks_outbox_stats_read(PGconn *c, tasks_outbox_stats_t *out, pg_err *err)
{
    memset(out, 0, sizeof *out);
    PGresult *r = pg_query(
        c,
        "SELECT count(*) FILTER (WHERE NOT dead), "
        "  COALESCE(extract(epoch FROM now() - min(created_at) FILTER (WHERE NOT dead)), 0), "
        "  count(*) FILTER (WHERE dead), "
        "  (SELECT count(*) FROM outbox WHERE published "
        "     AND published_at > now() - interval '1 minute') "
        "FROM outbox WHERE published = false",
        0, NULL, err);
    if (!r) return -1;
    out->backlog = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    out->oldest_unpublished_age_s = strtod(PQgetvalue(r, 0, 1), NULL);
    if (out->oldest_unpublished_age_s < 0) out->oldest_unpublished_age_s = 0;
    out->dead = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    out->published_last_minute = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    PQclear(r);
    return 0;
}

void tasks_outbox_stats_json(const tasks_outbox_stats_t *s, char *out, size_t outlen)
{
    snprintf(out, outlen,
             "{\"backlog\":%lld,\"oldest_unpublished_age_seconds\":%.3f,\"dead\":%lld,"
             "\"published_last_minute\":%lld}",
             (long long)s->backlog, s->oldest_unpublished_age_s, (long long)s->dead,
             (long long)s->published_last_minute);
}

/* ==== maintenance ======================================================================= */

int tasks_outbox_prune(PGconn *c, int64_t retention_ms, long long max_rows, long long *deleted,
                 pg_err *err)
{
    *deleted = 0;
    char ret[24], slice[24];
    snprintf(ret, sizeof ret, "%lld", (long long)retention_ms);
    snprintf(slice, sizeof slice, "%d", PRUNE_SLICE);
    const char *p[] = {ret, slice};
    while (*deleted < max_rows) {
        /* slices keep each transaction (and its locks and WAL burst) small */
        long long n = pg_command(c,
                                 "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                                 "WHERE published AND published_at < now() - $1::bigint * "
                                 "interval '1 millisecond' ORDER BY published_at LIMIT $2)",
                                 2, p, err);
        if (n < 0) return -1;
        *deleted += n;
        if (n < PRUNE_SLICE) break;
    }
    return 0;
}

long long tasks_outbox_replay(PGconn *c, int64_t from, int64_t to, bool include_published,
                        pg_err *err)
{
    char f[24], t[24];
    snprintf(f, sizeof f, "%lld", (long long)from);
    snprintf(t, sizeof t, "%lld", (long long)to);
    const char *p[] = {f, to > 0 ? t : NULL, include_published ? "true" : "false"};
    long long n = pg_command(c,
                             "UPDATE outbox SET published = false, published_at = NULL, "
                             "dead = false, dead_at = NULL, attempts = 0, last_error = NULL, "
                             "next_attempt_at = NULL "
                             "WHERE id >= $1 AND ($2::bigint IS NULL OR id <= $2) "
                             "AND (dead OR ($3::boolean AND published))",
                             3, p, err);
    if (n > 0) PQclear(PQexec(c, "SELECT pg_notify('" TASKS_OUTBOX_CHANNEL "', '')"));
    return n;
}
