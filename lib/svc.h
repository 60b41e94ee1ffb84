/* svc — the boot sequence every service shares, so a service's main.c is a table of modes.
 *
 *   static int serve(svc_t *s, char **args, int nargs, char *err, size_t errlen) {
 *       app_t *app = s->def->app;
 *       if (svc_migrations_find(s, err, errlen) < 0 || svc_pg_open(s, 0, err, errlen) < 0
 *           || svc_start_worker(s, janitor, app, err, errlen) < 0
 *           || svc_http_start(s, &(svc_http_t){.routes = …, .checks = …}, err, errlen) < 0)
 *           return 1;                          // svc_main logs "start failed" with err
 *       svc_wait(s);                           // until SIGTERM/SIGINT
 *       svc_stop_serving(s);                   // HTTP drained, the worker joined
 *       ... free the app's own parts ...
 *       return 0;                              // svc_main then closes the pool and tracing
 *   }
 *   static const svc_mode_t modes[] = {{NULL, "", 0, 0, "the service", serve}, …};
 *   int main(int argc, char **argv) { return svc_main(&def, argc, argv); }
 *
 * svc_main does, in this order: picks the mode from argv (--help/-h print the modes and
 * every setting; a bad argument is exit 2 with "try --help"), log set-up, SIGTERM/SIGINT
 * handling (before any thread — gRPC's and librdkafka's included — is started), the
 * settings (the standard ones below plus the service's own table, one "configuration" log
 * line with secrets redacted; a bad value is exit 2 naming the variable), the log level,
 * tracing, a metrics registry, and then the mode's run function. After run returns it
 * closes what svc opened (pool, tracing, metrics) and returns run's status as the exit code.
 *
 * The standard settings, the same in every service (PREFIX is def->env_prefix):
 *   always           LOG_LEVEL, OTLP_ENDPOINT, PREFIX_HTTP_LISTEN (host:port, default
 *                    def->http_listen), PREFIX_HTTP_MAX_CONNECTIONS, PREFIX_SHUTDOWN_DRAIN
 *   SVC_DATABASE     PREFIX_DATABASE_URL (required, secret), PREFIX_DB_POOL_SIZE,
 *                    PREFIX_DB_STATEMENT_TIMEOUT, PREFIX_MIGRATIONS_DIR
 *   SVC_AUTH_CLIENT  AUTH_GRPC_ADDR, PREFIX_AUTH_DEADLINE, PREFIX_AUTH_CACHE_TTL,
 *                    PREFIX_AUTH_CACHE_SIZE (the bearer-token client, svc_auth_open)
 *   SVC_KAFKA        KAFKA_BROKERS
 * A service's table holds only what is its own.
 *
 * Exit codes: 0 clean stop, 1 start-up or run failure, 2 bad usage or configuration.
 *
 * A one-shot mode (a command such as --outbox-stats) logs only warnings and errors, prints
 * its result on stdout and its error on stderr as "NAME: error", and starts no tracing. */
#ifndef TODO_SVC_H
#define TODO_SVC_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authclient.h"
#include "cfg.h"
#include "http.h"
#include "metrics.h"
#include "pg.h"

typedef struct svc svc_t;

/* A mode's work. args are the arguments after the mode's flag (nargs of them, already
 * counted against min_args..max_args). Returns the exit status; on failure err says why. */
typedef int (*svc_run_fn)(svc_t *s, char **args, int nargs, char *err, size_t errlen);

typedef struct svc_mode {
    const char *flag;       /* "--relay-only"; NULL: the mode without arguments */
    const char *args;       /* shown in --help after the flag, e.g. " FROM [TO]" */
    int min_args, max_args; /* arguments after the flag */
    const char *help;       /* one line for --help */
    svc_run_fn run;
    const char *service;    /* service.name in logs and traces; NULL: the program's name */
    bool one_shot;          /* a command: warnings only, no configuration line, no tracing */
} svc_mode_t;

/* What a service uses, for its standard settings (svc_def_t.needs). */
enum { SVC_DATABASE = 1, SVC_AUTH_CLIENT = 2, SVC_KAFKA = 4 };

typedef struct svc_def {
    const char *name;          /* "tasks-service": logs, traces, pool, --help */
    const char *summary;       /* one line for --help */
    const char *env_prefix;    /* "TASKS": the standard settings are TASKS_HTTP_LISTEN, … */
    const char *http_listen;   /* the default of PREFIX_HTTP_LISTEN */
    unsigned needs;            /* SVC_DATABASE | SVC_AUTH_CLIENT | SVC_KAFKA */
    const char *migrations;    /* "services/tasks/migrations" (checkout-relative) */
    const cfg_table_t *settings; /* the service's own settings */
    void *cfg;                   /* the struct that table fills */
    const svc_mode_t *modes;
    size_t nmodes;
    void *app; /* the service's state, for its run functions */
} svc_def_t;

/* The standard settings (see above). */
typedef struct svc_settings {
    int log_level; /* a log_level_t */
    const char *otlp_endpoint;
    cfg_hostport_t http_listen;
    int http_max_connections;
    int64_t shutdown_drain_ms;
    const char *database_url;
    int db_pool_size;
    int64_t db_statement_timeout_ms;
    const char *migrations_dir;
    cfg_hostport_t auth_grpc_addr;
    int64_t auth_deadline_ms;
    int64_t auth_cache_ttl_ms;
    int auth_cache_size;
    const char *kafka_brokers;
} svc_settings_t;

#define SVC_STD_MAX 14 /* rows of the standard table */

struct svc {
    const svc_def_t *def;
    const svc_mode_t *mode;
    const char *service; /* the mode's service name, or def->name */
    svc_settings_t settings;
    cfg_entry_t std[SVC_STD_MAX]; /* the standard table, named with the prefix */
    cfg_table_t std_table;
    char std_names[SVC_STD_MAX][64];
    metrics_registry_t *metrics; /* made by svc_main; /metrics renders it */
    pg_pool *pool;               /* svc_pg_open */
    authclient_t *auth;          /* svc_auth_open */
    http_server *http;           /* svc_http_start */
    char migrations_dir[PATH_MAX];
    atomic_bool schema_ready; /* migrations applied (the "schema" readiness check) */
    atomic_bool stopping;
    bool tracing;
    pthread_t worker;
    bool worker_started;
    void (*work)(svc_t *s, void *arg);
    void *work_arg;
};

/* The program. Returns the exit status (see above). */
int svc_main(const svc_def_t *def, int argc, char **argv);

/* Finds the migrations directory into s->migrations_dir: PREFIX_MIGRATIONS_DIR when set,
 * else def->migrations next to the executable (bin/ and build/<variant>/bin/ of a
 * checkout), else /usr/share/NAME/migrations (a package, an image). -1 with err naming the
 * setting to use. */
int svc_migrations_find(svc_t *s, char *err, size_t errlen);

/* Opens s->pool on PREFIX_DATABASE_URL with PREFIX_DB_STATEMENT_TIMEOUT (lazy connections,
 * application_name = the service); size 0: PREFIX_DB_POOL_SIZE. The URL is validated here,
 * not connected; an error names the setting. */
int svc_pg_open(svc_t *s, unsigned size, char *err, size_t errlen);

/* Creates s->auth, the bearer-token client (lib/authclient) on AUTH_GRPC_ADDR with
 * PREFIX_AUTH_DEADLINE and the cache settings; its metrics are prefix_auth_… (the prefix in
 * lower case). svc_main frees it after the run function returns. 0 or -1 with err. */
int svc_auth_open(svc_t *s, char *err, size_t errlen);

/* The bearer step of a protected route of a service with a database: 503 "not_ready" until
 * the migrations are applied, then authclient_authenticate (401/503 answered there). True
 * when the request may go on, with *user filled. */
bool svc_authenticate(svc_t *s, http_req *req, authclient_user_t *user);

/* Applies the migrations, retrying every second while the database is unreachable (the
 * first failure is logged, not every retry). Returns 0, or -1 when asked to stop first. */
int svc_migrate_wait(svc_t *s);

/* Applies the migrations once (one-shot modes). -1 with err. */
int svc_migrate_now(svc_t *s, char *err, size_t errlen);

/* Starts the background worker thread: svc_migrate_wait, then work(s, arg) unless asked
 * to stop (work may be NULL: migrations only). work loops with svc_sleep until it returns
 * true. -1 with err when the thread cannot start. */
int svc_start_worker(svc_t *s, void (*work)(svc_t *s, void *arg), void *arg, char *err,
                     size_t errlen);

/* Sleeps up to ms; true when the service is stopping (return at once then). */
bool svc_sleep(svc_t *s, int64_t ms);

/* True once a stop was asked for (a signal or svc_stop_serving). */
bool svc_stopping(svc_t *s);

/* The "schema" readiness check: fails until the migrations are applied. arg is the svc_t. */
int svc_schema_check(void *arg, char *err, size_t errlen);

/* What svc_http_start needs besides the standard settings. */
typedef struct svc_http {
    const cfg_hostport_t *listen; /* NULL: PREFIX_HTTP_LISTEN; else another listener … */
    const char *setting;          /* … and its variable, for errors */
    size_t max_body;              /* 0: lib/http's default */
    unsigned max_connections;     /* 0: PREFIX_HTTP_MAX_CONNECTIONS */
    const http_route *routes;
    size_t nroutes;
    const http_check *checks; /* the service's own readiness checks, after the standard */
    size_t nchecks;
    void *user; /* handed to every handler */
} svc_http_t;

#define SVC_MAX_CHECKS 8

/* Starts s->http on the listen address, recording into s->metrics; a stop drains for
 * PREFIX_SHUTDOWN_DRAIN. /ready checks "postgres" (s->pool) and "schema" (migrations
 * applied) when the service has a database and a pool, then the service's own checks (at
 * most SVC_MAX_CHECKS in all). -1 with err naming the setting when the address cannot be
 * used. */
int svc_http_start(svc_t *s, const svc_http_t *h, char *err, size_t errlen);

/* Waits for SIGTERM/SIGINT (or shutdown_request) and logs it. Returns the signal. */
int svc_wait(svc_t *s);

/* Stops serving: no new requests (in-flight ones drain), the worker woken and joined.
 * The pool stays open for the caller's own teardown. Idempotent. */
void svc_stop_serving(svc_t *s);

/* For a run function: a usage error ("NAME: msg; try 'NAME --help'" on stderr). Returns 2. */
int svc_usage_error(svc_t *s, const char *msg);

#endif
