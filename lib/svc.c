/* svc — the boot sequence every service shares; see svc.h. */
#include "svc.h"

#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "shutdown.h"
#include "trace.h"

#define MIGRATE_RETRY_MS 1000

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

#define F(field) offsetof(svc_settings_t, field)

/* The standard settings; "%s" is the service's prefix. The defaults are the same in every
 * service (the HTTP address is the service's, from its def). need: the svc_def_t.needs bit
 * that brings the row in (0: every service). */
static const struct std_row {
    const char *name; /* "%s_…": the prefix goes where %s is */
    cfg_entry_t row;
    unsigned need;
} std_rows[] = {
    {"LOG_LEVEL", CFG_ENUM_ROW(NULL, "info", F(log_level), log_levels, "lowest level logged"), 0},
    {"OTLP_ENDPOINT",
     CFG_ROW(NULL, CFG_STRING, "", 0, 0, F(otlp_endpoint),
             "OTLP/HTTP collector base URL for traces (empty: no export)", false),
     0},
    {"%s_HTTP_LISTEN",
     CFG_ROW(NULL, CFG_HOSTPORT, NULL, 0, 0, F(http_listen),
             "HTTP listen address host:port (API, /health, /ready, /metrics)", false),
     0},
    {"%s_HTTP_MAX_CONNECTIONS",
     CFG_ROW(NULL, CFG_INT, "512", 1, 10000, F(http_max_connections),
             "concurrent HTTP connections (one thread each)", false),
     0},
    {"%s_SHUTDOWN_DRAIN",
     CFG_ROW(NULL, CFG_DURATION, "10s", 0, 120000, F(shutdown_drain_ms),
             "how long a stop waits for requests in progress", false),
     0},
    {"%s_DATABASE_URL",
     CFG_ROW(NULL, CFG_STRING, NULL, 0, 0, F(database_url),
             "PostgreSQL URL of the service's own database", true),
     SVC_DATABASE},
    {"%s_DB_POOL_SIZE",
     CFG_ROW(NULL, CFG_INT, "16", 1, 200, F(db_pool_size), "PostgreSQL connections in the pool",
             false),
     SVC_DATABASE},
    {"%s_DB_STATEMENT_TIMEOUT",
     CFG_ROW(NULL, CFG_DURATION, "5s", 100, 600000, F(db_statement_timeout_ms),
             "server-side limit per SQL statement", false),
     SVC_DATABASE},
    {"%s_MIGRATIONS_DIR",
     CFG_ROW(NULL, CFG_STRING, "", 0, 0, F(migrations_dir),
             "migrations directory (default: the service's migrations next to the binary)",
             false),
     SVC_DATABASE},
    {"AUTH_GRPC_ADDR",
     CFG_ROW(NULL, CFG_HOSTPORT, "127.0.0.1:28051", 0, 0, F(auth_grpc_addr),
             "auth-service gRPC address (ValidateToken)", false),
     SVC_AUTH_CLIENT},
    {"%s_AUTH_DEADLINE",
     CFG_ROW(NULL, CFG_DURATION, "1s", 10, 30000, F(auth_deadline_ms),
             "deadline of a ValidateToken call; past it the request fails closed with 503",
             false),
     SVC_AUTH_CLIENT},
    {"%s_AUTH_CACHE_TTL",
     CFG_ROW(NULL, CFG_DURATION, "10s", 0, 300000, F(auth_cache_ttl_ms),
             "how long a positive validation is reused (never past the token's expiry; 0: off)",
             false),
     SVC_AUTH_CLIENT},
    {"%s_AUTH_CACHE_SIZE",
     CFG_ROW(NULL, CFG_INT, "8192", 16, 1000000, F(auth_cache_size),
             "validations kept at most (older ones are overwritten)", false),
     SVC_AUTH_CLIENT},
    {"KAFKA_BROKERS",
     CFG_ROW(NULL, CFG_STRING, "127.0.0.1:29092", 0, 0, F(kafka_brokers),
             "Kafka bootstrap servers (host:port,…)", false),
     SVC_KAFKA},
};

/* Builds s->std_table from std_rows for this service. */
static void std_table_build(svc_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof std_rows / sizeof std_rows[0] && n < SVC_STD_MAX; i++) {
        if (std_rows[i].need && !(s->def->needs & std_rows[i].need)) continue;
        s->std[n] = std_rows[i].row;
        const char *name = std_rows[i].name; /* "%s_…": the prefix goes where %s is */
        bool prefixed = !strncmp(name, "%s", 2);
        snprintf(s->std_names[n], sizeof s->std_names[n], "%s%s",
                 prefixed ? s->def->env_prefix : "", prefixed ? name + 2 : name);
        s->std[n].name = s->std_names[n];
        if (s->std[n].offset == F(http_listen)) s->std[n].def = s->def->http_listen;
        n++;
    }
    s->std_table = (cfg_table_t){s->std, n, NULL};
}

/* The name of the standard setting that fills field (for error messages). */
static const char *std_name(const svc_t *s, size_t field)
{
    for (size_t i = 0; i < s->std_table.n; i++)
        if (s->std[i].offset == field) return s->std[i].name;
    return "?";
}

/* ==== arguments and --help ============================================================== */

static void usage(const svc_def_t *def, FILE *f)
{
    fprintf(f, "usage: %s [MODE]\n\n%s\n\nModes:\n", def->name, def->summary);
    for (size_t i = 0; i < def->nmodes; i++) {
        const svc_mode_t *m = &def->modes[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s", m->flag ? m->flag : "(none)", m->args ? m->args : "");
        fprintf(f, "  %-28s %s\n", left, m->help);
    }
    fprintf(f, "  %-28s %s\n\n", "--help", "this text");
    svc_t s = {.def = def};
    std_table_build(&s);
    cfg_section_t sections[] = {{s.std, s.std_table.n, NULL},
                                {def->settings->rows, def->settings->n, NULL}};
    cfg_usage(f, sections, 2);
}

/* The mode argv asks for, or NULL (a usage error). */
static const svc_mode_t *pick_mode(const svc_def_t *def, int argc, char **argv)
{
    const char *flag = argc > 1 ? argv[1] : NULL;
    for (size_t i = 0; i < def->nmodes; i++) {
        const svc_mode_t *m = &def->modes[i];
        bool same = m->flag ? flag && !strcmp(flag, m->flag) : !flag;
        int nargs = argc > 1 ? argc - 2 : 0;
        if (same) return nargs >= m->min_args && nargs <= m->max_args ? m : NULL;
    }
    return NULL;
}

/* ==== the program ======================================================================= */

int svc_main(const svc_def_t *def, int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(def, stdout);
        return 0;
    }
    static svc_t s; /* one per process; static so threads may outlive main's frame */
    s.def = def;
    std_table_build(&s);
    if (!(s.mode = pick_mode(def, argc, argv))) {
        fprintf(stderr, "%s: bad arguments; try '%s --help'\n", def->name, def->name);
        return 2;
    }
    s.service = s.mode->service ? s.mode->service : def->name;
    atomic_init(&s.schema_ready, false);
    atomic_init(&s.stopping, false);

    char err[512] = "";
    log_init(s.service, LOG_INFO);
    if (shutdown_install(err, sizeof err) < 0) { /* before any thread, gRPC's included */
        log_error("start failed", LOG_STR("error", err));
        return 1;
    }
    const cfg_table_t *own = def->settings;
    cfg_section_t sections[] = {{s.std, s.std_table.n, &s.settings},
                                {own->rows, own->n, def->cfg}};
    if (cfg_load(s.std, s.std_table.n, &s.settings, err, sizeof err) < 0 ||
        cfg_load(own->rows, own->n, def->cfg, err, sizeof err) < 0 ||
        (own->check && own->check(def->cfg, err, sizeof err) < 0)) {
        log_error("bad configuration", LOG_STR("error", err));
        return 2;
    }
    log_init(s.service, s.mode->one_shot ? LOG_WARN : (log_level_t)s.settings.log_level);
    if (!s.mode->one_shot) {
        cfg_log(sections, 2);
        if (*s.settings.otlp_endpoint) {
            char terr[256];
            if (trace_exporter_start(s.service, s.settings.otlp_endpoint, terr, sizeof terr) == 0)
                s.tracing = true;
            else
                log_warn("trace export disabled", LOG_STR("error", terr));
        }
    }
    int status = 1;
    if (!(s.metrics = metrics_registry_new())) {
        snprintf(err, sizeof err, "out of memory");
    } else {
        err[0] = '\0';
        int nargs = argc > 1 ? argc - 2 : 0;
        status = s.mode->run(&s, argc > 2 ? argv + 2 : NULL, nargs, err, sizeof err);
    }
    if (status == 1 && err[0]) {
        if (s.mode->one_shot)
            fprintf(stderr, "%s: %s\n", def->name, err);
        else
            log_error("start failed", LOG_STR("error", err));
    }
    svc_stop_serving(&s);
    authclient_free(s.auth);
    s.auth = NULL;
    if (s.pool) pg_pool_close(s.pool);
    s.pool = NULL;
    if (s.tracing) {
        trace_exporter_flush(2000);
        trace_exporter_stop();
        s.tracing = false;
    }
    metrics_registry_free(s.metrics);
    s.metrics = NULL;
    if (!s.mode->one_shot && status == 0) log_info("stopped");
    return status;
}

int svc_usage_error(svc_t *s, const char *msg)
{
    fprintf(stderr, "%s: %s; try '%s --help'\n", s->def->name, msg, s->def->name);
    return 2;
}

/* ==== PostgreSQL and migrations ========================================================= */

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int svc_migrations_find(svc_t *s, char *err, size_t errlen)
{
    const svc_def_t *d = s->def;
    const char *override = s->settings.migrations_dir;
    const char *setting = std_name(s, F(migrations_dir));
    if (override && *override) {
        if (!is_dir(override))
            return snprintf(err, errlen, "%s: %s is not a directory", setting, override), -1;
        snprintf(s->migrations_dir, sizeof s->migrations_dir, "%s", override);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return snprintf(err, errlen, "cannot find the executable; set %s", setting), -1;
    exe[n] = '\0';
    const char *dir = dirname(exe);
    /* bin/NAME and build/<variant>/bin/NAME of a checkout */
    const char *up[] = {"/..", "/../../.."};
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        char cand[PATH_MAX * 2], real[PATH_MAX];
        snprintf(cand, sizeof cand, "%s%s/%s", dir, up[i], d->migrations);
        if (is_dir(cand) && realpath(cand, real)) {
            snprintf(s->migrations_dir, sizeof s->migrations_dir, "%s", real);
            return 0;
        }
    }
    char packaged[PATH_MAX];
    snprintf(packaged, sizeof packaged, "/usr/share/%s/migrations", d->name);
    if (is_dir(packaged)) {
        snprintf(s->migrations_dir, sizeof s->migrations_dir, "%s", packaged);
        return 0;
    }
    snprintf(err, errlen, "no migrations directory next to %s (tried ../%s) or in %s; set %s", dir,
             d->migrations, packaged, setting);
    return -1;
}

int svc_pg_open(svc_t *s, unsigned size, char *err, size_t errlen)
{
    pg_err pe;
    pg_pool_config pc = {.url = s->settings.database_url,
                         .size = size ? size : (unsigned)s->settings.db_pool_size,
                         .acquire_timeout_ms = 5000,
                         .connect_timeout_s = 3,
                         .statement_timeout_ms = (unsigned)s->settings.db_statement_timeout_ms,
                         .application_name = s->def->name};
    if (pg_pool_open(&pc, &s->pool, &pe) < 0)
        return snprintf(err, errlen, "%s: %.400s", std_name(s, F(database_url)), pe.msg), -1;
    return 0;
}

int svc_auth_open(svc_t *s, char *err, size_t errlen)
{
    char prefix[32];
    size_t i = 0;
    for (; s->def->env_prefix[i] && i < sizeof prefix - 1; i++)
        prefix[i] = (char)tolower((unsigned char)s->def->env_prefix[i]);
    prefix[i] = '\0';
    const svc_settings_t *c = &s->settings;
    authclient_config_t ac = {.target = c->auth_grpc_addr.text,
                              .deadline_ms = c->auth_deadline_ms,
                              .cache_ttl_ms = c->auth_cache_ttl_ms,
                              .cache_size = c->auth_cache_size,
                              .metrics = s->metrics,
                              .metrics_prefix = prefix};
    return authclient_new(&ac, &s->auth, err, errlen);
}

bool svc_authenticate(svc_t *s, http_req *req, authclient_user_t *user)
{
    if (!atomic_load(&s->schema_ready)) {
        http_error(req, 503, "not_ready", "the service is starting; try again shortly");
        return false;
    }
    return authclient_authenticate(s->auth, req, user);
}

int svc_migrate_now(svc_t *s, char *err, size_t errlen)
{
    pg_err e;
    int applied = 0;
    if (pg_migrate(s->pool, s->migrations_dir, &applied, &e) < 0)
        return snprintf(err, errlen, "migrations: %s", e.msg), -1;
    atomic_store(&s->schema_ready, true);
    return 0;
}

int svc_migrate_wait(svc_t *s)
{
    bool said = false;
    while (!atomic_load(&s->schema_ready)) {
        pg_err e;
        int applied = 0;
        if (pg_migrate(s->pool, s->migrations_dir, &applied, &e) == 0) {
            log_info("migrations applied", LOG_INT("applied", applied),
                     LOG_STR("dir", s->migrations_dir));
            atomic_store(&s->schema_ready, true);
            return 0;
        }
        if (!said) /* once, not every second */
            log_error("migrations failed; retrying", LOG_STR("sqlstate", e.sqlstate),
                      LOG_STR("error", e.msg));
        said = true;
        if (svc_sleep(s, MIGRATE_RETRY_MS)) return -1;
    }
    return 0;
}

int svc_schema_check(void *arg, char *err, size_t errlen)
{
    svc_t *s = arg;
    if (atomic_load(&s->schema_ready)) return 0;
    snprintf(err, errlen, "migrations not applied yet");
    return -1;
}

/* ==== the worker ======================================================================== */

static void *worker_main(void *arg)
{
    svc_t *s = arg;
    if (svc_migrate_wait(s) == 0 && s->work && !svc_stopping(s)) s->work(s, s->work_arg);
    return NULL;
}

int svc_start_worker(svc_t *s, void (*work)(svc_t *s, void *arg), void *arg, char *err,
                     size_t errlen)
{
    s->work = work;
    s->work_arg = arg;
    if (pthread_create(&s->worker, NULL, worker_main, s) != 0)
        return snprintf(err, errlen, "cannot start the worker thread"), -1;
    s->worker_started = true;
    return 0;
}

bool svc_stopping(svc_t *s)
{
    return atomic_load(&s->stopping) || shutdown_requested();
}

bool svc_sleep(svc_t *s, int64_t ms)
{
    if (svc_stopping(s)) return true;
    return shutdown_sleep_ms((int)ms) || svc_stopping(s);
}

/* ==== HTTP and stopping ================================================================= */

int svc_http_start(svc_t *s, const svc_http_t *h, char *err, size_t errlen)
{
    http_check checks[SVC_MAX_CHECKS];
    size_t n = 0;
    if (s->pool) {
        checks[n++] = (http_check){"postgres", pg_ready_check, s->pool};
        checks[n++] = (http_check){"schema", svc_schema_check, s};
    }
    for (size_t i = 0; i < h->nchecks && n < SVC_MAX_CHECKS; i++) checks[n++] = h->checks[i];
    const cfg_hostport_t *listen = h->listen ? h->listen : &s->settings.http_listen;
    const char *setting = h->listen ? h->setting : std_name(s, F(http_listen));
    http_config hc = {.address = listen->host,
                      .port = listen->port,
                      .max_body = h->max_body,
                      .max_connections = h->max_connections
                                             ? h->max_connections
                                             : (unsigned)s->settings.http_max_connections,
                      .drain_timeout_ms = (unsigned)s->settings.shutdown_drain_ms,
                      .routes = h->routes,
                      .nroutes = h->nroutes,
                      .checks = checks,
                      .nchecks = n,
                      .metrics = s->metrics,
                      .user = h->user};
    char why[384];
    if (http_server_start(&hc, &s->http, why, sizeof why) < 0)
        return snprintf(err, errlen, "%s (%s): %s", setting, listen->text, why), -1;
    return 0;
}

int svc_wait(svc_t *s)
{
    int sig = shutdown_wait();
    log_info("stopping", LOG_INT("signal", sig));
    return sig;
}

void svc_stop_serving(svc_t *s)
{
    atomic_store(&s->stopping, true);
    http_server_stop(s->http); /* first: no request may still use what follows */
    s->http = NULL;
    if (s->worker_started) {
        shutdown_request(); /* wakes the worker's sleeps */
        pthread_join(s->worker, NULL);
        s->worker_started = false;
    }
}
