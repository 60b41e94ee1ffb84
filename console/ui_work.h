/* ui_work — the console's backends off the UI thread: one worker thread per backend, each
 * with its own clients (libcurl, libpq, hiredis and librdkafka handles are not shared between
 * threads), jobs in, results out, and a pipe that wakes the UI thread.
 *
 *   typedef struct { ui_job_t job; int64_t id; cJSON *task; } get_job_t;   // the job first
 *   static void get_run(ui_job_t *j, ui_conn_t *c) { … c->api … j->st = …; }   // worker
 *   static void get_done(ui_job_t *j, ui_t *ui) { … }                         // UI thread
 *   get_job_t *g = ui_job_new(sizeof *g, UI_BE_API, get_run, get_done, view);
 *   ui_work_submit(ui, &g->job);
 *
 * Rules: a job's run touches only its own fields and its worker's ui_conn_t; its done runs on
 * the UI thread and may touch anything; then the job is freed (its dtor first). Each worker's
 * queue is bounded (UI_WORK_QUEUE): a view refreshes only when its previous request came
 * back, so a dead backend does not pile work up. The status of every finished job updates the
 * backend's state shown in the status bar: unreachable marks it down until a job succeeds.
 * Stopping waits for each worker to finish its current job (bounded by the clients' own
 * timeouts: HTTP 10 s, PostgreSQL statements 10 s, Kafka metadata 5 s). */
#ifndef UI_WORK_H
#define UI_WORK_H

#include "ops_api.h"
#include "ops_cfg.h"
#include "ops_jaeger.h"
#include "ops_kafka.h"
#include "ops_outbox.h"
#include "ops_rm.h"
#include "ui.h"

#define UI_WORK_QUEUE 64

/* A worker's clients, opened on first use by ui_conn_*(). */
typedef struct ui_conn {
    const ops_cfg_t *cfg;
    ops_api_t *api;
    ops_outbox_t *ob;
    ops_rm_t *rm;
    ops_jaeger_t *jq;
    ops_kafka_t *kafka;
} ui_conn_t;

typedef struct ui_job ui_job_t;
struct ui_job {
    ui_backend_t be;
    void (*run)(ui_job_t *j, ui_conn_t *c);
    void (*done)(ui_job_t *j, ui_t *ui);
    void (*dtor)(ui_job_t *j); /* frees what the job holds; NULL: nothing */
    ui_view_t *view;
    ops_status_t st;
    ops_err_t err;
    ui_job_t *next;
};

/* A zeroed job of size bytes (a struct with ui_job_t first); NULL if memory ran out. */
void *ui_job_new(size_t size, ui_backend_t be, void (*run)(ui_job_t *, ui_conn_t *),
                 void (*done)(ui_job_t *, ui_t *), ui_view_t *view);

/* Starts the workers and the wake pipe. 0 or -1. */
int ui_work_start(ui_t *ui);

/* Queues j on its backend's worker. false (and j freed) when that queue is full. */
bool ui_work_submit(ui_t *ui, ui_job_t *j);

/* UI thread: runs done for every finished job (and frees them); returns how many. */
int ui_work_drain(ui_t *ui);

/* The descriptor that becomes readable when results (or a wake) are waiting. */
int ui_work_fd(const ui_t *ui);

/* Any thread: wakes the UI thread (coalesced). */
void ui_work_wake(ui_t *ui);

/* Stops the workers (each after its current job), frees queued jobs and the clients. The wake
 * pipe stays (other threads may still wake) until ui_work_free. */
void ui_work_stop(ui_t *ui);
void ui_work_free(ui_t *ui);

/* The worker's clients, opened on first use: NULL with j->st and j->err set when the address
 * is not configured or the client cannot be made. */
ops_api_t *ui_conn_api(ui_conn_t *c, ui_job_t *j);
ops_outbox_t *ui_conn_outbox(ui_conn_t *c, ui_job_t *j);
ops_rm_t *ui_conn_rm(ui_conn_t *c, ui_job_t *j);
ops_jaeger_t *ui_conn_jaeger(ui_conn_t *c, ui_job_t *j);
ops_kafka_t *ui_conn_kafka(ui_conn_t *c, ui_job_t *j);

/* The name of a backend in the status bar ("gateway", "postgres", …). */
const char *ui_backend_name(ui_backend_t be);

#endif
