/* notify_routes — the HTTP API of notification-service (CONTRACT §3): the caller's
 * notifications, newest first, and marking one read. Every route validates the bearer token
 * through lib/authclient (auth-service's ValidateToken; 401 refused, 503 when it cannot
 * answer). */
#ifndef NOTIFY_ROUTES_H
#define NOTIFY_ROUTES_H

#include <stddef.h>

#include "http.h"

#define NOTIFY_LIMIT_DEFAULT 50
#define NOTIFY_LIMIT_MAX 200
#define NOTIFY_MAX_BODY (16 * 1024) /* the read route takes no body; the gateway matches it */

extern const http_route notify_routes[];
extern const size_t notify_routes_count;

#endif
