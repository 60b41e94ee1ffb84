/* tasks_routes — the task routes of CONTRACT §3; http.user is the tasks_app_t. */
#ifndef TASKS_ROUTES_H
#define TASKS_ROUTES_H

#include <stddef.h>

#include "http.h"

extern const http_route tasks_routes[];
extern const size_t tasks_routes_count;

#endif
