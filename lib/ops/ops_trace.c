/* ops_trace — the trace model: tree, skew, self time, critical path, async hops.
 * See ops_trace.h for the rules; every pass here is iterative (no recursion), so a deep
 * chain of spans cannot exhaust the stack, and linear or n log n, so a huge trace cannot hang. */
#include "ops_trace.h"

#include <stdlib.h>
#include <string.h>

const char *ops_span_kind_name(ops_span_kind_t k)
{
    static const char *const n[] = {"internal", "server", "client", "producer", "consumer"};
    return (unsigned)k < 5 ? n[k] : "internal";
}

const char *ops_hop_kind_name(ops_hop_kind_t k)
{
    return k == OPS_HOP_OUTBOX ? "outbox" : k == OPS_HOP_BROKER ? "broker" : "";
}

void ops_trace_free(ops_trace_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->spans[i].name);
        free(t->spans[i].status_msg);
    }
    for (size_t i = 0; i < t->nstrings; i++) free(t->strings[i]);
    free(t->strings);
    free(t->spans);
    free(t->order);
    memset(t, 0, sizeof *t);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Interns a service name; returns a pointer owned by the trace. */
static const char *intern(ops_trace_t *t, const char *s)
{
    for (size_t i = 0; i < t->nstrings; i++)
        if (!strcmp(t->strings[i], s)) return t->strings[i];
    char **g = realloc(t->strings, (t->nstrings + 1) * sizeof *g);
    if (!g) return NULL;
    t->strings = g;
    if (!(t->strings[t->nstrings] = strdup(s))) return NULL;
    return t->strings[t->nstrings++];
}

/* Open-addressing map from span id to index. */
typedef struct {
    int *slot;
    size_t mask;
} idmap_t;

static size_t id_hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int idmap_find(const idmap_t *m, const ops_span_t *sp, const char *id)
{
    for (size_t h = id_hash(id) & m->mask;; h = (h + 1) & m->mask) {
        int i = m->slot[h];
        if (i < 0) return -1;
        if (!strcmp(sp[i].span_id, id)) return i;
    }
}

/* Normalises an id to lowercase hex without leading zeros beyond 16 digits' width, so
 * "00ab…" from one exporter and "ab…" from another still match. Returns 0 or -1. */
static int norm_id(const char *in, char out[17])
{
    if (!in) return -1;
    size_t l = strlen(in);
    while (l > 16 && *in == '0') in++, l--;
    if (l == 0 || l > 16) return -1;
    char tmp[17];
    for (size_t i = 0; i < l; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
        tmp[i] = c;
    }
    memset(out, '0', 16 - l);
    memcpy(out + 16 - l, tmp, l);
    out[16] = '\0';
    return 0;
}

static ops_span_kind_t kind_of(const char *s)
{
    if (!s) return OPS_SPAN_INTERNAL;
    if (!strcmp(s, "server")) return OPS_SPAN_SERVER;
    if (!strcmp(s, "client")) return OPS_SPAN_CLIENT;
    if (!strcmp(s, "producer")) return OPS_SPAN_PRODUCER;
    if (!strcmp(s, "consumer")) return OPS_SPAN_CONSUMER;
    return OPS_SPAN_INTERNAL;
}

/* Reads the tags that matter: kind, error, status message, outbox.id. */
static void read_tags(ops_span_t *s, const cJSON *tags)
{
    const cJSON *tag;
    cJSON_ArrayForEach(tag, tags)
    {
        const char *k = jstr(tag, "key");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(tag, "value");
        if (!k || !v) continue;
        if (!strcmp(k, "span.kind") && cJSON_IsString(v))
            s->kind = kind_of(v->valuestring);
        else if (!strcmp(k, "error"))
            s->error = cJSON_IsTrue(v) || (cJSON_IsString(v) && !strcmp(v->valuestring, "true"));
        else if (!strcmp(k, "otel.status_code") && cJSON_IsString(v))
            s->error = s->error || !strcmp(v->valuestring, "ERROR");
        else if ((!strcmp(k, "otel.status_description") || !strcmp(k, "error.message")) &&
                 cJSON_IsString(v) && !s->status_msg)
            s->status_msg = strdup(v->valuestring);
        else if (!strcmp(k, "outbox.id"))
            s->has_outbox_id = true;
    }
}

static int cmp_start(const void *a, const void *b, void *arg)
{
    const ops_span_t *sp = arg;
    int x = *(const int *)a, y = *(const int *)b;
    if (sp[x].start_us != sp[y].start_us) return sp[x].start_us < sp[y].start_us ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int64_t end_of(const ops_span_t *s)
{
    return s->start_us + s->dur_us;
}

/* Rebuilds every child list in start order (after skew shifts moved spans). */
static int link_children(ops_trace_t *t)
{
    int *idx = malloc(t->n * sizeof *idx), *tail = malloc(t->n * sizeof *tail);
    if (!idx || !tail) {
        free(idx);
        free(tail);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        idx[i] = (int)i;
        tail[i] = -1;
        t->spans[i].first_child = t->spans[i].next_sibling = -1;
    }
    qsort_r(idx, t->n, sizeof *idx, cmp_start, t->spans);
    for (size_t k = 0; k < t->n; k++) {
        int i = idx[k], p = t->spans[i].parent;
        if (p < 0) continue;
        if (tail[p] < 0)
            t->spans[p].first_child = i;
        else
            t->spans[tail[p]].next_sibling = i;
        tail[p] = i;
    }
    /* roots in start order go into order[] by the caller's preorder walk */
    free(tail);
    memcpy(t->order, idx, t->n * sizeof *idx); /* roots are picked from here in start order */
    free(idx);
    return 0;
}

/* Preorder from the roots (in start order) into out[]; returns how many spans were reached. */
static size_t preorder(const ops_trace_t *t, const int *by_start, int *out, int *stack)
{
    size_t n = 0, sp = 0;
    for (size_t k = t->n; k-- > 0;) /* push roots latest first so the earliest pops first */
        if (t->spans[by_start[k]].parent < 0) stack[sp++] = by_start[k];
    while (sp) {
        int i = stack[--sp];
        out[n++] = i;
        /* push children in reverse start order */
        size_t mark = sp;
        for (int c = t->spans[i].first_child; c >= 0; c = t->spans[c].next_sibling) stack[sp++] = c;
        for (size_t a = mark, b = sp; a + 1 < b; a++, b--) {
            int x = stack[a];
            stack[a] = stack[b - 1];
            stack[b - 1] = x;
        }
    }
    return n;
}

/* ---- the passes ------------------------------------------------------------------------- */

/* Clock skew, top-down: each span first takes its parent's total shift, then its own. */
static void fix_skew(ops_trace_t *t, const int *pre, int64_t *shift)
{
    for (size_t k = 0; k < t->n; k++) {
        int i = pre[k];
        ops_span_t *c = &t->spans[i];
        int p = c->parent;
        shift[i] = p >= 0 ? shift[p] : 0;
        c->start_us += shift[i];
        c->depth = p >= 0 ? t->spans[p].depth + 1 : 0;
        c->skew_us = shift[i];
        if (p < 0) continue;
        const ops_span_t *pp = &t->spans[p];
        if (c->service == pp->service) continue; /* one host's clock: no skew to fix */
        int64_t delta = 0;
        bool rpc = pp->kind == OPS_SPAN_CLIENT && c->kind == OPS_SPAN_SERVER;
        if (c->start_us < pp->start_us || (rpc && end_of(c) > end_of(pp))) {
            if (c->dur_us <= pp->dur_us && (rpc || c->start_us < pp->start_us) && !c->follows_from &&
                c->kind != OPS_SPAN_CONSUMER)
                delta = pp->start_us + (pp->dur_us - c->dur_us) / 2 - c->start_us;
            else if (c->start_us < pp->start_us)
                delta = pp->start_us - c->start_us;
        }
        if (delta) {
            c->start_us += delta;
            shift[i] += delta;
            t->skewed++;
        }
        c->skew_us = shift[i];
    }
}

/* Self time: duration minus the union of the children's intervals clipped to the span. */
static void self_times(ops_trace_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        ops_span_t *s = &t->spans[i];
        int64_t covered = 0, reach = s->start_us, e = end_of(s);
        for (int c = s->first_child; c >= 0; c = t->spans[c].next_sibling) {
            int64_t cs = t->spans[c].start_us, ce = end_of(&t->spans[c]);
            if (cs < reach) cs = reach;
            if (ce > e) ce = e;
            if (ce > cs) {
                covered += ce - cs;
                reach = ce;
            }
        }
        s->self_us = s->dur_us - covered;
        if (s->self_us < 0) s->self_us = 0;
    }
}

typedef struct {
    const int64_t *eff;
} eff_arg_t;

static int cmp_eff_desc(const void *a, const void *b, void *arg)
{
    const int64_t *eff = ((const eff_arg_t *)arg)->eff;
    int x = *(const int *)a, y = *(const int *)b;
    if (eff[x] != eff[y]) return eff[x] > eff[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The critical path (see ops_trace.h); marks spans' critical flag. */
static int critical_path(ops_trace_t *t, const int *pre, int root)
{
    size_t n = t->n;
    int64_t *eff = malloc(n * sizeof *eff);
    int *kids = malloc(n * sizeof *kids), *begin = malloc((n + 1) * sizeof *begin);
    struct frame { int span; int64_t cursor; int next; } *st = malloc(n * sizeof *st);
    if (!eff || !kids || !begin || !st) {
        free(eff), free(kids), free(begin), free(st);
        return -1;
    }
    for (size_t i = 0; i < n; i++) eff[i] = end_of(&t->spans[i]);
    for (size_t k = n; k-- > 0;) { /* reverse preorder: children before parents */
        int i = pre[k], p = t->spans[i].parent;
        if (p >= 0 && eff[i] > eff[p]) eff[p] = eff[i];
    }
    /* children of each span, grouped, each group sorted by eff descending */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        begin[i] = (int)m;
        for (int c = t->spans[i].first_child; c >= 0; c = t->spans[c].next_sibling) kids[m++] = c;
    }
    begin[n] = (int)m;
    eff_arg_t arg = {eff};
    for (size_t i = 0; i < n; i++)
        qsort_r(kids + begin[i], (size_t)(begin[i + 1] - begin[i]), sizeof *kids, cmp_eff_desc,
                &arg);
    size_t sp = 0;
    t->spans[root].critical = true;
    st[sp++] = (struct frame){root, eff[root], begin[root]};
    while (sp) {
        struct frame *f = &st[sp - 1];
        const ops_span_t *s = &t->spans[f->span];
        int pick = -1;
        while (f->next < begin[f->span + 1] && f->cursor > s->start_us) {
            int c = kids[f->next++];
            if (t->spans[c].start_us < f->cursor) {
                pick = c;
                break;
            }
        }
        if (pick < 0) {
            sp--;
            continue;
        }
        int64_t cur = f->cursor;
        f->cursor = t->spans[pick].start_us;
        t->spans[pick].critical = true;
        st[sp++] = (struct frame){pick, eff[pick] < cur ? eff[pick] : cur, begin[pick]};
    }
    free(eff), free(kids), free(begin), free(st);
    return 0;
}

/* Async hops: outbox wait before a relay's publish, broker time before a consumer. */
static void hops(ops_trace_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        ops_span_t *s = &t->spans[i];
        if (s->parent < 0) continue;
        const ops_span_t *p = &t->spans[s->parent];
        if (s->kind == OPS_SPAN_PRODUCER && s->has_outbox_id) {
            int64_t t0 = p->start_us;
            int scanned = 0;
            for (int c = p->first_child; c >= 0 && scanned < 1000; c = t->spans[c].next_sibling) {
                scanned++;
                int64_t ce = end_of(&t->spans[c]);
                if (c != (int)i && t->spans[c].kind != OPS_SPAN_PRODUCER && ce <= s->start_us &&
                    ce > t0)
                    t0 = ce;
            }
            s->hop = OPS_HOP_OUTBOX;
            s->hop_start_us = t0;
            s->hop_dur_us = s->start_us > t0 ? s->start_us - t0 : 0;
        } else if (s->kind == OPS_SPAN_CONSUMER && p->kind == OPS_SPAN_PRODUCER) {
            s->hop = OPS_HOP_BROKER;
            s->hop_start_us = end_of(p);
            s->hop_dur_us = s->start_us > end_of(p) ? s->start_us - end_of(p) : 0;
        }
    }
}

/* ---- building --------------------------------------------------------------------------- */

ops_status_t ops_trace_from_json(const cJSON *trace, ops_trace_t *out, ops_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->slowest = -1;
    if (!cJSON_IsObject(trace)) return ops_fail(err, OPS_FAIL, "trace: not a JSON object");
    const cJSON *spans = cJSON_GetObjectItemCaseSensitive(trace, "spans");
    const cJSON *procs = cJSON_GetObjectItemCaseSensitive(trace, "processes");
    if (!cJSON_IsArray(spans)) return ops_fail(err, OPS_FAIL, "trace: \"spans\" is not an array");
    int ns = cJSON_GetArraySize(spans);
    if (ns == 0) return ops_fail(err, OPS_FAIL, "trace: no spans");
    if (ns > OPS_TRACE_MAX_SPANS)
        return ops_fail(err, OPS_FAIL, "trace: %d spans (more than %d)", ns, OPS_TRACE_MAX_SPANS);
    const char *tid = jstr(trace, "traceID");
    snprintf(out->trace_id, sizeof out->trace_id, "%s", tid ? tid : "");
    size_t n = (size_t)ns;
    out->spans = calloc(n, sizeof *out->spans);
    out->order = calloc(n, sizeof *out->order);
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    idmap_t map = {malloc(cap * sizeof(int)), cap - 1};
    int *pre = malloc(n * sizeof *pre), *stack = malloc(n * sizeof *stack);
    int64_t *shift = malloc(n * sizeof *shift);
    ops_status_t st = OPS_OK;
    if (!out->spans || !out->order || !map.slot || !pre || !stack || !shift) {
        st = ops_fail(err, OPS_FAIL, "out of memory");
        goto done;
    }
    memset(map.slot, 0xff, cap * sizeof(int));
    size_t i = 0;
    const cJSON *js;
    cJSON_ArrayForEach(js, spans)
    {
        ops_span_t *s = &out->spans[i];
        s->parent = s->first_child = s->next_sibling = -1;
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(js, "startTime");
        const cJSON *dur = cJSON_GetObjectItemCaseSensitive(js, "duration");
        const char *name = jstr(js, "operationName");
        if (!cJSON_IsObject(js) || norm_id(jstr(js, "spanID"), s->span_id) < 0 ||
            !cJSON_IsNumber(start) || !cJSON_IsNumber(dur) || dur->valuedouble < 0 ||
            start->valuedouble < 0 || start->valuedouble > 9e15 || dur->valuedouble > 9e15) {
            st = ops_fail(err, OPS_FAIL,
                          "trace: span %zu lacks a valid spanID, startTime or duration", i);
            goto done;
        }
        s->start_us = (int64_t)start->valuedouble;
        s->dur_us = (int64_t)dur->valuedouble;
        s->name = strdup(name ? name : "(unnamed)");
        /* the service: the span's process inline, or by processID in "processes" */
        const cJSON *proc = cJSON_GetObjectItemCaseSensitive(js, "process");
        const char *pid = jstr(js, "processID");
        if (!cJSON_IsObject(proc) && pid) proc = cJSON_GetObjectItemCaseSensitive(procs, pid);
        const char *svc = jstr(proc, "serviceName");
        s->service = intern(out, svc ? svc : "unknown");
        if (!s->name || !s->service) {
            st = ops_fail(err, OPS_FAIL, "out of memory");
            goto done;
        }
        read_tags(s, cJSON_GetObjectItemCaseSensitive(js, "tags"));
        /* the parent: first CHILD_OF in this trace, else first FOLLOWS_FROM */
        const cJSON *refs = cJSON_GetObjectItemCaseSensitive(js, "references"), *r;
        const char *follows = NULL;
        cJSON_ArrayForEach(r, refs)
        {
            const char *type = jstr(r, "refType"), *rt = jstr(r, "traceID");
            if (rt && tid && strcmp(rt, tid)) continue;
            if (type && !strcmp(type, "CHILD_OF") && norm_id(jstr(r, "spanID"), s->parent_id) == 0)
                break;
            if (type && !strcmp(type, "FOLLOWS_FROM") && !follows) follows = jstr(r, "spanID");
        }
        if (!s->parent_id[0] && follows && norm_id(follows, s->parent_id) == 0)
            s->follows_from = true;
        if (!s->parent_id[0]) norm_id(jstr(js, "parentSpanID"), s->parent_id);
        if (!strcmp(s->parent_id, "0000000000000000")) s->parent_id[0] = '\0';
        if (idmap_find(&map, out->spans, s->span_id) >= 0) {
            st = ops_fail(err, OPS_FAIL, "trace: span id %s appears twice", s->span_id);
            out->n = i + 1;
            goto done;
        }
        size_t h = id_hash(s->span_id) & map.mask;
        while (map.slot[h] >= 0) h = (h + 1) & map.mask;
        map.slot[h] = (int)i;
        i++;
        out->n = i;
    }
    for (i = 0; i < n; i++) {
        ops_span_t *s = &out->spans[i];
        if (!s->parent_id[0]) continue;
        s->parent = idmap_find(&map, out->spans, s->parent_id);
        if (s->parent < 0) {
            s->orphan = true;
            out->orphans++;
        } else if (s->parent == (int)i) {
            st = ops_fail(err, OPS_FAIL, "trace: span %s is its own parent (a cycle)", s->span_id);
            goto done;
        }
    }
    if (link_children(out) < 0) {
        st = ops_fail(err, OPS_FAIL, "out of memory");
        goto done;
    }
    size_t reached = preorder(out, out->order, pre, stack);
    if (reached != n) {
        for (i = 0; i < n; i++) out->spans[i].depth = -1;
        for (size_t k = 0; k < reached; k++) out->spans[pre[k]].depth = 0;
        for (i = 0; i < n && out->spans[i].depth == 0; i++) {}
        st = ops_fail(err, OPS_FAIL, "trace: a cycle in the parent links (span %s)",
                      i < n ? out->spans[i].span_id : "?");
        goto done;
    }
    fix_skew(out, pre, shift);
    if (link_children(out) < 0) {
        st = ops_fail(err, OPS_FAIL, "out of memory");
        goto done;
    }
    preorder(out, out->order, pre, stack);
    memcpy(out->order, pre, n * sizeof *pre);
    out->start_us = INT64_MAX;
    out->end_us = INT64_MIN;
    for (i = 0; i < n; i++) {
        ops_span_t *s = &out->spans[i];
        if (s->start_us < out->start_us) out->start_us = s->start_us;
        if (end_of(s) > out->end_us) out->end_us = end_of(s);
        if (s->parent < 0) out->roots++;
    }
    for (i = 0; i < n; i++) out->spans[i].offset_us = out->spans[i].start_us - out->start_us;
    self_times(out);
    hops(out);
    for (i = 0; i < n; i++)
        if (out->slowest < 0 || out->spans[i].self_us > out->spans[out->slowest].self_us)
            out->slowest = (int)i;
    out->services = out->nstrings;
    if (critical_path(out, pre, ops_trace_root(out)) < 0)
        st = ops_fail(err, OPS_FAIL, "out of memory");
done:
    free(map.slot);
    free(pre);
    free(stack);
    free(shift);
    if (st != OPS_OK) ops_trace_free(out);
    return st;
}

ops_status_t ops_trace_parse(const char *text, size_t len, ops_trace_t *out, ops_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->slowest = -1;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        return ops_fail(err, OPS_FAIL, "trace: invalid JSON near byte %zu", off);
    }
    const cJSON *trace = j;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    if (data) {
        if (!cJSON_IsArray(data) || cJSON_GetArraySize(data) == 0) {
            cJSON_Delete(j);
            return ops_fail(err, OPS_FAIL, "trace: \"data\" holds no trace");
        }
        trace = cJSON_GetArrayItem(data, 0);
    }
    ops_status_t st = ops_trace_from_json(trace, out, err);
    cJSON_Delete(j);
    return st;
}

int ops_trace_root(const ops_trace_t *t)
{
    int best = -1;
    for (size_t i = 0; i < t->n; i++)
        if (t->spans[i].parent < 0 &&
            (best < 0 || t->spans[i].start_us < t->spans[best].start_us ||
             (t->spans[i].start_us == t->spans[best].start_us && !t->spans[i].orphan &&
              t->spans[best].orphan)))
            best = (int)i;
    return best;
}

cJSON *ops_trace_json(const ops_trace_t *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "trace_id", t->trace_id);
    cJSON_AddNumberToObject(o, "start_us", (double)t->start_us);
    cJSON_AddNumberToObject(o, "duration_us", (double)(t->end_us - t->start_us));
    cJSON_AddNumberToObject(o, "services", (double)t->services);
    cJSON_AddNumberToObject(o, "orphans", (double)t->orphans);
    cJSON_AddNumberToObject(o, "skewed", (double)t->skewed);
    if (t->slowest >= 0)
        cJSON_AddStringToObject(o, "slowest_span", t->spans[t->slowest].span_id);
    cJSON *a = cJSON_AddArrayToObject(o, "spans");
    for (size_t k = 0; k < t->n; k++) {
        const ops_span_t *s = &t->spans[t->order[k]];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "span_id", s->span_id);
        cJSON_AddStringToObject(x, "parent_id", s->parent_id);
        cJSON_AddStringToObject(x, "service", s->service);
        cJSON_AddStringToObject(x, "name", s->name);
        cJSON_AddStringToObject(x, "kind", ops_span_kind_name(s->kind));
        cJSON_AddNumberToObject(x, "depth", s->depth);
        cJSON_AddNumberToObject(x, "offset_us", (double)s->offset_us);
        cJSON_AddNumberToObject(x, "duration_us", (double)s->dur_us);
        cJSON_AddNumberToObject(x, "self_us", (double)s->self_us);
        cJSON_AddBoolToObject(x, "critical", s->critical);
        cJSON_AddBoolToObject(x, "error", s->error);
        cJSON_AddBoolToObject(x, "orphan", s->orphan);
        cJSON_AddNumberToObject(x, "skew_us", (double)s->skew_us);
        if (s->hop != OPS_HOP_NONE) {
            cJSON_AddStringToObject(x, "hop", ops_hop_kind_name(s->hop));
            cJSON_AddNumberToObject(x, "hop_offset_us", (double)(s->hop_start_us - t->start_us));
            cJSON_AddNumberToObject(x, "hop_duration_us", (double)s->hop_dur_us);
        } else {
            cJSON_AddNullToObject(x, "hop");
        }
        cJSON_AddItemToArray(a, x);
    }
    return o;
}
