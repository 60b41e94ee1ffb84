/* auth_routes — the REST API; see auth_routes.h.
 *
 * Error codes (the "code" of the contract's error body):
 *   400 invalid_request, invalid_json, invalid_email, invalid_password
 *   401 invalid_credentials, invalid_token, invalid_refresh_token, refresh_token_reused
 *   409 email_taken          429 too_many_attempts (with Retry-After)
 *   503 service_unavailable  500 internal
 * Nothing secret (password, token, hash) is ever logged or echoed back. */
#include "auth_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth_app.h"
#include "auth_email.h"
#include "auth_pass.h"
#include "auth_refresh.h"
#include "auth_req.h"
#include "auth_users.h"
#include "clock.h"
#include "log.h"

static void h_register(http_req *req, void *user);
static void h_login(http_req *req, void *user);
static void h_refresh(http_req *req, void *user);
static void h_logout(http_req *req, void *user);
static void h_validate(http_req *req, void *user);
static void h_jwks(http_req *req, void *user);

const http_route auth_routes[] = {
    {"POST", "/api/auth/register", h_register, NULL},
    {"POST", "/api/auth/login", h_login, NULL},
    {"POST", "/api/auth/refresh", h_refresh, NULL},
    {"POST", "/api/auth/logout", h_logout, NULL},
    {"GET", "/api/auth/validate", h_validate, NULL},
    {"GET", "/api/auth/.well-known/jwks.json", h_jwks, NULL},
};
const size_t auth_routes_count = sizeof auth_routes / sizeof auth_routes[0];

/* ---- helpers ---------------------------------------------------------------------------- */

/* Answers a database failure: 503 when the database is unreachable or overloaded, else 500.
 * The details go to the log, not to the client. */
static void db_error(http_req *req, const char *op, const pg_err *e)
{
    int st = pg_err_http_status(e);
    log_error("database error", LOG_STR("op", op), LOG_STR("sqlstate", e->sqlstate),
              LOG_STR("error", e->msg));
    if (st == 503)
        http_error(req, 503, "service_unavailable", "the database is not available; retry later");
    else
        http_error(req, 500, "internal", "internal error");
}

/* The tables exist only once the migrations ran; until then every stateful route is 503. */
static bool schema_ready(auth_app_t *app, http_req *req)
{
    if (atomic_load(&app->svc->schema_ready)) return true;
    http_error(req, 503, "service_unavailable", "the database schema is not ready yet");
    return false;
}

static double now_s(void)
{
    return (double)clock_mono_ns() / 1e9;
}

/* argon2id calls, timed into auth_password_hash_seconds and shown in the trace. */
static bool timed_verify(auth_app_t *app, const char *hash, const char *pw, size_t len)
{
    trace_span_t *sp = trace_span_start("argon2id verify", TRACE_KIND_INTERNAL, NULL);
    double t0 = now_s();
    metrics_add(app->m.hash_inflight, 1);
    bool ok = hash ? auth_pass_verify(hash, pw, len) : auth_pass_verify_none(pw, len);
    metrics_add(app->m.hash_inflight, -1);
    metrics_observe(app->m.hash_seconds, now_s() - t0);
    trace_span_end(sp);
    return ok;
}

static int timed_hash(auth_app_t *app, const char *pw, size_t len, char out[AUTH_PASS_HASH_MAX])
{
    trace_span_t *sp = trace_span_start("argon2id hash", TRACE_KIND_INTERNAL, NULL);
    double t0 = now_s();
    metrics_add(app->m.hash_inflight, 1);
    int rc = auth_pass_hash(pw, len, out);
    metrics_add(app->m.hash_inflight, -1);
    metrics_observe(app->m.hash_seconds, now_s() - t0);
    trace_span_end(sp);
    return rc;
}

static void rfc3339(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Issues an access token and answers 200 with the pair (RFC 6749 §5.1 shape). */
static void respond_tokens(auth_app_t *app, http_req *req, int64_t user_id, const char *email,
                           const char *refresh)
{
    char *access = NULL, err[128];
    int64_t exp;
    if (auth_jwt_issue(app->jwt, user_id, email, (int64_t)time(NULL), &access, &exp, err,
                       sizeof err) < 0) {
        log_error("issuing an access token failed", LOG_STR("error", err));
        http_error(req, 500, "internal", "internal error");
        return;
    }
    metrics_add(app->m.issued_access, 1);
    metrics_add(app->m.issued_refresh, 1);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "access_token", access);
    cJSON_AddStringToObject(o, "refresh_token", refresh);
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddNumberToObject(o, "expires_in", (double)auth_jwt_ttl(app->jwt));
    cJSON_AddNumberToObject(o, "refresh_expires_in", (double)app->refresh_ttl_s);
    free(access);
    http_set_header(req, "Cache-Control", "no-store");
    http_set_header(req, "Pragma", "no-cache");
    http_respond_json(req, 200, o);
}

/* ---- handlers --------------------------------------------------------------------------- */

static void h_register(http_req *req, void *user)
{
    auth_app_t *app = user;
    auth_field_t f[] = {{"email", NULL, 0}, {"password", NULL, 0}};
    char email[AUTH_EMAIL_MAX + 1];
    const char *problem;
    if (auth_req_fields(req, f, 2) < 0) {
        metrics_add(app->m.registrations[AUTH_REG_INVALID], 1);
        return;
    }
    if (auth_email_normalize(f[0].val, f[0].len, email) < 0) {
        metrics_add(app->m.registrations[AUTH_REG_INVALID], 1);
        http_error(req, 400, "invalid_email", "email is not a valid address");
        return;
    }
    if ((problem = auth_pass_policy(f[1].val, f[1].len)) != NULL) {
        metrics_add(app->m.registrations[AUTH_REG_INVALID], 1);
        http_error(req, 400, "invalid_password", problem);
        return;
    }
    if (!schema_ready(app, req)) return;

    pg_err e;
    bool exists;
    /* The answer says "taken" anyway, so checking first only saves the hash's CPU. */
    if (auth_users_exists(app->pool, email, &exists, &e) < 0) {
        metrics_add(app->m.registrations[AUTH_REG_ERROR], 1);
        db_error(req, "users.exists", &e);
        return;
    }
    auth_users_create_t result = AUTH_USERS_EXISTS;
    int64_t id = 0;
    if (!exists) {
        char hash[AUTH_PASS_HASH_MAX];
        if (timed_hash(app, f[1].val, f[1].len, hash) < 0) {
            metrics_add(app->m.registrations[AUTH_REG_ERROR], 1);
            log_error("password hashing failed (out of memory?)");
            http_error(req, 503, "service_unavailable", "the service is overloaded; retry later");
            return;
        }
        if (auth_users_create(app->pool, email, hash, &result, &id, &e) < 0) {
            metrics_add(app->m.registrations[AUTH_REG_ERROR], 1);
            db_error(req, "users.create", &e);
            return;
        }
    }
    if (result == AUTH_USERS_EXISTS) {
        metrics_add(app->m.registrations[AUTH_REG_EMAIL_TAKEN], 1);
        http_error(req, 409, "email_taken", "an account with this email already exists");
        return;
    }
    metrics_add(app->m.registrations[AUTH_REG_CREATED], 1);
    log_info("user registered", LOG_INT("user_id", id));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "email", email);
    http_respond_json(req, 201, o);
}

/* A failed login whose attempt was already counted by auth_limit_reserve (or, email NULL,
 * one that names no possible account). */
static void login_failed(auth_app_t *app, http_req *req, const char *email, int64_t user_id,
                         int attempt)
{
    metrics_add(app->m.logins[AUTH_LOGIN_INVALID_CREDENTIALS], 1);
    if (email && attempt >= app->limit.max_failures)
        log_warn("login locked after repeated failures", LOG_STR("email", email),
                 LOG_INT("user_id", user_id), LOG_INT("locked_for_s", app->limit.lockout_s));
    else if (email)
        log_info("login failed", LOG_INT("user_id", user_id));
    http_error(req, 401, "invalid_credentials", "wrong email or password");
}

static void h_login(http_req *req, void *user)
{
    auth_app_t *app = user;
    auth_field_t f[] = {{"email", NULL, 0}, {"password", NULL, 0}};
    char email[AUTH_EMAIL_MAX + 1];
    pg_err e;
    if (auth_req_fields(req, f, 2) < 0) {
        metrics_add(app->m.logins[AUTH_LOGIN_INVALID_REQUEST], 1);
        return;
    }
    if (!schema_ready(app, req)) return;
    /* No account can have a malformed email: refuse without the limiter's bookkeeping. */
    if (auth_email_normalize(f[0].val, f[0].len, email) < 0) {
        login_failed(app, req, NULL, 0, 0);
        return;
    }
    /* Count the attempt before any password work (auth_limit.h): over the limit, refused. */
    int64_t retry;
    int attempt;
    if (auth_limit_reserve(app->pool, &app->limit, email, &attempt, &retry, &e) < 0) {
        metrics_add(app->m.logins[AUTH_LOGIN_ERROR], 1);
        db_error(req, "limit.reserve", &e);
        return;
    }
    if (retry > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)retry);
        metrics_add(app->m.logins[AUTH_LOGIN_LOCKED], 1);
        http_set_header(req, "Retry-After", ra);
        http_errorf(req, 429, "too_many_attempts",
                    "too many failed logins for this account; retry in %lld s", (long long)retry);
        return;
    }
    if (f[1].len == 0 || f[1].len > AUTH_PASS_MAX_BYTES) { /* cannot match: skip argon2 */
        login_failed(app, req, email, 0, attempt);
        return;
    }
    auth_user_t u;
    bool found;
    if (auth_users_find(app->pool, email, &u, &found, &e) < 0) {
        metrics_add(app->m.logins[AUTH_LOGIN_ERROR], 1);
        db_error(req, "users.find", &e);
        return;
    }
    /* An unknown email costs the same argon2 time as a wrong password. */
    if (!timed_verify(app, found ? u.hash : NULL, f[1].val, f[1].len)) {
        login_failed(app, req, email, found ? u.id : 0, attempt);
        return;
    }
    if (auth_limit_clear(app->pool, email, &e) < 0)
        log_warn("clearing failed-login counter failed", LOG_STR("error", e.msg));
    if (auth_pass_needs_rehash(u.hash)) {
        char hash[AUTH_PASS_HASH_MAX];
        if (timed_hash(app, f[1].val, f[1].len, hash) == 0 &&
            auth_users_set_hash(app->pool, u.id, hash, &e) == 0)
            log_info("password hash upgraded to the current argon2id cost",
                     LOG_INT("user_id", u.id));
        else
            log_warn("password rehash failed; the old hash stays", LOG_INT("user_id", u.id));
    }
    char refresh[AUTH_REFRESH_LEN + 1];
    if (auth_refresh_issue(app->pool, u.id, app->refresh_ttl_s, refresh, &e) < 0) {
        metrics_add(app->m.logins[AUTH_LOGIN_ERROR], 1);
        db_error(req, "refresh.issue", &e);
        return;
    }
    metrics_add(app->m.logins[AUTH_LOGIN_SUCCESS], 1);
    log_info("login", LOG_INT("user_id", u.id));
    respond_tokens(app, req, u.id, u.email, refresh);
    sodium_memzero(refresh, sizeof refresh);
}

static void h_refresh(http_req *req, void *user)
{
    auth_app_t *app = user;
    auth_field_t f[] = {{"refresh_token", NULL, 0}};
    if (auth_req_fields(req, f, 1) < 0 || !schema_ready(app, req)) return;
    auth_rt_result_t r;
    pg_err e;
    if (auth_refresh_rotate(app->pool, f[0].val, f[0].len, app->refresh_ttl_s, &r, &e) < 0) {
        metrics_add(app->m.refresh_errors, 1);
        db_error(req, "refresh.rotate", &e);
        return;
    }
    metrics_add(app->m.refreshes[r.outcome], 1);
    switch (r.outcome) {
    case AUTH_RT_ROTATED:
        respond_tokens(app, req, r.user_id, r.email, r.token);
        break;
    case AUTH_RT_REUSED:
        log_warn("spent refresh token presented again: session revoked",
                 LOG_INT("user_id", r.user_id), LOG_INT("family_id", r.family_id));
        http_error(req, 401, "refresh_token_reused",
                   "this refresh token was already used; the session has been revoked");
        break;
    case AUTH_RT_EXPIRED:
        http_error(req, 401, "invalid_refresh_token", "the refresh token has expired");
        break;
    case AUTH_RT_REVOKED:
        http_error(req, 401, "invalid_refresh_token", "the refresh token has been revoked");
        break;
    default:
        http_error(req, 401, "invalid_refresh_token", "unknown refresh token");
        break;
    }
    sodium_memzero(r.token, sizeof r.token);
}

static void h_logout(http_req *req, void *user)
{
    auth_app_t *app = user;
    auth_field_t f[] = {{"refresh_token", NULL, 0}};
    if (auth_req_fields(req, f, 1) < 0 || !schema_ready(app, req)) return;
    bool revoked;
    pg_err e;
    if (auth_refresh_revoke(app->pool, f[0].val, f[0].len, &revoked, &e) < 0) {
        db_error(req, "refresh.revoke", &e);
        return;
    }
    metrics_add(app->m.logouts, 1);
    /* 204 whether or not the token meant anything: logout is idempotent and says nothing
     * about which tokens exist (as RFC 7009 revocation). */
    http_respond_empty(req, 204);
}

static void h_validate(http_req *req, void *user)
{
    auth_app_t *app = user;
    size_t len = 0;
    const char *tok = NULL;
    http_bearer_t b = http_req_bearer(req, &tok, &len);
    auth_claims_t c;
    auth_tok_status_t st = b == HTTP_BEARER_OK
                               ? auth_jwt_verify(app->jwt, tok, len, (int64_t)time(NULL), &c)
                           : b == HTTP_BEARER_TOO_LARGE ? AUTH_TOK_TOO_LARGE
                           : b == HTTP_BEARER_MALFORMED ? AUTH_TOK_MALFORMED
                                                        : AUTH_TOK_MISSING;
    metrics_add(app->m.validations[AUTH_VIA_HTTP][st], 1);
    trace_span_set_str(http_req_span(req), "auth.token.reason", auth_tok_reason(st));
    if (st != AUTH_TOK_VALID) {
        char hdr[96];
        snprintf(hdr, sizeof hdr, "Bearer error=\"invalid_token\", error_description=\"%s\"",
                 auth_tok_reason(st));
        http_set_header(req, "WWW-Authenticate", b != HTTP_BEARER_MISSING ? hdr : "Bearer");
        http_errorf(req, 401, "invalid_token", "%s: %s",
                    b != HTTP_BEARER_MISSING ? "the access token was rejected"
                                             : "a Bearer token is required",
                    auth_tok_reason(st));
        return;
    }
    char exp[32];
    rfc3339(c.exp, exp);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "user_id", (double)c.user_id);
    cJSON_AddStringToObject(o, "email", c.email);
    cJSON_AddStringToObject(o, "expires_at", exp);
    http_set_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, o);
}

static void h_jwks(http_req *req, void *user)
{
    auth_app_t *app = user;
    buf_t b = BUF_INIT;
    if (auth_jwt_jwks(app->jwt, &b) < 0) {
        buf_free(&b);
        http_error(req, 500, "internal", "internal error");
        return;
    }
    http_set_header(req, "Cache-Control", "public, max-age=300");
    http_respond(req, 200, "application/json", buf_str(&b), b.len);
    buf_free(&b);
}
