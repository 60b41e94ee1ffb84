/* ops_metrics — Prometheus text parsing; see ops_metrics.h. */
#include "ops_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int add(ops_metrics_t *m, const char *name, size_t nl, const char *labels, size_t ll,
               double v)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        ops_sample_t *g = realloc(m->s, cap * sizeof *g);
        if (!g) return -1;
        m->s = g;
        m->cap = cap;
    }
    ops_sample_t *s = &m->s[m->n];
    s->name = strndup(name, nl);
    s->labels = strndup(labels, ll);
    if (!s->name || !s->labels) {
        free(s->name);
        free(s->labels);
        return -1;
    }
    s->value = v;
    m->n++;
    return 0;
}

/* Parses one sample line; 1 added, 0 skipped (malformed), -1 out of memory. */
static int parse_line(ops_metrics_t *m, const char *p, const char *eol)
{
    const char *name = p;
    while (p < eol && (*p == '_' || *p == ':' || (*p >= 'a' && *p <= 'z') ||
                       (*p >= 'A' && *p <= 'Z') || (p > name && *p >= '0' && *p <= '9')))
        p++;
    size_t nl = (size_t)(p - name);
    if (!nl) return 0;
    const char *labels = "";
    size_t ll = 0;
    if (p < eol && *p == '{') {
        labels = ++p;
        bool quoted = false;
        while (p < eol && (quoted || *p != '}')) {
            if (*p == '\\' && quoted && p + 1 < eol)
                p++;
            else if (*p == '"')
                quoted = !quoted;
            p++;
        }
        if (p >= eol) return 0;
        ll = (size_t)(p - labels);
        p++;
    }
    while (p < eol && (*p == ' ' || *p == '\t')) p++;
    if (p >= eol) return 0;
    char num[64];
    size_t vl = 0;
    while (p + vl < eol && p[vl] != ' ' && p[vl] != '\t') vl++;
    if (vl == 0 || vl >= sizeof num) return 0;
    memcpy(num, p, vl);
    num[vl] = '\0';
    double v;
    if (!strcmp(num, "+Inf"))
        v = INFINITY;
    else if (!strcmp(num, "-Inf"))
        v = -INFINITY;
    else if (!strcmp(num, "NaN"))
        v = NAN;
    else {
        char *end;
        v = strtod(num, &end);
        if (*end) return 0;
    }
    return add(m, name, nl, labels, ll, v) < 0 ? -1 : 1;
}

int ops_metrics_parse(const char *text, ops_metrics_t *m)
{
    memset(m, 0, sizeof *m);
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        const char *q = p;
        while (q < eol && (*q == ' ' || *q == '\t')) q++;
        if (q < eol && *q != '#') {
            int r = parse_line(m, q, eol);
            if (r < 0) {
                ops_metrics_free(m);
                return -1;
            }
            if (r == 0) m->bad_lines++;
        }
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}

bool ops_metrics_get(const ops_metrics_t *m, const char *name, const char *label_substr,
                     double *out)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->s[i].name, name) && (!label_substr || strstr(m->s[i].labels, label_substr))) {
            *out = m->s[i].value;
            return true;
        }
    return false;
}

double ops_metrics_sum(const ops_metrics_t *m, const char *name, const char *label_substr)
{
    double sum = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->s[i].name, name) && (!label_substr || strstr(m->s[i].labels, label_substr)))
            sum += m->s[i].value;
    return sum;
}

void ops_metrics_free(ops_metrics_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->s[i].name);
        free(m->s[i].labels);
    }
    free(m->s);
    memset(m, 0, sizeof *m);
}
