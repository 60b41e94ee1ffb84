/* pg — PostgreSQL helpers over libpq: a fixed-size connection pool, parameterised queries
 * whose errors carry the SQLSTATE, a transaction runner, a numbered-file migrations runner
 * and a readiness check.
 *
 * Threading: a pg_pool is shared by all threads; a PGconn taken from it belongs to one thread
 * until it is released. Every other function works on a connection the caller holds.
 * Errors: functions return 0 / -1 (or NULL) and fill a caller-supplied pg_err. */
#ifndef TODO_PG_H
#define TODO_PG_H

#include <libpq-fe.h>
#include <stddef.h>

/* SQLSTATEs callers commonly map (the full list is in PostgreSQL's errcodes appendix). */
#define PG_SQLSTATE_UNIQUE_VIOLATION "23505"
#define PG_SQLSTATE_FOREIGN_KEY_VIOLATION "23503"
#define PG_SQLSTATE_NOT_NULL_VIOLATION "23502"
#define PG_SQLSTATE_CHECK_VIOLATION "23514"
#define PG_SQLSTATE_INVALID_TEXT_REPRESENTATION "22P02"
#define PG_SQLSTATE_SERIALIZATION_FAILURE "40001"
#define PG_SQLSTATE_DEADLOCK_DETECTED "40P01"
#define PG_SQLSTATE_QUERY_CANCELED "57014"
/* Set by this module, not by the server: the connection could not be made or was lost. */
#define PG_SQLSTATE_CONNECTION_FAILURE "08006"
/* Set by this module: no pooled connection became free before the acquire timeout. */
#define PG_SQLSTATE_POOL_EXHAUSTED "53300"
/* Set by this module (the server's transaction_resolution_unknown): the connection was lost
 * while COMMIT was under way, so the transaction may or may not have committed. */
#define PG_SQLSTATE_COMMIT_UNKNOWN "08007"

typedef struct pg_err {
    char sqlstate[6];    /* "" when the failure is not a database one (bad argument, I/O) */
    char constraint[64]; /* the violated constraint's name, when the server names one */
    char msg[512];       /* one line, for logs; never contains the connection password */
} pg_err;

typedef struct pg_pool pg_pool;

typedef struct pg_pool_config {
    const char *url;               /* postgres://user:pw@host:port/db?… or "key=value …" */
    unsigned size;                 /* connections; 0 means 4 */
    unsigned acquire_timeout_ms;   /* wait for a free connection; 0 means 5000 */
    unsigned connect_timeout_s;    /* per connection attempt unless the URL says; 0 means 5 */
    unsigned statement_timeout_ms; /* server-side limit per statement; 0 leaves the default */
    const char *application_name;  /* shown in pg_stat_activity; NULL for none */
} pg_pool_config;

/* ---- errors ------------------------------------------------------------------------- */

/* True when err carries exactly the given SQLSTATE (e.g. PG_SQLSTATE_UNIQUE_VIOLATION), so a
 * caller can map a duplicate key to 409 without parsing messages. */
int pg_err_is(const pg_err *err, const char *sqlstate);

/* The HTTP status a service should answer for a database error: 409 for unique and foreign-key
 * violations and serialization conflicts, 400 for other integrity and data errors (class 22,
 * 23), 503 when the database is unreachable, exhausted or timed out (classes 08, 53, 57), and
 * 500 otherwise. Callers still choose their own code and message; this only keeps the mapping
 * the same in every service. */
int pg_err_http_status(const pg_err *err);

/* ---- connection strings ------------------------------------------------------------- */

/* Checks that url is something libpq accepts (a postgres:// or postgresql:// URL, or a
 * "key=value" conninfo string) before a service starts; returns 0, or -1 with the reason in
 * err. Nothing is connected. */
int pg_url_validate(const char *url, char *err, size_t errlen);


/* ---- pool --------------------------------------------------------------------------- */

/* Creates a pool of cfg->size connection slots for cfg->url. Connections are opened lazily
 * on first acquire, so a service can start (and report "not ready") while the database is
 * down; only a malformed URL fails here. Returns 0 and *out, or -1 with err. */
int pg_pool_open(const pg_pool_config *cfg, pg_pool **out, pg_err *err);

/* Closes every connection and frees the pool. All connections must have been released. */
void pg_pool_close(pg_pool *pool);

/* Takes a connection, waiting at most the pool's acquire timeout for one to become free
 * (then fails with PG_SQLSTATE_POOL_EXHAUSTED instead of hanging). A slot whose connection is
 * missing, broken, or was closed by the server while idle (e.g. after a PostgreSQL restart) is
 * reconnected first; failing that, returns NULL with PG_SQLSTATE_CONNECTION_FAILURE. The
 * connection is idle (no open transaction). Release it with pg_release on every path. */
PGconn *pg_acquire(pg_pool *pool, pg_err *err);

/* Like pg_acquire with an explicit wait bound in milliseconds, for callers that must answer
 * sooner than the pool default (readiness checks). */
PGconn *pg_acquire_timeout(pg_pool *pool, unsigned timeout_ms, pg_err *err);

/* Returns a connection to the pool. A connection left inside a transaction is rolled back;
 * a broken one, or one with a query still running, is closed so the next acquire reconnects
 * instead of handing out a poisoned session. NULL is ignored. */
void pg_release(pg_pool *pool, PGconn *conn);

/* ---- queries (parameterised only) ---------------------------------------------------- */

/* Runs one statement with text parameters ($1…$n; a NULL entry is SQL NULL) through
 * PQexecParams, so values are never spliced into SQL. Returns the result (rows or command
 * status; the caller PQclear()s it), or NULL with err holding the SQLSTATE, constraint and
 * message. */
PGresult *pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   pg_err *err);

/* Runs one statement like pg_query and returns the number of rows it affected (INSERT,
 * UPDATE, DELETE; 0 for statements without a count), or -1 with err. */
long long pg_command(PGconn *conn, const char *sql, int nparams, const char *const *params,
                     pg_err *err);

/* ---- transactions ------------------------------------------------------------------- */

/* BEGIN on conn; 0 or -1 with err. Pair with pg_tx_commit or pg_tx_rollback. */
int pg_tx_begin(PGconn *conn, pg_err *err);

/* COMMIT on conn. A commit can fail (deferred constraint, serialization failure); then the
 * transaction is gone and -1 is returned with the SQLSTATE in err. When the connection is
 * lost during the COMMIT, nobody can say whether it committed: err then carries
 * PG_SQLSTATE_COMMIT_UNKNOWN, so a caller that keeps derived state (a cache, a read model)
 * can treat the change as possibly made. */
int pg_tx_commit(PGconn *conn, pg_err *err);

/* ROLLBACK on conn, best effort: on a broken connection there is nothing to roll back, and
 * pg_release drops such a connection anyway. */
void pg_tx_rollback(PGconn *conn);

/* The body of a transaction: runs statements on conn, returns 0 to commit or -1 to roll back
 * (filling err when it wants the caller to see why). It may run more than once (see pg_tx), so
 * it must not have effects outside the database that a rollback cannot undo. */
typedef int (*pg_tx_fn)(PGconn *conn, void *arg, pg_err *err);

/* Acquires a connection, runs fn inside BEGIN … COMMIT and releases it. fn returning -1 or
 * the commit failing rolls everything back and returns -1 with err. A serialization failure
 * or deadlock (40001, 40P01) is retried up to two more times, since PostgreSQL asks clients
 * to retry exactly those. A COMMIT whose outcome is unknown (PG_SQLSTATE_COMMIT_UNKNOWN) is
 * never retried: it may have committed. */
int pg_tx(pg_pool *pool, pg_tx_fn fn, void *arg, pg_err *err);

/* ---- migrations --------------------------------------------------------------------- */

typedef struct pg_migration {
    int version;    /* the leading number: 1 for 001_init.sql */
    char file[256]; /* the file's name without directory, recorded as schema_migrations.name */
} pg_migration;

/* Parses a migration file name of the form NNN_words.sql (digits, an underscore, then
 * letters, digits, '_' or '-') into its version. Returns 0, or -1 with the reason in err. */
int pg_migration_parse_name(const char *file, int *version, char *err, size_t errlen);

/* Lists the *.sql files of dir in ascending version order. A .sql file with a malformed name
 * or a version used twice is an error (a typo must not silently skip a migration); other
 * files are ignored. Returns 0 with a malloc'd array in *out (free() it) and its length in *n,
 * or -1 with err. */
int pg_migrations_scan(const char *dir, pg_migration **out, size_t *n, pg_err *err);

/* Applies, in version order, each migration of dir not yet recorded in schema_migrations
 * (created if missing), each in its own transaction together with its row in that table.
 * Concurrent starters are serialised with a session advisory lock, so two processes never
 * apply the same file. A failing file is rolled back, stops the run, and is named in err with
 * the server's message and the line of the failing statement. Files must not contain their
 * own BEGIN/COMMIT or statements that refuse transactions (CREATE INDEX CONCURRENTLY).
 * Returns 0 with the number applied in *applied (may be NULL), or -1. */
int pg_migrate(pg_pool *pool, const char *dir, int *applied, pg_err *err);

/* ---- readiness ---------------------------------------------------------------------- */

/* Readiness check with the signature of http_check_fn: arg is a pg_pool *. Runs SELECT 1 on a
 * pooled connection with a 2-second bound on acquiring and on the round trip (a hung server
 * is cancelled, not waited for). A connection found dead is reconnected and tried once more,
 * so the answer reflects the database now, not a stale socket. Returns 0 or -1 with err. */
int pg_ready_check(void *arg, char *err, size_t errlen);

#endif
