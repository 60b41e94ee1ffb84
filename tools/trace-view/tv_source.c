/* tv_source — where the trace comes from: a file or standard input (Jaeger's JSON), Jaeger by
 * trace id, a service's most recent traces, or the slowest of them. Jaeger is
 * lib/ops/ops_jaeger, the model lib/ops/ops_trace. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ops_http.h"
#include "ops_jaeger.h"
#include "tv.h"

#define DEFAULT_SERVICE "tasks-service"

void tv_source_free(tv_traces_t *tr)
{
    for (size_t i = 0; i < tr->n; i++) ops_trace_free(&tr->t[i]);
    free(tr->t);
    cJSON_Delete(tr->compared);
    memset(tr, 0, sizeof *tr);
}

/* Reads all of path ("-": standard input) into b, refusing more than TV_MAX_INPUT bytes. */
static ops_status_t read_input(ops_cmd_t *c, const char *path, const char *shown, buf_t *b)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return ops_fail(&c->err, OPS_FAIL, "%s: %s", shown, strerror(errno));
    char chunk[65536];
    size_t n;
    ops_status_t st = OPS_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b->len + n > TV_MAX_INPUT) {
            st = ops_fail(&c->err, OPS_FAIL,
                          "%s: more than %d MB, the limit for one trace (about 50,000 spans)",
                          shown, TV_MAX_INPUT / (1024 * 1024));
            break;
        }
        if (buf_append(b, chunk, n) < 0) {
            st = ops_fail(&c->err, OPS_FAIL, "%s: out of memory", shown);
            break;
        }
    }
    if (st == OPS_OK && ferror(f)) st = ops_fail(&c->err, OPS_FAIL, "%s: %s", shown, strerror(errno));
    if (st == OPS_OK && b->len == 0) st = ops_fail(&c->err, OPS_FAIL, "%s: empty", shown);
    if (f != stdin) fclose(f);
    return st;
}

static ops_status_t from_file(ops_cmd_t *c, const char *path, tv_traces_t *out)
{
    const char *shown = strcmp(path, "-") ? path : "standard input";
    buf_t b = BUF_INIT;
    ops_status_t st = read_input(c, path, shown, &b);
    if (st == OPS_OK && !(out->t = calloc(1, sizeof *out->t)))
        st = ops_fail(&c->err, OPS_FAIL, "out of memory");
    if (st == OPS_OK) {
        ops_err_t e = OPS_ERR_INIT;
        st = ops_trace_parse(b.data, b.len, &out->t[0], &e);
        if (st == OPS_OK)
            out->n = 1;
        else
            ops_fail(&c->err, st, "%s: %s", shown, e.msg);
    }
    buf_free(&b);
    return st;
}

static ops_jaeger_t *open_jaeger(ops_cmd_t *c)
{
    const char *url = ops_cfg_need(c->cfg, OPS_JAEGER_QUERY_URL, &c->err);
    if (!url) return NULL;
    ops_jaeger_t *jq = ops_jaeger_new(url);
    if (!jq) ops_fail(&c->err, OPS_FAIL, "out of memory");
    return jq;
}

static ops_status_t by_id(ops_cmd_t *c, const char *id, tv_traces_t *out)
{
    ops_jaeger_t *jq = open_jaeger(c);
    if (!jq) return c->err.st;
    cJSON *trace;
    ops_status_t st = ops_jaeger_trace(jq, id, &trace, &c->err);
    ops_jaeger_free(jq);
    if (st != OPS_OK) return st;
    if (!(out->t = calloc(1, sizeof *out->t))) {
        cJSON_Delete(trace);
        return ops_fail(&c->err, OPS_FAIL, "out of memory");
    }
    ops_err_t e = OPS_ERR_INIT;
    st = ops_trace_from_json(trace, &out->t[0], &e);
    cJSON_Delete(trace);
    if (st != OPS_OK) return ops_fail(&c->err, st, "trace %s from jaeger: %s", id, e.msg);
    out->n = 1;
    return OPS_OK;
}

static int by_start_desc(const void *a, const void *b)
{
    const ops_trace_t *x = a, *y = b;
    return x->start_us != y->start_us ? (x->start_us > y->start_us ? -1 : 1) : 0;
}

/* The service's recent traces: the last `want` (sorted, most recent first), or with slowest
 * the one that lasted longest of the last `want`. */
static ops_status_t search(ops_cmd_t *c, int64_t want, bool slowest, tv_traces_t *out)
{
    out->service = ops_cmd_has(c, "service") ? ops_cmd_get(c, "service") : DEFAULT_SERVICE;
    int64_t lookback_ms = 3600 * 1000;
    if (ops_cmd_has(c, "lookback") &&
        ops_cmd_duration(c, ops_cmd_get(c, "lookback"), "--lookback", &lookback_ms))
        return OPS_USAGE;
    if (lookback_ms <= 0) return ops_cmd_usage(c, "--lookback must be more than 0");
    ops_jaeger_t *jq = open_jaeger(c);
    if (!jq) return c->err.st;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ops_jaeger_query_t q = {.service = out->service, .limit = (int)want};
    q.end_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    q.start_us = q.end_us - lookback_ms * 1000;
    cJSON *found;
    ops_status_t st = ops_jaeger_find(jq, &q, &found, &c->err);
    ops_jaeger_free(jq);
    if (st != OPS_OK) return st;
    int nf = cJSON_GetArraySize(found);
    out->t = calloc(nf ? (size_t)nf : 1, sizeof *out->t);
    if (!out->t) {
        cJSON_Delete(found);
        return ops_fail(&c->err, OPS_FAIL, "out of memory");
    }
    size_t bad = 0;
    char why[256] = "";
    const cJSON *tr;
    cJSON_ArrayForEach(tr, found)
    {
        ops_err_t e = OPS_ERR_INIT;
        if (ops_trace_from_json(tr, &out->t[out->n], &e) != OPS_OK) { /* one bad trace hides no other */
            bad++;
            snprintf(why, sizeof why, "%.200s", e.msg);
            continue;
        }
        out->n++;
    }
    cJSON_Delete(found);
    if (bad)
        fprintf(stderr, "%s: warning: %zu trace%s from jaeger could not be read (%s)\n", TV_PROG,
                bad, bad == 1 ? "" : "s", why);
    if (out->n == 0) {
        char jaeger[512];
        ops_url_redact(ops_cfg_get(c->cfg, OPS_JAEGER_QUERY_URL), jaeger, sizeof jaeger);
        return ops_fail(&c->err, OPS_FAIL, "no traces of %.100s in the last %.20s (jaeger %s)",
                        out->service,
                        ops_cmd_has(c, "lookback") ? ops_cmd_get(c, "lookback") : "1h", jaeger);
    }
    qsort(out->t, out->n, sizeof *out->t, by_start_desc);
    if (!slowest) return OPS_OK;
    /* the slowest by the model's duration: first span start to last span end */
    size_t best = 0;
    out->compared = cJSON_CreateArray();
    for (size_t i = 0; i < out->n; i++) {
        cJSON_AddItemToArray(out->compared, cJSON_CreateString(out->t[i].trace_id));
        if (out->t[i].end_us - out->t[i].start_us > out->t[best].end_us - out->t[best].start_us)
            best = i;
    }
    ops_trace_t keep = out->t[best];
    out->t[best] = out->t[0];
    out->t[0] = keep;
    for (size_t i = 1; i < out->n; i++) ops_trace_free(&out->t[i]);
    out->n = 1;
    return OPS_OK;
}

ops_status_t tv_source_load(ops_cmd_t *c, tv_traces_t *out)
{
    memset(out, 0, sizeof *out);
    bool file = ops_cmd_has(c, "file"), last = ops_cmd_has(c, "last");
    bool slowest = ops_cmd_has(c, "slowest"), id = c->npos == 1;
    if (file + last + slowest + id != 1) {
        /* name what was given: `--last 99999999999` reads the number as a trace id */
        char got[160] = "";
        if (id) snprintf(got, sizeof got, ", TRACE_ID '%.40s'", c->pos[0]);
        if (file) strncat(got, ", --file", sizeof got - strlen(got) - 1);
        if (last) strncat(got, ", --last", sizeof got - strlen(got) - 1);
        if (slowest) strncat(got, ", --slowest", sizeof got - strlen(got) - 1);
        return ops_cmd_usage(c, "give one of TRACE_ID, --file PATH, --last [N], --slowest (%s%s)",
                             *got ? "given: " : "none given", *got ? got + 2 : "");
    }
    if (file && !*ops_cmd_get(c, "file"))
        return ops_cmd_usage(c, "--file: an empty path (- for standard input)");
    if (ops_cmd_has(c, "service") && !last && !slowest)
        return ops_cmd_usage(c, "--service goes with --last or --slowest");
    if ((ops_cmd_has(c, "lookback")) && !last && !slowest)
        return ops_cmd_usage(c, "--lookback goes with --last or --slowest");
    if (ops_cmd_has(c, "limit") && !slowest) return ops_cmd_usage(c, "--limit goes with --slowest");
    if (file) return from_file(c, ops_cmd_get(c, "file"), out);
    if (id) return by_id(c, c->pos[0], out);
    int64_t n = 1;
    if (last && *ops_cmd_get(c, "last") && ops_cmd_int(c, ops_cmd_get(c, "last"), "--last", 1, 100, &n))
        return OPS_USAGE;
    if (slowest) {
        n = 50;
        if (ops_cmd_has(c, "limit") && ops_cmd_int(c, ops_cmd_get(c, "limit"), "--limit", 1, 1500, &n))
            return OPS_USAGE;
    }
    return search(c, n, slowest, out);
}
