/* notify_webhook — the webhook delivery worker; see notify_webhook.h. */
#include "notify_webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "notify_store.h"
#include "shutdown.h"
#include "trace.h"

#define CLAIM_MAX 32
#define MAX_BACKOFF_MS (60LL * 60 * 1000)

struct notify_webhook {
    notify_webhook_config_t cfg;
    char *url;
    CURL *curl; /* one handle, reused: keep-alive to the receiver */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    metrics_family_t *m_deliveries;
    metrics_series_t *m_seconds;
};

int64_t notify_webhook_backoff_ms(int64_t base_ms, int attempts)
{
    int64_t b = base_ms > 0 ? base_ms : 1;
    for (int i = 1; i < attempts && b < MAX_BACKOFF_MS; i++) b *= 2;
    return b < MAX_BACKOFF_MS ? b : MAX_BACKOFF_MS;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n; /* the receiver's answer body is not needed */
}

/* One POST. 0 delivered (2xx), -1 with why. The request carries the notification's trace
 * as traceparent, inside a CLIENT span that is a child of it. */
static int post(notify_webhook_t *w, const notify_delivery_t *d, char *why, size_t whylen)
{
    trace_ctx_t parent;
    bool has = d->traceparent[0] && trace_parent_parse(d->traceparent, &parent) == 0;
    trace_span_t *sp = trace_span_start("webhook POST", TRACE_KIND_CLIENT, has ? &parent : NULL);
    trace_span_set_str(sp, "http.request.method", "POST");
    trace_span_set_int(sp, "notify.notification_id", d->notification_id);
    trace_span_set_int(sp, "notify.attempt", d->attempts);
    trace_ctx_t mine;
    char tp[TRACE_PARENT_LEN + 32] = "", idh[64];
    if (trace_span_ctx(sp, &mine) == 0) {
        char t[TRACE_PARENT_LEN + 1];
        trace_parent_format(&mine, t);
        snprintf(tp, sizeof tp, "traceparent: %s", t);
    }
    snprintf(idh, sizeof idh, "X-Notification-Id: %lld", (long long)d->notification_id);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, idh);
    if (tp[0]) h = curl_slist_append(h, tp);
    CURL *c = w->curl;
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(d->json));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->cfg.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)w->cfg.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    int64_t t0 = clock_mono_ns();
    CURLcode rc = curl_easy_perform(c);
    metrics_observe(w->m_seconds, clock_since_s(t0));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    int ok = rc == CURLE_OK && status >= 200 && status < 300 ? 0 : -1;
    if (rc != CURLE_OK)
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
    else if (ok < 0)
        snprintf(why, whylen, "the receiver answered %ld", status);
    trace_span_set_int(sp, "http.response.status_code", status);
    if (ok < 0) trace_span_set_status(sp, TRACE_STATUS_ERROR, why);
    trace_span_end(sp);
    return ok;
}

static void *run(void *arg)
{
    notify_webhook_t *w = arg;
    notify_delivery_t d[CLAIM_MAX];
    bool said_db = false;
    while (!atomic_load(&w->stop)) {
        int n = 0;
        pg_err e;
        /* the lease covers a whole claim sent one after another, with room to spare */
        int64_t lease = (w->cfg.timeout_ms + 1000) * CLAIM_MAX;
        if (notify_store_claim_webhooks(w->cfg.pool, CLAIM_MAX, lease, d, &n, &e) < 0) {
            if (!said_db) log_warn("webhook: cannot read the queue", LOG_STR("error", e.msg));
            said_db = true;
        } else {
            said_db = false;
        }
        for (int i = 0; i < n && !atomic_load(&w->stop); i++) {
            char why[256] = "";
            bool ok = post(w, &d[i], why, sizeof why) == 0;
            bool final = !ok && d[i].attempts >= w->cfg.max_attempts;
            const char *outcome = ok ? "delivered" : final ? "failed" : "retry";
            metrics_add(metrics_series(w->m_deliveries, METRICS_LABELS("webhook", outcome)), 1);
            if (!ok)
                log_warn("webhook: delivery failed", LOG_INT("notification_id", d[i].notification_id),
                         LOG_INT("attempt", d[i].attempts), LOG_BOOL("final", final),
                         LOG_STR("error", why));
            int64_t retry = notify_webhook_backoff_ms(w->cfg.backoff_ms, d[i].attempts);
            if (notify_store_webhook_result(w->cfg.pool, d[i].notification_id, ok, ok ? NULL : why,
                                            final, retry, &e) < 0)
                log_warn("webhook: result not recorded; the delivery is tried again after its lease",
                         LOG_STR("error", e.msg));
        }
        notify_store_deliveries_free(d, n);
        if (n < CLAIM_MAX) { /* the queue is drained: wait for more */
            long long until = clock_mono_ms() + w->cfg.poll_ms;
            while (!atomic_load(&w->stop) && clock_mono_ms() < until)
                if (shutdown_sleep_ms(50)) break;
        }
    }
    return NULL;
}

int notify_webhook_new(const notify_webhook_config_t *cfg, notify_webhook_t **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    notify_webhook_t *w = calloc(1, sizeof *w);
    if (!w) return snprintf(err, errlen, "out of memory"), -1;
    w->cfg = *cfg;
    w->m_deliveries = cfg->deliveries;
    atomic_init(&w->stop, false);
    if (!(w->url = strdup(cfg->url)) || !(w->curl = curl_easy_init())) {
        notify_webhook_free(w);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    if (cfg->metrics) {
        char e[256];
        w->m_seconds = metrics_series(metrics_histogram(cfg->metrics, "notify_webhook_seconds",
                                                        "Webhook POST duration.", NULL, NULL, 0, e,
                                                        sizeof e),
                                      NULL);
    }
    *out = w;
    return 0;
}

int notify_webhook_start(notify_webhook_t *w, char *err, size_t errlen)
{
    if (pthread_create(&w->thread, NULL, run, w) != 0)
        return snprintf(err, errlen, "cannot start the webhook thread"), -1;
    w->started = true;
    return 0;
}

void notify_webhook_free(notify_webhook_t *w)
{
    if (!w) return;
    atomic_store(&w->stop, true);
    if (w->started) pthread_join(w->thread, NULL);
    if (w->curl) curl_easy_cleanup(w->curl);
    free(w->url);
    free(w);
}
