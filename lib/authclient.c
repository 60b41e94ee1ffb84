/* authclient — the ValidateToken client and its cache; see authclient.h. The call is one
 * lib/rpc unary call on a channel shared by every thread; HTTP handlers run one thread per
 * connection, so a call simply blocks its thread, for at most the deadline. */
#include "authclient.h"

#include <grpc/status.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "proto/auth/v1/auth.pb-c.h"
#include "rpc.h"
#include "trace.h"

#define VALIDATE_METHOD "/todo.auth.v1.AuthService/ValidateToken"
#define CACHE_LOCKS 64

struct authclient_cache {
    size_t n;
    struct entry {
        uint64_t hash;
        char *token;
        size_t len;
        int64_t until_ms;
        authclient_user_t user;
    } *e;
    pthread_mutex_t locks[CACHE_LOCKS];
};

struct authclient {
    rpc_channel_t *channel;
    int64_t deadline_ms;
    int64_t cache_ttl_ms;
    authclient_cache_t *cache;
    metrics_series_t *m_valid, *m_invalid, *m_unavailable, *m_cached, *m_seconds;
};

/* ==== pure parts ======================================================================== */

authclient_result_t authclient_map_answer(int grpc_status, bool decoded, bool valid,
                                          int64_t user_id)
{
    if (grpc_status == GRPC_STATUS_UNAUTHENTICATED || grpc_status == GRPC_STATUS_INVALID_ARGUMENT)
        return AUTHCLIENT_INVALID;
    if (grpc_status != GRPC_STATUS_OK || !decoded) return AUTHCLIENT_UNAVAILABLE;
    if (!valid) return AUTHCLIENT_INVALID;
    return user_id > 0 ? AUTHCLIENT_OK : AUTHCLIENT_UNAVAILABLE; /* "valid" without a user: a broken peer */
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

authclient_cache_t *authclient_cache_new(size_t n)
{
    authclient_cache_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n = n ? n : 1;
    c->e = calloc(c->n, sizeof *c->e);
    if (!c->e) {
        free(c);
        return NULL;
    }
    for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void authclient_cache_free(authclient_cache_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->e[i].token);
    for (int i = 0; i < CACHE_LOCKS; i++) pthread_mutex_destroy(&c->locks[i]);
    free(c->e);
    free(c);
}

void authclient_cache_put(authclient_cache_t *c, const char *token, size_t len, const authclient_user_t *u,
                    int64_t now_ms, int64_t ttl_ms)
{
    if (!c || ttl_ms <= 0) return;
    int64_t until = now_ms + ttl_ms;
    int64_t exp_ms = u->expires_at > 0 ? u->expires_at * 1000 : 0;
    if (exp_ms < until) until = exp_ms; /* never outlive the token */
    if (until <= now_ms) return;
    char *copy = malloc(len + 1);
    if (!copy) return;
    memcpy(copy, token, len);
    copy[len] = '\0';
    uint64_t h = fnv1a(token, len);
    size_t slot = (size_t)(h % c->n);
    pthread_mutex_t *mu = &c->locks[slot % CACHE_LOCKS];
    pthread_mutex_lock(mu);
    struct entry *e = &c->e[slot];
    free(e->token);
    e->token = copy;
    e->len = len;
    e->hash = h;
    e->until_ms = until;
    e->user = *u;
    pthread_mutex_unlock(mu);
}

bool authclient_cache_get(authclient_cache_t *c, const char *token, size_t len, int64_t now_ms,
                    authclient_user_t *u)
{
    if (!c) return false;
    uint64_t h = fnv1a(token, len);
    size_t slot = (size_t)(h % c->n);
    pthread_mutex_t *mu = &c->locks[slot % CACHE_LOCKS];
    bool hit = false;
    pthread_mutex_lock(mu);
    struct entry *e = &c->e[slot];
    if (e->token && e->hash == h && e->len == len && memcmp(e->token, token, len) == 0) {
        if (now_ms < e->until_ms) {
            *u = e->user;
            hit = true;
        } else { /* expired: free it now rather than keep a dead token in memory */
            free(e->token);
            e->token = NULL;
        }
    }
    pthread_mutex_unlock(mu);
    return hit;
}

/* ==== the client ======================================================================== */

int authclient_new(const authclient_config_t *cfg, authclient_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    authclient_t *c = calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), -1;
    c->deadline_ms = cfg->deadline_ms;
    c->cache_ttl_ms = cfg->cache_ttl_ms;
    if (cfg->cache_ttl_ms > 0 && !(c->cache = authclient_cache_new((size_t)cfg->cache_size))) {
        free(c);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    if (!(c->channel = rpc_channel_new(cfg->target, err, errlen))) {
        authclient_cache_free(c->cache);
        free(c);
        return -1;
    }
    if (cfg->metrics) {
        char e[256];
        char name[96];
        const char *pre = cfg->metrics_prefix ? cfg->metrics_prefix : "service";
        snprintf(name, sizeof name, "%s_auth_validations_total", pre);
        metrics_family_t *f = metrics_counter(cfg->metrics, name,
                                              "Bearer token checks, by result.", "result", e,
                                              sizeof e);
        c->m_valid = metrics_series(f, METRICS_LABELS("valid"));
        c->m_invalid = metrics_series(f, METRICS_LABELS("invalid"));
        c->m_unavailable = metrics_series(f, METRICS_LABELS("unavailable"));
        c->m_cached = metrics_series(f, METRICS_LABELS("cached"));
        static const double b[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
        snprintf(name, sizeof name, "%s_auth_validate_seconds", pre);
        f = metrics_histogram(cfg->metrics, name,
                              "ValidateToken call latency (cache hits excluded).", NULL, b,
                              sizeof b / sizeof b[0], e, sizeof e);
        c->m_seconds = metrics_series(f, NULL);
    }
    *out = c;
    return 0;
}

void authclient_free(authclient_t *c)
{
    if (!c) return;
    rpc_channel_free(c->channel);
    authclient_cache_free(c->cache);
    free(c);
}

const char *authclient_state(authclient_t *c)
{
    return rpc_channel_state(c->channel);
}

/* One ValidateToken call. Returns the gRPC status; *resp is the decoded answer (caller
 * frees) or NULL. */
static int call_validate(authclient_t *c, const char *token, size_t len,
                         const char *traceparent, Todo__Auth__V1__ValidateTokenResponse **resp)
{
    *resp = NULL;
    char *tok = malloc(len + 1);
    if (!tok) return GRPC_STATUS_RESOURCE_EXHAUSTED;
    memcpy(tok, token, len);
    tok[len] = '\0';
    Todo__Auth__V1__ValidateTokenRequest req = TODO__AUTH__V1__VALIDATE_TOKEN_REQUEST__INIT;
    req.token = tok;
    size_t n = todo__auth__v1__validate_token_request__get_packed_size(&req);
    uint8_t *packed = malloc(n ? n : 1);
    if (!packed) {
        free(tok);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    todo__auth__v1__validate_token_request__pack(&req, packed);
    free(tok);
    void *answer = NULL;
    size_t alen = 0;
    int st = rpc_unary(c->channel, VALIDATE_METHOD, packed, n, c->deadline_ms, traceparent,
                       &answer, &alen);
    free(packed);
    if (st == GRPC_STATUS_OK && answer)
        *resp = todo__auth__v1__validate_token_response__unpack(NULL, alen, answer);
    free(answer);
    return st;
}

authclient_result_t authclient_validate(authclient_t *c, const char *token, size_t len, authclient_user_t *user,
                            char *why, size_t whylen)
{
    why[0] = '\0';
    if (authclient_cache_get(c->cache, token, len, clock_wall_ms(), user)) {
        metrics_add(c->m_cached, 1);
        return AUTHCLIENT_OK;
    }
    trace_span_t *span = trace_span_start("todo.auth.v1.AuthService/ValidateToken",
                                          TRACE_KIND_CLIENT, NULL);
    trace_span_set_str(span, "rpc.system", "grpc");
    trace_span_set_str(span, "rpc.service", "todo.auth.v1.AuthService");
    trace_span_set_str(span, "rpc.method", "ValidateToken");
    trace_ctx_t ctx;
    char tp[TRACE_PARENT_LEN + 1];
    bool has_tp = trace_span_ctx(span, &ctx) == 0;
    if (has_tp) trace_parent_format(&ctx, tp);

    int64_t t0 = clock_mono_ns();
    Todo__Auth__V1__ValidateTokenResponse *resp = NULL;
    int st = call_validate(c, token, len, has_tp ? tp : NULL, &resp);
    metrics_observe(c->m_seconds, clock_since_s(t0));

    authclient_result_t res = authclient_map_answer(st, resp != NULL, resp && resp->valid,
                                        resp ? resp->user_id : 0);
    trace_span_set_int(span, "rpc.grpc.status_code", st);
    switch (res) {
    case AUTHCLIENT_OK:
        memset(user, 0, sizeof *user);
        user->user_id = resp->user_id;
        user->expires_at = resp->expires_at;
        snprintf(user->email, sizeof user->email, "%s", resp->email ? resp->email : "");
        authclient_cache_put(c->cache, token, len, user, clock_wall_ms(), c->cache_ttl_ms);
        metrics_add(c->m_valid, 1);
        break;
    case AUTHCLIENT_INVALID:
        snprintf(why, whylen, "%s",
                 resp && resp->reason && *resp->reason ? resp->reason : rpc_status_name(st));
        metrics_add(c->m_invalid, 1);
        break;
    case AUTHCLIENT_UNAVAILABLE:
        snprintf(why, whylen, "%s", st == GRPC_STATUS_OK ? "malformed answer" : rpc_status_name(st));
        trace_span_set_status(span, TRACE_STATUS_ERROR, why);
        metrics_add(c->m_unavailable, 1);
        break;
    }
    if (resp) todo__auth__v1__validate_token_response__free_unpacked(resp, NULL);
    trace_span_end(span);
    return res;
}

bool authclient_authenticate(authclient_t *c, http_req *req, authclient_user_t *user)
{
    const char *tok;
    size_t len;
    http_bearer_t b = http_req_bearer(req, &tok, &len);
    if (b != HTTP_BEARER_OK) {
        http_set_header(req, "WWW-Authenticate", "Bearer");
        http_error(req, 401, "unauthorized",
                   b == HTTP_BEARER_MISSING
                       ? "an Authorization: Bearer <access token> header is required"
                   : b == HTTP_BEARER_TOO_LARGE ? "the bearer token is too large"
                                                : "the Authorization header is not a bearer token");
        return false;
    }
    char why[64];
    authclient_result_t r = authclient_validate(c, tok, len, user, why, sizeof why);
    if (r == AUTHCLIENT_OK) {
        trace_span_set_int(http_req_span(req), "enduser.id", user->user_id);
        return true;
    }
    /* the reason comes from another service: only its plain words reach the client */
    for (char *p = why; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ' '))
            *p = '_';
    if (r == AUTHCLIENT_INVALID) {
        http_set_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        http_errorf(req, 401, "invalid_token", "the access token is not valid (%s)", why);
    } else {
        log_warn("auth-service unavailable; failing closed", LOG_STR("reason", why));
        http_errorf(req, 503, "auth_unavailable",
                    "cannot validate the token now (auth-service: %s); try again", why);
    }
    return false;
}
