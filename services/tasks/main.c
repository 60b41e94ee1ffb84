/* tasks-service — the tasks API, the transactional outbox relay and the Redis read model.
 * Modes are a table; settings are environment variables (--help lists both).
 * Exit status: 0 success, 1 failure, 2 bad usage or configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shutdown.h"
#include "tasks_app.h"

typedef enum { M_SERVE, M_RELAY, M_REBUILD, M_STATS, M_REPLAY, M_REPLAY_ALL, M_HELP } run_mode_t;

static const struct mode {
    const char *flag;
    run_mode_t mode;
    int min_args, max_args;
    const char *args, *help;
} modes[] = {
    {"--relay-only", M_RELAY, 0, 0, "", "run only an outbox relay (run as many as you like)"},
    {"--rebuild-read-model", M_REBUILD, 0, 0, "",
     "rebuild the Redis read model of every user from PostgreSQL, then exit"},
    {"--outbox-stats", M_STATS, 0, 0, "", "print the outbox backlog, dead rows … as JSON"},
    {"--outbox-replay", M_REPLAY, 1, 2, " FROM [TO]",
     "make dead outbox rows with ids FROM..TO pending again"},
    {"--outbox-replay-all", M_REPLAY_ALL, 1, 2, " FROM [TO]",
     "the same for published rows too (they are sent again)"},
    {"--help", M_HELP, 0, 0, "", "this text"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tasks-service [MODE]\n\nWithout a mode: the service (HTTP API, outbox "
               "relay thread, read model).\nModes:\n");
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s", modes[i].flag, modes[i].args);
        fprintf(f, "  %-28s %s\n", left, modes[i].help);
    }
    fputc('\n', f);
    tasks_cfg_usage(f);
}

static int parse_id(const char *s, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 1) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    run_mode_t mode = M_SERVE;
    long long from = 0, to = 0;
    if (argc > 1) {
        const struct mode *m = NULL;
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (!strcmp(argv[1], modes[i].flag) || (!strcmp(argv[1], "-h") && modes[i].mode == M_HELP))
                m = &modes[i];
        int nargs = argc - 2;
        if (!m || nargs < m->min_args || nargs > m->max_args ||
            (nargs >= 1 && parse_id(argv[2], &from) < 0) ||
            (nargs >= 2 && (parse_id(argv[3], &to) < 0 || to < from))) {
            fprintf(stderr, "tasks-service: bad arguments; try 'tasks-service --help'\n");
            return 2;
        }
        mode = m->mode;
    }
    if (mode == M_HELP) {
        usage(stdout);
        return 0;
    }

    const char *service = mode == M_RELAY ? "outbox-relay" : "tasks-service";
    char err[512];
    static tasks_app_t app;
    log_init(service, LOG_INFO);
    if (shutdown_install(err, sizeof err) < 0) { /* before any thread, gRPC's included */
        log_error("start failed", LOG_STR("error", err));
        return 1;
    }
    log_level_t level;
    if (tasks_cfg_load(&app.cfg, err, sizeof err) < 0 ||
        (log_level_parse(app.cfg.log_level, &level) < 0 &&
         snprintf(err, sizeof err, "LOG_LEVEL: '%s' is not debug, info, warn or error",
                  app.cfg.log_level))) {
        log_error("bad configuration", LOG_STR("error", err));
        return 2;
    }
    log_init(service, mode == M_SERVE || mode == M_RELAY ? level : LOG_WARN);

    switch (mode) {
    case M_REBUILD: return tasks_app_rebuild_read_model(&app);
    case M_STATS: return tasks_app_outbox_stats(&app);
    case M_REPLAY: return tasks_app_outbox_replay(&app, from, to, false);
    case M_REPLAY_ALL: return tasks_app_outbox_replay(&app, from, to, true);
    case M_RELAY: {
        tasks_cfg_log(&app.cfg);
        int st = tasks_app_relay_only(&app, err, sizeof err);
        if (st) log_error("relay failed", LOG_STR("error", err));
        return st;
    }
    default: break;
    }
    tasks_cfg_log(&app.cfg);
    if (tasks_app_start(&app, err, sizeof err) < 0) {
        log_error("start failed", LOG_STR("error", err));
        return 1;
    }
    int sig = shutdown_wait();
    log_info("stopping", LOG_INT("signal", sig));
    tasks_app_stop(&app);
    log_info("stopped");
    return 0;
}
