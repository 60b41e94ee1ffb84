/* auth_refresh — refresh token families and rotation; see auth_refresh.h. */
#include "auth_refresh.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_db.h"

static const char *const outcome_names[AUTH_RT_OUTCOME_COUNT] = {
    [AUTH_RT_ROTATED] = "rotated", [AUTH_RT_UNKNOWN] = "unknown", [AUTH_RT_EXPIRED] = "expired",
    [AUTH_RT_REVOKED] = "revoked", [AUTH_RT_REUSED] = "reused",
};

struct issue_arg {
    const char *user_id;
    const char *ttl;
    char token[AUTH_REFRESH_LEN + 1];
};

struct rotate_arg {
    char hash[AUTH_REFRESH_HASH_HEX + 1];
    const char *ttl;
    auth_rt_result_t *res;
};

static int issue_tx(PGconn *c, void *arg, pg_err *err);
static int rotate_tx(PGconn *c, void *arg, pg_err *err);
static int insert_token(PGconn *c, const char *family_id, const char *ttl,
                        char out[AUTH_REFRESH_LEN + 1], pg_err *err);

const char *auth_rt_outcome_name(auth_rt_outcome_t o)
{
    return (unsigned)o < AUTH_RT_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}

/* ---- the token itself ------------------------------------------------------------------- */

void auth_refresh_generate(char out[AUTH_REFRESH_LEN + 1])
{
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2base64(out, AUTH_REFRESH_LEN + 1, rnd, sizeof rnd,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(rnd, sizeof rnd);
}

bool auth_refresh_wellformed(const char *s, size_t len)
{
    if (len != AUTH_REFRESH_LEN) return false;
    unsigned char raw[33];
    size_t n;
    return sodium_base642bin(raw, sizeof raw, s, len, NULL, &n, NULL,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
           n == 32;
}

void auth_refresh_hash(const char *token, size_t len, char hex[AUTH_REFRESH_HASH_HEX + 1])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, (const unsigned char *)token, len);
    sodium_bin2hex(hex, AUTH_REFRESH_HASH_HEX + 1, d, sizeof d);
}

/* ---- database --------------------------------------------------------------------------- */

/* A new token of family_id. The hash is unique; a collision of 256-bit random values
 * would surface as a unique violation, i.e. an error, never as a shared token. */
static int insert_token(PGconn *c, const char *family_id, const char *ttl,
                        char out[AUTH_REFRESH_LEN + 1], pg_err *err)
{
    char hex[AUTH_REFRESH_HASH_HEX + 1];
    auth_refresh_generate(out);
    auth_refresh_hash(out, AUTH_REFRESH_LEN, hex);
    const char *p[] = {family_id, hex, ttl};
    long long n = pg_command(c,
                             "INSERT INTO refresh_tokens (family_id, token_hash, expires_at) "
                             "VALUES ($1, $2, now() + make_interval(secs => $3::bigint))",
                             3, p, err);
    return n == 1 ? 0 : -1;
}

static int issue_tx(PGconn *c, void *arg, pg_err *err)
{
    struct issue_arg *a = arg;
    const char *p[] = {a->user_id};
    PGresult *r =
        pg_query(c, "INSERT INTO refresh_families (user_id) VALUES ($1) RETURNING id", 1, p, err);
    if (!r) return -1;
    char fam[24];
    snprintf(fam, sizeof fam, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return insert_token(c, fam, a->ttl, a->token, err);
}

int auth_refresh_issue(pg_pool *pool, int64_t user_id, int64_t ttl_s,
                       char out[AUTH_REFRESH_LEN + 1], pg_err *err)
{
    char uid[24], ttl[24];
    snprintf(uid, sizeof uid, "%lld", (long long)user_id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_s);
    struct issue_arg a = {.user_id = uid, .ttl = ttl};
    trace_span_t *sp = auth_db_span("refresh.issue");
    int rc = pg_tx(pool, issue_tx, &a, err);
    auth_db_span_end(sp, rc, err);
    if (rc == 0) memcpy(out, a.token, sizeof a.token);
    sodium_memzero(a.token, sizeof a.token);
    return rc;
}

/* May run more than once (pg_tx retries serialization failures): everything it decides is
 * recomputed from the database each time, and only the last run's result is returned. */
static int rotate_tx(PGconn *c, void *arg, pg_err *err)
{
    struct rotate_arg *a = arg;
    auth_rt_result_t *res = a->res;
    memset(res, 0, sizeof *res);
    const char *p[] = {a->hash};
    /* FOR UPDATE of the family: every rotation, reuse and logout of a family is serialised
     * on its row, so exactly one of two racing refreshes with the same token wins. */
    PGresult *r = pg_query(c,
                           "SELECT t.id, t.family_id, f.user_id, u.email, "
                           "       f.revoked_at IS NOT NULL, t.spent_at IS NOT NULL, "
                           "       t.expires_at <= now() "
                           "FROM refresh_tokens t "
                           "JOIN refresh_families f ON f.id = t.family_id "
                           "JOIN users u ON u.id = f.user_id "
                           "WHERE t.token_hash = $1 "
                           "FOR UPDATE OF t, f",
                           1, p, err);
    if (!r) return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        res->outcome = AUTH_RT_UNKNOWN;
        return 0;
    }
    char tok_id[24], fam_id[24];
    snprintf(tok_id, sizeof tok_id, "%s", PQgetvalue(r, 0, 0));
    snprintf(fam_id, sizeof fam_id, "%s", PQgetvalue(r, 0, 1));
    res->family_id = strtoll(fam_id, NULL, 10);
    res->user_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    snprintf(res->email, sizeof res->email, "%s", PQgetvalue(r, 0, 3));
    bool revoked = PQgetvalue(r, 0, 4)[0] == 't';
    bool spent = PQgetvalue(r, 0, 5)[0] == 't';
    bool expired = PQgetvalue(r, 0, 6)[0] == 't';
    PQclear(r);

    if (revoked) {
        res->outcome = AUTH_RT_REVOKED;
        return 0;
    }
    if (spent) {
        const char *fp[] = {fam_id};
        if (pg_command(c,
                       "UPDATE refresh_families SET revoked_at = now(), revoked_reason = 'reuse' "
                       "WHERE id = $1 AND revoked_at IS NULL",
                       1, fp, err) < 0)
            return -1;
        res->outcome = AUTH_RT_REUSED;
        return 0; /* commit: the revocation must stick although the caller answers 401 */
    }
    if (expired) {
        res->outcome = AUTH_RT_EXPIRED;
        return 0;
    }
    const char *tp[] = {tok_id};
    if (pg_command(c, "UPDATE refresh_tokens SET spent_at = now() WHERE id = $1", 1, tp, err) != 1)
        return -1;
    if (insert_token(c, fam_id, a->ttl, res->token, err) < 0) return -1;
    res->outcome = AUTH_RT_ROTATED;
    return 0;
}

int auth_refresh_rotate(pg_pool *pool, const char *token, size_t len, int64_t ttl_s,
                        auth_rt_result_t *res, pg_err *err)
{
    memset(res, 0, sizeof *res);
    if (!auth_refresh_wellformed(token, len)) {
        res->outcome = AUTH_RT_UNKNOWN;
        return 0;
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_s);
    struct rotate_arg a = {.ttl = ttl, .res = res};
    auth_refresh_hash(token, len, a.hash);
    trace_span_t *sp = auth_db_span("refresh.rotate");
    int rc = pg_tx(pool, rotate_tx, &a, err);
    trace_span_set_str(sp, "auth.refresh.outcome",
                       rc == 0 ? auth_rt_outcome_name(res->outcome) : "error");
    auth_db_span_end(sp, rc, err);
    if (rc < 0) memset(res, 0, sizeof *res);
    return rc;
}

int auth_refresh_revoke(pg_pool *pool, const char *token, size_t len, bool *revoked, pg_err *err)
{
    *revoked = false;
    if (!auth_refresh_wellformed(token, len)) return 0;
    char hex[AUTH_REFRESH_HASH_HEX + 1];
    auth_refresh_hash(token, len, hex);
    const char *p[] = {hex};
    trace_span_t *sp = auth_db_span("refresh.revoke");
    PGconn *c = pg_acquire(pool, err);
    long long n = -1;
    if (c) {
        n = pg_command(
            c,
            "UPDATE refresh_families f SET revoked_at = now(), revoked_reason = 'logout' "
            "FROM refresh_tokens t "
            "WHERE t.token_hash = $1 AND f.id = t.family_id AND f.revoked_at IS NULL",
            1, p, err);
        pg_release(pool, c);
    }
    auth_db_span_end(sp, n < 0 ? -1 : 0, err);
    if (n < 0) return -1;
    *revoked = n > 0;
    return 0;
}

int auth_refresh_prune(pg_pool *pool, int64_t keep_s, long long *deleted, pg_err *err)
{
    char keep[24];
    snprintf(keep, sizeof keep, "%lld", (long long)keep_s);
    const char *p[] = {keep};
    *deleted = 0;
    PGconn *c = pg_acquire(pool, err);
    if (!c) return -1;
    long long n = pg_command(c,
                             "DELETE FROM refresh_tokens "
                             "WHERE expires_at < now() - make_interval(secs => $1::bigint)",
                             1, p, err);
    if (n >= 0 && pg_command(c,
                             "DELETE FROM refresh_families f WHERE NOT EXISTS "
                             "(SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id) "
                             "AND f.created_at < now() - make_interval(secs => $1::bigint)",
                             1, p, err) < 0)
        n = -1;
    pg_release(pool, c);
    if (n < 0) return -1;
    *deleted = n;
    return 0;
}
