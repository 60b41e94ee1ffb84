/* ui_topics — the Topics view: a live tail of task-events and task-events.dlq (or any topic,
 * :topic), each message's partition, offset, time, key and headers, its value as coloured JSON
 * or raw, pause and follow, a filter by key, header or value, and the lag of every consumer
 * group.
 *
 * Each topic is read by a tail thread of its own (ops_kafka_tail: no group joined, nothing
 * committed) that copies messages into one bounded ring (ops_kring: CONSOLE_TAIL_MESSAGES
 * messages and CONSOLE_TAIL_MB of their bytes; the oldest go first) under the view's lock and
 * wakes the UI thread. Messages are numbered by the ring's sequence, so the cursor and the
 * filter's matches survive the oldest being dropped. The UI thread scans only the messages that
 * arrived since its last look (ops_kring_match, the library's own filter), so a frame costs the
 * rows on screen, not the messages kept. A tail that fails (Kafka down at start, a topic that
 * does not exist) says so in the view and tries again every second, resuming after the last
 * offset it saw in each partition. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ops_kafka.h"
#include "ui.h"
#include "ui_draw.h"
#include "ui_json.h"
#include "ui_work.h"

#define MAX_PARTS 256
#define LAST_N 100 /* messages shown from before the view opened, per topic */

typedef struct topics topics_t;

typedef struct tail {
    topics_t *s;
    char topic[256];
    ops_from_t from;
    long last_n;
    int64_t opened_ms;           /* wall clock when asked: a retry resumes from here at worst */
    pthread_t th;
    volatile sig_atomic_t stop;
    /* under s->mu */
    ops_status_t st;
    char err[512];
    int64_t last_off[MAX_PARTS]; /* -1: none seen */
    int64_t last_ts;
    uint64_t received;
    struct tail *next;           /* the retired list */
} tail_t;

struct topics {
    pthread_mutex_t mu;
    ops_kring_t *ring;            /* under mu */
    tail_t *tails[2];
    int ntails;
    tail_t *retired;              /* stopped, not yet joined */
    /* the UI thread's */
    char custom[256];             /* :topic NAME, "" for the default pair */
    int set;                      /* default pair: 0 both, 1 task-events, 2 the DLQ */
    uint64_t scanned;             /* ring total when the filter last looked */
    bool filtered;
    char fkey[256], fheader[256], fgrep[256];
    ops_tail_opts_t fo;
    uint64_t *match;              /* sequence numbers of matching messages, ascending */
    size_t nmatch, capm;
    bool follow, paused, raw, details;
    uint64_t paused_total;        /* what is shown while paused */
    uint64_t cursor_seq;
    ui_jdoc_t doc;
    uint64_t doc_seq;
    bool doc_raw, doc_valid;
    /* lag */
    ops_group_lag_t *lag;
    size_t nlag;
    ops_status_t lag_st;
    char lag_err[512];
    bool lag_loading;
    int64_t lag_next;
};

/* ---- the tail threads ---------------------------------------------------------------------- */

static int on_msg(const ops_kmsg_t *m, void *arg)
{
    tail_t *t = arg;
    topics_t *s = t->s;
    pthread_mutex_lock(&s->mu);
    bool fresh = m->partition < 0 || m->partition >= MAX_PARTS || m->offset > t->last_off[m->partition];
    if (!t->stop && fresh) {
        ops_kring_push(s->ring, m);
        if (m->partition >= 0 && m->partition < MAX_PARTS) t->last_off[m->partition] = m->offset;
        if (m->ts_ms > t->last_ts) t->last_ts = m->ts_ms;
        t->received++;
        t->st = OPS_OK;
        t->err[0] = '\0';
    }
    pthread_mutex_unlock(&s->mu);
    return t->stop;
}

static ui_t *the_ui; /* for waking from the tail threads (one console per process) */

/* ui_work_wake is coalesced (a write only when no wake is pending), so a wake per message
 * costs an atomic exchange, and the UI thread looks at most once per frame. */
static int on_msg_wake(const ops_kmsg_t *m, void *arg)
{
    int r = on_msg(m, arg);
    ui_work_wake(the_ui);
    return r;
}

static void *tail_main(void *arg)
{
    tail_t *t = arg;
    topics_t *s = t->s;
    const char *brokers = ops_cfg_get(the_ui->cfg, OPS_KAFKA_BROKERS);
    ops_kafka_t *k = NULL;
    ops_err_t e = OPS_ERR_INIT;
    bool first = true;
    while (!t->stop) {
        ops_status_t st;
        if (!brokers) {
            st = ops_fail(&e, OPS_USAGE, "KAFKA_BROKERS is not set");
        } else if (!k && (st = ops_kafka_open(&k, brokers, &e)) != OPS_OK) {
            k = NULL;
        } else {
            ops_tail_opts_t o = OPS_TAIL_OPTS_INIT;
            o.topic = t->topic;
            o.follow = true;
            o.stop = &t->stop;
            o.idle_ms = 0;
            pthread_mutex_lock(&s->mu);
            int64_t resume = t->last_ts;
            pthread_mutex_unlock(&s->mu);
            if (first) {
                o.from = t->from;
                o.last_n = t->last_n;
            } else {
                /* after a failure: from the last message seen (a second early; the offsets
                 * already shown are skipped), else from when the view asked */
                o.from = OPS_FROM_TIME;
                o.at = (resume ? resume : t->opened_ms) - 1000;
            }
            first = false;
            st = ops_kafka_tail(k, &o, on_msg_wake, t, &e);
        }
        if (t->stop) break;
        pthread_mutex_lock(&s->mu);
        t->st = st == OPS_OK ? OPS_FAIL : st;
        snprintf(t->err, sizeof t->err, "%s", st == OPS_OK ? "the tail ended; starting again" : e.msg);
        pthread_mutex_unlock(&s->mu);
        ui_work_wake(the_ui);
        for (int i = 0; i < 10 && !t->stop; i++) { /* a second, in slices */
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    ops_kafka_close(k);
    return NULL;
}

static tail_t *tail_start(topics_t *s, const char *topic, ops_from_t from, long last_n)
{
    tail_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->s = s;
    snprintf(t->topic, sizeof t->topic, "%s", topic);
    t->from = from;
    t->last_n = last_n;
    t->opened_ms = clock_wall_ms();
    for (int i = 0; i < MAX_PARTS; i++) t->last_off[i] = -1;
    /* the thread takes no signals: the UI thread handles the terminal's */
    sigset_t block, old;
    sigfillset(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&t->th, NULL, tail_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(t);
        return NULL;
    }
    return t;
}

/* Stops the current tails; they are joined later (a tail may be inside a 5 s metadata call,
 * and the UI thread does not wait for it). */
static void tails_retire(topics_t *s)
{
    for (int i = 0; i < s->ntails; i++) {
        s->tails[i]->stop = 1;
        s->tails[i]->next = s->retired;
        s->retired = s->tails[i];
    }
    s->ntails = 0;
}

static void retired_reap(topics_t *s, bool wait)
{
    for (tail_t **p = &s->retired; *p;) {
        tail_t *t = *p;
        if (wait ? pthread_join(t->th, NULL) == 0 : pthread_tryjoin_np(t->th, NULL) == 0) {
            *p = t->next;
            free(t);
        } else {
            p = &t->next;
        }
    }
}

/* (Re)starts the tails of the current topic set on an empty ring. */
static void tails_begin(ui_view_t *v, ops_from_t from, long last_n)
{
    topics_t *s = v->priv;
    tails_retire(s);
    pthread_mutex_lock(&s->mu);
    ops_kring_free(s->ring);
    s->ring = ops_kring_new((size_t)v->ui->limits.tail_messages, (size_t)v->ui->limits.tail_mb << 20);
    pthread_mutex_unlock(&s->mu);
    s->scanned = 0;
    s->nmatch = 0;
    s->cursor_seq = 0;
    s->follow = true;
    s->paused = false;
    s->doc_valid = false;
    v->cursor = v->top = 0;
    const char *names[2];
    int n = 0;
    if (s->custom[0]) names[n++] = s->custom;
    else {
        if (s->set != 2) names[n++] = "task-events";
        if (s->set != 1) names[n++] = "task-events.dlq";
    }
    for (int i = 0; i < n; i++) {
        tail_t *t = tail_start(s, names[i], from, last_n);
        if (t) s->tails[s->ntails++] = t;
    }
}

/* ---- lag ------------------------------------------------------------------------------------- */

typedef struct lag_job {
    ui_job_t job;
    ops_group_lag_t *lag;
    size_t nlag;
    char names[64][256];
    size_t nnames;
} lag_job_t;

static void lag_run(ui_job_t *j, ui_conn_t *c)
{
    lag_job_t *l = (lag_job_t *)j;
    ops_kafka_t *k = ui_conn_kafka(c, j);
    if (!k) return;
    ops_topic_info_t *ti;
    size_t nt;
    if ((j->st = ops_kafka_topics(k, &ti, &nt, &j->err)) != OPS_OK) return;
    for (size_t i = 0; i < nt && l->nnames < 64; i++) snprintf(l->names[l->nnames++], 256, "%s", ti[i].name);
    ops_kafka_topics_free(ti, nt);
    j->st = ops_kafka_lag(k, NULL, &l->lag, &l->nlag, &j->err);
}

static void lag_dtor(ui_job_t *j)
{
    free(((lag_job_t *)j)->lag);
}

/* The lag line's order: the groups reading a tailed topic first (notification-service on
 * task-events: what this view is about), then the others, each part by lag, largest first;
 * the line is cut at the terminal's width, so what matters comes first. */
static bool on_tailed_topic(const topics_t *s, const ops_group_lag_t *g)
{
    for (int i = 0; i < s->ntails; i++)
        if (s->tails[i] && !strcmp(s->tails[i]->topic, g->topic)) return true;
    return false;
}

static int lag_cmp(const void *a, const void *b, void *view)
{
    const ops_group_lag_t *x = a, *y = b;
    bool tx = on_tailed_topic(view, x), ty = on_tailed_topic(view, y);
    if (tx != ty) return tx ? -1 : 1;
    if (x->lag != y->lag) return x->lag > y->lag ? -1 : 1;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->topic, y->topic);
}

static void lag_done(ui_job_t *j, ui_t *ui)
{
    lag_job_t *l = (lag_job_t *)j;
    topics_t *s = j->view->priv;
    s->lag_loading = false;
    s->lag_next = ui_now_ms() + 3000;
    s->lag_st = j->st;
    snprintf(s->lag_err, sizeof s->lag_err, "%s", j->err.msg);
    if (l->nnames) {
        const char *names[64];
        for (size_t i = 0; i < l->nnames; i++) names[i] = l->names[i];
        ui_topics_known(ui, names, l->nnames);
    }
    if (j->st != OPS_OK) return;
    free(s->lag);
    s->lag = l->lag;
    s->nlag = l->nlag;
    l->lag = NULL;
    qsort_r(s->lag, s->nlag, sizeof *s->lag, lag_cmp, s);
}

/* ---- the list -------------------------------------------------------------------------------- */

/* Under mu: scans what arrived since the last look into the matches. */
static void scan(topics_t *s)
{
    uint64_t total = ops_kring_total(s->ring);
    size_t len = ops_kring_len(s->ring);
    uint64_t first = total - len;
    if (!s->filtered) {
        s->scanned = total;
        return;
    }
    if (s->scanned < first) s->scanned = first;
    for (uint64_t q = s->scanned; q < total; q++) {
        if (!ops_kring_match(s->ring, (size_t)(q - first), &s->fo)) continue;
        if (s->nmatch == s->capm) {
            /* drop matches the ring no longer holds before growing */
            size_t k = 0;
            while (k < s->nmatch && s->match[k] < first) k++;
            if (k) {
                memmove(s->match, s->match + k, (s->nmatch - k) * sizeof *s->match);
                s->nmatch -= k;
            }
            if (s->nmatch == s->capm) {
                size_t cap = s->capm ? s->capm * 2 : 1024;
                uint64_t *m2 = realloc(s->match, cap * sizeof *m2);
                if (!m2) break;
                s->match = m2;
                s->capm = cap;
            }
        }
        s->match[s->nmatch++] = q;
    }
    s->scanned = total;
}

/* Under mu: the visible list as [lo, hi) of matches (filtered) or of sequence numbers. */
typedef struct span {
    uint64_t first_seq;       /* the oldest kept */
    size_t lo, hi;            /* filtered: indexes into match; else sequence numbers */
} span_t;

static span_t visible(topics_t *s)
{
    uint64_t total = ops_kring_total(s->ring), first = total - ops_kring_len(s->ring);
    uint64_t upto = s->paused && s->paused_total < total ? s->paused_total : total;
    span_t sp = {first, 0, 0};
    if (s->filtered) {
        size_t lo = 0;
        while (lo < s->nmatch && s->match[lo] < first) lo++;
        size_t hi = s->nmatch;
        while (hi > lo && s->match[hi - 1] >= upto) hi--;
        sp.lo = lo;
        sp.hi = hi;
    } else {
        sp.lo = (size_t)first;
        sp.hi = (size_t)(upto > first ? upto : first);
    }
    return sp;
}

static uint64_t seq_at(const topics_t *s, span_t sp, size_t i)
{
    return s->filtered ? s->match[sp.lo + i] : sp.lo + i;
}

/* The index of the line showing seq (or the nearest after it). */
static size_t index_of(const topics_t *s, span_t sp, uint64_t seq)
{
    size_t n = sp.hi - sp.lo, lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (seq_at(s, sp, mid) < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo < n ? lo : n ? n - 1 : 0;
}

/* Under mu: v->nlines and v->cursor from the cursor's sequence number (or the newest). */
static span_t sync_cursor(ui_view_t *v)
{
    topics_t *s = v->priv;
    scan(s);
    span_t sp = visible(s);
    v->nlines = (int)(sp.hi - sp.lo);
    if (v->nlines == 0) {
        v->cursor = 0;
        return sp;
    }
    if (s->follow) v->cursor = v->nlines - 1;
    else v->cursor = (int)index_of(s, sp, s->cursor_seq);
    s->cursor_seq = seq_at(s, sp, (size_t)v->cursor);
    return sp;
}

/* ---- filter ---------------------------------------------------------------------------------- */

/* "key:42 header:event_type=task.completed text" (tokens ANDed; h: for header:). */
static void topics_filter(ui_view_t *v, const char *text)
{
    topics_t *s = v->priv;
    s->fkey[0] = s->fheader[0] = s->fgrep[0] = '\0';
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    size_t gl = 0;
    for (char *save, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (!strncmp(tok, "key:", 4)) snprintf(s->fkey, sizeof s->fkey, "%s", tok + 4);
        else if (!strncmp(tok, "header:", 7)) snprintf(s->fheader, sizeof s->fheader, "%s", tok + 7);
        else if (!strncmp(tok, "h:", 2)) snprintf(s->fheader, sizeof s->fheader, "%s", tok + 2);
        else gl += (size_t)snprintf(s->fgrep + gl, sizeof s->fgrep - gl, "%s%s", gl ? " " : "", tok);
    }
    ops_tail_opts_t o = OPS_TAIL_OPTS_INIT;
    o.key = s->fkey[0] ? s->fkey : NULL;
    o.header = s->fheader[0] ? s->fheader : NULL;
    o.grep = s->fgrep[0] ? s->fgrep : NULL;
    s->fo = o;
    pthread_mutex_lock(&s->mu);
    s->filtered = o.key || o.header || o.grep;
    s->nmatch = 0;
    s->scanned = 0; /* every kept message is looked at again */
    scan(s);
    pthread_mutex_unlock(&s->mu);
    s->follow = true;
    s->doc_valid = false;
    v->ui->dirty = true;
}

/* ---- the view -------------------------------------------------------------------------------- */

static void topics_open(ui_view_t *v)
{
    topics_t *s = calloc(1, sizeof *s);
    v->priv = s;
    if (!s) return;
    the_ui = v->ui;
    pthread_mutex_init(&s->mu, NULL);
    s->details = true;
    if (v->ui->opts.topic) snprintf(s->custom, sizeof s->custom, "%s", v->ui->opts.topic);
    tails_begin(v, OPS_FROM_END, LAST_N);
}

static void topics_tick(ui_view_t *v, bool shown)
{
    topics_t *s = v->priv;
    if (!s) return;
    retired_reap(s, false);
    if (!shown) return;
    /* new messages since the last frame make it dirty */
    pthread_mutex_lock(&s->mu);
    uint64_t total = ops_kring_total(s->ring);
    pthread_mutex_unlock(&s->mu);
    if (total != s->scanned) v->ui->dirty = true;
    if (!s->lag_loading && ui_now_ms() >= s->lag_next) {
        lag_job_t *l = ui_job_new(sizeof *l, UI_BE_KAFKA, lag_run, lag_done, v);
        if (l) {
            l->job.dtor = lag_dtor;
            if (ui_work_submit(v->ui, &l->job)) s->lag_loading = true;
        }
    }
}

static bool topics_request(ui_view_t *v, ui_req_t req)
{
    topics_t *s = v->priv;
    switch (req) {
    case UI_REQ_UP: case UI_REQ_DOWN: case UI_REQ_PAGE_UP: case UI_REQ_PAGE_DOWN:
    case UI_REQ_HOME: case UI_REQ_END: {
        pthread_mutex_lock(&s->mu);
        span_t sp = sync_cursor(v);
        ui_list_move(v, req);
        if (v->nlines) s->cursor_seq = seq_at(s, sp, (size_t)v->cursor);
        /* at the newest (End, or moving onto it) follows; anywhere else stays */
        s->follow = v->nlines == 0 || v->cursor == v->nlines - 1;
        pthread_mutex_unlock(&s->mu);
        return true;
    }
    case UI_REQ_FOLLOW:
        s->follow = true;
        s->paused = false;
        return true;
    case UI_REQ_PAUSE:
        pthread_mutex_lock(&s->mu);
        s->paused = !s->paused;
        s->paused_total = ops_kring_total(s->ring);
        pthread_mutex_unlock(&s->mu);
        ui_say(v->ui, s->paused ? "paused: new messages are kept, not shown (p resumes)" : "resumed");
        return true;
    case UI_REQ_RAW:
        s->raw = !s->raw;
        s->doc_valid = false;
        return true;
    case UI_REQ_DETAILS:
    case UI_REQ_ENTER:
        s->details = !s->details;
        return true;
    case UI_REQ_NEXT:
        if (s->custom[0]) {
            ui_say(v->ui, "one topic is tailed (:topic); :topic - goes back to task-events and its DLQ");
            return true;
        }
        s->set = (s->set + 1) % 3;
        tails_begin(v, OPS_FROM_END, LAST_N);
        return true;
    case UI_REQ_REFRESH:
        s->lag_next = 0;
        return true;
    default: return false;
    }
}

/* :topic NAME [beginning|end|-N], :topic - (the default pair again) */
static bool topics_command(ui_view_t *v, int argc, char **argv)
{
    topics_t *s = v->priv;
    if (strcmp(argv[0], "topic") || argc < 2 || argc > 3) return false;
    ops_from_t from = OPS_FROM_END;
    long last_n = LAST_N;
    if (argc == 3) {
        if (!strcmp(argv[2], "beginning")) from = OPS_FROM_BEGINNING, last_n = 0;
        else if (!strcmp(argv[2], "end")) last_n = 0;
        else if (argv[2][0] == '-' && atol(argv[2] + 1) > 0) last_n = atol(argv[2] + 1);
        else return false;
    }
    if (!strcmp(argv[1], "-")) s->custom[0] = '\0';
    else snprintf(s->custom, sizeof s->custom, "%s", argv[1]);
    tails_begin(v, from, last_n);
    ui_say(v->ui, "tailing %s from %s", s->custom[0] ? s->custom : "task-events and task-events.dlq",
           from == OPS_FROM_BEGINNING ? "the beginning" : last_n ? "the last messages" : "now");
    return true;
}

static const char *header_of(const ops_kmsg_t *m, const char *name, size_t *len)
{
    for (size_t i = 0; i < m->nh; i++)
        if (!strcmp(m->h[i].name, name)) {
            *len = m->h[i].len;
            return m->h[i].value;
        }
    *len = 0;
    return NULL;
}

static void draw_message(const ops_kmsg_t *m, int row, int cols, bool two_topics)
{
    int c = 1;
    char clock[16];
    ui_fmt_clock(m->ts_ms, clock, sizeof clock);
    c += ui_draw_text(row, c, 12, UI_C_DIM, clock) + 1;
    bool dlq = strstr(m->topic, ".dlq") != NULL;
    if (two_topics) c += ui_draw_text(row, c, 4, dlq ? UI_C_ERROR : UI_C_DIM, dlq ? "DLQ " : "    ");
    c += ui_draw_textf(row, c, 3, UI_C_LABEL, "%3d", m->partition) + 1;
    c += ui_draw_textf(row, c, 8, UI_C_DIM, "%8lld", (long long)m->offset) + 1;
    char key[12];
    snprintf(key, sizeof key, "%.*s", (int)(m->key_len < 10 ? m->key_len : 10), m->key ? m->key : "");
    ui_draw_text(row, c, 10, UI_C_VALUE, m->key ? key : "(null)");
    c += 11;
    size_t tl;
    const char *type = header_of(m, "event_type", &tl);
    ui_draw_bytes(row, c, 15, dlq ? UI_C_ERROR : UI_C_OK, type ? type : "", tl);
    c += 16;
    if (c < cols) ui_draw_bytes(row, c, cols - c - 1, UI_C_DEFAULT, m->value ? m->value : "", m->value_len);
}

static void draw_details(topics_t *s, const ops_kmsg_t *m, uint64_t seq, int top, int rows, int cols)
{
    ui_draw_run(top, 0, cols, UI_C_DIM, "─");
    ui_draw_textf(top, 2, cols - 4, UI_C_HEADER, " %s partition %d offset %lld · %zu bytes · %s (r) ",
                  m->topic, m->partition, (long long)m->offset, m->value_len, s->raw ? "raw" : "JSON");
    int row = top + 1, end = top + rows;
    for (size_t i = 0; i < m->nh && row < end; i++, row++) {
        int c = 2 + ui_draw_textf(row, 2, 24, UI_C_LABEL, "%s:", m->h[i].name) + 1;
        ui_draw_bytes(row, c, cols - c - 1, UI_C_DEFAULT, m->h[i].value, m->h[i].len);
    }
    if (!s->doc_valid || s->doc_seq != seq || s->doc_raw != s->raw) {
        ui_json_render(&s->doc, m->value, m->value_len, !s->raw);
        s->doc_seq = seq;
        s->doc_raw = s->raw;
        s->doc_valid = true;
    }
    for (size_t i = 0; row < end && i < s->doc.nlines; i++, row++) ui_json_draw_line(&s->doc, i, row, 2, cols - 3);
}

static void topics_draw(ui_view_t *v, int top, int rows, int cols)
{
    topics_t *s = v->priv;
    int row = top;
    pthread_mutex_lock(&s->mu);
    span_t sp = sync_cursor(v);
    uint64_t total = ops_kring_total(s->ring), dropped = ops_kring_dropped(s->ring);
    size_t kept = ops_kring_len(s->ring), bytes = ops_kring_bytes(s->ring);
    /* the title line: what is tailed, the state, the counts, the filter */
    int c = 1;
    for (int i = 0; i < s->ntails; i++)
        c += ui_draw_textf(row, c, cols - c, UI_C_VALUE, "%s%s", i ? " + " : "", s->tails[i]->topic);
    c += ui_draw_text(row, c, cols - c, s->paused ? UI_C_WARN : UI_C_OK,
                      s->paused ? " · paused" : s->follow ? " · following" : " · scrolled back");
    c += ui_draw_textf(row, c, cols - c, UI_C_DIM, " · received %llu · kept %zu (%.1f of %ld MB) · dropped %llu",
                       (unsigned long long)total, kept, (double)bytes / 1048576.0, v->ui->limits.tail_mb,
                       (unsigned long long)dropped);
    row++;
    c = 1;
    if (s->filtered) {
        c += ui_draw_textf(row, c, cols - c, UI_C_WARN, "filter%s%s%s%s%s%s · %d of %zu match",
                           s->fkey[0] ? " key:" : "", s->fkey, s->fheader[0] ? " header:" : "", s->fheader,
                           s->fgrep[0] ? " text:" : "", s->fgrep, v->nlines, kept);
        c += 2;
    }
    /* the tails' errors, else the lag of each group */
    bool err = false;
    for (int i = 0; i < s->ntails; i++)
        if (s->tails[i]->st != OPS_OK) {
            c += ui_draw_textf(row, c, cols - c, UI_C_ERROR, "%s: %s ", s->tails[i]->topic, s->tails[i]->err);
            err = true;
        }
    pthread_mutex_unlock(&s->mu);
    if (!err) {
        if (s->lag_st != OPS_OK) {
            ui_draw_textf(row, c, cols - c, UI_C_ERROR, "lag: %s", s->lag_err);
        } else if (s->nlag == 0) {
            ui_draw_text(row, c, cols - c, UI_C_DIM, s->lag ? "lag: no group has committed offsets" : "lag: asking…");
        } else {
            c += ui_draw_text(row, c, cols - c, UI_C_LABEL, "lag");
            for (size_t i = 0; i < s->nlag && c < cols - 4; i++)
                c += ui_draw_textf(row, c, cols - c, s->lag[i].lag ? UI_C_WARN : UI_C_OK, "  %s on %s: %lld",
                                   s->lag[i].group, s->lag[i].topic, (long long)s->lag[i].lag);
        }
    }
    row++;
    bool two = s->ntails > 1;
    ui_draw_text(row, 1, 12, UI_C_HEADER, "TIME");
    c = 14 + (two ? 4 : 0);
    ui_draw_text(row, c, 3, UI_C_HEADER, "  P");
    ui_draw_text(row, c + 4, 8, UI_C_HEADER, "  OFFSET");
    ui_draw_text(row, c + 13, 10, UI_C_HEADER, "KEY");
    ui_draw_text(row, c + 24, 15, UI_C_HEADER, "EVENT TYPE");
    ui_draw_text(row, c + 40, cols - c - 41, UI_C_HEADER, "VALUE");
    row++;
    int avail = top + rows - row;
    int list_rows = s->details ? avail - avail * 2 / 5 : avail;
    pthread_mutex_lock(&s->mu);
    sp = sync_cursor(v);
    int first = ui_list_scroll(v, list_rows);
    ops_kmsg_t m;
    for (int r = 0; r < list_rows && first + r < v->nlines; r++) {
        uint64_t q = seq_at(s, sp, (size_t)(first + r));
        if (!ops_kring_at(s->ring, (size_t)(q - sp.first_seq), &m)) continue;
        bool sel = first + r == v->cursor;
        ui_draw_select(sel);
        if (sel) ui_draw_fill(row + r, 0, cols, UI_C_DEFAULT);
        draw_message(&m, row + r, cols, two);
    }
    ui_draw_select(false);
    if (v->nlines == 0)
        ui_draw_text(row, 2, cols - 4, UI_C_DIM,
                     s->filtered ? "nothing kept matches the filter (/ changes it)" : "waiting for messages…");
    if (s->details && v->nlines > 0 &&
        ops_kring_at(s->ring, (size_t)(s->cursor_seq - sp.first_seq), &m))
        draw_details(s, &m, s->cursor_seq, row + list_rows, avail - list_rows, cols);
    pthread_mutex_unlock(&s->mu);
}

static void topics_close(ui_view_t *v)
{
    topics_t *s = v->priv;
    if (!s) return;
    tails_retire(s);
    retired_reap(s, true);
    ops_kring_free(s->ring);
    free(s->match);
    free(s->lag);
    ui_json_free(&s->doc);
    pthread_mutex_destroy(&s->mu);
    free(s);
    v->priv = NULL;
}

const ui_view_ops_t ui_topics_view = {
    .name = "topics",
    .title = "Topics",
    .number = '2',
    .open = topics_open,
    .tick = topics_tick,
    .draw = topics_draw,
    .request = topics_request,
    .filter = topics_filter,
    .command = topics_command,
    .close = topics_close,
};
