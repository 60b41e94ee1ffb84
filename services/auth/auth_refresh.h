/* auth_refresh — opaque refresh tokens: 32 random bytes (base64url, 43 characters), stored
 * only as their SHA-256; every login starts a family; every refresh spends the presented
 * token and issues the next one of its family; a spent token presented again revokes the
 * whole family (someone else holds a copy: RFC 6819 §5.2.2.3); logout revokes the family. */
#ifndef AUTH_REFRESH_H
#define AUTH_REFRESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth_email.h"
#include "pg.h"

#define AUTH_REFRESH_LEN 43
#define AUTH_REFRESH_HASH_HEX 64

typedef enum {
    AUTH_RT_ROTATED = 0, /* the token was good: spent, and a new one issued */
    AUTH_RT_UNKNOWN,     /* no such token */
    AUTH_RT_EXPIRED,     /* past its expiry */
    AUTH_RT_REVOKED,     /* its family was revoked (logout or earlier reuse) */
    AUTH_RT_REUSED,      /* already spent: the family is revoked now */
    AUTH_RT_OUTCOME_COUNT
} auth_rt_outcome_t;

/* "rotated", "unknown", "expired", "revoked", "reused". */
const char *auth_rt_outcome_name(auth_rt_outcome_t o);

/* A fresh token (AUTH_REFRESH_LEN characters and a NUL). */
void auth_refresh_generate(char out[AUTH_REFRESH_LEN + 1]);

/* True if s (len bytes) has the shape of one of our tokens; anything else is unknown
 * without asking the database. */
bool auth_refresh_wellformed(const char *s, size_t len);

/* The SHA-256 of the token as 64 lowercase hex digits (what the database stores). */
void auth_refresh_hash(const char *token, size_t len, char hex[AUTH_REFRESH_HASH_HEX + 1]);

/* Starts a family for user_id and issues its first token, valid for ttl_s seconds.
 * Returns 0 with the token in out, or -1 with err. */
int auth_refresh_issue(pg_pool *pool, int64_t user_id, int64_t ttl_s,
                       char out[AUTH_REFRESH_LEN + 1], pg_err *err);

typedef struct auth_rt_result {
    auth_rt_outcome_t outcome;
    int64_t user_id;   /* known unless UNKNOWN */
    int64_t family_id; /* known unless UNKNOWN */
    char email[AUTH_EMAIL_MAX + 1];
    char token[AUTH_REFRESH_LEN + 1]; /* the new token when ROTATED */
} auth_rt_result_t;

/* Rotates the presented token in one transaction (its family row locked, so two
 * concurrent refreshes with one token cannot both succeed: the second is a reuse).
 * Returns 0 with the outcome in *res (a REUSED outcome has revoked the family), or -1
 * with err if the database failed. */
int auth_refresh_rotate(pg_pool *pool, const char *token, size_t len, int64_t ttl_s,
                        auth_rt_result_t *res, pg_err *err);

/* Revokes (reason "logout") the family of the presented token if it has one that is not
 * revoked yet. *revoked tells whether anything changed. 0 or -1 with err. */
int auth_refresh_revoke(pg_pool *pool, const char *token, size_t len, bool *revoked, pg_err *err);

/* Deletes tokens that expired more than keep_s seconds ago, and families left empty.
 * *deleted gets the number of tokens removed. 0 or -1 with err. */
int auth_refresh_prune(pg_pool *pool, int64_t keep_s, long long *deleted, pg_err *err);

#endif
