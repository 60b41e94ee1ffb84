/* auth_users — the users table: create, find by email, replace a password hash.
 * Emails are in auth_email's normal form; hashes come from auth_pass. */
#ifndef AUTH_USERS_H
#define AUTH_USERS_H

#include <stdbool.h>
#include <stdint.h>

#include "auth_email.h"
#include "auth_pass.h"
#include "pg.h"

typedef struct auth_user {
    int64_t id;
    char email[AUTH_EMAIL_MAX + 1];
    char hash[AUTH_PASS_HASH_MAX];
} auth_user_t;

typedef enum { AUTH_USERS_CREATED, AUTH_USERS_EXISTS } auth_users_create_t;

/* Inserts a user. Returns 0 with *result CREATED and the new id in *id, or EXISTS when the
 * email is taken (also when a concurrent insert won the race); -1 with err otherwise. */
int auth_users_create(pg_pool *pool, const char *email, const char *hash,
                      auth_users_create_t *result, int64_t *id, pg_err *err);

/* True in *exists if an account has this email. 0 or -1 with err. */
int auth_users_exists(pg_pool *pool, const char *email, bool *exists, pg_err *err);

/* Loads the user with this email into *out; *found false if there is none. 0 or -1. */
int auth_users_find(pg_pool *pool, const char *email, auth_user_t *out, bool *found, pg_err *err);

/* Replaces the password hash of user id (rehash at login after a cost change). 0 or -1. */
int auth_users_set_hash(pg_pool *pool, int64_t id, const char *hash, pg_err *err);

#endif
