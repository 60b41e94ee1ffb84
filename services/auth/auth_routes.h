/* auth_routes — the REST API (CONTRACT §3, /api/auth/…): the route table and its handlers.
 * Every handler takes the auth_app_t as its user pointer. */
#ifndef AUTH_ROUTES_H
#define AUTH_ROUTES_H

#include <stddef.h>

#include "http.h"

extern const http_route auth_routes[];
extern const size_t auth_routes_count;

#endif
