/* tasks_redis — the Redis client under the read model; see tasks_redis.h. */
#include "tasks_redis.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "redisurl.h"

struct tasks_redis_conn {
    redisContext *c;
    bool busy;
    char (*sha)[41]; /* one per script */
    tasks_redis_t *owner;
};

struct tasks_redis {
    tasks_redis_config_t cfg;
    redisurl_t addr;
    pthread_mutex_t mu;
    pthread_cond_t freed; /* on CLOCK_MONOTONIC */
    tasks_redis_conn_t *conns;
    atomic_llong down_until_ms; /* breaker: skip Redis until then */
    atomic_bool recheck;        /* run on_connect again before the next use */
    atomic_bool up;
};

/* ==== commands and scripts ============================================================== */

void tasks_redis_breaker_open(tasks_redis_t *r)
{
    atomic_store(&r->down_until_ms, clock_mono_ms() + TASKS_REDIS_BREAKER_MS);
    atomic_store(&r->up, false);
}

bool tasks_redis_breaker_is_open(tasks_redis_t *r)
{
    return clock_mono_ms() < atomic_load(&r->down_until_ms);
}

bool tasks_redis_reply_ok(const tasks_redis_conn_t *c, const redisReply *r)
{
    return c->c && c->c->err == 0 && r && r->type != REDIS_REPLY_ERROR;
}

redisContext *tasks_redis_context(tasks_redis_conn_t *c)
{
    return c->c;
}

bool tasks_redis_broken(const tasks_redis_conn_t *c)
{
    return !c->c || c->c->err != 0;
}

/* Runs a command given as argv; the reply or NULL (connection error or error reply; the
 * error reply is freed and *is_err set so the caller can tell them apart). */
static redisReply *cmd(redisContext *c, int argc, const char **argv, const size_t *lens,
                       bool *is_err, char *errbuf, size_t errlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (is_err) *is_err = false;
    if (!r || c->err) {
        if (errbuf) snprintf(errbuf, errlen, "%s", c->err ? c->errstr : "no reply");
        if (r) freeReplyObject(r);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (errbuf) snprintf(errbuf, errlen, "%.*s", (int)r->len, r->str);
        if (is_err) *is_err = true;
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int load_scripts(tasks_redis_conn_t *s)
{
    for (int i = 0; i < s->owner->cfg.nscripts; i++) {
        redisReply *r = redisCommand(s->c, "SCRIPT LOAD %s", s->owner->cfg.scripts[i]);
        bool ok = tasks_redis_reply_ok(s, r) && r->type == REDIS_REPLY_STRING && r->len == 40;
        if (ok) memcpy(s->sha[i], r->str, 41);
        if (r) freeReplyObject(r);
        if (!ok) return -1;
    }
    return 0;
}

redisReply *tasks_redis_script(tasks_redis_conn_t *s, int i, int nkeys, const char **keys,
                               int nargs, const char **args, const size_t *arglens, char *err,
                               size_t errlen)
{
    int argc = 3 + nkeys + nargs;
    const char **argv = malloc((size_t)argc * sizeof *argv);
    size_t *lens = malloc((size_t)argc * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char nk[12];
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVALSHA", argv[1] = s->sha[i], argv[2] = nk;
    for (int k = 0; k < 3; k++) lens[k] = strlen(argv[k]);
    for (int k = 0; k < nkeys; k++) argv[3 + k] = keys[k], lens[3 + k] = strlen(keys[k]);
    for (int k = 0; k < nargs; k++)
        argv[3 + nkeys + k] = args[k], lens[3 + nkeys + k] = arglens ? arglens[k] : strlen(args[k]);
    bool is_err;
    redisReply *r = cmd(s->c, argc, argv, lens, &is_err, err, errlen);
    if (!r && is_err && !strncmp(err, "NOSCRIPT", 8) && load_scripts(s) == 0) {
        argv[1] = s->sha[i];
        r = cmd(s->c, argc, argv, lens, &is_err, err, errlen);
    }
    free(argv);
    free(lens);
    return r;
}

/* ==== connections ======================================================================= */

/* AUTH, SELECT, the scripts, then the owner's check. */
static int conn_init(tasks_redis_t *r, tasks_redis_conn_t *s, bool fresh, char *err,
                     size_t errlen)
{
    redisContext *c = s->c;
    redisReply *rep;
    if (fresh && r->addr.password[0]) {
        rep = r->addr.user[0] ? redisCommand(c, "AUTH %s %s", r->addr.user, r->addr.password)
                         : redisCommand(c, "AUTH %s", r->addr.password);
        bool ok = tasks_redis_reply_ok(s, rep);
        if (rep) freeReplyObject(rep);
        if (!ok) return snprintf(err, errlen, "AUTH refused"), -1;
    }
    if (fresh && r->addr.db) {
        rep = redisCommand(c, "SELECT %d", r->addr.db);
        bool ok = tasks_redis_reply_ok(s, rep);
        if (rep) freeReplyObject(rep);
        if (!ok) return snprintf(err, errlen, "SELECT %d refused", r->addr.db), -1;
    }
    if (fresh && load_scripts(s) < 0) return snprintf(err, errlen, "SCRIPT LOAD failed"), -1;
    if (!r->cfg.on_connect) return 0;
    bool forced = atomic_exchange(&r->recheck, false);
    if (r->cfg.on_connect(s, forced, r->cfg.user, err, errlen) < 0) {
        if (forced) atomic_store(&r->recheck, true);
        return -1;
    }
    return 0;
}

/* Returns a taken connection to the pool; with why (a broken one), it is closed first, the
 * breaker opens, and the first failure since Redis was up is logged with why and error. */
static void give_back(tasks_redis_t *r, tasks_redis_conn_t *s, const char *why,
                      const char *error)
{
    if (why) {
        if (atomic_load(&r->up)) log_warn(why, LOG_STR("error", error));
        if (s->c) redisFree(s->c);
        s->c = NULL;
        tasks_redis_breaker_open(r);
    }
    pthread_mutex_lock(&r->mu);
    s->busy = false;
    pthread_cond_signal(&r->freed);
    pthread_mutex_unlock(&r->mu);
}

tasks_redis_conn_t *tasks_redis_acquire(tasks_redis_t *r, int64_t wait_ms, bool *down)
{
    *down = true;
    if (tasks_redis_breaker_is_open(r)) return NULL;
    *down = false;
    struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, wait_ms);
    tasks_redis_conn_t *s = NULL;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        for (int i = 0; i < r->cfg.pool_size; i++) {
            tasks_redis_conn_t *t = &r->conns[i];
            if (t->busy) continue;
            if (!s || (!s->c && t->c)) s = t;
            if (s->c) break;
        }
        if (s) break;
        if (pthread_cond_timedwait(&r->freed, &r->mu, &deadline) != 0) break;
    }
    if (s) s->busy = true;
    pthread_mutex_unlock(&r->mu);
    if (!s) return NULL;
    *down = true;

    char err[256] = "";
    if (!s->c) {
        struct timeval tv = {r->cfg.timeout_ms / 1000, (r->cfg.timeout_ms % 1000) * 1000};
        redisContext *c = redisConnectWithTimeout(r->addr.host, r->addr.port, tv);
        if (c && !c->err) redisSetTimeout(c, tv);
        if (!c || c->err) {
            snprintf(err, sizeof err, "%s", c ? c->errstr : "out of memory");
            if (c) redisFree(c);
            goto fail;
        }
        s->c = c;
        if (conn_init(r, s, true, err, sizeof err) < 0) goto fail;
        if (!atomic_load(&r->up)) log_info("read model: connected to Redis");
    } else if (atomic_load(&r->recheck)) {
        if (conn_init(r, s, false, err, sizeof err) < 0) goto fail;
    }
    atomic_store(&r->up, true);
    *down = false;
    return s;
fail:
    give_back(r, s, "read model: Redis unavailable; reads fall back to PostgreSQL", err);
    return NULL;
}

void tasks_redis_release(tasks_redis_t *r, tasks_redis_conn_t *s, bool broken)
{
    give_back(r, s, broken ? "read model: Redis connection failed; reads fall back to PostgreSQL"
                           : NULL,
              s->c && s->c->err ? s->c->errstr : "error reply");
}

void tasks_redis_recheck(tasks_redis_t *r)
{
    atomic_store(&r->recheck, true);
}

bool tasks_redis_recheck_pending(tasks_redis_t *r)
{
    return atomic_load(&r->recheck);
}

bool tasks_redis_up(tasks_redis_t *r)
{
    return r && atomic_load(&r->up);
}

/* ==== lifecycle ========================================================================= */

int tasks_redis_new(const tasks_redis_config_t *cfg, tasks_redis_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    tasks_redis_t *r = calloc(1, sizeof *r);
    if (!r) return snprintf(err, errlen, "out of memory"), -1;
    r->cfg = *cfg;
    if (r->cfg.pool_size < 1) r->cfg.pool_size = 1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wall-clock jumps must not shorten waits */
    pthread_cond_init(&r->freed, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&r->down_until_ms, 0);
    atomic_init(&r->recheck, false);
    atomic_init(&r->up, false);
    char why[128];
    if (redisurl_parse(cfg->url, &r->addr, why, sizeof why) < 0) {
        snprintf(err, errlen, "REDIS_URL: %s", why);
        tasks_redis_free(r);
        return -1;
    }
    r->conns = calloc((size_t)r->cfg.pool_size, sizeof *r->conns);
    if (!r->conns) {
        snprintf(err, errlen, "out of memory");
        tasks_redis_free(r);
        return -1;
    }
    for (int i = 0; i < r->cfg.pool_size; i++) {
        r->conns[i].owner = r;
        r->conns[i].sha = calloc((size_t)(cfg->nscripts ? cfg->nscripts : 1), 41);
        if (!r->conns[i].sha) {
            snprintf(err, errlen, "out of memory");
            tasks_redis_free(r);
            return -1;
        }
    }
    *out = r;
    return 0;
}

void tasks_redis_free(tasks_redis_t *r)
{
    if (!r) return;
    for (int i = 0; r->conns && i < r->cfg.pool_size; i++) {
        if (r->conns[i].c) redisFree(r->conns[i].c);
        free(r->conns[i].sha);
    }
    free(r->conns);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->freed);
    free(r);
}
