/* ops_kafka — topics, lag, tails and a bounded message ring; see ops_kafka.h. */
#include "ops_kafka.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"

struct ops_kafka {
    kafka_client_t *kc;
    rd_kafka_t *rk; /* kafka_handle(kc) */
    char brokers[512];
};

#define META_TIMEOUT_MS 5000
#define BATCH 1024

/* The reader's librdkafka set-up: lib/kafka's consumer (the system's property policy, its
 * rate-limited logging) without a group — or with group_id only to read that group's committed
 * offsets; it never subscribes — plus a small prefetch, so a tail of a big topic stays within a
 * few MB. Returns the client; kafka_handle() gives librdkafka's handle. */
static kafka_client_t *reader_new(const char *brokers, const char *group_id, char *err,
                                  size_t errlen)
{
    static const char *const props[][2] = {
        {"queued.max.messages.kbytes", "2048"},
        {"fetch.max.bytes", "1048576"},
        {"fetch.wait.max.ms", "100"},
        {"socket.connection.setup.timeout.ms", "3000"},
    };
    kafka_config_t kc = {.brokers = brokers,
                         .client_id = "todo-console",
                         .group_id = group_id,
                         .props = props,
                         .nprops = sizeof props / sizeof props[0]};
    return kafka_consumer_new(&kc, err, errlen);
}

ops_status_t ops_kafka_open(ops_kafka_t **out, const char *brokers, ops_err_t *err)
{
    ops_kafka_t *k = calloc(1, sizeof *k);
    if (!k) return ops_fail(err, OPS_FAIL, "out of memory");
    char why[512];
    if (!(k->kc = reader_new(brokers, NULL, why, sizeof why))) {
        free(k);
        return ops_fail(err, OPS_USAGE, "KAFKA_BROKERS (%s): %s", brokers, why);
    }
    k->rk = kafka_handle(k->kc);
    snprintf(k->brokers, sizeof k->brokers, "%s", brokers);
    *out = k;
    return OPS_OK;
}

void ops_kafka_close(ops_kafka_t *k)
{
    if (!k) return;
    kafka_free(k->kc, 0, false);
    free(k);
}

static ops_status_t kfail(const char *brokers, rd_kafka_resp_err_t e, const char *what,
                          ops_err_t *err)
{
    bool down = e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__RESOLVE;
    return ops_fail(err, down ? OPS_UNREACHABLE : OPS_FAIL, "kafka (%s): %s: %s", brokers, what,
                    rd_kafka_err2str(e));
}

ops_status_t ops_kafka_ping(const char *brokers, int timeout_ms, int *nbrokers, ops_err_t *err)
{
    char why[512];
    kafka_client_t *kc = reader_new(brokers, NULL, why, sizeof why);
    if (!kc) return ops_fail(err, OPS_USAGE, "KAFKA_BROKERS (%s): %s", brokers, why);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(kafka_handle(kc), 0, NULL, &md, timeout_ms);
    ops_status_t st = OPS_OK;
    if (e)
        st = kfail(brokers, e, "metadata", err);
    else {
        *nbrokers = md->broker_cnt;
        rd_kafka_metadata_destroy(md);
    }
    kafka_free(kc, 0, false);
    return st;
}

static int cmp_topic(const void *a, const void *b)
{
    return strcmp(((const ops_topic_info_t *)a)->name, ((const ops_topic_info_t *)b)->name);
}

void ops_kafka_topics_free(ops_topic_info_t *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) free(t[i].parts);
    free(t);
}

/* Metadata of one topic (name) or all (NULL), with watermarks. */
static ops_status_t topics_of(ops_kafka_t *k, const char *only, ops_topic_info_t **out, size_t *n,
                              ops_err_t *err)
{
    *out = NULL;
    *n = 0;
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, META_TIMEOUT_MS);
    if (e) return kfail(k->brokers, e, "metadata", err);
    ops_topic_info_t *t = calloc((size_t)md->topic_cnt + 1, sizeof *t);
    if (!t) {
        rd_kafka_metadata_destroy(md);
        return ops_fail(err, OPS_FAIL, "out of memory");
    }
    size_t cnt = 0;
    ops_status_t st = OPS_OK;
    for (int i = 0; i < md->topic_cnt && st == OPS_OK; i++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[i];
        if (mt->err || !strncmp(mt->topic, "__", 2)) continue;
        if (only && strcmp(only, mt->topic)) continue;
        ops_topic_info_t *ti = &t[cnt++];
        snprintf(ti->name, sizeof ti->name, "%s", mt->topic);
        ti->npart = mt->partition_cnt;
        ti->parts = calloc((size_t)mt->partition_cnt + 1, sizeof *ti->parts);
        if (!ti->parts) {
            st = ops_fail(err, OPS_FAIL, "out of memory");
            break;
        }
        for (int p = 0; p < mt->partition_cnt; p++) {
            ops_partition_info_t *pi = &ti->parts[p];
            pi->id = mt->partitions[p].id;
            pi->leader = mt->partitions[p].leader;
            e = rd_kafka_query_watermark_offsets(k->rk, mt->topic, pi->id, &pi->low, &pi->high,
                                                 META_TIMEOUT_MS);
            if (e) {
                st = kfail(k->brokers, e, "watermarks", err);
                break;
            }
            ti->messages += pi->high - pi->low;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (st != OPS_OK) {
        ops_kafka_topics_free(t, cnt);
        return st;
    }
    qsort(t, cnt, sizeof *t, cmp_topic);
    *out = t;
    *n = cnt;
    return OPS_OK;
}

ops_status_t ops_kafka_topics(ops_kafka_t *k, ops_topic_info_t **out, size_t *n, ops_err_t *err)
{
    return topics_of(k, NULL, out, n, err);
}

ops_status_t ops_kafka_lag(ops_kafka_t *k, const char *group, ops_group_lag_t **out, size_t *n,
                           ops_err_t *err)
{
    *out = NULL;
    *n = 0;
    ops_topic_info_t *topics;
    size_t nt;
    ops_status_t st = ops_kafka_topics(k, &topics, &nt, err);
    if (st != OPS_OK) return st;
    const struct rd_kafka_group_list *gl;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(k->rk, group, &gl, META_TIMEOUT_MS);
    if (e) {
        ops_kafka_topics_free(topics, nt);
        return kfail(k->brokers, e, "list groups", err);
    }
    size_t cap = (size_t)gl->group_cnt * (nt ? nt : 1) + 1, cnt = 0;
    ops_group_lag_t *res = calloc(cap, sizeof *res);
    if (!res) st = ops_fail(err, OPS_FAIL, "out of memory");
    for (int g = 0; res && g < gl->group_cnt && st == OPS_OK; g++) {
        const struct rd_kafka_group_info *gi = &gl->groups[g];
        if (gi->protocol_type && *gi->protocol_type && strcmp(gi->protocol_type, "consumer"))
            continue;
        char why[512];
        kafka_client_t *gkc = reader_new(k->brokers, gi->group, why, sizeof why);
        rd_kafka_t *gk = gkc ? kafka_handle(gkc) : NULL;
        if (!gk) {
            st = ops_fail(err, OPS_FAIL, "kafka: %s", why);
            break;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
        for (size_t t = 0; t < nt; t++)
            for (int p = 0; p < topics[t].npart; p++)
                rd_kafka_topic_partition_list_add(l, topics[t].name, topics[t].parts[p].id);
        e = rd_kafka_committed(gk, l, META_TIMEOUT_MS);
        if (e) st = kfail(k->brokers, e, "committed offsets", err);
        for (size_t t = 0; st == OPS_OK && t < nt; t++) {
            ops_group_lag_t *r = &res[cnt];
            memset(r, 0, sizeof *r);
            for (int i = 0; i < l->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &l->elems[i];
                if (strcmp(tp->topic, topics[t].name) || tp->offset < 0 || r->npart >= 64) continue;
                int64_t high = 0;
                for (int p = 0; p < topics[t].npart; p++)
                    if (topics[t].parts[p].id == tp->partition) high = topics[t].parts[p].high;
                int64_t lag = high - tp->offset > 0 ? high - tp->offset : 0;
                r->parts[r->npart].id = tp->partition;
                r->parts[r->npart].committed = tp->offset;
                r->parts[r->npart].high = high;
                r->parts[r->npart++].lag = lag;
                r->lag += lag;
            }
            if (r->npart) {
                snprintf(r->group, sizeof r->group, "%s", gi->group);
                snprintf(r->topic, sizeof r->topic, "%s", topics[t].name);
                snprintf(r->state, sizeof r->state, "%s", gi->state ? gi->state : "");
                cnt++;
            }
        }
        rd_kafka_topic_partition_list_destroy(l);
        kafka_free(gkc, 0, false);
    }
    rd_kafka_group_list_destroy(gl);
    ops_kafka_topics_free(topics, nt);
    if (st != OPS_OK) {
        free(res);
        return st;
    }
    *out = res;
    *n = cnt;
    return OPS_OK;
}

/* ---- messages --------------------------------------------------------------------------- */

static void kmsg_from(const rd_kafka_message_t *rm, ops_kmsg_t *m)
{
    memset(m, 0, sizeof *m);
    m->topic = rd_kafka_topic_name(rm->rkt);
    m->partition = rm->partition;
    m->offset = rm->offset;
    rd_kafka_timestamp_type_t tt;
    m->ts_ms = rd_kafka_message_timestamp(rm, &tt);
    m->key = rm->key;
    m->key_len = rm->key_len;
    m->value = rm->payload;
    m->value_len = rm->len;
    rd_kafka_headers_t *hs;
    if (rd_kafka_message_headers(rm, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; m->nh < OPS_KMSG_MAX_HEADERS &&
                           rd_kafka_header_get_all(hs, i, &name, &val, &size) == 0;
             i++) {
            m->h[m->nh].name = name;
            m->h[m->nh].value = val;
            m->h[m->nh++].len = val ? size : 0;
        }
    }
}

bool ops_kmsg_match(const ops_kmsg_t *m, const ops_tail_opts_t *o)
{
    if (o->key && (!m->key || m->key_len != strlen(o->key) || memcmp(m->key, o->key, m->key_len)))
        return false;
    if (o->header) {
        const char *eq = strchr(o->header, '=');
        size_t nl = eq ? (size_t)(eq - o->header) : strlen(o->header);
        bool found = false;
        for (size_t i = 0; i < m->nh && !found; i++)
            if (strlen(m->h[i].name) == nl && !memcmp(m->h[i].name, o->header, nl))
                found = !eq || (m->h[i].len == strlen(eq + 1) &&
                                !memcmp(m->h[i].value, eq + 1, m->h[i].len));
        if (!found) return false;
    }
    if (o->grep && (!m->value || !memmem(m->value, m->value_len, o->grep, strlen(o->grep))))
        return false;
    return true;
}

/* Appends n bytes as a JSON string (through a NUL-terminated copy for buf_json_str). A value
 * with a NUL inside is cut there: JSON strings from Kafka bytes are for reading, not bytes. */
static void json_bytes(buf_t *b, const char *p, size_t n)
{
    if (!p) {
        buf_puts(b, "null");
        return;
    }
    char small[512];
    char *tmp = n < sizeof small ? small : malloc(n + 1);
    if (!tmp) {
        b->oom = true;
        return;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    buf_json_str(b, tmp);
    if (tmp != small) free(tmp);
}

int ops_kmsg_json(buf_t *b, const ops_kmsg_t *m)
{
    buf_puts(b, "{\"topic\":");
    buf_json_str(b, m->topic);
    buf_printf(b, ",\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"key\":", m->partition,
               (long long)m->offset, (long long)m->ts_ms);
    json_bytes(b, m->key, m->key_len);
    buf_puts(b, ",\"headers\":{");
    for (size_t i = 0; i < m->nh; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, m->h[i].name);
        buf_putc(b, ':');
        json_bytes(b, m->h[i].value, m->h[i].len);
    }
    buf_puts(b, "},\"value\":");
    json_bytes(b, m->value, m->value_len);
    buf_putc(b, '}');
    return b->oom ? -1 : 0;
}

/* ---- the ring ------------------------------------------------------------------------------ */

typedef struct kslot {
    ops_kmsg_t m;
    char *blob;
    size_t size;
} kslot_t;

struct ops_kring {
    kslot_t *s;
    size_t max, head, count, bytes, max_bytes;
    uint64_t dropped;
};

ops_kring_t *ops_kring_new(size_t max_msgs, size_t max_bytes)
{
    ops_kring_t *r = calloc(1, sizeof *r);
    if (!r || !max_msgs || !(r->s = calloc(max_msgs, sizeof *r->s))) {
        free(r);
        return NULL;
    }
    r->max = max_msgs;
    r->max_bytes = max_bytes;
    return r;
}

void ops_kring_free(ops_kring_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->count; i++) free(r->s[(r->head + i) % r->max].blob);
    free(r->s);
    free(r);
}

static void drop_oldest(ops_kring_t *r)
{
    kslot_t *s = &r->s[r->head];
    r->bytes -= s->size;
    free(s->blob);
    s->blob = NULL;
    r->head = (r->head + 1) % r->max;
    r->count--;
    r->dropped++;
}

int ops_kring_push(ops_kring_t *r, const ops_kmsg_t *m)
{
    size_t tl = strlen(m->topic) + 1, size = tl + m->key_len + m->value_len;
    for (size_t i = 0; i < m->nh; i++) size += strlen(m->h[i].name) + 1 + m->h[i].len;
    if (size > r->max_bytes) return -1;
    char *blob = malloc(size ? size : 1), *p = blob;
    if (!blob) return -1;
    while (r->count && (r->count == r->max || r->bytes + size > r->max_bytes)) drop_oldest(r);
    kslot_t *s = &r->s[(r->head + r->count) % r->max];
    s->m = *m;
    memcpy(p, m->topic, tl);
    s->m.topic = p;
    p += tl;
    if (m->key) {
        memcpy(p, m->key, m->key_len);
        s->m.key = p;
        p += m->key_len;
    }
    if (m->value) {
        memcpy(p, m->value, m->value_len);
        s->m.value = p;
        p += m->value_len;
    }
    for (size_t i = 0; i < m->nh; i++) {
        size_t nl = strlen(m->h[i].name) + 1;
        memcpy(p, m->h[i].name, nl);
        s->m.h[i].name = p;
        p += nl;
        if (m->h[i].value) {
            memcpy(p, m->h[i].value, m->h[i].len);
            s->m.h[i].value = p;
            p += m->h[i].len;
        }
    }
    s->blob = blob;
    s->size = size;
    r->bytes += size;
    r->count++;
    return 0;
}

size_t ops_kring_len(const ops_kring_t *r)
{
    return r->count;
}

const ops_kmsg_t *ops_kring_get(const ops_kring_t *r, size_t i)
{
    return i < r->count ? &r->s[(r->head + i) % r->max].m : NULL;
}

uint64_t ops_kring_dropped(const ops_kring_t *r)
{
    return r->dropped;
}

/* ---- tail ----------------------------------------------------------------------------------- */

static int cmp_by_time(const void *a, const void *b, void *arg)
{
    const ops_kring_t *r = arg;
    const ops_kmsg_t *x = ops_kring_get(r, *(const size_t *)a), *y = ops_kring_get(r, *(const size_t *)b);
    if (x->ts_ms != y->ts_ms) return x->ts_ms < y->ts_ms ? -1 : 1;
    if (x->partition != y->partition) return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

ops_status_t ops_kafka_tail(ops_kafka_t *k, const ops_tail_opts_t *o, ops_kmsg_fn fn, void *arg,
                            ops_err_t *err)
{
    ops_topic_info_t *ti;
    size_t nt;
    ops_status_t st = topics_of(k, o->topic, &ti, &nt, err);
    if (st != OPS_OK) return st;
    if (nt == 0) {
        ops_kafka_topics_free(ti, nt);
        return ops_fail(err, OPS_FAIL, "kafka (%s): no topic '%s'", k->brokers, o->topic);
    }
    int np = ti->npart;
    int64_t *end = calloc((size_t)np + 1, sizeof *end);
    bool *done = calloc((size_t)np + 1, sizeof *done);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    ops_kring_t *window = NULL;
    size_t *idx = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_topic_t *rkt = NULL;
    if (!end || !done) {
        st = ops_fail(err, OPS_FAIL, "out of memory");
        goto out;
    }
    if (o->from == OPS_FROM_TIME) { /* offsets_for_times fills the offsets in place */
        for (int p = 0; p < np; p++)
            rd_kafka_topic_partition_list_add(l, o->topic, ti->parts[p].id)->offset = o->at;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(k->rk, l, META_TIMEOUT_MS);
        if (e) {
            st = kfail(k->brokers, e, "offsets for time", err);
            goto out;
        }
    }
    int pending = 0;
    for (int p = 0; p < np; p++) {
        const ops_partition_info_t *pi = &ti->parts[p];
        int64_t start;
        if (o->last_n > 0)
            start = pi->high - o->last_n > pi->low ? pi->high - o->last_n : pi->low;
        else if (o->from == OPS_FROM_BEGINNING)
            start = pi->low;
        else if (o->from == OPS_FROM_OFFSET)
            start = o->at < pi->low ? pi->low : o->at > pi->high ? pi->high : o->at;
        else if (o->from == OPS_FROM_TIME)
            start = l->elems[p].offset < 0 ? pi->high : l->elems[p].offset;
        else
            start = pi->high;
        end[p] = pi->high;
        bool mine = o->partition < 0 || o->partition == pi->id;
        done[p] = !mine || start >= pi->high;
        if (!done[p]) pending++;
        if (o->from == OPS_FROM_TIME)
            l->elems[p].offset = mine ? start : RD_KAFKA_OFFSET_INVALID;
        else if (mine)
            rd_kafka_topic_partition_list_add(l, o->topic, pi->id)->offset = start;
    }
    if (o->partition >= 0 && !(o->partition < np)) {
        st = ops_fail(err, OPS_USAGE, "topic '%s' has no partition %d", o->topic, o->partition);
        goto out;
    }
    if (o->from == OPS_FROM_TIME) { /* keep only the chosen partitions */
        rd_kafka_topic_partition_list_t *keep = rd_kafka_topic_partition_list_new(np);
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].offset != RD_KAFKA_OFFSET_INVALID)
                rd_kafka_topic_partition_list_add(keep, o->topic, l->elems[i].partition)->offset =
                    l->elems[i].offset;
        rd_kafka_topic_partition_list_destroy(l);
        l = keep;
    }
    if (!o->follow && pending == 0) goto out; /* nothing to read */
    if (o->last_n > 0 && !(window = ops_kring_new((size_t)o->last_n * (size_t)np, SIZE_MAX))) {
        st = ops_fail(err, OPS_FAIL, "out of memory for %ld messages", o->last_n);
        goto out;
    }
    /* the partition consumer API on one private queue (as kcat does): no group is needed, none
     * is joined, nothing is committed, and batches come off one queue */
    q = rd_kafka_queue_new(k->rk);
    rkt = rd_kafka_topic_new(k->rk, o->topic, NULL);
    if (!q || !rkt) {
        st = ops_fail(err, OPS_FAIL, "kafka: cannot set up a reader: %s",
                      rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }
    for (int i = 0; i < l->cnt; i++) {
        if (rd_kafka_consume_start_queue(rkt, l->elems[i].partition, l->elems[i].offset, q) < 0) {
            st = kfail(k->brokers, rd_kafka_last_error(), "start reading", err);
            goto out;
        }
        l->elems[i].err = RD_KAFKA_RESP_ERR__IN_PROGRESS; /* marks "started" for the stop below */
    }
    long matched = 0;
    int64_t last_msg = clock_mono_ms();
    bool stop = false;
    rd_kafka_message_t *batch[BATCH];
    int64_t last_wake = 0;
    int wake_next = 0;
    while (!stop && !(o->stop && *o->stop)) {
        if (!window && !o->follow && pending == 0) break;
        /* librdkafka 2.0's fetcher stops fetching a partition whose prefetch queue is full
         * and, when every partition is in that state, sleeps up to about a second before it
         * looks again (2.1 made this fetch.queue.backoff.ms). With a small queue — what keeps
         * memory bounded — that sleep would cap a tail at a queue per second. Any request to
         * the broker thread wakes it, so when a batch comes back short while partitions are
         * still behind, ask a leader for a watermark (one loopback round trip, at most every
         * 2 ms, rotating over the pending partitions) and poll with a 1 ms timeout meanwhile. */
        ssize_t got = rd_kafka_consume_batch_queue(q, pending > 0 ? 1 : 100, batch, BATCH);
        if (got >= 0 && got < BATCH && pending > 0 && clock_mono_ms() - last_wake >= 2) {
            for (int tries = 0; tries < np; tries++) {
                wake_next = (wake_next + 1) % np;
                if (done[wake_next]) continue;
                int64_t lo, hi;
                rd_kafka_query_watermark_offsets(k->rk, o->topic, ti->parts[wake_next].id, &lo,
                                                 &hi, 1000);
                break;
            }
            last_wake = clock_mono_ms();
        }
        if (got < 0) {
            st = kfail(k->brokers, rd_kafka_last_error(), "consume", err);
            break;
        }
        if (got == 0 && o->follow && o->idle_ms > 0 && clock_mono_ms() - last_msg >= o->idle_ms)
            break;
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *rm = batch[i];
            if (rm->err) {
                if (rm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && !stop &&
                    (rm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                     rm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)) {
                    st = kfail(k->brokers, rm->err, o->topic, err);
                    stop = true;
                }
                rd_kafka_message_destroy(rm);
                continue;
            }
            last_msg = clock_mono_ms();
            int p = 0;
            while (p < np && ti->parts[p].id != rm->partition) p++;
            bool initial = p < np && !done[p] && rm->offset < end[p];
            if (p < np && !done[p] && rm->offset + 1 >= end[p]) {
                done[p] = true;
                pending--;
            }
            if (!stop) {
                ops_kmsg_t m;
                kmsg_from(rm, &m);
                if (window && initial) {
                    if (ops_kring_push(window, &m) < 0) {
                        st = ops_fail(err, OPS_FAIL, "out of memory");
                        stop = true;
                    }
                } else if (ops_kmsg_match(&m, o)) {
                    if (fn(&m, arg) || (o->max && ++matched >= o->max)) stop = true;
                }
            }
            rd_kafka_message_destroy(rm);
        }
        if (window && pending == 0 && !stop) {
            /* the window is complete: merge by time, keep the last N, then go live */
            size_t wn = ops_kring_len(window);
            idx = malloc((wn ? wn : 1) * sizeof *idx);
            if (!idx) {
                st = ops_fail(err, OPS_FAIL, "out of memory");
                break;
            }
            for (size_t w = 0; w < wn; w++) idx[w] = w;
            qsort_r(idx, wn, sizeof *idx, cmp_by_time, window);
            size_t from = wn > (size_t)o->last_n ? wn - (size_t)o->last_n : 0;
            for (size_t w = from; w < wn && !stop; w++) {
                const ops_kmsg_t *m = ops_kring_get(window, idx[w]);
                if (ops_kmsg_match(m, o) && (fn(m, arg) || (o->max && ++matched >= o->max)))
                    stop = true;
            }
            free(idx);
            idx = NULL;
            ops_kring_free(window);
            window = NULL;
        }
    }
out:
    for (int i = 0; rkt && i < l->cnt; i++)
        if (l->elems[i].err == RD_KAFKA_RESP_ERR__IN_PROGRESS)
            rd_kafka_consume_stop(rkt, l->elems[i].partition);
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (q) rd_kafka_queue_destroy(q);
    free(idx);
    ops_kring_free(window);
    rd_kafka_topic_partition_list_destroy(l);
    free(end);
    free(done);
    ops_kafka_topics_free(ti, nt);
    return st;
}
