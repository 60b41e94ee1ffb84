/* metrics — Prometheus registry and text exposition; see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Doubles live in atomic 64-bit words (their bit patterns), because C11 has
 * no portable atomic double with fetch-add. */
struct metrics_series {
    metrics_series_t *next;
    metrics_family_t *family;
    char *values[METRICS_MAX_LABELS];
    _Atomic uint64_t value;       /* counter/gauge value, histogram sum */
    _Atomic uint64_t buckets[];   /* histogram: per-bucket counts, not cumulative; last is +Inf */
};

struct metrics_family {
    metrics_family_t *next;
    metrics_type_t type;
    char *name, *help;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    double *bounds; /* histogram upper bounds without +Inf */
    size_t nbounds;
    double (*fn)(void *ctx); /* callback families have no series */
    void *ctx;
    pthread_mutex_t lock; /* guards the series list */
    metrics_series_t *series, **series_tail;
};

struct metrics_registry {
    pthread_mutex_t lock; /* guards the family list and serialises renders */
    metrics_family_t *families, **families_tail;
};

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

static bool valid_name(const char *s, bool colon_ok);
static int parse_labels(metrics_family_t *f, const char *labels, char *err, size_t errlen);
static metrics_family_t *family_new(metrics_registry_t *reg, metrics_type_t type,
                                    const char *name, const char *help, const char *labels,
                                    char *err, size_t errlen);
static int family_add(metrics_registry_t *reg, metrics_family_t *f, char *err, size_t errlen);
static void family_free(metrics_family_t *f);
static metrics_series_t *series_new(metrics_family_t *f, const char *const *values);
static double load_double(_Atomic uint64_t *a);
static void store_double(_Atomic uint64_t *a, double v);
static void add_double(_Atomic uint64_t *a, double v);
static void put_value(buf_t *b, double v);
static void put_escaped(buf_t *b, const char *s, bool quote_too);
static void put_series_name(buf_t *b, const metrics_family_t *f, const metrics_series_t *s,
                            const char *suffix, const double *le);
static void render_family(buf_t *b, metrics_family_t *f);

/* ---- atomics ----------------------------------------------------------------- */

static double load_double(_Atomic uint64_t *a)
{
    uint64_t bits = atomic_load_explicit(a, memory_order_relaxed);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static void store_double(_Atomic uint64_t *a, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    atomic_store_explicit(a, bits, memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed), new;
    do {
        double d;
        memcpy(&d, &old, sizeof d);
        d += v;
        memcpy(&new, &d, sizeof new);
    } while (!atomic_compare_exchange_weak_explicit(a, &old, new, memory_order_relaxed,
                                                    memory_order_relaxed));
}

/* ---- registration -------------------------------------------------------- */

metrics_registry_t *metrics_registry_new(void)
{
    metrics_registry_t *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    reg->families_tail = &reg->families;
    return reg;
}

void metrics_registry_free(metrics_registry_t *reg)
{
    if (!reg)
        return;
    for (metrics_family_t *f = reg->families, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* Metric names may contain ':' (reserved for recording rules), label names not. */
static bool valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                  (*s >= '0' && *s <= '9') || *s == '_' || (colon_ok && *s == ':');
        if (!ok)
            return false;
    }
    return true;
}

static int parse_labels(metrics_family_t *f, const char *labels, char *err, size_t errlen)
{
    if (!labels || !*labels)
        return 0;
    for (const char *p = labels;;) {
        size_t n = strcspn(p, ",");
        char *name = strndup(p, n);
        if (!name) {
            snprintf(err, errlen, "%s: out of memory", f->name);
            return -1;
        }
        const char *why = NULL;
        if (f->nlabels == METRICS_MAX_LABELS)
            why = "too many labels";
        else if (!valid_name(name, false) || strncmp(name, "__", 2) == 0)
            why = "invalid label name";
        else if (f->type == METRICS_HISTOGRAM && strcmp(name, "le") == 0)
            why = "histograms reserve label";
        for (size_t i = 0; !why && i < f->nlabels; i++)
            if (strcmp(f->labels[i], name) == 0)
                why = "duplicate label name";
        if (why) {
            snprintf(err, errlen, "%s: %s '%s'", f->name, why, name);
            free(name);
            return -1;
        }
        f->labels[f->nlabels++] = name;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

static metrics_family_t *family_new(metrics_registry_t *reg, metrics_type_t type,
                                    const char *name, const char *help, const char *labels,
                                    char *err, size_t errlen)
{
    if (!valid_name(name, true)) {
        snprintf(err, errlen, "invalid metric name '%s'", name ? name : "(null)");
        return NULL;
    }
    metrics_family_t *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : ""))) {
        snprintf(err, errlen, "%s: out of memory", name);
        family_free(f);
        return NULL;
    }
    f->type = type;
    pthread_mutex_init(&f->lock, NULL);
    f->series_tail = &f->series;
    if (parse_labels(f, labels, err, errlen) < 0) {
        family_free(f);
        return NULL;
    }
    return f;
}

/* Appends f to the registry; an unlabelled family gets its one series now, so
 * it is exported (as 0) before its first update, as Prometheus expects. */
static int family_add(metrics_registry_t *reg, metrics_family_t *f, char *err, size_t errlen)
{
    if (f->nlabels == 0 && !f->fn && !series_new(f, NULL)) {
        snprintf(err, errlen, "%s: out of memory", f->name);
        family_free(f);
        return -1;
    }
    pthread_mutex_lock(&reg->lock);
    for (metrics_family_t *g = reg->families; g; g = g->next) {
        if (strcmp(g->name, f->name) == 0) {
            pthread_mutex_unlock(&reg->lock);
            snprintf(err, errlen, "%s: already registered", f->name);
            family_free(f);
            return -1;
        }
    }
    *reg->families_tail = f;
    reg->families_tail = &f->next;
    pthread_mutex_unlock(&reg->lock);
    return 0;
}

static void family_free(metrics_family_t *f)
{
    if (!f)
        return;
    for (metrics_series_t *s = f->series, *next; s; s = next) {
        next = s->next;
        for (size_t i = 0; i < f->nlabels; i++)
            free(s->values[i]);
        free(s);
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    if (f->series_tail) /* set once the mutex is initialised */
        pthread_mutex_destroy(&f->lock);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

metrics_family_t *metrics_counter(metrics_registry_t *reg, const char *name, const char *help,
                                  const char *labels, char *err, size_t errlen)
{
    metrics_family_t *f = family_new(reg, METRICS_COUNTER, name, help, labels, err, errlen);
    return f && family_add(reg, f, err, errlen) == 0 ? f : NULL;
}

metrics_family_t *metrics_gauge(metrics_registry_t *reg, const char *name, const char *help,
                                const char *labels, char *err, size_t errlen)
{
    metrics_family_t *f = family_new(reg, METRICS_GAUGE, name, help, labels, err, errlen);
    return f && family_add(reg, f, err, errlen) == 0 ? f : NULL;
}

metrics_family_t *metrics_histogram(metrics_registry_t *reg, const char *name, const char *help,
                                    const char *labels, const double *buckets, size_t nbuckets,
                                    char *err, size_t errlen)
{
    if (!buckets) {
        buckets = default_buckets;
        nbuckets = sizeof default_buckets / sizeof default_buckets[0];
    }
    for (size_t i = 0; i < nbuckets; i++) {
        if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
            snprintf(err, errlen, "%s: buckets must be finite and strictly increasing",
                     name ? name : "(null)");
            return NULL;
        }
    }
    metrics_family_t *f = family_new(reg, METRICS_HISTOGRAM, name, help, labels, err, errlen);
    if (!f)
        return NULL;
    f->bounds = malloc((nbuckets ? nbuckets : 1) * sizeof *f->bounds);
    if (!f->bounds) {
        snprintf(err, errlen, "%s: out of memory", name);
        family_free(f);
        return NULL;
    }
    if (nbuckets)
        memcpy(f->bounds, buckets, nbuckets * sizeof *f->bounds);
    f->nbounds = nbuckets;
    return family_add(reg, f, err, errlen) == 0 ? f : NULL;
}

int metrics_callback(metrics_registry_t *reg, metrics_type_t type, const char *name,
                     const char *help, double (*fn)(void *ctx), void *ctx, char *err,
                     size_t errlen)
{
    if (type == METRICS_HISTOGRAM || !fn) {
        snprintf(err, errlen, "%s: a callback must be a counter or gauge function",
                 name ? name : "(null)");
        return -1;
    }
    metrics_family_t *f = family_new(reg, type, name, help, NULL, err, errlen);
    if (!f)
        return -1;
    f->fn = fn;
    f->ctx = ctx;
    return family_add(reg, f, err, errlen);
}

/* ---- series and updates ----------------------------------------------------- */

/* Appends a zeroed series; the caller holds f->lock (or owns f exclusively). */
static metrics_series_t *series_new(metrics_family_t *f, const char *const *values)
{
    size_t nb = f->type == METRICS_HISTOGRAM ? f->nbounds + 1 : 0;
    metrics_series_t *s = calloc(1, sizeof *s + nb * sizeof s->buckets[0]);
    if (!s)
        return NULL;
    s->family = f;
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = strdup(values[i] ? values[i] : "");
        if (!s->values[i]) {
            for (size_t j = 0; j < i; j++)
                free(s->values[j]);
            free(s);
            return NULL;
        }
    }
    *f->series_tail = s;
    f->series_tail = &s->next;
    return s;
}

metrics_series_t *metrics_series(metrics_family_t *f, const char *const *values)
{
    if (!f || f->fn)
        return NULL;
    if (f->nlabels == 0)
        return f->series; /* created at registration, never changes */
    if (!values)
        return NULL;
    pthread_mutex_lock(&f->lock);
    metrics_series_t *s;
    for (s = f->series; s; s = s->next) {
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->values[i], values[i] ? values[i] : "") == 0)
            i++;
        if (i == f->nlabels)
            break;
    }
    if (!s)
        s = series_new(f, values);
    pthread_mutex_unlock(&f->lock);
    return s;
}

void metrics_add(metrics_series_t *s, double v)
{
    if (!s || s->family->type == METRICS_HISTOGRAM)
        return;
    if (s->family->type == METRICS_COUNTER && !(v >= 0))
        return; /* also rejects NaN, which would poison the counter for good */
    add_double(&s->value, v);
}

void metrics_set(metrics_series_t *s, double v)
{
    if (s && s->family->type == METRICS_GAUGE)
        store_double(&s->value, v);
}

void metrics_observe(metrics_series_t *s, double v)
{
    if (!s || s->family->type != METRICS_HISTOGRAM)
        return;
    const metrics_family_t *f = s->family;
    size_t i = 0;
    while (i < f->nbounds && !(v <= f->bounds[i]))
        i++; /* le is inclusive; NaN lands in +Inf */
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    add_double(&s->value, v);
}

/* ---- rendering --------------------------------------------------------------- */

/* Shortest text that reads back as the same double, with Prometheus' spelling
 * of the special values. */
static void put_value(buf_t *b, double v)
{
    if (isnan(v))
        buf_puts(b, "NaN");
    else if (isinf(v))
        buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else
        buf_double(b, v);
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void put_escaped(buf_t *b, const char *s, bool quote_too)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(b, "\\\\");
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else if (*s == '"' && quote_too)
            buf_puts(b, "\\\"");
        else
            buf_putc(b, *s);
    }
}

/* name+suffix{label="value",…,le="…"} followed by a space; le is NULL
 * except for histogram buckets. */
static void put_series_name(buf_t *b, const metrics_family_t *f, const metrics_series_t *s,
                            const char *suffix, const double *le)
{
    buf_puts(b, f->name);
    buf_puts(b, suffix);
    if (f->nlabels == 0 && !le) {
        buf_putc(b, ' ');
        return;
    }
    buf_putc(b, '{');
    for (size_t i = 0; i < f->nlabels; i++) {
        buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(b, s->values[i], true);
        buf_putc(b, '"');
    }
    if (le) {
        buf_puts(b, f->nlabels ? ",le=\"" : "le=\"");
        put_value(b, *le);
        buf_putc(b, '"');
    }
    buf_puts(b, "} ");
}

static void render_family(buf_t *b, metrics_family_t *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    buf_printf(b, "# HELP %s ", f->name);
    put_escaped(b, f->help, false);
    buf_printf(b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    if (f->fn) {
        buf_printf(b, "%s ", f->name);
        put_value(b, f->fn(f->ctx));
        buf_putc(b, '\n');
        return;
    }
    pthread_mutex_lock(&f->lock);
    for (metrics_series_t *s = f->series; s; s = s->next) {
        if (f->type != METRICS_HISTOGRAM) {
            put_series_name(b, f, s, "", NULL);
            put_value(b, load_double(&s->value));
            buf_putc(b, '\n');
            continue;
        }
        /* _count is the +Inf bucket by construction, so the two always agree
         * even while observations race with the scrape. */
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= f->nbounds; i++) {
            cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            double le = i < f->nbounds ? f->bounds[i] : INFINITY;
            put_series_name(b, f, s, "_bucket", &le);
            buf_printf(b, "%llu\n", (unsigned long long)cumulative);
        }
        put_series_name(b, f, s, "_sum", NULL);
        put_value(b, load_double(&s->value));
        buf_putc(b, '\n');
        put_series_name(b, f, s, "_count", NULL);
        buf_printf(b, "%llu\n", (unsigned long long)cumulative);
    }
    pthread_mutex_unlock(&f->lock);
}

int metrics_render(metrics_registry_t *reg, buf_t *out)
{
    pthread_mutex_lock(&reg->lock);
    for (metrics_family_t *f = reg->families; f; f = f->next)
        render_family(out, f);
    pthread_mutex_unlock(&reg->lock);
    return out->oom ? -1 : 0;
}
