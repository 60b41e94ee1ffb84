/* cfg — settings from environment variables; see cfg.h. */
#include "cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "redact.h"

static void bounds(const cfg_entry_t *e, int64_t *lo, int64_t *hi);
static void format_duration(int64_t ms, char *out, size_t outlen);
static void format_range(const cfg_entry_t *e, char *out, size_t outlen);
static int parse_int(const char *s, int64_t *out);
static int parse_bool(const char *s, bool *out);
static int load_one(const cfg_entry_t *e, void *out, char *err, size_t errlen);

static const char *const type_names[] = {"string", "int", "bool", "duration", "host:port",
                                         "enum"};

static const struct {
    const char *suffix;
    int64_t ms;
} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};

/* ---- parsing -------------------------------------------------------------- */

/* The bounds a value must respect: the table's, or the field type's full range
 * when the table gives none (an int field can not hold more than an int). */
static void bounds(const cfg_entry_t *e, int64_t *lo, int64_t *hi)
{
    bool unbounded = e->min == 0 && e->max == 0;
    if (e->type == CFG_INT) {
        *lo = unbounded || e->min < INT_MIN ? INT_MIN : e->min;
        *hi = unbounded || e->max > INT_MAX ? INT_MAX : e->max;
    } else {
        *lo = unbounded ? 0 : e->min;
        *hi = unbounded ? INT64_MAX : e->max;
    }
}

int cfg_parse_duration(const char *s, int64_t *ms)
{
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    int64_t n = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        n = n * 10 + (*p - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            if (n > INT64_MAX / units[i].ms)
                return -1;
            *ms = n * units[i].ms;
            return 0;
        }
    }
    return -1;
}

/* Decimal only, no blanks or '+': a setting is written by a person and
 * "0x10" or " 8" are more likely mistakes than intent. */
static int parse_int(const char *s, int64_t *out)
{
    if (!(*s == '-' || (*s >= '0' && *s <= '9')))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

/* Writes the largest unit that divides ms exactly, so 900000 reads "15m". */
static void format_duration(int64_t ms, char *out, size_t outlen)
{
    if (ms == 0) {
        snprintf(out, outlen, "0");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(out, outlen, "%lld%s", (long long)(ms / units[i].ms), units[i].suffix);
            return;
        }
    }
}

/* "1..65535" or "1s..1h"; "" when the table sets no bounds. */
static void format_range(const cfg_entry_t *e, char *out, size_t outlen)
{
    out[0] = '\0';
    if (e->type == CFG_ENUM) { /* "debug|info|warn|error" */
        for (int i = 0; e->choices && e->choices[i]; i++) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "%s%s", i ? "|" : "", e->choices[i]);
        }
        return;
    }
    if (e->min == 0 && e->max == 0)
        return;
    if (e->type == CFG_INT) {
        snprintf(out, outlen, "%lld..%lld", (long long)e->min, (long long)e->max);
    } else if (e->type == CFG_DURATION) {
        char lo[32], hi[32];
        format_duration(e->min, lo, sizeof lo);
        format_duration(e->max, hi, sizeof hi);
        snprintf(out, outlen, "%s..%s", lo, hi);
    }
}

static int load_one(const cfg_entry_t *e, void *out, char *err, size_t errlen)
{
    const char *v = getenv(e->name);
    const char *from = "";
    if (!v || !*v) {
        v = e->def;
        from = " [default]"; /* a bad default is a bug in the table, not in the environment */
    }
    if (!v) {
        snprintf(err, errlen, "%s: required but not set", e->name);
        return -1;
    }
    void *field = (char *)out + e->offset;
    char redacted[512]; /* an error message is logged too */
    const char *shown = e->secret ? (redact(v, redacted, sizeof redacted), redacted) : v;
    char range[80];
    format_range(e, range, sizeof range);
    char expected[96] = "";
    if (range[0])
        snprintf(expected, sizeof expected, " (expected %s)", range);
    int64_t lo, hi, n = 0;
    bounds(e, &lo, &hi);

    switch (e->type) {
    case CFG_STRING:
        *(const char **)field = v;
        return 0;
    case CFG_HOSTPORT: {
        cfg_hostport_t *hp = field;
        memset(hp, 0, sizeof *hp);
        hp->text = v;
        if (!*v) return 0; /* optional and unset */
        if (cfg_split_hostport(v, hp->host, sizeof hp->host, &hp->port) < 0) {
            snprintf(err, errlen, "%s: '%s' is not host:port%s", e->name, shown, from);
            return -1;
        }
        return 0;
    }
    case CFG_ENUM:
        for (int i = 0; e->choices && e->choices[i]; i++)
            if (strcasecmp(v, e->choices[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        snprintf(err, errlen, "%s: '%s' is not one of ", e->name, shown);
        for (int i = 0; e->choices && e->choices[i]; i++) {
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, "%s%s", i ? ", " : "", e->choices[i]);
        }
        return -1;
    case CFG_BOOL:
        if (parse_bool(v, (bool *)field) < 0) {
            snprintf(err, errlen,
                     "%s: '%s' is not a boolean (expected true/false, yes/no, on/off, 1/0)%s",
                     e->name, shown, from);
            return -1;
        }
        return 0;
    case CFG_INT:
        if (parse_int(v, &n) < 0) {
            snprintf(err, errlen, "%s: '%s' is not an integer%s%s", e->name, shown, expected, from);
            return -1;
        }
        break;
    case CFG_DURATION:
        if (cfg_parse_duration(v, &n) < 0) {
            snprintf(err, errlen, "%s: '%s' is not a duration like 500ms, 15s, 15m, 1h, 30d%s%s",
                     e->name, shown, expected, from);
            return -1;
        }
        break;
    }
    if (n < lo || n > hi) {
        snprintf(err, errlen, "%s: '%s' is out of range%s%s", e->name, shown, expected, from);
        return -1;
    }
    if (e->type == CFG_INT)
        *(int *)field = (int)n;
    else
        *(int64_t *)field = n;
    return 0;
}

int cfg_load(const cfg_entry_t *table, size_t n, void *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (load_one(&table[i], out, err, errlen) < 0)
            return -1;
    return 0;
}

/* ---- reporting ------------------------------------------------------------ */

/* The text a field of entry e shows in the configuration line, into out. */
static void shown_value(const cfg_entry_t *e, const void *cfg, char *out, size_t outlen)
{
    const void *field = (const char *)cfg + e->offset;
    const char *text = NULL;
    switch (e->type) {
    case CFG_STRING: text = *(const char *const *)field; break;
    case CFG_HOSTPORT: text = ((const cfg_hostport_t *)field)->text; break;
    case CFG_ENUM: text = e->choices[*(const int *)field]; break;
    case CFG_DURATION: format_duration(*(const int64_t *)field, out, outlen); return;
    case CFG_INT:
    case CFG_BOOL: out[0] = '\0'; return; /* logged as numbers and booleans */
    }
    if (!text) text = "";
    if (e->secret)
        redact(text, out, outlen);
    else
        snprintf(out, outlen, "%s", text);
}

void cfg_log(const cfg_section_t *sections, size_t nsections)
{
    size_t n = 0;
    for (size_t s = 0; s < nsections; s++) n += sections[s].n;
    log_field_t *fields = calloc(n ? n : 1, sizeof *fields);
    char (*text)[512] = calloc(n ? n : 1, sizeof *text); /* the strings of this line */
    if (!fields || !text) goto out;
    size_t k = 0;
    for (size_t s = 0; s < nsections; s++) {
        for (size_t i = 0; i < sections[s].n; i++, k++) {
            const cfg_entry_t *e = &sections[s].table[i];
            const void *field = (const char *)sections[s].out + e->offset;
            if (e->type == CFG_INT)
                fields[k] = LOG_INT(e->name, *(const int *)field);
            else if (e->type == CFG_BOOL)
                fields[k] = LOG_BOOL(e->name, *(const bool *)field);
            else {
                shown_value(e, sections[s].out, text[k], sizeof text[k]);
                fields[k] = LOG_STR(e->name, text[k]);
            }
        }
    }
    log_emit(LOG_INFO, "configuration", fields, n);
out:
    free(text);
    free(fields);
}

void cfg_usage(FILE *f, const cfg_section_t *sections, size_t nsections)
{
    fprintf(f, "Environment variables:\n");
    for (size_t s = 0; s < nsections; s++) {
        for (size_t i = 0; i < sections[s].n; i++) {
            const cfg_entry_t *e = &sections[s].table[i];
            char range[160], def[64];
            format_range(e, range, sizeof range);
            snprintf(def, sizeof def, "%s", !e->def ? "(required)" : e->def[0] ? e->def : "''");
            fprintf(f, "  %-30s %-9s %-14s %s", e->name, type_names[e->type], def,
                    e->help ? e->help : "");
            if (range[0]) fprintf(f, " (%s)", range);
            fputc('\n', f);
        }
    }
}

int cfg_split_hostport(const char *addr, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr) return -1;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (h[0] == '[') { /* [::1]:port */
        if (hl < 3 || h[hl - 1] != ']') return -1;
        h++;
        hl -= 2;
    }
    if (hl >= hostlen) return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}
