/* cli_traces — recent traces from Jaeger, and one trace as a tree with its critical path, async
 * hops and slowest span (the model is lib/ops/ops_trace; trace-view draws the full waterfall). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_verbs.h"
#include "ops_jaeger.h"
#include "ops_table.h"
#include "ops_trace.h"

#define DEFAULT_SERVICE "tasks-service"

static ops_jaeger_t *open_jaeger(cli_ctx_t *c)
{
    const char *url = ops_cfg_need(c->cfg, OPS_JAEGER_QUERY_URL, &c->err);
    if (!url) return NULL;
    ops_jaeger_t *jq = ops_jaeger_new(url);
    if (!jq) ops_fail(&c->err, OPS_FAIL, "out of memory");
    return jq;
}

static void fmt_time(int64_t us, char *out, size_t outlen)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, outlen - n, ".%03dZ", (int)(us / 1000 % 1000));
}

/* Fills a Jaeger query from the flags; lookback default 1h. */
static ops_status_t query_of(cli_ctx_t *c, ops_jaeger_query_t *q, int default_limit)
{
    memset(q, 0, sizeof *q);
    q->service = cli_has(c, "service") ? cli_get(c, "service") : DEFAULT_SERVICE;
    q->operation = cli_get(c, "operation");
    q->min_duration = cli_get(c, "min-duration");
    q->tags = cli_get(c, "tags");
    int64_t limit = default_limit, lookback_ms = 3600 * 1000;
    if (cli_has(c, "limit") && cli_int(c, cli_get(c, "limit"), "--limit", 1, 1500, &limit))
        return OPS_USAGE;
    if (cli_has(c, "lookback") && cli_duration(c, cli_get(c, "lookback"), "--lookback", &lookback_ms))
        return OPS_USAGE;
    if (q->min_duration) {
        int64_t ms;
        if (cli_duration(c, q->min_duration, "--min-duration", &ms)) return OPS_USAGE;
    }
    if (q->tags) {
        cJSON *t = cJSON_Parse(q->tags);
        bool ok = cJSON_IsObject(t);
        cJSON_Delete(t);
        if (!ok) return cli_usage(c, "--tags: not a JSON object");
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    q->end_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    q->start_us = q->end_us - lookback_ms * 1000;
    q->limit = (int)limit;
    return OPS_OK;
}

ops_status_t cli_traces_list(cli_ctx_t *c)
{
    ops_jaeger_query_t q;
    if (query_of(c, &q, 20) != OPS_OK) return OPS_USAGE;
    ops_jaeger_t *jq = open_jaeger(c);
    if (!jq) return c->err.st;
    cJSON *traces;
    ops_status_t st = ops_jaeger_find(jq, &q, &traces, &c->err);
    ops_jaeger_free(jq);
    if (st != OPS_OK) return st;
    static const char *const cols[] = {"TRACE", "START", "DURATION", "SPANS", "SVCS", "ERR", "ROOT"};
    ops_table_t *t = c->json ? NULL : ops_table_new(cols, 7);
    ops_table_flex(t, 6);
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "traces");
    const cJSON *tr;
    cJSON_ArrayForEach(tr, traces)
    {
        ops_trace_t m;
        ops_err_t e = OPS_ERR_INIT;
        if (ops_trace_from_json(tr, &m, &e) != OPS_OK) continue; /* one bad trace hides nothing else */
        int root = ops_trace_root(&m);
        size_t errors = 0;
        for (size_t i = 0; i < m.n; i++) errors += m.spans[i].error;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "trace_id", m.trace_id);
        cJSON_AddNumberToObject(x, "start_us", (double)m.start_us);
        cJSON_AddNumberToObject(x, "duration_us", (double)(m.end_us - m.start_us));
        cJSON_AddNumberToObject(x, "spans", (double)m.n);
        cJSON_AddNumberToObject(x, "services", (double)m.services);
        cJSON_AddNumberToObject(x, "errors", (double)errors);
        cJSON_AddStringToObject(x, "root_service", root >= 0 ? m.spans[root].service : "");
        cJSON_AddStringToObject(x, "root_name", root >= 0 ? m.spans[root].name : "");
        cJSON_AddItemToArray(arr, x);
        if (t) {
            char start[40], dur[32], spans[16], svcs[16], errs[16], rootname[300];
            fmt_time(m.start_us, start, sizeof start);
            cli_fmt_us(m.end_us - m.start_us, dur, sizeof dur);
            snprintf(spans, sizeof spans, "%zu", m.n);
            snprintf(svcs, sizeof svcs, "%zu", m.services);
            snprintf(errs, sizeof errs, "%zu", errors);
            snprintf(rootname, sizeof rootname, "%s: %s", root >= 0 ? m.spans[root].service : "",
                     root >= 0 ? m.spans[root].name : "");
            const char *cells[] = {m.trace_id, start, dur, spans, svcs, errors ? errs : "", rootname};
            ops_table_add(t, cells);
        }
        ops_trace_free(&m);
    }
    cJSON_Delete(traces);
    if (c->json)
        cli_print_json(c, out);
    else {
        ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
        ops_table_free(t);
    }
    cJSON_Delete(out);
    return OPS_OK;
}

/* The tree: one line per span, indented by depth, with a bar placed by offset and duration. */
static void print_tree(cli_ctx_t *c, const ops_trace_t *m, int mark)
{
    int width = ops_term_width(c->out);
    bool color = ops_use_color(c->out);
    int bar = width > 100 ? width - 80 : 24;
    double total = (double)(m->end_us - m->start_us);
    char dur[32];
    cli_fmt_us(m->end_us - m->start_us, dur, sizeof dur);
    fprintf(c->out, "trace %s  %s  %zu spans  %zu services%s%s\n", m->trace_id, dur, m->n,
            m->services, m->orphans ? "  (incomplete: spans without their parent)" : "",
            m->skewed ? "  (clock skew corrected)" : "");
    fprintf(c->out, "legend: * critical path  ! error  > slowest span (self time)\n");
    static const char *const cols[] = {"SPAN", "SERVICE", "START", "DURATION", "SELF", "", "TIMELINE"};
    ops_table_t *t = ops_table_new(cols, 7);
    ops_table_flex(t, 0);
    ops_table_right(t, 2);
    ops_table_right(t, 3);
    ops_table_right(t, 4);
    for (size_t k = 0; k < m->n; k++) {
        const ops_span_t *s = &m->spans[m->order[k]];
        char name[400], off[32], d[32], self[32], marks[8], line[512];
        int depth = s->depth > 30 ? 30 : s->depth;
        snprintf(name, sizeof name, "%*s%s", depth * 2, "", s->name);
        cli_fmt_us(s->offset_us, off, sizeof off);
        cli_fmt_us(s->dur_us, d, sizeof d);
        cli_fmt_us(s->self_us, self, sizeof self);
        snprintf(marks, sizeof marks, "%s%s%s", s->critical ? "*" : "", s->error ? "!" : "",
                 (int)m->order[k] == mark ? ">" : "");
        /* the bar: '-' for an async hop before the span, '=' for the span itself */
        int a = total > 0 ? (int)(s->offset_us / total * bar) : 0;
        int b = total > 0 ? (int)((s->offset_us + s->dur_us) / total * bar) : 0;
        int h = s->hop && total > 0 ? (int)((double)(s->hop_start_us - m->start_us) / total * bar) : a;
        if (b <= a) b = a + 1;
        if (b > bar) b = bar;
        int p = 0;
        for (int i = 0; i < bar && p < (int)sizeof line - 4; i++)
            line[p++] = i >= h && i < a ? '-' : i >= a && i < b ? '=' : ' ';
        while (p && line[p - 1] == ' ') p--;
        line[p] = '\0';
        if (s->hop) {
            char hd[32];
            cli_fmt_us(s->hop_dur_us, hd, sizeof hd);
            snprintf(line + p, sizeof line - (size_t)p, " (%s %s)", ops_hop_kind_name(s->hop), hd);
        }
        const char *cells[] = {name, s->service, off, d, self, marks, line};
        ops_table_add(t, cells);
    }
    ops_table_print(t, c->out, width, color);
    ops_table_free(t);
    if (mark >= 0) {
        cli_fmt_us(m->spans[mark].self_us, dur, sizeof dur);
        fprintf(c->out, "slowest span: %s (%s) span %s, %s of its own time\n", m->spans[mark].name,
                m->spans[mark].service, m->spans[mark].span_id, dur);
    }
}

ops_status_t cli_traces_show(cli_ctx_t *c)
{
    bool slowest = cli_has(c, "slowest");
    if (slowest == (c->npos == 1))
        return cli_usage(c, "give a TRACE_ID or --slowest (not both)");
    ops_jaeger_t *jq = open_jaeger(c);
    if (!jq) return c->err.st;
    cJSON *trace = NULL, *compared = cJSON_CreateArray();
    ops_status_t st = OPS_OK;
    if (slowest) {
        ops_jaeger_query_t q;
        if (query_of(c, &q, 50) != OPS_OK) {
            ops_jaeger_free(jq);
            return OPS_USAGE;
        }
        cJSON *traces;
        st = ops_jaeger_find(jq, &q, &traces, &c->err);
        if (st == OPS_OK) {
            /* the slowest by the model's duration (first span start to last span end) */
            int64_t best = -1;
            const cJSON *tr;
            cJSON_ArrayForEach(tr, traces)
            {
                ops_trace_t m;
                ops_err_t e = OPS_ERR_INIT;
                if (ops_trace_from_json(tr, &m, &e) != OPS_OK) continue;
                cJSON_AddItemToArray(compared, cJSON_CreateString(m.trace_id));
                if (m.end_us - m.start_us > best) {
                    best = m.end_us - m.start_us;
                    cJSON_Delete(trace);
                    trace = cJSON_Duplicate(tr, 1);
                }
                ops_trace_free(&m);
            }
            cJSON_Delete(traces);
            if (!trace)
                st = ops_fail(&c->err, OPS_FAIL, "no traces of %s in the last %s", q.service,
                              cli_has(c, "lookback") ? cli_get(c, "lookback") : "1h");
        }
    } else {
        st = ops_jaeger_trace(jq, c->pos[0], &trace, &c->err);
    }
    ops_jaeger_free(jq);
    ops_trace_t m;
    if (st == OPS_OK) st = ops_trace_from_json(trace, &m, &c->err);
    cJSON_Delete(trace);
    if (st != OPS_OK) {
        cJSON_Delete(compared);
        return st;
    }
    int mark = slowest ? m.slowest : -1;
    if (c->json) {
        cJSON *j = ops_trace_json(&m);
        if (slowest) { /* which traces it was the slowest of */
            cJSON_AddItemToObject(j, "compared_traces", compared);
            compared = NULL;
        }
        cli_print_json(c, j);
        cJSON_Delete(j);
    } else {
        if (slowest)
            fprintf(c->out, "the slowest of %d recent traces\n", cJSON_GetArraySize(compared));
        print_tree(c, &m, slowest ? mark : m.slowest);
    }
    cJSON_Delete(compared);
    ops_trace_free(&m);
    return OPS_OK;
}
