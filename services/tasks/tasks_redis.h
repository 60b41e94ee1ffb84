/* tasks_redis — the Redis client under the read model: the URL, a small pool of hiredis
 * connections, a breaker, and Lua scripts loaded once per connection. It knows nothing of
 * tasks: the read model (tasks_readmodel) gives it its scripts and a check to run on every
 * new connection.
 *
 *   tasks_redis_t *r;  tasks_redis_new(&(tasks_redis_config_t){.url = "redis://h:6379/0",
 *       .pool_size = 32, .timeout_ms = 250, .scripts = S, .nscripts = 4,
 *       .on_connect = check, .user = rm}, &r, err, sizeof err);
 *   bool down;  tasks_redis_conn_t *c = tasks_redis_acquire(r, 250, &down);
 *   if (!c) -> fall back (down: Redis is down; else every connection stayed busy)
 *   redisReply *rep = tasks_redis_script(c, 2, nkeys, keys, nargs, args, NULL, err, errlen);
 *   tasks_redis_release(r, c, tasks_redis_broken(c));
 *
 * Why a pool: hiredis 0.14 contexts are not thread-safe, so a connection belongs to one
 * thread at a time; a request holds one for one script call. Why a breaker: after a
 * connection fails, acquire answers "down" at once for TASKS_REDIS_BREAKER_MS, so a dead
 * Redis costs a request nothing instead of a connect timeout. Scripts run by EVALSHA; a
 * NOSCRIPT answer (Redis restarted, SCRIPT FLUSH) loads them again. */
#ifndef TASKS_REDIS_H
#define TASKS_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASKS_REDIS_BREAKER_MS 200

typedef struct tasks_redis tasks_redis_t;
typedef struct tasks_redis_conn tasks_redis_conn_t;

/* Runs on every new connection (after AUTH, SELECT and the script load) and on an existing
 * one before its next use once tasks_redis_recheck was called; forced says a recheck was
 * asked for. -1 with err closes the connection (Redis counts as down). */
typedef int (*tasks_redis_init_fn)(tasks_redis_conn_t *c, bool forced, void *user, char *err,
                                   size_t errlen);

typedef struct tasks_redis_config {
    const char *url;    /* redis://[[user]:password@]host[:port][/db] (lib/redisurl) */
    int pool_size;      /* connections at most */
    int64_t timeout_ms; /* connect and command timeout */
    const char *const *scripts; /* Lua sources, loaded on every connection */
    int nscripts;
    tasks_redis_init_fn on_connect; /* NULL: none */
    void *user;
} tasks_redis_config_t;

/* Creates the client; nothing is connected yet. 0, or -1 with err naming REDIS_URL. */
int tasks_redis_new(const tasks_redis_config_t *cfg, tasks_redis_t **out, char *err,
                    size_t errlen);

/* Closes every connection and frees the client. NULL is ignored. */
void tasks_redis_free(tasks_redis_t *r);

/* Takes a connection, connecting one if needed. NULL when Redis is down (the breaker is open
 * or connecting failed: *down set) or every connection stayed busy for wait_ms (*down
 * clear). */
tasks_redis_conn_t *tasks_redis_acquire(tasks_redis_t *r, int64_t wait_ms, bool *down);

/* Gives a connection back; a broken one (I/O error, timeout) is closed and opens the
 * breaker. */
void tasks_redis_release(tasks_redis_t *r, tasks_redis_conn_t *c, bool broken);

/* The hiredis context of a taken connection (for pipelines and plain commands). */
redisContext *tasks_redis_context(tasks_redis_conn_t *c);

/* True when the connection's context saw an I/O error or timeout. */
bool tasks_redis_broken(const tasks_redis_conn_t *c);

/* True when r is a reply and not an error reply on a healthy context. */
bool tasks_redis_reply_ok(const tasks_redis_conn_t *c, const redisReply *r);

/* EVALSHA of script i (its index in the config's scripts) with the keys and arguments
 * (arglens NULL: NUL-terminated). Returns the reply, or NULL with err (an error reply is
 * freed and its text put in err). */
redisReply *tasks_redis_script(tasks_redis_conn_t *c, int i, int nkeys, const char **keys,
                               int nargs, const char **args, const size_t *arglens, char *err,
                               size_t errlen);

/* Asks for on_connect to run again, forced, before any connection is used next (the read
 * model's "an update was missed"). Survives a failed attempt. Thread-safe. */
void tasks_redis_recheck(tasks_redis_t *r);

/* True while a recheck asked for has not run successfully yet. */
bool tasks_redis_recheck_pending(tasks_redis_t *r);

/* True when the last attempt to use Redis succeeded (the redis_up gauge). NULL: false. */
bool tasks_redis_up(tasks_redis_t *r);

/* Opens the breaker now (a test, or an owner that judged Redis unusable). */
void tasks_redis_breaker_open(tasks_redis_t *r);

/* True while the breaker is open. */
bool tasks_redis_breaker_is_open(tasks_redis_t *r);

#endif
