/* auth-service — users, ES256 access tokens, rotating refresh tokens, gRPC ValidateToken.
 * Configuration: environment variables (auth-service --help). Exit status: 0 after a clean
 * stop, 1 when start-up failed, 2 for bad configuration. */
#include <stdio.h>
#include <string.h>

#include "auth_app.h"
#include "log.h"
#include "shutdown.h"

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: auth-service\n\nSettings (environment variables):\n");
        auth_cfg_usage(stdout);
        return 0;
    }
    char err[512];
    static auth_app_t app;
    log_init("auth-service", LOG_INFO);
    if (shutdown_install(err, sizeof err) < 0) { /* before any thread, gRPC's included */
        log_error("start failed", LOG_STR("error", err));
        return 1;
    }
    log_level_t level;
    if (auth_cfg_load(&app.cfg, err, sizeof err) < 0 ||
        (log_level_parse(app.cfg.log_level, &level) < 0 &&
         snprintf(err, sizeof err, "LOG_LEVEL: '%s' is not debug, info, warn or error",
                  app.cfg.log_level))) {
        log_error("bad configuration", LOG_STR("error", err));
        return 2;
    }
    log_init("auth-service", level);
    auth_cfg_log(&app.cfg);
    if (auth_app_start(&app, err, sizeof err) < 0) {
        log_error("start failed", LOG_STR("error", err));
        return 1;
    }
    int sig = shutdown_wait();
    log_info("stopping", LOG_INT("signal", sig));
    auth_app_stop(&app);
    log_info("stopped");
    return 0;
}
