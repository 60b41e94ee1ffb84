/* notify_app — the run function of notification-service; see notify_app.h. */
#include "notify_app.h"

#include <stdio.h>

#include "clock.h"
#include "log.h"
#include "notify_routes.h"
#include "notify_store.h"
#include "shutdown.h"

#define GAUGE_PERIOD_MS 2000

static double g_webhook_pending(void *ctx)
{
    return (double)atomic_load(&((notify_app_t *)ctx)->webhook_pending);
}

static double g_reminders(void *ctx)
{
    return (double)atomic_load(&((notify_app_t *)ctx)->reminders_pending);
}

/* After the migrations (lib/svc's worker): the consumer and the webhook worker start, then
 * this thread is the reminder clock and refreshes the backlog gauges (their queries never run
 * inside a /metrics request). */
static void work(svc_t *s, void *arg)
{
    notify_app_t *app = arg;
    char err[256];
    if (notify_consumer_start(app->consumer, err, sizeof err) < 0 ||
        (app->webhook && notify_webhook_start(app->webhook, err, sizeof err) < 0)) {
        log_error("notification-service: a worker did not start", LOG_STR("error", err));
        shutdown_request();
        return;
    }
    long long next_gauges = 0;
    bool said = false;
    do {
        pg_err e;
        long fired = 0;
        if (notify_store_fire_reminders(s->pool, 500, app->webhook != NULL, &fired, &e) < 0) {
            if (!said) log_warn("reminders: cannot fire", LOG_STR("error", e.msg));
            said = true;
        } else {
            said = false;
            if (fired) log_info("reminders fired", LOG_INT("count", fired));
        }
        if (clock_mono_ms() >= next_gauges) {
            long long w = 0, r = 0;
            if (notify_store_backlog(s->pool, &w, &r, &e) == 0) {
                atomic_store(&app->webhook_pending, w);
                atomic_store(&app->reminders_pending, r);
            }
            next_gauges = clock_mono_ms() + GAUGE_PERIOD_MS;
        }
    } while (!svc_sleep(s, app->cfg.reminder_period_ms));
}

static int register_metrics(notify_app_t *app, metrics_registry_t *reg, char *err, size_t errlen)
{
    if (!(app->m_deliveries = metrics_counter(reg, "notify_deliveries_total",
                                              "Notification deliveries, by channel and outcome.",
                                              "channel,outcome", err, errlen)))
        return -1;
    if (metrics_callback(reg, METRICS_GAUGE, "notify_deliveries_pending",
                         "Webhook deliveries waiting to be sent or retried.", g_webhook_pending,
                         app, err, errlen) < 0 ||
        metrics_callback(reg, METRICS_GAUGE, "notify_reminders_pending",
                         "Reminders scheduled and not yet due.", g_reminders, app, err,
                         errlen) < 0)
        return -1;
    return 0;
}

int notify_app_serve(svc_t *s, char **args, int nargs, char *err, size_t errlen)
{
    notify_app_t *app = s->def->app;
    const notify_cfg_t *c = &app->cfg;
    app->svc = s;
    int status = 1;
    if (svc_migrations_find(s, err, errlen) < 0 || svc_pg_open(s, 0, err, errlen) < 0 ||
        svc_auth_open(s, err, errlen) < 0 || register_metrics(app, s->metrics, err, errlen) < 0)
        goto out;
    notify_consumer_config_t cc = {.brokers = s->settings.kafka_brokers,
                                   .topic = c->topic,
                                   .dlq_topic = c->dlq_topic,
                                   .group = c->group,
                                   .batch_max = c->batch_max,
                                   .batch_wait_ms = c->batch_wait_ms,
                                   .webhook = *c->webhook_url != '\0',
                                   .pool = s->pool,
                                   .metrics = s->metrics,
                                   .deliveries = app->m_deliveries};
    if (notify_consumer_new(&cc, &app->consumer, err, errlen) < 0) goto out;
    if (*c->webhook_url) {
        notify_webhook_config_t wc = {.url = c->webhook_url,
                                      .timeout_ms = c->webhook_timeout_ms,
                                      .max_attempts = c->webhook_max_attempts,
                                      .backoff_ms = c->webhook_backoff_ms,
                                      .poll_ms = 200,
                                      .pool = s->pool,
                                      .metrics = s->metrics,
                                      .deliveries = app->m_deliveries};
        if (notify_webhook_new(&wc, &app->webhook, err, errlen) < 0) goto out;
    }
    const http_check kafka = {"kafka", notify_consumer_ready_check, app->consumer};
    svc_http_t h = {.routes = notify_routes, .nroutes = notify_routes_count,
                    .max_body = NOTIFY_MAX_BODY, .checks = &kafka, .nchecks = 1, .user = app};
    if (svc_start_worker(s, work, app, err, errlen) < 0 || svc_http_start(s, &h, err, errlen) < 0)
        goto out;
    log_info("notification-service listening", LOG_STR("http", s->settings.http_listen.text),
             LOG_STR("topic", c->topic), LOG_STR("group", c->group),
             LOG_BOOL("webhook", app->webhook != NULL));
    svc_wait(s);
    status = 0;
out:
    svc_stop_serving(s); /* HTTP drained, the reminder clock joined */
    notify_webhook_free(app->webhook);
    app->webhook = NULL;
    notify_consumer_free(app->consumer); /* leaves the group */
    app->consumer = NULL;
    return status;
}
