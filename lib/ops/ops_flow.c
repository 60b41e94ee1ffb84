/* ops_flow — a task change's time line from its outbox row, trace, Kafka message,
 * notification and read-model version; see ops_flow.h. */
#include "ops_flow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"

static const struct {
    const char *name, *hop;
} step_names[OPS_FLOW_STEPS] = {
    [OPS_FLOW_REQUEST] = {"request", ""},
    [OPS_FLOW_OUTBOX] = {"outbox row", "into the request"},
    [OPS_FLOW_COMMIT] = {"commit", "insert to commit"},
    [OPS_FLOW_PUBLISH] = {"publish", "outbox wait"},
    [OPS_FLOW_CONSUME] = {"consume", "on the broker"},
    [OPS_FLOW_NOTIFY] = {"notification", "to the notification"},
    [OPS_FLOW_READMODEL] = {"read model", ""},
};

const char *ops_step_state_name(ops_step_state_t s)
{
    static const char *const n[] = {"unknown", "done", "pending", "none", "down"};
    return (unsigned)s < 5 ? n[s] : "unknown";
}

bool ops_flow_trace_id(const char *tp, char out[33])
{
    /* version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 */
    out[0] = '\0';
    if (!tp || strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-') return false;
    for (int i = 3; i < 35; i++) {
        char c = tp[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    memcpy(out, tp + 3, 32);
    out[32] = '\0';
    return strspn(out, "0") != 32; /* all zeros is invalid (W3C) */
}

/* Appends printf text to a step's detail (sanitised: the data came from the network). */
static void add(ops_flow_step_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(ops_flow_step_t *s, const char *fmt, ...)
{
    size_t l = strlen(s->detail);
    if (l + 1 >= sizeof s->detail) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->detail + l, sizeof s->detail - l, fmt, ap);
    va_end(ap);
    for (char *p = s->detail + l; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

static int64_t rfc_us(const char *s)
{
    int64_t ms;
    return s && *s && rfc3339_parse(s, &ms) == 0 ? ms * 1000 : 0;
}

/* A source that failed or has not answered: the step's state and detail say so. */
static void from_src(ops_flow_step_t *s, const ops_flow_src_t *src, const char *what)
{
    if (!src->looked) {
        s->state = OPS_STEP_UNKNOWN;
        add(s, "asking %s…", what);
    } else if (src->st != OPS_OK) {
        s->state = OPS_STEP_DOWN;
        add(s, "%s: %s", what, src->msg && *src->msg ? src->msg : ops_status_name(src->st));
    }
}

/* ---- finding the spans -------------------------------------------------------------------- */

typedef struct found {
    int request, commit, producer, consumer;
} found_t;

static bool tag_is(const cJSON *js, const char *key, const char *want)
{
    char v[128];
    return js && ops_span_tag(js, key, v, sizeof v) && !strcmp(v, want);
}

static void find_spans(const ops_flow_in_t *in, found_t *f)
{
    const ops_trace_t *t = in->trace;
    const ops_outbox_row_t *row = in->row;
    f->request = f->commit = f->producer = f->consumer = -1;
    char rid[24];
    snprintf(rid, sizeof rid, "%lld", (long long)row->id);
    for (size_t i = 0; i < t->n; i++) {
        const ops_span_t *s = &t->spans[i];
        const cJSON *js = in->trace_json ? ops_span_source(in->trace_json, s) : NULL;
        bool mine = tag_is(js, "messaging.message.id", row->event_id);
        if (s->kind == OPS_SPAN_PRODUCER &&
            (mine || tag_is(js, "outbox.id", rid) || (!js && s->has_outbox_id))) {
            /* a row the relay retried (Kafka down) has a failed publish span per attempt:
             * the one that delivered it is the publish; else the latest failure */
            const ops_span_t *have = f->producer >= 0 ? &t->spans[f->producer] : NULL;
            if (!have || (have->error && (!s->error || s->start_us > have->start_us)))
                f->producer = (int)i;
        }
        else if (s->kind == OPS_SPAN_CONSUMER && f->consumer < 0 && (mine || !js))
            f->consumer = (int)i;
    }
    /* the request: the SERVER span above the publish, else the first SERVER span */
    for (int p = f->producer >= 0 ? t->spans[f->producer].parent : -1; p >= 0; p = t->spans[p].parent)
        if (t->spans[p].kind == OPS_SPAN_SERVER) {
            f->request = p;
            break;
        }
    for (size_t k = 0; f->request < 0 && k < t->n; k++)
        if (t->spans[t->order[k]].kind == OPS_SPAN_SERVER) f->request = t->order[k];
    if (f->request < 0) return;
    /* the commit: the request's subtree is contiguous in the depth-first order */
    size_t at = 0;
    while (at < t->n && t->order[at] != f->request) at++;
    int64_t limit = f->producer >= 0 ? t->spans[f->producer].start_us : INT64_MAX, best = -1;
    for (size_t k = at + 1; k < t->n && t->spans[t->order[k]].depth > t->spans[f->request].depth; k++) {
        const ops_span_t *s = &t->spans[t->order[k]];
        int64_t end = s->start_us + s->dur_us;
        if (!strncmp(s->name, "COMMIT", 6) && end <= limit && end > best) {
            best = end;
            f->commit = t->order[k];
        }
    }
}

/* ---- the steps ---------------------------------------------------------------------------- */

static void trace_missing(ops_flow_step_t *s, const ops_flow_in_t *in, const char *what)
{
    if (!in->row->traceparent[0]) {
        s->state = OPS_STEP_NONE;
        add(s, "the outbox row carries no traceparent");
    } else if (!in->trace_src.looked || in->trace_src.st != OPS_OK) {
        from_src(s, &in->trace_src, "jaeger");
    } else {
        s->state = OPS_STEP_NONE;
        add(s, "no %s span in the trace", what);
    }
}

static void span_step(ops_flow_step_t *s, const ops_span_t *sp)
{
    s->state = OPS_STEP_DONE;
    s->at_us = sp->start_us;
    s->dur_us = sp->dur_us;
    snprintf(s->service, sizeof s->service, "%s", sp->service);
    snprintf(s->source, sizeof s->source, "trace");
}

static void request_step(const ops_flow_in_t *in, const found_t *fs, ops_flow_step_t *s)
{
    if (fs->request < 0) {
        trace_missing(s, in, "server");
        return;
    }
    const ops_span_t *r = &in->trace->spans[fs->request];
    span_step(s, r);
    add(s, "%s", r->name);
    char v[32];
    const cJSON *js = in->trace_json ? ops_span_source(in->trace_json, r) : NULL;
    if (js && ops_span_tag(js, "http.status_code", v, sizeof v)) add(s, " → %s", v);
    int root = ops_trace_root(in->trace);
    if (root >= 0 && root != fs->request && strcmp(in->trace->spans[root].service, r->service))
        add(s, " (trace from %s)", in->trace->spans[root].service);
    if (r->error) add(s, " error");
}

static void outbox_step(const ops_outbox_row_t *row, ops_flow_step_t *s)
{
    s->state = OPS_STEP_DONE;
    s->at_us = rfc_us(row->created_at);
    snprintf(s->service, sizeof s->service, "tasks-service");
    snprintf(s->source, sizeof s->source, "outbox");
    add(s, "row %lld, %s v%lld, key %s", (long long)row->id, row->event_type,
        (long long)row->version, row->key);
    if (row->attempts > 1) add(s, ", %d attempts", row->attempts);
}

static void commit_step(const ops_flow_in_t *in, const found_t *fs, ops_flow_step_t *s)
{
    if (fs->commit < 0) {
        trace_missing(s, in, "COMMIT");
        return;
    }
    const ops_span_t *c = &in->trace->spans[fs->commit];
    span_step(s, c);
    s->at_us = c->start_us + c->dur_us; /* committed when the COMMIT returned */
    add(s, "task and outbox row in one transaction");
}

static void publish_step(const ops_flow_in_t *in, const found_t *fs, int64_t now_us,
                         ops_flow_t *f, ops_flow_step_t *s)
{
    const ops_outbox_row_t *row = in->row;
    char v[32];
    if (fs->producer >= 0) {
        const ops_span_t *p = &in->trace->spans[fs->producer];
        span_step(s, p);
        const cJSON *js = in->trace_json ? ops_span_source(in->trace_json, p) : NULL;
        if (js && ops_span_tag(js, "messaging.kafka.destination.partition", v, sizeof v))
            f->partition = strtoll(v, NULL, 10);
        if (js && ops_span_tag(js, "messaging.kafka.message.offset", v, sizeof v))
            f->offset = strtoll(v, NULL, 10);
        if (p->error) {
            s->state = OPS_STEP_PENDING;
            add(s, "send failed: %s; ", p->status_msg ? p->status_msg : "error");
        }
    } else if (row->published) {
        s->state = OPS_STEP_DONE;
        s->at_us = rfc_us(row->published_at);
        snprintf(s->service, sizeof s->service, "tasks-service");
        snprintf(s->source, sizeof s->source, "outbox");
    } else {
        s->state = OPS_STEP_PENDING;
        snprintf(s->source, sizeof s->source, "outbox");
        if (row->dead)
            add(s, "dead after %d attempts: %s (replay it from the Outbox view)", row->attempts,
                row->last_error ? row->last_error : "");
        else
            add(s, "waiting in the outbox, %d attempts%s%s", row->attempts,
                row->last_error ? ", last error: " : "", row->last_error ? row->last_error : "");
        (void)now_us;
        return;
    }
    if (in->kmsg) {
        if (f->partition < 0) f->partition = in->kmsg->partition;
        if (f->offset < 0) f->offset = in->kmsg->offset;
        if (!s->at_us && in->kmsg->ts_ms > 0) s->at_us = in->kmsg->ts_ms * 1000;
    }
    add(s, "%s", row->topic);
    if (f->partition >= 0) add(s, " partition %lld", (long long)f->partition);
    if (f->offset >= 0) add(s, " offset %lld", (long long)f->offset);
    if (in->kmsg)
        add(s, ", in Kafka");
    else if (in->kafka_src.looked && in->kafka_src.st == OPS_OK)
        add(s, ", not found in Kafka (retention, or another topic)");
    else if (in->kafka_src.looked)
        add(s, "; kafka: %s", in->kafka_src.msg ? in->kafka_src.msg : "failed");
}

static void consume_step(const ops_flow_in_t *in, const found_t *fs, ops_flow_step_t *s,
                         char *outcome, size_t outlen)
{
    outcome[0] = '\0';
    if (fs->consumer < 0) {
        if (!in->row->published) {
            s->state = OPS_STEP_PENDING;
            add(s, "after the publish");
        } else {
            trace_missing(s, in, "consumer");
        }
        return;
    }
    const ops_span_t *c = &in->trace->spans[fs->consumer];
    span_step(s, c);
    const cJSON *js = in->trace_json ? ops_span_source(in->trace_json, c) : NULL;
    char g[128] = "";
    if (js) ops_span_tag(js, "messaging.consumer.group.name", g, sizeof g);
    if (js) ops_span_tag(js, "notify.outcome", outcome, outlen);
    add(s, "group %s", g[0] ? g : "?");
    if (outcome[0]) add(s, ", %s", outcome);
    if (c->error) add(s, ", error: %s", c->status_msg ? c->status_msg : "");
}

static void notify_step(const ops_flow_in_t *in, const char *outcome, ops_flow_step_t *s)
{
    const cJSON *n = in->notification;
    if (n) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(n, "id");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(n, "kind");
        const cJSON *title = cJSON_GetObjectItemCaseSensitive(n, "title");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(n, "created_at");
        s->state = OPS_STEP_DONE;
        s->at_us = cJSON_IsString(at) ? rfc_us(at->valuestring) : 0;
        snprintf(s->service, sizeof s->service, "notification-service");
        snprintf(s->source, sizeof s->source, "api");
        add(s, "notification %lld %s: %s", cJSON_IsNumber(id) ? (long long)id->valuedouble : 0LL,
            cJSON_IsString(kind) ? kind->valuestring : "?",
            cJSON_IsString(title) ? title->valuestring : "");
        return;
    }
    if (!in->notify_src.looked || in->notify_src.st != OPS_OK) {
        from_src(s, &in->notify_src, "gateway");
    } else if (outcome[0] && strcmp(outcome, "notified")) {
        s->state = OPS_STEP_NONE;
        add(s, "none: notification-service %s the event", outcome);
    } else if (!in->row->published) {
        s->state = OPS_STEP_PENDING;
        add(s, "after the consumer");
    } else {
        s->state = OPS_STEP_NONE;
        add(s, "none for this event (only some events notify: see notification-service)");
    }
}

static void readmodel_step(const ops_flow_in_t *in, ops_flow_step_t *s)
{
    const ops_outbox_row_t *row = in->row;
    snprintf(s->source, sizeof s->source, "redis");
    snprintf(s->service, sizeof s->service, "tasks-service");
    if (!in->rm_src.looked || in->rm_src.st != OPS_OK) {
        from_src(s, &in->rm_src, "redis");
        return;
    }
    bool deleted = !strcmp(row->event_type, "task.deleted");
    if (deleted && in->rm_version < 0) {
        s->state = OPS_STEP_DONE;
        add(s, "removed from Redis");
    } else if (in->rm_version < 0) {
        s->state = OPS_STEP_NONE;
        add(s, "not in Redis (the projection is not built, or the task is gone)");
    } else if (in->rm_version >= row->version) {
        s->state = OPS_STEP_DONE;
        add(s, "Redis holds v%lld (this change v%lld)", (long long)in->rm_version,
            (long long)row->version);
    } else {
        s->state = OPS_STEP_PENDING;
        add(s, "Redis at v%lld, behind this change's v%lld", (long long)in->rm_version,
            (long long)row->version);
    }
}

/* The point in time the next hop is measured from. */
static int64_t point_of(const ops_flow_step_t *s)
{
    if (s->kind == OPS_FLOW_PUBLISH && s->dur_us > 0) return s->at_us + s->dur_us;
    return s->at_us;
}

void ops_flow_build(const ops_flow_in_t *in, int64_t now_us, ops_flow_t *f)
{
    memset(f, 0, sizeof *f);
    f->partition = f->offset = -1;
    for (int k = 0; k < OPS_FLOW_STEPS; k++) {
        f->step[k].kind = (ops_flow_kind_t)k;
        f->step[k].name = step_names[k].name;
        f->step[k].hop_name = step_names[k].hop;
        f->step[k].dur_us = f->step[k].hop_us = -1;
    }
    const ops_outbox_row_t *row = in->row;
    if (!row) return;
    snprintf(f->event_id, sizeof f->event_id, "%s", row->event_id);
    snprintf(f->event_type, sizeof f->event_type, "%s", row->event_type);
    ops_flow_trace_id(row->traceparent, f->trace_id);
    f->task_id = row->task_id;
    f->version = row->version;
    f->outbox_id = row->id;

    found_t fs = {-1, -1, -1, -1};
    if (in->trace) find_spans(in, &fs);
    char outcome[32];
    request_step(in, &fs, &f->step[OPS_FLOW_REQUEST]);
    outbox_step(row, &f->step[OPS_FLOW_OUTBOX]);
    commit_step(in, &fs, &f->step[OPS_FLOW_COMMIT]);
    publish_step(in, &fs, now_us, f, &f->step[OPS_FLOW_PUBLISH]);
    consume_step(in, &fs, &f->step[OPS_FLOW_CONSUME], outcome, sizeof outcome);
    notify_step(in, outcome, &f->step[OPS_FLOW_NOTIFY]);
    readmodel_step(in, &f->step[OPS_FLOW_READMODEL]);

    /* hops: each from the previous step that has a time; a row still waiting has waited
     * until now */
    const ops_flow_step_t *prev = NULL;
    for (int k = 0; k < OPS_FLOW_READMODEL; k++) {
        ops_flow_step_t *s = &f->step[k];
        if (prev && s->at_us) s->hop_us = s->at_us - point_of(prev);
        if (k == OPS_FLOW_PUBLISH && !s->at_us && s->state == OPS_STEP_PENDING && prev && now_us)
            s->hop_us = now_us - point_of(prev);
        if (s->at_us) {
            prev = s;
            if (!f->start_us || s->at_us < f->start_us) f->start_us = s->at_us;
            int64_t end = s->at_us + (s->dur_us > 0 ? s->dur_us : 0);
            if (end > f->end_us) f->end_us = end;
        }
    }
}

cJSON *ops_flow_json(const ops_flow_t *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event_id", f->event_id);
    cJSON_AddStringToObject(o, "event_type", f->event_type);
    cJSON_AddStringToObject(o, "trace_id", f->trace_id);
    cJSON_AddNumberToObject(o, "task_id", (double)f->task_id);
    cJSON_AddNumberToObject(o, "version", (double)f->version);
    cJSON_AddNumberToObject(o, "outbox_id", (double)f->outbox_id);
    cJSON_AddNumberToObject(o, "partition", (double)f->partition);
    cJSON_AddNumberToObject(o, "offset", (double)f->offset);
    cJSON *a = cJSON_AddArrayToObject(o, "steps");
    for (int k = 0; k < OPS_FLOW_STEPS; k++) {
        const ops_flow_step_t *s = &f->step[k];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", s->name);
        cJSON_AddStringToObject(x, "state", ops_step_state_name(s->state));
        cJSON_AddStringToObject(x, "service", s->service);
        cJSON_AddStringToObject(x, "source", s->source);
        cJSON_AddNumberToObject(x, "at_us", (double)s->at_us);
        cJSON_AddNumberToObject(x, "duration_us", (double)s->dur_us);
        cJSON_AddStringToObject(x, "hop", s->hop_name);
        cJSON_AddNumberToObject(x, "hop_us", (double)s->hop_us);
        cJSON_AddStringToObject(x, "detail", s->detail);
        cJSON_AddItemToArray(a, x);
    }
    return o;
}
