/* notify_app — notification-service's parts and the run function of each mode of main.c's
 * table (lib/svc runs the boot sequence around them): the service (the consumer, the webhook
 * worker, the reminder clock, the HTTP API). */
#ifndef NOTIFY_APP_H
#define NOTIFY_APP_H

#include <stdatomic.h>

#include "notify_cfg.h"
#include "notify_consumer.h"
#include "notify_webhook.h"
#include "svc.h"

typedef struct notify_app {
    notify_cfg_t cfg;
    svc_t *svc; /* the pool, metrics, HTTP server, bearer-token client (lib/svc) */
    notify_consumer_t *consumer;
    notify_webhook_t *webhook; /* NULL: no NOTIFY_WEBHOOK_URL */
    metrics_family_t *m_deliveries;
    atomic_llong webhook_pending, reminders_pending; /* for the gauges */
} notify_app_t;

/* The service: migrations in the background, then the consumer, the webhook worker and the
 * reminder clock; the HTTP API at once (/ready says when it is usable); until SIGTERM. */
int notify_app_serve(svc_t *s, char **args, int nargs, char *err, size_t errlen);

#endif
