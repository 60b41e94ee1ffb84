/* redisurl — the one parser of Redis URLs, for every client of Redis in the system (the read
 * model's client in tasks-service, the console's read-model reader):
 *   redis://[[user]:password@]host[:port][/db]
 * and redis://password@host, as some tools write it (the userinfo without ':' is then the
 * password). The last '@' ends the userinfo, so a password may contain '@'. Pure. */
#ifndef TODO_REDISURL_H
#define TODO_REDISURL_H

#include <stddef.h>

typedef struct redisurl {
    char host[256];
    int port; /* 6379 unless given */
    char user[128];
    char password[256];
    int db; /* 0..1000 */
} redisurl_t;

/* Parses url into out. 0, or -1 with the reason in err (never the password). */
int redisurl_parse(const char *url, redisurl_t *out, char *err, size_t errlen);

#endif
