/* redisurl — Redis URLs; see redisurl.h. */
#include "redisurl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int redisurl_parse(const char *url, redisurl_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (strncmp(url, "redis://", 8)) {
        snprintf(err, errlen, "must start with redis://");
        return -1;
    }
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *at = memrchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
        size_t pl = colon ? (size_t)(at - colon - 1) : 0;
        if (ul >= sizeof out->user || pl >= sizeof out->password) goto bad;
        if (colon) {
            memcpy(out->user, p, ul);
            memcpy(out->password, colon + 1, pl);
        } else { /* redis://password@host, as some tools write it */
            memcpy(out->password, p, ul);
        }
        p = at + 1;
    }
    slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hl);
    size_t hostl = colon ? (size_t)(colon - p) : hl;
    if (hostl == 0 || hostl >= sizeof out->host) goto bad;
    memcpy(out->host, p, hostl);
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end != p + hl || v < 1 || v > 65535) goto bad;
        out->port = (int)v;
    }
    if (slash && slash[1]) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (*end || v < 0 || v > 1000) goto bad;
        out->db = (int)v;
    }
    return 0;
bad:
    snprintf(err, errlen, "not a redis://[[user]:password@]host[:port][/db] URL");
    return -1;
}
