/* auth_limit — brute-force protection per account email, kept in PostgreSQL so every
 * replica of the service sees the same counters.
 *
 * Every login attempt for an email is *reserved* before its password is checked: one
 * atomic statement counts it and says whether it may go on. The first max_failures attempts
 * within window_s may; the one that reaches max_failures also locks the email for lockout_s,
 * and every later attempt is answered 429 with Retry-After without any password work. A
 * verified success clears the counter. Counting first is what makes the limit hold under
 * concurrency: 400 guesses sent at once serialise on the counter's row and at most
 * max_failures of them reach argon2 (counting after the check, as before, let every guess
 * that arrived before the first failure was recorded through). The counter restarts once the
 * window (no lock) or the lock has passed. This comes on top of the gateway's per-address rate
 * limit, which cannot see a distributed attack on one account.
 *
 * An attempt stays counted whatever happens after its reservation (a wrong password, an
 * empty one, a database error on the way): only a verified success gives attempts back. */
#ifndef AUTH_LIMIT_H
#define AUTH_LIMIT_H

#include <stdint.h>

#include "pg.h"

typedef struct auth_limit_cfg {
    int max_failures;
    int64_t window_s;
    int64_t lockout_s;
} auth_limit_cfg_t;

/* Reserves one login attempt for email. *retry_after_s > 0: refused, the email is locked for
 * that many more seconds (nothing else may be done for this attempt); 0: go ahead and check
 * the password — *attempt is then this attempt's number in the window (max_failures: a
 * failure now leaves the email locked). Returns 0, or -1 with err (the caller fails closed). */
int auth_limit_reserve(pg_pool *pool, const auth_limit_cfg_t *cfg, const char *email,
                       int *attempt, int64_t *retry_after_s, pg_err *err);

/* Forgets the attempts of email (after a verified successful login). */
int auth_limit_clear(pg_pool *pool, const char *email, pg_err *err);

/* Deletes counters whose window and lock are both over. */
int auth_limit_prune(pg_pool *pool, const auth_limit_cfg_t *cfg, long long *deleted, pg_err *err);

#endif
