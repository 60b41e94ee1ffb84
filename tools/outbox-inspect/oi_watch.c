/* oi_watch — the outbox live: backlog, oldest age, dead rows, the drain rate and the time to
 * drain at that rate ("stop Kafka and watch the outbox drain" without the full console).
 * On a terminal the block is redrawn in place; otherwise (or with -o json) one line per
 * sample, so it can be logged or piped. Samples and rates are lib/ops/ops_outbox's. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oi.h"
#include "ops_http.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Sleeps ms in short slices so an interrupt ends the wait at once. */
static void pause_ms(int64_t ms)
{
    for (int64_t left = ms; left > 0 && !stop; left -= 50) {
        struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void fmt_time(double at_s, char *out, size_t len)
{
    time_t s = (time_t)at_s;
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03dZ", (int)((at_s - (double)s) * 1000) % 1000);
}

static void fmt_secs(double s, char *out, size_t len)
{
    if (s < 60)
        snprintf(out, len, "%.1fs", s);
    else if (s < 3600)
        snprintf(out, len, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(out, len, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void print_json(ops_cmd_t *c, const ops_outbox_sample_t *s, const ops_outbox_rates_t *r)
{
    char when[40];
    fmt_time(s->at_s, when, sizeof when);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddNumberToObject(o, "backlog", (double)s->backlog);
    cJSON_AddNumberToObject(o, "oldest_unpublished_age_seconds", (double)(int64_t)(s->oldest_age_s * 1000) / 1000.0);
    cJSON_AddNumberToObject(o, "dead", (double)s->dead);
    cJSON_AddNumberToObject(o, "published_since_last", (double)s->published_since);
    cJSON_AddNumberToObject(o, "published_per_second", (double)(int64_t)(r->published_per_s * 10) / 10.0);
    if (r->have_net)
        cJSON_AddNumberToObject(o, "backlog_change_per_second", (double)(int64_t)(r->net_per_s * 10) / 10.0);
    else
        cJSON_AddNullToObject(o, "backlog_change_per_second");
    if (r->eta_s >= 0)
        cJSON_AddNumberToObject(o, "drain_eta_seconds", (double)(int64_t)(r->eta_s * 10) / 10.0);
    else
        cJSON_AddNullToObject(o, "drain_eta_seconds");
    ops_cmd_print_json(c, o);
    cJSON_Delete(o);
}

static void print_line(ops_cmd_t *c, const ops_outbox_sample_t *s, const ops_outbox_rates_t *r)
{
    char when[40], net[32] = "-", eta[32] = "-";
    fmt_time(s->at_s, when, sizeof when);
    if (r->have_net) snprintf(net, sizeof net, "%.1f", r->net_per_s);
    if (r->eta_s >= 0) snprintf(eta, sizeof eta, "%.1f", r->eta_s);
    fprintf(c->out, "%s backlog=%lld oldest_s=%.3f dead=%lld published_per_s=%.1f net_per_s=%s eta_s=%s\n",
            when, (long long)s->backlog, s->oldest_age_s, (long long)s->dead, r->published_per_s, net,
            eta);
}

/* The block shown on a terminal; returns the number of lines printed. */
static int print_block(ops_cmd_t *c, const char *db, int64_t interval_ms, const ops_outbox_sample_t *s,
                       const ops_outbox_rates_t *r, const char *problem)
{
    char when[40], age[32], eta[64], iv[32];
    fmt_time(s->at_s, when, sizeof when);
    fmt_secs(s->oldest_age_s, age, sizeof age);
    fmt_secs(interval_ms / 1000.0, iv, sizeof iv);
    if (s->backlog == 0)
        snprintf(eta, sizeof eta, "empty");
    else if (r->eta_s >= 0)
        fmt_secs(r->eta_s, eta, sizeof eta);
    else if (r->have_net && r->net_per_s > 0)
        snprintf(eta, sizeof eta, "not draining (growing %.1f rows/s)", r->net_per_s);
    else
        snprintf(eta, sizeof eta, "not draining");
    int lines = 0;
    fprintf(c->out, "outbox of %s   every %s   %s   Ctrl-C stops\n", db, iv, when), lines++;
    fprintf(c->out, "backlog              %lld\n", (long long)s->backlog), lines++;
    fprintf(c->out, "oldest unpublished   %s\n", s->backlog ? age : "-"), lines++;
    fprintf(c->out, "dead rows            %lld\n", (long long)s->dead), lines++;
    fprintf(c->out, "drain rate           %.1f rows/s published\n", r->published_per_s), lines++;
    if (r->have_net)
        fprintf(c->out, "backlog change       %+.1f rows/s\n", r->net_per_s), lines++;
    else
        fprintf(c->out, "backlog change       (after the next sample)\n"), lines++;
    fprintf(c->out, "time to drain        %s\n", eta), lines++;
    if (problem) fprintf(c->out, "last refresh failed: %s\n", problem), lines++;
    return lines;
}

ops_status_t oi_watch(ops_cmd_t *c)
{
    int64_t interval_ms = 1000, count = 0;
    if (ops_cmd_has(c, "interval") &&
        ops_cmd_duration(c, ops_cmd_get(c, "interval"), "--interval", &interval_ms))
        return OPS_USAGE;
    if (interval_ms < 100 || interval_ms > 3600000)
        return ops_cmd_usage(c, "--interval: '%s' is outside 100ms..1h", ops_cmd_get(c, "interval"));
    if (ops_cmd_has(c, "count") && ops_cmd_int(c, ops_cmd_get(c, "count"), "--count", 1, 1000000000, &count))
        return OPS_USAGE;
    bool until_empty = ops_cmd_has(c, "until-empty");
    ops_outbox_t *ob;
    ops_status_t st = oi_open(c, &ob);
    if (st != OPS_OK) return st;
    char db[512];
    ops_url_redact(ops_cfg_get(c->cfg, OPS_TASKS_DATABASE_URL), db, sizeof db);
    bool tty = !c->json && isatty(fileno(c->out));
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    stop = 0;
    ops_outbox_drain_t d;
    double window = interval_ms * 3 / 1000.0;
    ops_outbox_drain_init(&d, window > 5 ? window : 5);
    ops_outbox_sample_t s, last = {0};
    ops_outbox_rates_t r = {0};
    int shown = 0;
    if (tty) fputs("\033[?25l", c->out); /* no cursor blinking over the figures */
    for (int64_t n = 0; !stop; n++) {
        ops_err_t e = OPS_ERR_INIT;
        st = ops_outbox_sample(ob, last.at_s, &s, &e);
        if (st != OPS_OK && n == 0) { /* nothing to show yet: that is the answer */
            c->err = e;
            break;
        }
        if (st == OPS_OK) {
            ops_outbox_drain_add(&d, &s);
            ops_outbox_drain_rates(&d, &r);
            last = s;
        }
        if (tty) {
            if (shown) fprintf(c->out, "\033[%dA\033[J", shown);
            shown = print_block(c, db, interval_ms, &last, &r, st == OPS_OK ? NULL : e.msg);
        } else if (st != OPS_OK) {
            fprintf(stderr, "%s: warning: %s (still watching)\n", OI_PROG, e.msg);
        } else if (c->json) {
            print_json(c, &s, &r);
        } else {
            print_line(c, &s, &r);
        }
        fflush(c->out);
        st = OPS_OK; /* a failed refresh after the first is shown, not fatal */
        if ((until_empty && last.backlog == 0) || (count && n + 1 >= count)) break;
        pause_ms(interval_ms);
    }
    if (tty) fputs("\033[?25h", c->out);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    ops_outbox_close(ob);
    return st;
}
