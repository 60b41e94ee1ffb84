/* redact — credentials hidden in settings and connection strings; see redact.h. */
#include "redact.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Appends n bytes of s to out at *pos; -1 once out is full. */
static int put(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
    if (*pos + n >= outlen) return -1;
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
    return 0;
}

static bool secret_key(const char *k, size_t n)
{
    return (n == 8 && !strncasecmp(k, "password", 8)) ||
           (n == 11 && !strncasecmp(k, "sslpassword", 11));
}

/* scheme://[userinfo@]host[:port][/path][?query][#fragment]: the password in the userinfo
 * and the password parameters of the query, everything else byte for byte so the result
 * still names the host and database. */
static int redact_url(const char *url, char *out, size_t outlen, int *hidden)
{
    size_t pos = 0;
    const char *auth = strstr(url, "://") + 3;
    bool redis = !strncasecmp(url, "redis://", 8) || !strncasecmp(url, "rediss://", 9);
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@') at = p; /* the last '@' ends userinfo; passwords may contain '@' */
    if (put(out, outlen, &pos, url, (size_t)(auth - url))) return -1;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        if (put(out, outlen, &pos, auth, (size_t)(colon - auth) + 1) ||
            put(out, outlen, &pos, REDACTED, 3))
            return -1;
        *hidden = 1;
        auth = at;
    } else if (at && redis && at > auth) {
        if (put(out, outlen, &pos, REDACTED, 3)) return -1;
        *hidden = 1;
        auth = at;
    }
    if (put(out, outlen, &pos, auth, (size_t)(auth_end - auth))) return -1;
    const char *p = auth_end;
    bool in_query = false;
    while (*p) {
        if (*p == '#') return put(out, outlen, &pos, p, strlen(p));
        if (*p == '?' || (*p == '&' && in_query)) {
            in_query = true;
            if (put(out, outlen, &pos, p, 1)) return -1;
            p++;
            size_t plen = strcspn(p, "&#");
            const char *eq = memchr(p, '=', plen);
            if (eq && secret_key(p, (size_t)(eq - p))) {
                if (put(out, outlen, &pos, p, (size_t)(eq - p) + 1) ||
                    put(out, outlen, &pos, REDACTED, 3))
                    return -1;
                *hidden = 1;
            } else if (put(out, outlen, &pos, p, plen)) {
                return -1;
            }
            p += plen;
        } else {
            size_t n = strcspn(p, "?&#");
            if (n == 0) n = 1; /* an '&' in the path */
            if (put(out, outlen, &pos, p, n)) return -1;
            p += n;
        }
    }
    return 0;
}

/* key=value conninfo: rebuilt from libpq's own parse, every value quoted. */
static int redact_conninfo(const char *s, char *out, size_t outlen, int *hidden)
{
    PQconninfoOption *opts = PQconninfoParse(s, NULL);
    if (!opts) return -2;
    size_t pos = 0;
    int rc = 0;
    for (PQconninfoOption *o = opts; o->keyword && rc == 0; o++) {
        if (!o->val) continue;
        bool secret = secret_key(o->keyword, strlen(o->keyword));
        const char *v = secret ? REDACTED : o->val;
        *hidden |= secret;
        if (pos > 0) rc |= put(out, outlen, &pos, " ", 1);
        rc |= put(out, outlen, &pos, o->keyword, strlen(o->keyword));
        rc |= put(out, outlen, &pos, "='", 2);
        for (const char *c = v; *c && rc == 0; c++) {
            if (*c == '\'' || *c == '\\') rc |= put(out, outlen, &pos, "\\", 1);
            rc |= put(out, outlen, &pos, c, 1);
        }
        rc |= put(out, outlen, &pos, "'", 1);
    }
    PQconninfoFree(opts);
    return rc ? -1 : 0;
}

/* A URL is a scheme of letters, digits, '+', '-', '.' and then "://". */
static bool is_url(const char *s)
{
    const char *sep = strstr(s, "://");
    if (!sep || sep == s) return false;
    for (const char *p = s; p < sep; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '+' || *p == '-' || *p == '.'))
            return false;
    return true;
}

int redact(const char *value, char *out, size_t outlen)
{
    if (!out || outlen < sizeof REDACTED) return -1;
    out[0] = '\0';
    if (!value || !*value) return 0;
    int hidden = 0, rc = -2;
    if (is_url(value))
        rc = redact_url(value, out, outlen, &hidden);
    else if (strchr(value, '='))
        rc = redact_conninfo(value, out, outlen, &hidden);
    if (rc == 0) return hidden;
    snprintf(out, outlen, "%s", REDACTED); /* unknown form, or cut short: hide it all */
    return rc == -1 ? -1 : 1;
}
