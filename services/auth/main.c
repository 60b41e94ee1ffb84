/* auth-service — users, ES256 access tokens, rotating refresh tokens, gRPC ValidateToken.
 * Configuration: environment variables (auth-service --help); lib/svc runs the boot
 * sequence. Exit status: 0 after a clean stop, 1 when start-up failed, 2 for bad
 * configuration. */
#include "auth_app.h"
#include "svc.h"

static const svc_mode_t modes[] = {
    {NULL, "", 0, 0, "the service: REST API, gRPC ValidateToken and health", auth_app_serve,
     NULL, false},
};

int main(int argc, char **argv)
{
    static auth_app_t app;
    const svc_def_t def = {.name = "auth-service", .summary = "Users, ES256 access tokens, rotating refresh tokens, gRPC ValidateToken.",
                           .env_prefix = "AUTH", .http_listen = "127.0.0.1:28081", .needs = SVC_DATABASE,
                           .migrations = "services/auth/migrations", .settings = &auth_cfg,
                           .cfg = &app.cfg, .modes = modes, .nmodes = sizeof modes / sizeof *modes,
                           .app = &app};
    return svc_main(&def, argc, argv);
}
