/* notification-service — consumes task events from Kafka and acts on each exactly once in
 * effect: notifications stored, logged and delivered (log, webhook), reminders for due tasks.
 * Settings are environment variables (--help); lib/svc runs the boot sequence.
 * Exit status: 0 after a clean stop, 1 when start-up failed, 2 for bad usage or settings. */
#include "notify_app.h"
#include "svc.h"

static const svc_mode_t modes[] = {
    {NULL, "", 0, 0, "the service: Kafka consumer, webhook worker, reminders, HTTP API",
     notify_app_serve, NULL, false},
};

int main(int argc, char **argv)
{
    static notify_app_t app;
    const svc_def_t def = {.name = "notification-service",
                           .summary = "Task events to notifications, exactly once in effect.",
                           .env_prefix = "NOTIFY", .http_listen = "127.0.0.1:28083",
                           .needs = SVC_DATABASE | SVC_AUTH_CLIENT | SVC_KAFKA,
                           .migrations = "services/notify/migrations", .settings = &notify_cfg,
                           .cfg = &app.cfg, .modes = modes, .nmodes = sizeof modes / sizeof *modes,
                           .app = &app};
    return svc_main(&def, argc, argv);
}
