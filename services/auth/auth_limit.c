/* auth_limit — failed-login counters and lockout; see auth_limit.h. */
#include "auth_limit.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth_db.h"

/* One statement runs the whole state machine atomically: concurrent attempts for one email
 * serialise on its row, so each sees the count the previous one left.
 *   stale    the lock is over, or (no lock) the window is: the count restarts at 1
 *   failures attempts in the window, this one included; capped at max + 1 (refused attempts
 *            need no exact count, and a flood must not overflow the column)
 *   locked   set by the attempt that reaches max and kept until it passes
 * The attempt may go on when its count is at most max; RETURNING gives that count and the
 * seconds the lock has left. $2 max, $3 window, $4 lockout (seconds). */
#define STALE_SQL                                                                                \
    "(f.locked_until IS NOT NULL AND f.locked_until <= now()) OR "                               \
    "(f.locked_until IS NULL AND f.window_start <= now() - make_interval(secs => $3::bigint))"
static const char reserve_sql[] =
    "INSERT INTO login_failures AS f (email, failures, window_start, locked_until) "
    "VALUES ($1, 1, now(), CASE WHEN $2::int <= 1 "
    "        THEN now() + make_interval(secs => $4::bigint) END) "
    "ON CONFLICT (email) DO UPDATE SET "
    "  failures = CASE WHEN " STALE_SQL " THEN 1 "
    "                  ELSE least(f.failures + 1, $2::int + 1) END, "
    "  window_start = CASE WHEN " STALE_SQL " THEN now() ELSE f.window_start END, "
    "  locked_until = CASE WHEN " STALE_SQL " THEN "
    "                        CASE WHEN $2::int <= 1 THEN now() + make_interval(secs => $4::bigint) END "
    "                      WHEN f.locked_until IS NOT NULL THEN f.locked_until "
    "                      WHEN f.failures + 1 >= $2::int "
    "                        THEN now() + make_interval(secs => $4::bigint) END "
    "RETURNING failures, CASE WHEN locked_until > now() "
    "          THEN ceil(extract(epoch FROM locked_until - now()))::bigint ELSE 0 END";

static int run(pg_pool *pool, const char *op, const char *sql, int n, const char *const *p,
               int64_t *out, pg_err *err)
{
    trace_span_t *sp = auth_db_span(op);
    PGconn *c = pg_acquire(pool, err);
    PGresult *r = c ? pg_query(c, sql, n, p, err) : NULL;
    if (c) pg_release(pool, c);
    auth_db_span_end(sp, r ? 0 : -1, err);
    if (!r) return -1;
    if (out) *out = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

int auth_limit_reserve(pg_pool *pool, const auth_limit_cfg_t *cfg, const char *email,
                       int *attempt, int64_t *retry_after_s, pg_err *err)
{
    char max[16], win[24], lock[24];
    snprintf(max, sizeof max, "%d", cfg->max_failures);
    snprintf(win, sizeof win, "%lld", (long long)cfg->window_s);
    snprintf(lock, sizeof lock, "%lld", (long long)cfg->lockout_s);
    const char *p[] = {email, max, win, lock};
    *retry_after_s = 0;
    *attempt = 0;
    trace_span_t *sp = auth_db_span("limit.reserve");
    PGconn *c = pg_acquire(pool, err);
    PGresult *r = c ? pg_query(c, reserve_sql, 4, p, err) : NULL;
    if (c) pg_release(pool, c);
    auth_db_span_end(sp, r ? 0 : -1, err);
    if (!r) return -1;
    long long count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    long long left = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    *attempt = (int)count;
    /* over the limit: refused, for as long as the lock has left (at least a second) */
    if (count > cfg->max_failures) *retry_after_s = left > 0 ? left : 1;
    return 0;
}

int auth_limit_clear(pg_pool *pool, const char *email, pg_err *err)
{
    const char *p[] = {email};
    return run(pool, "limit.clear", "DELETE FROM login_failures WHERE email = $1", 1, p, NULL, err);
}

int auth_limit_prune(pg_pool *pool, const auth_limit_cfg_t *cfg, long long *deleted, pg_err *err)
{
    char win[24];
    snprintf(win, sizeof win, "%lld", (long long)cfg->window_s);
    const char *p[] = {win};
    PGconn *c = pg_acquire(pool, err);
    if (!c) return -1;
    long long n = pg_command(c,
                             "DELETE FROM login_failures "
                             "WHERE window_start < now() - make_interval(secs => $1::bigint) "
                             "AND (locked_until IS NULL OR locked_until < now())",
                             1, p, err);
    pg_release(pool, c);
    *deleted = n;
    return n < 0 ? -1 : 0;
}
