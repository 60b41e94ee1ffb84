/* auth_users — the users table; see auth_users.h. */
#include "auth_users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_db.h"

int auth_users_create(pg_pool *pool, const char *email, const char *hash,
                      auth_users_create_t *result, int64_t *id, pg_err *err)
{
    const char *p[] = {email, hash};
    trace_span_t *sp = auth_db_span("users.create");
    PGconn *c = pg_acquire(pool, err);
    if (!c) {
        auth_db_span_end(sp, -1, err);
        return -1;
    }
    /* ON CONFLICT turns the loser of a registration race into "exists" without an error. */
    PGresult *r = pg_query(c,
                           "INSERT INTO users (email, password_hash) VALUES ($1, $2) "
                           "ON CONFLICT (email) DO NOTHING RETURNING id",
                           2, p, err);
    pg_release(pool, c);
    auth_db_span_end(sp, r ? 0 : -1, err);
    if (!r) return -1;
    if (PQntuples(r) == 1) {
        *result = AUTH_USERS_CREATED;
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    } else {
        *result = AUTH_USERS_EXISTS;
        *id = 0;
    }
    PQclear(r);
    return 0;
}

int auth_users_exists(pg_pool *pool, const char *email, bool *exists, pg_err *err)
{
    const char *p[] = {email};
    trace_span_t *sp = auth_db_span("users.exists");
    PGconn *c = pg_acquire(pool, err);
    if (!c) {
        auth_db_span_end(sp, -1, err);
        return -1;
    }
    PGresult *r = pg_query(c, "SELECT 1 FROM users WHERE email = $1", 1, p, err);
    pg_release(pool, c);
    auth_db_span_end(sp, r ? 0 : -1, err);
    if (!r) return -1;
    *exists = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

int auth_users_find(pg_pool *pool, const char *email, auth_user_t *out, bool *found, pg_err *err)
{
    const char *p[] = {email};
    memset(out, 0, sizeof *out);
    trace_span_t *sp = auth_db_span("users.find");
    PGconn *c = pg_acquire(pool, err);
    if (!c) {
        auth_db_span_end(sp, -1, err);
        return -1;
    }
    PGresult *r =
        pg_query(c, "SELECT id, email, password_hash FROM users WHERE email = $1", 1, p, err);
    pg_release(pool, c);
    auth_db_span_end(sp, r ? 0 : -1, err);
    if (!r) return -1;
    *found = PQntuples(r) == 1;
    if (*found) {
        out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(out->email, sizeof out->email, "%s", PQgetvalue(r, 0, 1));
        snprintf(out->hash, sizeof out->hash, "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return 0;
}

int auth_users_set_hash(pg_pool *pool, int64_t id, const char *hash, pg_err *err)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids, hash};
    trace_span_t *sp = auth_db_span("users.set_hash");
    PGconn *c = pg_acquire(pool, err);
    if (!c) {
        auth_db_span_end(sp, -1, err);
        return -1;
    }
    long long n = pg_command(
        c, "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", 2, p, err);
    pg_release(pool, c);
    auth_db_span_end(sp, n < 0 ? -1 : 0, err);
    return n < 0 ? -1 : 0;
}
