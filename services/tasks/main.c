/* tasks-service — the tasks API, the transactional outbox relay and the Redis read model.
 * Modes are a table; settings are environment variables (--help lists both). lib/svc runs
 * the boot sequence. Exit status: 0 success, 1 failure, 2 bad usage or configuration. */
#include "svc.h"
#include "tasks_app.h"

static const svc_mode_t modes[] = {
    {NULL, "", 0, 0, "the service: HTTP API, outbox relay thread, read model",
     tasks_app_serve, NULL, false},
    {"--relay-only", "", 0, 0, "run only an outbox relay (run as many as you like)",
     tasks_app_relay_only, "outbox-relay", false},
    {"--rebuild-read-model", "", 0, 0,
     "rebuild the Redis read model of every user from PostgreSQL, then exit",
     tasks_app_rebuild_read_model, NULL, true},
    {"--outbox-stats", "", 0, 0, "print the outbox backlog, dead rows … as JSON",
     tasks_app_outbox_stats, NULL, true},
    {"--outbox-replay", " FROM [TO]", 1, 2, "make dead outbox rows with ids FROM..TO pending again",
     tasks_app_outbox_replay, NULL, true},
    {"--outbox-replay-all", " FROM [TO]", 1, 2,
     "the same for published rows too (they are sent again)", tasks_app_outbox_replay_all,
     NULL, true},
};

int main(int argc, char **argv)
{
    static tasks_app_t app;
    const svc_def_t def = {.name = "tasks-service", .summary = "Tasks API, transactional outbox relay to Kafka, Redis read model.",
                           .env_prefix = "TASKS", .http_listen = "127.0.0.1:28082",
                           .needs = SVC_DATABASE | SVC_AUTH_CLIENT | SVC_KAFKA,
                           .migrations = "services/tasks/migrations", .settings = &tasks_cfg,
                           .cfg = &app.cfg, .modes = modes, .nmodes = sizeof modes / sizeof *modes,
                           .app = &app};
    return svc_main(&def, argc, argv);
}
