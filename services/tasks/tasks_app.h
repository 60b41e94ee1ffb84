/* tasks_app — the parts of tasks-service and their start and stop, one run function per
 * mode of main.c's table (lib/svc runs the boot sequence around them): the service (HTTP
 * API + relay thread + read model keeper), a relay process, and the one-shot commands
 * (rebuild the read model, outbox stats, replay). */
#ifndef TASKS_APP_H
#define TASKS_APP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "authclient.h"
#include "svc.h"
#include "tasks_cfg.h"
#include "tasks_readmodel.h"
#include "tasks_relay.h"

typedef struct tasks_app {
    tasks_cfg_t cfg;
    svc_t *svc;         /* the pool, metrics, HTTP server and schema state (lib/svc) */
    tasks_readmodel_t *rm;    /* NULL: TASKS_READ_MODEL=false */
    tasks_relay_t *relay;     /* NULL: no relay in this process */
    bool relay_thread;
    bool notifier;
    /* outbox numbers, refreshed by the worker every few seconds for the gauges */
    atomic_llong backlog, dead, oldest_age_ms;
} tasks_app_t;

/* The service: HTTP API, the relay thread (unless TASKS_RELAY_ENABLED=false) and the read
 * model; migrations in the background (/ready says when they are done); until SIGTERM. */
int tasks_app_serve(svc_t *s, char **args, int nargs, char *err, size_t errlen);

/* A relay process (--relay-only): migrations, then the relay on this thread until SIGTERM
 * (SIGKILL is safe too: see tasks_relay.h). */
int tasks_app_relay_only(svc_t *s, char **args, int nargs, char *err, size_t errlen);

/* One-shot commands; each prints its result as JSON on stdout. */
int tasks_app_rebuild_read_model(svc_t *s, char **args, int nargs, char *err, size_t errlen);
int tasks_app_outbox_stats(svc_t *s, char **args, int nargs, char *err, size_t errlen);
int tasks_app_outbox_replay(svc_t *s, char **args, int nargs, char *err, size_t errlen);
int tasks_app_outbox_replay_all(svc_t *s, char **args, int nargs, char *err, size_t errlen);

#endif
