/* ui_work — worker threads per backend, job queues, the wake pipe; see ui_work.h. */
#include "ui_work.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


typedef struct worker {
    ui_t *ui;
    ui_backend_t be;
    pthread_t thread;
    bool started;
    ui_conn_t conn;
    ui_job_t *head, *tail; /* queued */
    size_t queued;
} worker_t;

struct ui_work {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    worker_t w[UI_BE_COUNT];
    ui_job_t *done_head, *done_tail; /* finished, for the UI thread */
    int pipe[2];
    atomic_bool woken;
};

static const char *const be_names[UI_BE_COUNT] = {
    [UI_BE_API] = "gateway",   [UI_BE_DB] = "postgres", [UI_BE_REDIS] = "redis",
    [UI_BE_JAEGER] = "jaeger", [UI_BE_KAFKA] = "kafka", [UI_BE_HEALTH] = "health",
    [UI_BE_STACK] = "stack",
};

const char *ui_backend_name(ui_backend_t be)
{
    return (unsigned)be < UI_BE_COUNT ? be_names[be] : "?";
}

void *ui_job_new(size_t size, ui_backend_t be, void (*run)(ui_job_t *, ui_conn_t *),
                 void (*done)(ui_job_t *, ui_t *), ui_view_t *view)
{
    ui_job_t *j = calloc(1, size);
    if (!j) return NULL;
    j->be = be;
    j->run = run;
    j->done = done;
    j->view = view;
    j->err.st = OPS_OK;
    return j;
}

static void job_free(ui_job_t *j)
{
    if (j->dtor) j->dtor(j);
    free(j);
}

void ui_work_wake(ui_t *ui)
{
    struct ui_work *w = ui->work;
    if (!atomic_exchange(&w->woken, true)) {
        char c = 1;
        ssize_t r = write(w->pipe[1], &c, 1);
        (void)r; /* a full pipe already wakes the reader */
    }
}

static void *worker_main(void *arg)
{
    worker_t *wk = arg;
    struct ui_work *w = wk->ui->work;
    /* librdkafka, libpq and libcurl need no signals; SIGWINCH stays with the UI thread */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!wk->head && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping) break;
        ui_job_t *j = wk->head;
        wk->head = j->next;
        if (!wk->head) wk->tail = NULL;
        wk->queued--;
        pthread_mutex_unlock(&w->mu);
        j->next = NULL;
        j->run(j, &wk->conn);
        pthread_mutex_lock(&w->mu);
        if (w->done_tail) w->done_tail->next = j;
        else w->done_head = j;
        w->done_tail = j;
        pthread_mutex_unlock(&w->mu);
        ui_work_wake(wk->ui);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int ui_work_start(ui_t *ui)
{
    struct ui_work *w = calloc(1, sizeof *w);
    if (!w) return -1;
    ui->work = w;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) return -1;
    /* workers block no signals the UI thread needs: they are created with SIGWINCH, SIGINT
     * and SIGTERM blocked, so only the UI thread sees them */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGWINCH);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGTSTP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = 0;
    for (int b = 0; b < UI_BE_COUNT; b++) {
        worker_t *wk = &w->w[b];
        wk->ui = ui;
        wk->be = (ui_backend_t)b;
        wk->conn.cfg = ui->cfg;
        if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0) {
            rc = -1;
            break;
        }
        wk->started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

bool ui_work_submit(ui_t *ui, ui_job_t *j)
{
    struct ui_work *w = ui->work;
    worker_t *wk = &w->w[j->be];
    pthread_mutex_lock(&w->mu);
    if (wk->queued >= UI_WORK_QUEUE || w->stopping) {
        pthread_mutex_unlock(&w->mu);
        job_free(j);
        return false;
    }
    if (wk->tail) wk->tail->next = j;
    else wk->head = j;
    wk->tail = j;
    wk->queued++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return true;
}

int ui_work_fd(const ui_t *ui)
{
    return ui->work->pipe[0];
}

/* The backend's state from a finished job: unreachable is down; an answer of any kind up. */
static void note_backend(ui_t *ui, const ui_job_t *j)
{
    ui_be_state_t *b = &ui->be[j->be];
    bool was_down = b->known && b->down;
    b->known = true;
    if (j->st == OPS_UNREACHABLE) {
        b->down = true;
        snprintf(b->msg, sizeof b->msg, "%.199s", j->err.msg);
    } else if (j->st != OPS_USAGE || !strstr(j->err.msg, "is not set")) {
        b->down = false;
        b->msg[0] = '\0';
    } else {
        b->down = true; /* not configured */
        snprintf(b->msg, sizeof b->msg, "%.199s", j->err.msg);
    }
    if (was_down != b->down) ui->dirty = true;
}

int ui_work_drain(ui_t *ui)
{
    struct ui_work *w = ui->work;
    char buf[256];
    while (read(w->pipe[0], buf, sizeof buf) > 0) {
    }
    atomic_store(&w->woken, false);
    pthread_mutex_lock(&w->mu);
    ui_job_t *j = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    int n = 0;
    while (j) {
        ui_job_t *next = j->next;
        if (j->be != UI_BE_HEALTH && j->be != UI_BE_STACK) note_backend(ui, j);
        if (j->done) j->done(j, ui);
        job_free(j);
        ui->dirty = true;
        j = next;
        n++;
    }
    return n;
}

static void conn_close(ui_conn_t *c)
{
    ops_api_close(c->api);
    ops_outbox_close(c->ob);
    ops_rm_close(c->rm);
    ops_jaeger_free(c->jq);
    ops_kafka_close(c->kafka);
    memset(c, 0, sizeof *c);
}

void ui_work_stop(ui_t *ui)
{
    struct ui_work *w = ui->work;
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int b = 0; b < UI_BE_COUNT; b++) {
        worker_t *wk = &w->w[b];
        if (wk->started) pthread_join(wk->thread, NULL);
        for (ui_job_t *j = wk->head, *next; j; j = next) {
            next = j->next;
            job_free(j);
        }
        conn_close(&wk->conn);
    }
    for (ui_job_t *j = w->done_head, *next; j; j = next) {
        next = j->next;
        job_free(j);
    }
    w->done_head = w->done_tail = NULL;
}

void ui_work_free(ui_t *ui)
{
    struct ui_work *w = ui->work;
    if (!w) return;
    close(w->pipe[0]);
    close(w->pipe[1]);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    ui->work = NULL;
}

/* ---- the clients ----------------------------------------------------------------------------- */

static const char *need(ui_conn_t *c, ops_key_t key, ui_job_t *j)
{
    const char *v = ops_cfg_need(c->cfg, key, &j->err);
    if (!v) j->st = j->err.st;
    return v;
}

ops_api_t *ui_conn_api(ui_conn_t *c, ui_job_t *j)
{
    if (!c->api && (j->st = ops_api_open(&c->api, c->cfg, &j->err)) != OPS_OK) c->api = NULL;
    return c->api;
}

ops_outbox_t *ui_conn_outbox(ui_conn_t *c, ui_job_t *j)
{
    const char *url;
    if (!c->ob && (url = need(c, OPS_TASKS_DATABASE_URL, j)) &&
        (j->st = ops_outbox_open(&c->ob, url, "todo-console", &j->err)) != OPS_OK)
        c->ob = NULL;
    return c->ob;
}

ops_rm_t *ui_conn_rm(ui_conn_t *c, ui_job_t *j)
{
    const char *url;
    if (!c->rm && (url = need(c, OPS_REDIS_URL, j)) &&
        (j->st = ops_rm_open(&c->rm, url, ops_cfg_get(c->cfg, OPS_TASKS_DATABASE_URL), &j->err)) !=
            OPS_OK)
        c->rm = NULL;
    return c->rm;
}

ops_jaeger_t *ui_conn_jaeger(ui_conn_t *c, ui_job_t *j)
{
    const char *url;
    if (!c->jq && (url = need(c, OPS_JAEGER_QUERY_URL, j)) && !(c->jq = ops_jaeger_new(url)))
        j->st = ops_fail(&j->err, OPS_FAIL, "out of memory");
    return c->jq;
}

ops_kafka_t *ui_conn_kafka(ui_conn_t *c, ui_job_t *j)
{
    const char *b;
    if (!c->kafka && (b = need(c, OPS_KAFKA_BROKERS, j)) &&
        (j->st = ops_kafka_open(&c->kafka, b, &j->err)) != OPS_OK)
        c->kafka = NULL;
    return c->kafka;
}
