/* pg — PostgreSQL pool, queries, transactions, migrations and readiness over libpq.
 * The contract of each public function is in pg.h; comments here say why. */
#include "pg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "redact.h"
#include "trace.h"

/* One pool slot: a connection (possibly not yet opened) and whether a caller holds it. */
typedef struct pool_slot {
    PGconn *conn;
    int busy;
} pool_slot;

enum { POOL_KW_MAX = 10 };

struct pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed; /* signalled whenever a slot stops being busy */
    pool_slot *slots;
    unsigned size;
    unsigned acquire_timeout_ms;
    /* PQconnectdbParams arguments, built once: defaults first, then the URL as dbname so
     * that anything the URL says wins over our defaults. */
    const char *kw[POOL_KW_MAX];
    const char *val[POOL_KW_MAX];
    char *url;
    char *appname;
    char connect_timeout[16];
    char options[64];
};

/* A fixed key for the migrations lock: the ASCII of "todomig", so it will not collide with
 * application advisory locks that use small integers. */
#define MIGRATION_LOCK_KEY "32762503567690087"
#define MIGRATION_FILE_MAX (8u * 1024u * 1024u)
#define READY_TIMEOUT_MS 2000u
#define TX_ATTEMPTS 3

static void err_set(pg_err *err, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_from_result(pg_err *err, PGconn *conn, const PGresult *res, const char *ctx);
static void one_line(char *s);
static int slot_prepare(pg_pool *pool, pool_slot *slot, pg_err *err);
static PGconn *pool_connect(pg_pool *pool, pg_err *err);
static void notice_to_log(void *arg, const char *message);

/* ==== errors =========================================================================== */

static void err_set(pg_err *err, const char *sqlstate, const char *fmt, ...)
{
    if (!err) return;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", sqlstate ? sqlstate : "");
    err->constraint[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    one_line(err->msg);
}

/* libpq messages end in newlines and may span lines; logs are one JSON line each. */
static void one_line(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
}

/* Fills err from a failed result. A result without SQLSTATE on a dead connection means the
 * connection was lost; that gets 08006 so callers can answer 503 rather than 500. */
static void err_from_result(pg_err *err, PGconn *conn, const PGresult *res, const char *ctx)
{
    if (!err) return;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    if (!state || !*state)
        state = (!conn || PQstatus(conn) != CONNECTION_OK) ? PG_SQLSTATE_CONNECTION_FAILURE : "";
    if (!primary || !*primary) primary = conn ? PQerrorMessage(conn) : "no connection";
    if (!primary || !*primary) primary = "unknown error";
    if (ctx)
        err_set(err, state, "%s: %s (SQLSTATE %s)", ctx, primary, *state ? state : "none");
    else
        err_set(err, state, "%s (SQLSTATE %s)", primary, *state ? state : "none");
    snprintf(err->constraint, sizeof err->constraint, "%s", constraint ? constraint : "");
}

int pg_err_is(const pg_err *err, const char *sqlstate)
{
    return err && sqlstate && strcmp(err->sqlstate, sqlstate) == 0;
}

int pg_err_http_status(const pg_err *err)
{
    if (!err || !err->sqlstate[0]) return 500;
    const char *s = err->sqlstate;
    if (!strcmp(s, PG_SQLSTATE_UNIQUE_VIOLATION) || !strcmp(s, PG_SQLSTATE_FOREIGN_KEY_VIOLATION))
        return 409;
    if (!strcmp(s, PG_SQLSTATE_SERIALIZATION_FAILURE) || !strcmp(s, PG_SQLSTATE_DEADLOCK_DETECTED))
        return 409;
    if (!strncmp(s, "22", 2) || !strncmp(s, "23", 2)) return 400;
    if (!strncmp(s, "08", 2) || !strncmp(s, "53", 2) || !strncmp(s, "57", 2)) return 503;
    return 500;
}

/* ==== connection strings ================================================================ */

static int is_url(const char *s)
{
    return !strncmp(s, "postgres://", 11) || !strncmp(s, "postgresql://", 13);
}

int pg_url_validate(const char *url, char *err, size_t errlen)
{
    if (!url || !*url) {
        snprintf(err, errlen, "database URL is empty");
        return -1;
    }
    if (!is_url(url) && !strchr(url, '=')) {
        snprintf(err, errlen,
                 "database URL must start with postgres:// or postgresql:// "
                 "or be a key=value conninfo string");
        return -1;
    }
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (!opts) {
        /* libpq's message quotes the token it stumbled on, which can be part of a password:
         * it is shown only when the string carries none (lib/redact decides) */
        char shown[1024];
        bool quiet = redact(url, shown, sizeof shown) != 0;
        snprintf(err, errlen, "invalid database URL: %s",
                 quiet ? "libpq cannot parse it (details hidden: it holds a password)"
                 : msg ? msg : "out of memory");
        if (msg) {
            one_line(err);
            PQfreemem(msg);
        }
        return -1;
    }
    PQconninfoFree(opts);
    return 0;
}

/* ==== pool ============================================================================== */

/* libpq prints server NOTICEs and WARNINGs to stderr as bare text, which would break the
 * one-JSON-object-per-line log format; route them to the log instead (notices at debug:
 * "relation already exists, skipping" is not news). */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", message);
    one_line(msg);
    if (strncmp(msg, "WARNING", 7) == 0)
        log_warn("postgres notice", LOG_STR("detail", msg));
    else
        log_debug("postgres notice", LOG_STR("detail", msg));
}

int pg_pool_open(const pg_pool_config *cfg, pg_pool **out, pg_err *err)
{
    char why[256];
    *out = NULL;
    if (!cfg || pg_url_validate(cfg->url, why, sizeof why) != 0) {
        err_set(err, "", "%s", cfg ? why : "no pool configuration");
        return -1;
    }
    pg_pool *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->size = cfg->size ? cfg->size : 4;
    p->acquire_timeout_ms = cfg->acquire_timeout_ms ? cfg->acquire_timeout_ms : 5000;
    p->slots = calloc(p->size, sizeof *p->slots);
    p->url = strdup(cfg->url);
    p->appname = cfg->application_name ? strdup(cfg->application_name) : NULL;
    if (!p->slots || !p->url || (cfg->application_name && !p->appname)) goto oom;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wall-clock jumps must not shorten waits */
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);

    int k = 0;
    snprintf(p->connect_timeout, sizeof p->connect_timeout, "%u",
             cfg->connect_timeout_s ? cfg->connect_timeout_s : 5);
    p->kw[k] = "connect_timeout", p->val[k++] = p->connect_timeout;
    /* keepalives turn a silently vanished server into an error instead of a hung thread */
    p->kw[k] = "keepalives_idle", p->val[k++] = "10";
    p->kw[k] = "keepalives_interval", p->val[k++] = "5";
    p->kw[k] = "keepalives_count", p->val[k++] = "3";
    if (cfg->statement_timeout_ms) {
        snprintf(p->options, sizeof p->options, "-c statement_timeout=%u",
                 cfg->statement_timeout_ms);
        p->kw[k] = "options", p->val[k++] = p->options;
    }
    if (p->appname) p->kw[k] = "application_name", p->val[k++] = p->appname;
    p->kw[k] = "dbname", p->val[k++] = p->url;
    p->kw[k] = NULL, p->val[k] = NULL;
    *out = p;
    return 0;
oom:
    if (p) {
        free(p->slots);
        free(p->url);
        free(p->appname);
        free(p);
    }
    err_set(err, "", "out of memory creating the database pool");
    return -1;
}

void pg_pool_close(pg_pool *pool)
{
    if (!pool) return;
    for (unsigned i = 0; i < pool->size; i++)
        if (pool->slots[i].conn) PQfinish(pool->slots[i].conn);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->freed);
    free(pool->slots);
    free(pool->url);
    free(pool->appname);
    free(pool);
}

static PGconn *pool_connect(pg_pool *pool, pg_err *err)
{
    PGconn *c = PQconnectdbParams(pool->kw, pool->val, 1);
    if (!c) {
        err_set(err, PG_SQLSTATE_CONNECTION_FAILURE, "connecting to the database: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        err_set(err, PG_SQLSTATE_CONNECTION_FAILURE, "connecting to the database: %s",
                PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, notice_to_log, NULL);
    return c;
}

/* Makes a held slot's connection usable. A pooled connection is idle between uses and never
 * LISTENs, so the server has nothing to say to it; a readable socket means it said something
 * unasked — in practice "terminating connection" (restart, pg_terminate_backend, idle
 * timeout) followed by EOF. libpq would only notice on the next query, which would then fail,
 * so such a connection is replaced now. The cost of a rare false alarm is one reconnect. */
static int slot_prepare(pg_pool *pool, pool_slot *slot, pg_err *err)
{
    PGconn *c = slot->conn;
    bool usable = c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
    if (usable) {
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        usable = pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
    }
    if (c && !usable) {
        log_warn("replacing a broken database connection",
                 LOG_STR("reason", PQstatus(c) != CONNECTION_OK ? "connection failed"
                                   : PQtransactionStatus(c) != PQTRANS_IDLE
                                       ? "left busy"
                                       : "closed by the server"));
        PQfinish(c);
        c = NULL;
    }
    if (!c) c = pool_connect(pool, err);
    /* under the lock: pg_release scans every slot's conn to find its own */
    pthread_mutex_lock(&pool->mu);
    slot->conn = c;
    pthread_mutex_unlock(&pool->mu);
    return c ? 0 : -1;
}

PGconn *pg_acquire_timeout(pg_pool *pool, unsigned timeout_ms, pg_err *err)
{
    struct timespec ts = clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    pool_slot *slot = NULL;

    pthread_mutex_lock(&pool->mu);
    for (;;) {
        /* prefer a slot with an open connection: opening one costs a round trip or more */
        for (unsigned i = 0; i < pool->size; i++) {
            pool_slot *s = &pool->slots[i];
            if (s->busy) continue;
            if (!slot || (!slot->conn && s->conn)) slot = s;
            if (slot->conn) break;
        }
        if (slot) break;
        int rc = pthread_cond_timedwait(&pool->freed, &pool->mu, &ts);
        if (rc == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->mu);
            err_set(err, PG_SQLSTATE_POOL_EXHAUSTED,
                    "no database connection free within %u ms (pool of %u)", timeout_ms,
                    pool->size);
            return NULL;
        }
    }
    slot->busy = 1;
    pthread_mutex_unlock(&pool->mu);

    /* connecting happens outside the lock: other threads keep using the other slots */
    if (slot_prepare(pool, slot, err) != 0) {
        pthread_mutex_lock(&pool->mu);
        slot->busy = 0;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->mu);
        return NULL;
    }
    return slot->conn;
}

PGconn *pg_acquire(pg_pool *pool, pg_err *err)
{
    return pg_acquire_timeout(pool, pool->acquire_timeout_ms, err);
}

void pg_release(pg_pool *pool, PGconn *conn)
{
    if (!pool || !conn) return;
    pool_slot *slot = NULL;
    pthread_mutex_lock(&pool->mu);
    for (unsigned i = 0; i < pool->size; i++)
        if (pool->slots[i].conn == conn && pool->slots[i].busy) slot = &pool->slots[i];
    pthread_mutex_unlock(&pool->mu);
    if (!slot) {
        /* not ours: closing it is the only way not to leak it */
        PQfinish(conn);
        return;
    }

    /* the slot is ours until busy is cleared, so the session work needs no lock */
    int keep = PQstatus(conn) == CONNECTION_OK;
    if (keep) {
        switch (PQtransactionStatus(conn)) {
        case PQTRANS_IDLE:
            break;
        case PQTRANS_INTRANS:
        case PQTRANS_INERROR: {
            PGresult *r = PQexec(conn, "ROLLBACK");
            keep = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            break;
        }
        default: /* a query still running (a timed-out check) or an unknown state */
            keep = 0;
        }
    }
    if (!keep) PQfinish(conn);
    pthread_mutex_lock(&pool->mu);
    if (!keep) slot->conn = NULL;
    slot->busy = 0;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->mu);
}

/* ==== queries =========================================================================== */

/* A CLIENT span for one statement, so the database shows in the request's trace. Only when
 * the thread already works inside a trace: a background loop's queries would otherwise each
 * start a trace of their own. The statement text has placeholders, never values, so it is
 * safe to export. */
static trace_span_t *query_span_start(PGconn *conn, const char *sql)
{
    trace_ctx_t current;
    if (!trace_current_ctx(&current)) return NULL;
    char op[16];
    size_t n = 0;
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    for (; n + 1 < sizeof op && isalpha((unsigned char)sql[n]); n++)
        op[n] = (char)toupper((unsigned char)sql[n]);
    op[n] = '\0';
    const char *db = PQdb(conn);
    char name[96];
    snprintf(name, sizeof name, "%s %s", n ? op : "QUERY", db ? db : "");
    trace_span_t *span = trace_span_start(name, TRACE_KIND_CLIENT, NULL);
    trace_span_set_str(span, "db.system", "postgresql");
    if (db) trace_span_set_str(span, "db.name", db);
    if (n) trace_span_set_str(span, "db.operation", op);
    trace_span_set_str(span, "db.statement", sql);
    return span;
}

PGresult *pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   pg_err *err)
{
    if (!conn || !sql || nparams < 0 || (nparams > 0 && !params)) {
        err_set(err, "", "pg_query: bad arguments");
        return NULL;
    }
    trace_span_t *span = query_span_start(conn, sql);
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        trace_span_end(span);
        return r;
    }
    pg_err local;
    if (!err) err = &local; /* the span wants the SQLSTATE even when the caller does not */
    if (st == PGRES_EMPTY_QUERY)
        err_set(err, "", "empty query");
    else
        err_from_result(err, conn, r, NULL);
    trace_span_set_str(span, "db.response.status_code", err->sqlstate);
    trace_span_set_status(span, TRACE_STATUS_ERROR, err->msg);
    trace_span_end(span);
    PQclear(r);
    return NULL;
}

long long pg_command(PGconn *conn, const char *sql, int nparams, const char *const *params,
                     pg_err *err)
{
    PGresult *r = pg_query(conn, sql, nparams, params, err);
    if (!r) return -1;
    const char *n = PQcmdTuples(r);
    long long rows = (n && *n) ? strtoll(n, NULL, 10) : 0;
    PQclear(r);
    return rows;
}

/* ==== transactions ====================================================================== */

int pg_tx_begin(PGconn *conn, pg_err *err)
{
    PGresult *r = pg_query(conn, "BEGIN", 0, NULL, err);
    PQclear(r);
    return r ? 0 : -1;
}

int pg_tx_commit(PGconn *conn, pg_err *err)
{
    PGresult *r = pg_query(conn, "COMMIT", 0, NULL, err);
    if (!r && PQstatus(conn) != CONNECTION_OK) {
        /* the server may have written the commit record before the connection went: the
         * caller must not take the failure for a rollback */
        char was[sizeof err->msg];
        memcpy(was, err ? err->msg : "", err ? sizeof was : 1);
        err_set(err, PG_SQLSTATE_COMMIT_UNKNOWN,
                "connection lost during COMMIT; the transaction may have committed (%.300s)", was);
        return -1;
    }
    if (!r) return -1;
    /* COMMIT of a transaction a failed statement aborted "succeeds" with tag ROLLBACK:
     * reporting that as success would lose every write of the transaction silently */
    int rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    if (rolled_back) {
        err_set(err, "25P02", "transaction was aborted by an earlier error; COMMIT rolled back");
        return -1;
    }
    return 0;
}

void pg_tx_rollback(PGconn *conn)
{
    if (!conn || PQstatus(conn) != CONNECTION_OK) return;
    if (PQtransactionStatus(conn) == PQTRANS_IDLE) return;
    PQclear(PQexec(conn, "ROLLBACK"));
}

int pg_tx(pg_pool *pool, pg_tx_fn fn, void *arg, pg_err *err)
{
    for (int attempt = 1;; attempt++) {
        PGconn *c = pg_acquire(pool, err);
        if (!c) return -1;
        int rc = pg_tx_begin(c, err);
        if (rc == 0) {
            /* cleared, so a stale SQLSTATE from an earlier attempt cannot cause a retry */
            if (err) *err = (pg_err){{0}, {0}, {0}};
            rc = fn(c, arg, err);
            if (rc != 0) {
                if (err && !err->msg[0]) err_set(err, "", "transaction body failed");
                pg_tx_rollback(c);
            } else {
                rc = pg_tx_commit(c, err);
            }
        }
        pg_release(pool, c);
        if (rc == 0) return 0;
        int retry = pg_err_is(err, PG_SQLSTATE_SERIALIZATION_FAILURE) ||
                    pg_err_is(err, PG_SQLSTATE_DEADLOCK_DETECTED);
        if (!retry || attempt >= TX_ATTEMPTS) return -1;
    }
}

/* ==== migrations ======================================================================== */

int pg_migration_parse_name(const char *file, int *version, char *err, size_t errlen)
{
    const char *p = file;
    long v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*p) && digits < 10) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    size_t len = strlen(file);
    if (digits == 0 || digits > 9 || *p != '_') {
        snprintf(err, errlen,
                 "%s: a migration file name starts with its number and '_' "
                 "(e.g. 001_init.sql)",
                 file);
        return -1;
    }
    if (len < 5 || strcmp(file + len - 4, ".sql") != 0) {
        snprintf(err, errlen, "%s: a migration file name ends in .sql", file);
        return -1;
    }
    const char *words = p + 1, *end = file + len - 4;
    if (words >= end) {
        snprintf(err, errlen, "%s: the name after the number is empty", file);
        return -1;
    }
    for (const char *c = words; c < end; c++) {
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
            snprintf(err, errlen, "%s: only letters, digits, '_' and '-' may follow the number",
                     file);
            return -1;
        }
    }
    if (v < 1) {
        snprintf(err, errlen, "%s: migration numbers start at 1", file);
        return -1;
    }
    if (len >= sizeof(((pg_migration *)0)->file)) {
        snprintf(err, errlen, "%.64s…: file name too long", file);
        return -1;
    }
    *version = (int)v;
    return 0;
}

static int migration_cmp(const void *a, const void *b)
{
    const pg_migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

int pg_migrations_scan(const char *dir, pg_migration **out, size_t *n, pg_err *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        err_set(err, "", "migrations directory %s: %s", dir, strerror(errno));
        return -1;
    }
    pg_migration *list = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    char why[512];
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0) continue;
        int v;
        if (pg_migration_parse_name(e->d_name, &v, why, sizeof why) != 0) {
            err_set(err, "", "migrations directory %s: %s", dir, why);
            goto fail;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            pg_migration *grown = realloc(list, cap * sizeof *list);
            if (!grown) {
                err_set(err, "", "out of memory listing migrations");
                goto fail;
            }
            list = grown;
        }
        list[count].version = v;
        snprintf(list[count].file, sizeof list[count].file, "%s", e->d_name);
        count++;
    }
    closedir(d);
    d = NULL;
    if (count > 1) qsort(list, count, sizeof *list, migration_cmp);
    for (size_t i = 1; i < count; i++) {
        if (list[i].version == list[i - 1].version) {
            err_set(err, "", "migrations %s and %s have the same number %d", list[i - 1].file,
                    list[i].file, list[i].version);
            goto fail;
        }
    }
    *out = list;
    *n = count;
    return 0;
fail:
    if (d) closedir(d);
    free(list);
    return -1;
}

/* Reads a whole migration file; NUL bytes would silently truncate the SQL libpq sees. */
static char *read_sql_file(const char *path, pg_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "", "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (size_t)st.st_size > MIGRATION_FILE_MAX) {
        err_set(err, "", "%s: unreadable or larger than %u bytes", path, MIGRATION_FILE_MAX);
        fclose(f);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    size_t got = buf ? fread(buf, 1, size, f) : 0;
    fclose(f);
    if (!buf || got != size) {
        err_set(err, "", "%s: short read", path);
        free(buf);
        return NULL;
    }
    buf[size] = '\0';
    if (memchr(buf, '\0', size)) {
        err_set(err, "", "%s: contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* The server reports an error's position in characters from the start of the text; a line
 * number is what a person fixing the file needs. */
static int line_of_position(const char *sql, const char *position)
{
    long chars = position ? strtol(position, NULL, 10) : 0;
    int line = 1;
    for (const unsigned char *p = (const unsigned char *)sql; *p && chars > 1; p++) {
        if ((*p & 0xC0) != 0x80) chars--; /* count UTF-8 lead bytes only */
        if (*p == '\n') line++;
    }
    return line;
}

/* Applies one migration file inside its own transaction together with its bookkeeping row. */
static int apply_migration(PGconn *c, const char *dir, const pg_migration *m, pg_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, m->file);
    char *sql = read_sql_file(path, err);
    if (!sql) return -1;
    if (pg_tx_begin(c, err) != 0) {
        free(sql);
        return -1;
    }
    /* simple-query protocol: a migration file is many statements in one string */
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        pg_err e;
        err_from_result(&e, c, r, NULL);
        const char *pos = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
        if (pos)
            err_set(err, e.sqlstate, "migration %s failed at line %d: %s", m->file,
                    line_of_position(sql, pos), e.msg);
        else
            err_set(err, e.sqlstate, "migration %s failed: %s", m->file, e.msg);
        PQclear(r);
        free(sql);
        pg_tx_rollback(c);
        return -1;
    }
    PQclear(r);
    free(sql);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", m->version);
    const char *params[] = {ver, m->file};
    pg_err e;
    r = pg_query(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, params,
                 &e);
    if (!r || pg_tx_commit(c, &e) != 0) {
        err_set(err, e.sqlstate, "migration %s could not be recorded: %s", m->file, e.msg);
        PQclear(r);
        pg_tx_rollback(c);
        return -1;
    }
    PQclear(r);
    return 0;
}

int pg_migrate(pg_pool *pool, const char *dir, int *applied, pg_err *err)
{
    if (applied) *applied = 0;
    pg_migration *list = NULL;
    size_t n = 0;
    if (pg_migrations_scan(dir, &list, &n, err) != 0) return -1;
    PGconn *c = pg_acquire(pool, err);
    if (!c) {
        free(list);
        return -1;
    }
    int rc = -1, locked = 0;
    char *done = calloc(n ? n : 1, 1);
    const char *key[] = {MIGRATION_LOCK_KEY};
    PGresult *r = pg_query(c, "SELECT pg_advisory_lock($1::bigint)", 1, key, err);
    if (!r || !done) goto out;
    PQclear(r);
    locked = 1;
    r = pg_query(c,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version INTEGER PRIMARY KEY,"
                 " name TEXT NOT NULL,"
                 " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                 0, NULL, err);
    if (!r) goto out;
    PQclear(r);
    r = pg_query(c, "SELECT version FROM schema_migrations", 0, NULL, err);
    if (!r) goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        int v = atoi(PQgetvalue(r, i, 0));
        for (size_t j = 0; j < n; j++)
            if (list[j].version == v) done[j] = 1;
    }
    PQclear(r);
    for (size_t j = 0; j < n; j++) {
        if (done[j]) continue;
        if (apply_migration(c, dir, &list[j], err) != 0) goto out;
        if (applied) (*applied)++;
    }
    rc = 0;
out:
    if (locked) {
        /* the lock is per session and the session goes back to the pool: give it up here */
        PQclear(pg_query(c, "SELECT pg_advisory_unlock($1::bigint)", 1, key, NULL));
    }
    pg_release(pool, c);
    free(done);
    free(list);
    return rc;
}

/* ==== readiness ========================================================================= */

/* Runs sql asynchronously so the wait is bounded by timeout_ms even when the server or the
 * network hangs; a timed-out connection is left busy, and pg_release drops it. */
static int query_with_deadline(PGconn *c, const char *sql, unsigned timeout_ms, pg_err *err)
{
    long long deadline = clock_mono_ms() + timeout_ms;
    if (!PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0)) {
        err_from_result(err, c, NULL, NULL);
        return -1;
    }
    int flushed = 0;
    for (;;) {
        if (!flushed) {
            int f = PQflush(c);
            if (f < 0) {
                err_from_result(err, c, NULL, NULL);
                return -1;
            }
            flushed = f == 0;
        }
        if (flushed && !PQisBusy(c)) break;
        long long left = deadline - clock_mono_ms();
        if (left <= 0) {
            err_set(err, PG_SQLSTATE_QUERY_CANCELED, "no answer within %u ms", timeout_ms);
            return -1;
        }
        struct pollfd pfd = {.fd = PQsocket(c),
                             .events = (short)(POLLIN | (flushed ? 0 : POLLOUT))};
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            err_set(err, PG_SQLSTATE_CONNECTION_FAILURE, "poll: %s", strerror(errno));
            return -1;
        }
        if (!PQconsumeInput(c)) {
            err_from_result(err, c, NULL, NULL);
            return -1;
        }
    }
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (rc == 0 && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            err_from_result(err, c, r, NULL);
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

int pg_ready_check(void *arg, char *err, size_t errlen)
{
    pg_pool *pool = arg;
    pg_err e = {{0}, {0}, {0}};
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *c = pg_acquire_timeout(pool, READY_TIMEOUT_MS, &e);
        if (!c) break; /* acquire already reconnected; failing that, the database is down */
        int rc = query_with_deadline(c, "SELECT 1", READY_TIMEOUT_MS, &e);
        int dead = PQstatus(c) != CONNECTION_OK;
        pg_release(pool, c);
        if (rc == 0) return 0;
        if (!dead) break; /* a live connection that failed: retrying would say the same */
    }
    snprintf(err, errlen, "%s", e.msg[0] ? e.msg : "database check failed");
    return -1;
}
