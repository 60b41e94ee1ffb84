/* auth_limit — brute-force protection per account email, kept in PostgreSQL so every
 * replica of the service sees the same counters.
 *
 * max_failures failed logins for one email within window_s lock that email for lockout_s:
 * logins are then answered 429 with Retry-After, before any password is checked (so a
 * locked account costs an attacker's requests no argon2 time either). A success clears the
 * counter; the counter also restarts once the window or the lock has passed. This comes on
 * top of the gateway's per-address rate limit, which cannot see a distributed attack on one
 * account. */
#ifndef AUTH_LIMIT_H
#define AUTH_LIMIT_H

#include <stdint.h>

#include "pg.h"

typedef struct auth_limit_cfg {
    int max_failures;
    int64_t window_s;
    int64_t lockout_s;
} auth_limit_cfg_t;

/* *retry_after_s > 0: the email is locked for that many more seconds; 0: go ahead. */
int auth_limit_check(pg_pool *pool, const char *email, int64_t *retry_after_s, pg_err *err);

/* Records one failed login; *retry_after_s > 0 if this failure locked the email. */
int auth_limit_fail(pg_pool *pool, const auth_limit_cfg_t *cfg, const char *email,
                    int64_t *retry_after_s, pg_err *err);

/* Forgets the failures of email (after a successful login). */
int auth_limit_clear(pg_pool *pool, const char *email, pg_err *err);

/* Deletes counters whose window and lock are both over. */
int auth_limit_prune(pg_pool *pool, const auth_limit_cfg_t *cfg, long long *deleted, pg_err *err);

#endif
