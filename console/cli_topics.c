/* cli_topics — topics with partitions and offsets, consumer-group lag, and tails. A tail never
 * joins a group or commits (lib/ops/ops_kafka), so reading cannot disturb a consumer. With
 * -o json a tail prints one JSON object per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli_verbs.h"
#include "ops_kafka.h"
#include "ops_table.h"

static ops_status_t open_kafka(cli_ctx_t *c, ops_kafka_t **k)
{
    const char *brokers = ops_cfg_need(c->cfg, OPS_KAFKA_BROKERS, &c->err);
    if (!brokers) return c->err.st;
    return ops_kafka_open(k, brokers, &c->err);
}

ops_status_t cli_topics_list(cli_ctx_t *c)
{
    ops_kafka_t *k;
    ops_status_t st = open_kafka(c, &k);
    if (st != OPS_OK) return st;
    ops_topic_info_t *t;
    size_t n;
    st = ops_kafka_topics(k, &t, &n, &c->err);
    ops_kafka_close(k);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "topics");
        for (size_t i = 0; i < n; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", t[i].name);
            cJSON_AddNumberToObject(x, "partitions", t[i].npart);
            cJSON_AddNumberToObject(x, "messages", (double)t[i].messages);
            cJSON *ps = cJSON_AddArrayToObject(x, "offsets");
            for (int p = 0; p < t[i].npart; p++) {
                cJSON *y = cJSON_CreateObject();
                cJSON_AddNumberToObject(y, "partition", t[i].parts[p].id);
                cJSON_AddNumberToObject(y, "low", (double)t[i].parts[p].low);
                cJSON_AddNumberToObject(y, "high", (double)t[i].parts[p].high);
                cJSON_AddNumberToObject(y, "leader", t[i].parts[p].leader);
                cJSON_AddItemToArray(ps, y);
            }
            cJSON_AddItemToArray(a, x);
        }
        cli_print_json(c, o);
        cJSON_Delete(o);
    } else {
        static const char *const cols[] = {"TOPIC", "PARTITIONS", "MESSAGES", "OFFSETS (partition:low-high)"};
        ops_table_t *tb = ops_table_new(cols, 4);
        ops_table_right(tb, 1);
        ops_table_right(tb, 2);
        ops_table_flex(tb, 3);
        for (size_t i = 0; i < n; i++) {
            char np[16], msgs[24];
            buf_t offs = BUF_INIT;
            snprintf(np, sizeof np, "%d", t[i].npart);
            snprintf(msgs, sizeof msgs, "%lld", (long long)t[i].messages);
            for (int p = 0; p < t[i].npart; p++)
                buf_printf(&offs, "%s%d:%lld-%lld", p ? " " : "", t[i].parts[p].id,
                           (long long)t[i].parts[p].low, (long long)t[i].parts[p].high);
            const char *cells[] = {t[i].name, np, msgs, buf_str(&offs)};
            ops_table_add(tb, cells);
            buf_free(&offs);
        }
        ops_table_print(tb, c->out, ops_term_width(c->out), ops_use_color(c->out));
        ops_table_free(tb);
    }
    ops_kafka_topics_free(t, n);
    return OPS_OK;
}

ops_status_t cli_topics_lag(cli_ctx_t *c)
{
    ops_kafka_t *k;
    ops_status_t st = open_kafka(c, &k);
    if (st != OPS_OK) return st;
    ops_group_lag_t *g;
    size_t n;
    st = ops_kafka_lag(k, cli_get(c, "group"), &g, &n, &c->err);
    ops_kafka_close(k);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "groups");
        for (size_t i = 0; i < n; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "group", g[i].group);
            cJSON_AddStringToObject(x, "topic", g[i].topic);
            cJSON_AddStringToObject(x, "state", g[i].state);
            cJSON_AddNumberToObject(x, "lag", (double)g[i].lag);
            cJSON *ps = cJSON_AddArrayToObject(x, "partitions");
            for (int p = 0; p < g[i].npart; p++) {
                cJSON *y = cJSON_CreateObject();
                cJSON_AddNumberToObject(y, "partition", g[i].parts[p].id);
                cJSON_AddNumberToObject(y, "committed", (double)g[i].parts[p].committed);
                cJSON_AddNumberToObject(y, "high", (double)g[i].parts[p].high);
                cJSON_AddNumberToObject(y, "lag", (double)g[i].parts[p].lag);
                cJSON_AddItemToArray(ps, y);
            }
            cJSON_AddItemToArray(a, x);
        }
        cli_print_json(c, o);
        cJSON_Delete(o);
    } else {
        static const char *const cols[] = {"GROUP", "TOPIC", "STATE", "LAG", "PARTITIONS (p:committed/high)"};
        ops_table_t *tb = ops_table_new(cols, 5);
        ops_table_right(tb, 3);
        ops_table_flex(tb, 4);
        for (size_t i = 0; i < n; i++) {
            char lag[24];
            buf_t ps = BUF_INIT;
            snprintf(lag, sizeof lag, "%lld", (long long)g[i].lag);
            for (int p = 0; p < g[i].npart; p++)
                buf_printf(&ps, "%s%d:%lld/%lld", p ? " " : "", g[i].parts[p].id,
                           (long long)g[i].parts[p].committed, (long long)g[i].parts[p].high);
            const char *cells[] = {g[i].group, g[i].topic, g[i].state, lag, buf_str(&ps)};
            ops_table_add(tb, cells);
            buf_free(&ps);
        }
        ops_table_print(tb, c->out, ops_term_width(c->out), ops_use_color(c->out));
        ops_table_free(tb);
        if (n == 0) fprintf(stderr, "no consumer group has committed offsets\n");
    }
    free(g);
    return OPS_OK;
}

typedef struct tail_out {
    cli_ctx_t *c;
    bool json, flush_each;
    int width;
    buf_t line;
} tail_out_t;

static int on_msg(const ops_kmsg_t *m, void *arg)
{
    tail_out_t *o = arg;
    buf_reset(&o->line);
    if (o->json) {
        ops_kmsg_json(&o->line, m);
        buf_putc(&o->line, '\n');
        fwrite(o->line.data, 1, o->line.len, o->c->out);
    } else {
        char ts[40] = "-";
        if (m->ts_ms >= 0) {
            time_t s = (time_t)(m->ts_ms / 1000);
            struct tm tm;
            gmtime_r(&s, &tm);
            size_t n = strftime(ts, sizeof ts, "%H:%M:%S", &tm);
            snprintf(ts + n, sizeof ts - n, ".%03d", (int)(m->ts_ms % 1000));
        }
        const char *type = "";
        size_t tl = 0;
        for (size_t i = 0; i < m->nh; i++)
            if (!strcmp(m->h[i].name, "event_type") && m->h[i].value) {
                type = m->h[i].value;
                tl = m->h[i].len > 40 ? 40 : m->h[i].len;
            }
        buf_printf(&o->line, "%s %d:%lld key=%.*s %.*s ", ts, m->partition, (long long)m->offset,
                   (int)(m->key_len > 64 ? 64 : m->key_len), m->key ? m->key : "", (int)tl, type);
        buf_append(&o->line, m->value ? m->value : "", m->value ? m->value_len : 0);
        char *safe = ops_sanitize(buf_str(&o->line));
        if (safe) {
            ops_put_fit(o->c->out, safe, o->width);
            free(safe);
        }
    }
    if (o->flush_each) fflush(o->c->out);
    return ferror(o->c->out) ? 1 : 0; /* a closed pipe (| head) ends the tail */
}

/* --since: RFC 3339 UTC ("2026-12-01T10:00:00Z") or a duration ago ("10m"). */
static ops_status_t parse_since(cli_ctx_t *c, const char *s, int64_t *ms)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end) {
        int frac = 0;
        if (*end == '.') {
            end++;
            for (int d = 0; d < 3; d++) frac = frac * 10 + (*end >= '0' && *end <= '9' ? *end++ - '0' : 0);
            while (*end >= '0' && *end <= '9') end++;
        }
        if (strcmp(end, "Z")) return cli_usage(c, "--since: '%.40s' is not RFC 3339 UTC (…Z)", s);
        *ms = (int64_t)timegm(&tm) * 1000 + frac;
        return OPS_OK;
    }
    int64_t ago;
    if (cli_duration(c, s, "--since", &ago)) return OPS_USAGE;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    *ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - ago;
    return OPS_OK;
}

ops_status_t cli_topics_tail(cli_ctx_t *c)
{
    ops_tail_opts_t o = OPS_TAIL_OPTS_INIT;
    o.topic = c->pos[0];
    int starts = cli_has(c, "from-beginning") + cli_has(c, "n") + cli_has(c, "offset") + cli_has(c, "since");
    if (starts > 1) return cli_usage(c, "choose one of --from-beginning, -n, --offset, --since");
    int64_t v;
    if (cli_has(c, "from-beginning")) o.from = OPS_FROM_BEGINNING;
    if (cli_has(c, "n")) {
        if (cli_int(c, cli_get(c, "n"), "-n", 1, 1000000, &v)) return OPS_USAGE;
        o.last_n = (long)v;
    }
    if (cli_has(c, "offset")) {
        if (cli_int(c, cli_get(c, "offset"), "--offset", 0, INT64_MAX, &v)) return OPS_USAGE;
        o.from = OPS_FROM_OFFSET;
        o.at = v;
    }
    if (cli_has(c, "since")) {
        if (parse_since(c, cli_get(c, "since"), &o.at)) return OPS_USAGE;
        o.from = OPS_FROM_TIME;
    }
    if (cli_has(c, "partition")) {
        if (cli_int(c, cli_get(c, "partition"), "--partition", 0, 100000, &v)) return OPS_USAGE;
        o.partition = (int)v;
    }
    if (cli_has(c, "max")) {
        if (cli_int(c, cli_get(c, "max"), "--max", 1, INT64_MAX, &v)) return OPS_USAGE;
        o.max = (long)v;
    }
    if (cli_has(c, "idle") && cli_duration(c, cli_get(c, "idle"), "--idle", &o.idle_ms)) return OPS_USAGE;
    o.follow = cli_has(c, "follow") || starts == 0; /* a bare tail follows, like tail -f */
    o.key = cli_get(c, "key");
    o.header = cli_get(c, "header");
    o.grep = cli_get(c, "grep");
    o.stop = (volatile sig_atomic_t *)c->interrupted;
    ops_kafka_t *k;
    ops_status_t st = open_kafka(c, &k);
    if (st != OPS_OK) return st;
    tail_out_t out = {c, c->json, o.follow, c->json ? 0 : ops_term_width(c->out), BUF_INIT};
    static char obuf[1 << 20];
    if (!c->in_shell) setvbuf(c->out, obuf, _IOFBF, sizeof obuf);
    st = ops_kafka_tail(k, &o, on_msg, &out, &c->err);
    fflush(c->out);
    ops_kafka_close(k);
    buf_free(&out.line);
    return st;
}
