/* cfg — settings from environment variables; see cfg.h. */
#include "cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"

static void bounds(const cfg_entry_t *e, int64_t *lo, int64_t *hi);
static void format_duration(int64_t ms, char *out, size_t outlen);
static void format_range(const cfg_entry_t *e, char *out, size_t outlen);
static int parse_int(const char *s, int64_t *out);
static int parse_bool(const char *s, bool *out);
static int load_one(const cfg_entry_t *e, void *out, char *err, size_t errlen);
static char *mask_url_password(const char *s);

static const char *const type_names[] = {"string", "int", "bool", "duration"};

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
    const char *shown = e->secret ? "***" : v; /* an error message is logged too */
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

/* A copy of s with the password of "scheme://user:password@host…" replaced by
 * "***": connection URLs are worth logging, their passwords never are. */
static char *mask_url_password(const char *s)
{
    const char *auth = strstr(s, "://");
    if (!auth)
        return strdup(s);
    auth += 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', auth_len);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon)
        return strdup(s);
    buf_t b = BUF_INIT;
    buf_append(&b, s, (size_t)(colon + 1 - s));
    buf_puts(&b, "***");
    buf_puts(&b, at);
    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    return b.data;
}

void cfg_log(const cfg_entry_t *table, size_t n, const void *cfg)
{
    log_field_t *fields = calloc(n ? n : 1, sizeof *fields);
    char **owned = calloc(n ? n : 1, sizeof *owned); /* strings made for this line */
    if (!fields || !owned)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const cfg_entry_t *e = &table[i];
        const void *field = (const char *)cfg + e->offset;
        if (e->secret) {
            fields[i] = LOG_STR(e->name, "***");
            continue;
        }
        switch (e->type) {
        case CFG_STRING: {
            const char *s = *(const char *const *)field;
            owned[i] = s ? mask_url_password(s) : NULL;
            fields[i] = LOG_STR(e->name, owned[i]);
            break;
        }
        case CFG_INT: fields[i] = LOG_INT(e->name, *(const int *)field); break;
        case CFG_BOOL: fields[i] = LOG_BOOL(e->name, *(const bool *)field); break;
        case CFG_DURATION:
            owned[i] = malloc(32);
            if (owned[i])
                format_duration(*(const int64_t *)field, owned[i], 32);
            fields[i] = LOG_STR(e->name, owned[i]);
            break;
        }
    }
    log_emit(LOG_INFO, "configuration", fields, n);
out:
    for (size_t i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(fields);
}

void cfg_usage(FILE *f, const cfg_entry_t *table, size_t n)
{
    fprintf(f, "Environment variables:\n");
    for (size_t i = 0; i < n; i++) {
        const cfg_entry_t *e = &table[i];
        char range[80], def[64];
        format_range(e, range, sizeof range);
        snprintf(def, sizeof def, "%s", !e->def ? "(required)" : e->def[0] ? e->def : "''");
        fprintf(f, "  %-30s %-8s %-14s %s", e->name, type_names[e->type], def,
                e->help ? e->help : "");
        if (range[0])
            fprintf(f, " (%s)", range);
        fputc('\n', f);
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
