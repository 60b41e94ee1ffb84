/* tasks_app — the parts of tasks-service and their start and stop, for each way it runs:
 * the service (HTTP API + relay thread + read model keeper), a relay process, and the
 * one-shot commands (rebuild the read model, outbox stats, replay). */
#ifndef TASKS_APP_H
#define TASKS_APP_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "http.h"
#include "pg.h"
#include "tasks_auth.h"
#include "tasks_cfg.h"
#include "tasks_readmodel.h"
#include "tasks_relay.h"

typedef struct tasks_app {
    tasks_cfg_t cfg;
    char migrations_dir[PATH_MAX];
    pg_pool *pool;
    metrics_registry_t *registry;
    http_server *http;
    auth_client_t *auth;
    readmodel_t *rm; /* NULL: TASKS_READ_MODEL=false */
    relay_t *relay;  /* NULL: no relay in this process */
    bool relay_thread;
    atomic_bool schema_ready;
    pthread_t janitor;
    bool janitor_started;
    atomic_bool stopping;
    bool tracing;
    bool notifier;
    /* outbox numbers, refreshed by the janitor every few seconds for the gauges */
    atomic_llong backlog, dead, oldest_age_ms;
} tasks_app_t;

/* The service: HTTP API, the relay thread (unless TASKS_RELAY_ENABLED=false) and the read
 * model. Migrations run in the background; /ready says when they are done. 0 or -1. */
int tasks_app_start(tasks_app_t *app, char *err, size_t errlen);

/* A relay process (--relay-only): migrations, then the relay on this thread until SIGTERM
 * (SIGKILL is safe too: see tasks_relay.h). Returns the exit status. */
int tasks_app_relay_only(tasks_app_t *app, char *err, size_t errlen);

/* Stops whatever tasks_app_start started, in reverse order. */
void tasks_app_stop(tasks_app_t *app);

/* One-shot commands; each returns the process exit status and prints its result. */
int tasks_app_rebuild_read_model(tasks_app_t *app);
int tasks_app_outbox_stats(tasks_app_t *app);
int tasks_app_outbox_replay(tasks_app_t *app, long long from, long long to, bool published);

#endif
