/* tasks_readmodel — the Redis read model; the rules are in tasks_readmodel.h. The
 * connections, the breaker and the script loading are tasks_redis's. */
#include "tasks_readmodel.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "tasks_redis.h"
#include "tasks_store.h"

#define KEY_EPOCH "tasks:rm:epoch"
#define KEY_RUNID "tasks:rm:runid"
#define KEEPER_PERIOD_MS 1000
#define REBUILD_TRIES 4
#define USERS_PAGE 256
#define APPLY_WAIT_MS 5000

/* ---- the scripts ---------------------------------------------------------------------- */

/* KEYS: runid, epoch. ARGV: this server's run_id, "1" to bump regardless.
 * Returns {bumped 0/1, epoch}. */
static const char LUA_INIT[] =
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur ~= ARGV[1] or ARGV[2] == '1' or not redis.call('GET', KEYS[2]) then "
    "  redis.call('INCR', KEYS[2]) redis.call('SET', KEYS[1], ARGV[1]) "
    "  return {1, redis.call('GET', KEYS[2])} end "
    "return {0, redis.call('GET', KEYS[2])}";

/* KEYS: hash, order, ver, deleted, built, gen, epoch. ARGV: id, version, json ("" = deleted),
 * now_ms. Returns 1 applied, 0 user not built (nothing to do: a rebuild will include it),
 * -1 task deleted, -2 not newer. */
static const char LUA_APPLY[] =
    "redis.call('INCR', KEYS[6]) "
    "local ep = redis.call('GET', KEYS[7]) "
    "if not ep or redis.call('GET', KEYS[5]) ~= ep then return 0 end "
    "if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return -1 end "
    "local cur = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0') "
    "if cur >= tonumber(ARGV[2]) then return -2 end "
    "if ARGV[3] == '' then "
    "  redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('ZREM', KEYS[2], ARGV[1]) "
    "  redis.call('HDEL', KEYS[3], ARGV[1]) redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1]) "
    "  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', tonumber(ARGV[4]) - " "3600000" ") "
    "else "
    "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1]) "
    "  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) "
    "end "
    "return 1";

/* KEYS: hash, order, built, epoch. ARGV: cursor ("" = newest), limit, done ("", "0", "1"),
 * tag, q (ASCII-lowercased). Returns nil when the projection is not built in this epoch,
 * else {id, json, id, json, …} for up to limit + 1 matching tasks, newest first. The title
 * search folds ASCII letters only (string.lower in the C locale), like ascii_lower() in SQL. */
static const char LUA_LIST[] =
    "local ep = redis.call('GET', KEYS[4]) "
    "if not ep or redis.call('GET', KEYS[3]) ~= ep then return false end "
    "local want = 2 * (tonumber(ARGV[2]) + 1) "
    "local maxs = '+inf' "
    "if ARGV[1] ~= '' then maxs = '(' .. ARGV[1] end "
    "local filtered = ARGV[3] ~= '' or ARGV[4] ~= '' or ARGV[5] ~= '' "
    "local chunk = tonumber(ARGV[2]) + 1 "
    "if filtered then chunk = 256 end "
    "local out = {} "
    "while #out < want do "
    "  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[2], maxs, '-inf', 'LIMIT', 0, chunk) "
    "  if #ids == 0 then break end "
    "  local docs = redis.call('HMGET', KEYS[1], unpack(ids)) "
    "  for i = 1, #ids do "
    "    local d = docs[i] "
    "    if d then "
    "      local keep = true "
    "      if filtered then "
    "        local t = cjson.decode(d) "
    "        if ARGV[3] ~= '' and ((t.done and '1') or '0') ~= ARGV[3] then keep = false end "
    "        if keep and ARGV[4] ~= '' then "
    "          keep = false "
    "          for _, g in ipairs(t.tags) do if g == ARGV[4] then keep = true break end end "
    "        end "
    "        if keep and ARGV[5] ~= '' and "
    "           not string.find(string.lower(t.title), ARGV[5], 1, true) then keep = false end "
    "      end "
    "      if keep then "
    "        out[#out + 1] = ids[i] out[#out + 1] = d "
    "        if #out >= want then break end "
    "      end "
    "    end "
    "  end "
    "  if #ids < chunk then break end "
    "  maxs = '(' .. ids[#ids] "
    "end "
    "return out";

/* KEYS: hash, order, ver, deleted, built, gen, epoch, and the rebuild's filled temporary
 * hash, order, ver. ARGV: gen seen before the snapshot, epoch seen then, now_ms.
 * Returns 1 swapped in, 0 a write or an epoch change raced (the temporary keys are dropped;
 * retry). Tasks the old projection had and the snapshot has not were deleted (ids are never
 * reused): they become tombstones. RENAME keeps the temporary keys' expiry: PERSIST. */
static const char LUA_REBUILD[] =
    "if (redis.call('GET', KEYS[6]) or '0') ~= ARGV[1] or redis.call('GET', KEYS[7]) ~= ARGV[2] "
    "then redis.call('DEL', KEYS[8], KEYS[9], KEYS[10]) return 0 end "
    "for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do "
    "  if redis.call('HEXISTS', KEYS[8], id) == 0 then redis.call('ZADD', KEYS[4], ARGV[3], id) end "
    "end "
    "if redis.call('EXISTS', KEYS[8]) == 1 then "
    "  redis.call('RENAME', KEYS[8], KEYS[1]) redis.call('RENAME', KEYS[9], KEYS[2]) "
    "  redis.call('RENAME', KEYS[10], KEYS[3]) "
    "  redis.call('PERSIST', KEYS[1]) redis.call('PERSIST', KEYS[2]) redis.call('PERSIST', KEYS[3]) "
    "else redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end "
    "redis.call('SET', KEYS[5], ARGV[2]) "
    "return 1";

enum { S_INIT, S_APPLY, S_LIST, S_REBUILD, S_COUNT };
static const char *const scripts[S_COUNT] = {LUA_INIT, LUA_APPLY, LUA_LIST, LUA_REBUILD};

/* ---- state ---------------------------------------------------------------------------- */

struct tasks_readmodel {
    tasks_readmodel_config_t cfg;
    tasks_redis_t *redis; /* its recheck flag is rule 4's "an update was missed" */
    pthread_t keeper;
    bool keeper_started;
    atomic_bool stop;
    int stop_fd;
    long long full_epoch; /* epoch of the last completed full rebuild by this keeper */
    metrics_series_t *m_hits, *m_fb_down, *m_fb_busy, *m_fb_not_built, *m_fb_error, *m_apply_ok,
        *m_apply_stale, *m_apply_skipped, *m_apply_failed, *m_rebuild_user, *m_rebuild_full,
        *m_bumps;
};

/* ==== connections ======================================================================= */

/* Rule 4, on every new connection (and before the next use after a missed update): compares
 * the server's run_id with the one the model was built against — a Redis that restarted may
 * hold an old state — and moves the epoch before this connection serves anything. */
static int on_connect(tasks_redis_conn_t *s, bool force, void *user, char *err, size_t errlen)
{
    tasks_readmodel_t *rm = user;
    redisContext *c = tasks_redis_context(s);
    redisReply *r = redisCommand(c, "INFO server");
    char runid[64] = "";
    if (tasks_redis_reply_ok(s, r) && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "run_id:");
        if (p) sscanf(p + 7, "%63[0-9a-f]", runid);
    }
    if (r) freeReplyObject(r);
    if (!runid[0]) return snprintf(err, errlen, "INFO server has no run_id"), -1;
    const char *keys[] = {KEY_RUNID, KEY_EPOCH};
    const char *args[] = {runid, force ? "1" : "0"};
    r = tasks_redis_script(s, S_INIT, 2, keys, 2, args, NULL, err, errlen);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        if (r) freeReplyObject(r);
        return -1;
    }
    if (r->element[0]->integer == 1) {
        metrics_add(rm->m_bumps, 1);
        log_info("read model: epoch moved; every user is rebuilt",
                 LOG_STR("why", force ? "updates were missed while Redis failed"
                                      : "Redis restarted or is new"));
    }
    freeReplyObject(r);
    return 0;
}

/* ==== keys ============================================================================== */

typedef struct user_keys {
    char hash[48], order[56], ver[56], deleted[60], built[56], gen[56];
} user_keys;

static void keys_for(int64_t uid, user_keys *k)
{
    snprintf(k->hash, sizeof k->hash, "tasks:user:%lld", (long long)uid);
    snprintf(k->order, sizeof k->order, "tasks:user:%lld:order", (long long)uid);
    snprintf(k->ver, sizeof k->ver, "tasks:user:%lld:ver", (long long)uid);
    snprintf(k->deleted, sizeof k->deleted, "tasks:user:%lld:deleted", (long long)uid);
    snprintf(k->built, sizeof k->built, "tasks:user:%lld:built", (long long)uid);
    snprintf(k->gen, sizeof k->gen, "tasks:user:%lld:gen", (long long)uid);
}

/* ==== updates =========================================================================== */

void tasks_readmodel_apply(tasks_readmodel_t *rm, const task_t *t, bool deleted)
{
    if (!rm) return;
    bool down;
    /* a busy pool is worth waiting for: giving up here invalidates the whole model */
    tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, APPLY_WAIT_MS, &down);
    if (!s) {
        tasks_redis_recheck(rm->redis); /* rule 4: repaired when Redis answers again */
        metrics_add(rm->m_apply_failed, 1);
        return;
    }
    user_keys k;
    keys_for(t->user_id, &k);
    buf_t doc = BUF_INIT;
    if (!deleted) tasks_model_render(&doc, t);
    char id[24], ver[24], now[24], err[256];
    snprintf(id, sizeof id, "%lld", (long long)t->id);
    snprintf(ver, sizeof ver, "%lld", (long long)t->version);
    snprintf(now, sizeof now, "%lld", (long long)clock_wall_ms());
    const char *keys[] = {k.hash, k.order, k.ver, k.deleted, k.built, k.gen, KEY_EPOCH};
    const char *args[] = {id, ver, deleted ? "" : buf_str(&doc), now};
    redisReply *r = doc.oom ? NULL : tasks_redis_script(s, S_APPLY, 7, keys, 4, args, NULL, err, sizeof err);
    buf_free(&doc);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        tasks_redis_recheck(rm->redis);
        metrics_add(rm->m_apply_failed, 1);
        log_warn("read model: update not applied; the model will be rebuilt",
                 LOG_INT("task_id", t->id), LOG_STR("error", r ? "unexpected reply" : err));
        bool broken = tasks_redis_broken(s);
        if (r) freeReplyObject(r);
        tasks_redis_release(rm->redis, s, broken);
        return;
    }
    long long res = r->integer;
    freeReplyObject(r);
    tasks_redis_release(rm->redis, s, false);
    metrics_add(res == 1 ? rm->m_apply_ok : res == 0 ? rm->m_apply_skipped : rm->m_apply_stale, 1);
}

/* ==== rebuilds ========================================================================== */

/* Writes the snapshot into the temporary keys tmp[0..2] (hash, order, ver) in pipelined
 * chunks, so that a user with tens of thousands of tasks never blocks Redis, nor hits the
 * command timeout, with one huge command. The keys expire if the rebuild dies half way.
 * Returns 0 or -1 (connection error or error reply). */
static int fill_temporary(redisContext *c, char tmp[3][96], const task_t *ts, size_t n)
{
    enum { CHUNK = 500 };
    size_t sent = 0;
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += CHUNK) {
        size_t m = n - at < CHUNK ? n - at : CHUNK;
        size_t argc = 2 + 2 * m;
        const char **argv = malloc(argc * sizeof *argv);
        size_t *lens = malloc(argc * sizeof *lens);
        char (*nums)[2][24] = malloc(m * sizeof *nums);
        buf_t *docs = calloc(m, sizeof *docs);
        if (!argv || !lens || !nums || !docs) rc = -1;
        for (size_t i = 0; rc == 0 && i < m; i++) {
            snprintf(nums[i][0], sizeof nums[i][0], "%lld", (long long)ts[at + i].id);
            snprintf(nums[i][1], sizeof nums[i][1], "%lld", (long long)ts[at + i].version);
            if (tasks_model_render(&docs[i], &ts[at + i]) < 0) rc = -1;
        }
        /* HSET hash id json…; ZADD order id id…; HSET ver id version… */
        for (int cmd = 0; rc == 0 && cmd < 3; cmd++) {
            argv[0] = cmd == 1 ? "ZADD" : "HSET", lens[0] = 4;
            argv[1] = tmp[cmd], lens[1] = strlen(tmp[cmd]);
            for (size_t i = 0; i < m; i++) {
                argv[2 + 2 * i] = nums[i][0], lens[2 + 2 * i] = strlen(nums[i][0]);
                const char *v = cmd == 0 ? buf_str(&docs[i]) : cmd == 1 ? nums[i][0] : nums[i][1];
                argv[3 + 2 * i] = v, lens[3 + 2 * i] = cmd == 0 ? docs[i].len : strlen(v);
            }
            if (redisAppendCommandArgv(c, (int)argc, argv, lens) != REDIS_OK) rc = -1;
            else sent++;
        }
        for (size_t i = 0; docs && i < m; i++) buf_free(&docs[i]);
        free(docs);
        free(nums);
        free(lens);
        free(argv);
    }
    for (int k = 0; k < 3; k++) {
        if (redisAppendCommand(c, "EXPIRE %s 120", tmp[k]) == REDIS_OK) sent++;
        else rc = -1;
    }
    for (size_t i = 0; i < sent; i++) { /* read every reply, even after a failure */
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) return -1; /* connection broken */
        if (!r || r->type == REDIS_REPLY_ERROR) rc = -1;
        if (r) freeReplyObject(r);
    }
    return rc;
}

/* Rule 3: gen and epoch are read before the PostgreSQL snapshot; the swap script installs
 * the rebuilt projection only if neither moved. Returns 1 rebuilt, 0 lost every race,
 * -1 error. */
static int rebuild_user(tasks_readmodel_t *rm, tasks_redis_conn_t *s, int64_t uid, long *ntasks)
{
    user_keys k;
    keys_for(uid, &k);
    for (int attempt = 0; attempt < REBUILD_TRIES; attempt++) {
        redisReply *g = redisCommand(tasks_redis_context(s), "MGET %s %s", k.gen, KEY_EPOCH);
        if (!tasks_redis_reply_ok(s, g) || g->type != REDIS_REPLY_ARRAY || g->elements != 2 ||
            g->element[1]->type != REDIS_REPLY_STRING) {
            if (g) freeReplyObject(g);
            return -1;
        }
        char gen[32], epoch[32];
        snprintf(gen, sizeof gen, "%s",
                 g->element[0]->type == REDIS_REPLY_STRING ? g->element[0]->str : "0");
        snprintf(epoch, sizeof epoch, "%s", g->element[1]->str);
        freeReplyObject(g);

        task_t *ts = NULL;
        size_t n = 0;
        pg_err pe;
        if (tasks_store_user_tasks(rm->cfg.pool, uid, &ts, &n, &pe) < 0) {
            log_warn("read model: rebuild cannot read PostgreSQL", LOG_STR("error", pe.msg));
            return -1;
        }
        char tmp[3][96];
        unsigned rnd;
        if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) rnd = (unsigned)clock_mono_ms();
        snprintf(tmp[0], sizeof tmp[0], "%s:rebuild:%08x:hash", k.hash, rnd);
        snprintf(tmp[1], sizeof tmp[1], "%s:rebuild:%08x:order", k.hash, rnd);
        snprintf(tmp[2], sizeof tmp[2], "%s:rebuild:%08x:ver", k.hash, rnd);
        int rc = fill_temporary(tasks_redis_context(s), tmp, ts, n);
        free(ts);
        char now[24], err[256] = "filling the temporary keys failed";
        snprintf(now, sizeof now, "%lld", (long long)clock_wall_ms());
        if (rc == 0) {
            const char *keys[] = {k.hash, k.order, k.ver,  k.deleted, k.built,
                                  k.gen,  KEY_EPOCH, tmp[0], tmp[1], tmp[2]};
            const char *args[] = {gen, epoch, now};
            redisReply *r = tasks_redis_script(s, S_REBUILD, 10, keys, 3, args, NULL, err, sizeof err);
            rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
            if (r) freeReplyObject(r);
        }
        if (rc < 0) {
            log_warn("read model: rebuild failed", LOG_INT("user_id", uid), LOG_STR("error", err));
            return -1;
        }
        if (rc == 1) {
            metrics_add(rm->m_rebuild_user, 1);
            if (ntasks) *ntasks += (long)n;
            return 1;
        }
        /* a write raced: try again with a fresh snapshot */
    }
    return 0;
}

/* Rebuilds every user whose projection is not of the current epoch. Stops early on stop or
 * error. Returns 0 when every user was visited, -1 otherwise. */
static int rebuild_all_users(tasks_readmodel_t *rm, bool (*stop)(tasks_readmodel_t *), long *users,
                             long *tasks, long long *epoch_out)
{
    int64_t after = 0;
    int64_t ids[USERS_PAGE];
    long failed = 0;
    for (;;) {
        size_t n = 0;
        pg_err pe;
        if (tasks_store_users_after(rm->cfg.pool, after, ids, USERS_PAGE, &n, &pe) < 0) {
            log_warn("read model: listing users failed", LOG_STR("error", pe.msg));
            return -1;
        }
        if (n == 0) return failed ? -1 : 0;
        for (size_t i = 0; i < n; i++) {
            if (stop && stop(rm)) return -1;
            bool down;
            tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, APPLY_WAIT_MS, &down);
            if (!s) return -1;
            user_keys k;
            keys_for(ids[i], &k);
            redisReply *r = redisCommand(tasks_redis_context(s), "MGET %s %s", k.built, KEY_EPOCH);
            bool broken = !tasks_redis_reply_ok(s, r) || r->type != REDIS_REPLY_ARRAY || r->elements != 2;
            bool fresh = !broken && r->element[0]->type == REDIS_REPLY_STRING &&
                         r->element[1]->type == REDIS_REPLY_STRING &&
                         !strcmp(r->element[0]->str, r->element[1]->str);
            if (!broken && epoch_out && r->element[1]->type == REDIS_REPLY_STRING)
                *epoch_out = strtoll(r->element[1]->str, NULL, 10);
            if (r) freeReplyObject(r);
            int rc = broken ? -1 : fresh ? 1 : rebuild_user(rm, s, ids[i], tasks);
            broken = broken || tasks_redis_broken(s);
            tasks_redis_release(rm->redis, s, broken);
            if (broken) return -1; /* Redis went away: the pass starts again later */
            /* one user failing (or losing every race) does not hold up the others: it is
             * rebuilt when read, and the pass is repeated */
            failed += rc != 1;
            if (users && rc == 1 && !fresh) (*users)++;
        }
        after = ids[n - 1];
    }
}

int tasks_readmodel_rebuild_all(tasks_readmodel_t *rm, long *users, long *tasks, char *err, size_t errlen)
{
    *users = *tasks = 0;
    tasks_redis_recheck(rm->redis); /* the next connection moves the epoch */
    bool down;
    tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, APPLY_WAIT_MS, &down);
    if (!s) return snprintf(err, errlen, "Redis is not available"), -1;
    tasks_redis_release(rm->redis, s, false);
    if (tasks_redis_recheck_pending(rm->redis)) return snprintf(err, errlen, "could not move the epoch"), -1;
    if (rebuild_all_users(rm, NULL, users, tasks, NULL) < 0)
        return snprintf(err, errlen, "the rebuild stopped early (see the log)"), -1;
    metrics_add(rm->m_rebuild_full, 1);
    return 0;
}

/* ==== reads ============================================================================= */

void tasks_readmodel_render_list(buf_t *body, const char *const *docs, size_t n, int64_t next)
{
    buf_puts(body, "{\"tasks\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(body, ',');
        buf_puts(body, docs[i]);
    }
    if (next)
        buf_printf(body, "],\"next_cursor\":\"%lld\"}", (long long)next);
    else
        buf_puts(body, "],\"next_cursor\":null}");
}

/* Runs the list script once: 1 served, 0 not built, -1 failed. */
static int list_once(tasks_readmodel_t *rm, tasks_redis_conn_t *s, const user_keys *k, const task_query_t *q,
                     buf_t *body, bool *broken)
{
    char cursor[24] = "", limit[16];
    if (q->cursor) snprintf(cursor, sizeof cursor, "%lld", (long long)q->cursor);
    snprintf(limit, sizeof limit, "%d", q->limit);
    const char *keys[] = {k->hash, k->order, k->built, KEY_EPOCH};
    const char *args[] = {cursor, limit, q->done < 0 ? "" : q->done ? "1" : "0",
                          q->has_tag ? q->tag : "", q->has_q ? q->q : ""};
    char err[256];
    redisReply *r = tasks_redis_script(s, S_LIST, 4, keys, 5, args, NULL, err, sizeof err);
    *broken = tasks_redis_broken(s);
    if (!r) {
        log_warn("read model: list failed", LOG_STR("error", err));
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        freeReplyObject(r);
        return -1;
    }
    size_t pairs = r->elements / 2;
    size_t n = pairs > (size_t)q->limit ? (size_t)q->limit : pairs;
    const char **docs = malloc((n ? n : 1) * sizeof *docs);
    if (!docs) {
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        docs[i] = r->element[2 * i + 1]->str;
    int64_t next = pairs > (size_t)q->limit ? strtoll(r->element[2 * (n - 1)]->str, NULL, 10) : 0;
    tasks_readmodel_render_list(body, docs, n, next);
    free(docs);
    freeReplyObject(r);
    return 1;
}

int tasks_readmodel_list(tasks_readmodel_t *rm, int64_t user_id, const task_query_t *q, buf_t *body,
            const char **why)
{
    bool down;
    tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, rm->cfg.timeout_ms, &down);
    if (!s) {
        *why = down ? "redis_down" : "busy";
        metrics_add(down ? rm->m_fb_down : rm->m_fb_busy, 1);
        return 0;
    }
    user_keys k;
    keys_for(user_id, &k);
    bool broken = false;
    int rc = list_once(rm, s, &k, q, body, &broken);
    if (rc == 0 && !broken) {
        /* not built in this epoch: build this user now, then serve */
        int rb = rebuild_user(rm, s, user_id, NULL);
        broken = tasks_redis_broken(s);
        if (rb == 1 && !broken) rc = list_once(rm, s, &k, q, body, &broken);
    }
    tasks_redis_release(rm->redis, s, broken);
    if (rc == 1) {
        metrics_add(rm->m_hits, 1);
        return 1;
    }
    buf_reset(body);
    *why = rc == 0 ? "not_built" : broken ? "redis_down" : "error";
    metrics_add(rc == 0 ? rm->m_fb_not_built : broken ? rm->m_fb_down : rm->m_fb_error, 1);
    return 0;
}

bool tasks_readmodel_up(tasks_readmodel_t *rm)
{
    return rm && tasks_redis_up(rm->redis);
}

/* ==== the keeper ======================================================================== */

static bool keeper_stop(tasks_readmodel_t *rm)
{
    return atomic_load(&rm->stop);
}

/* Every second: touch Redis (which reconnects and bumps the epoch if updates were missed);
 * when the epoch differs from the last full rebuild this keeper finished, rebuild all. */
static void *keeper_main(void *arg)
{
    tasks_readmodel_t *rm = arg;
    while (!keeper_stop(rm)) {
        bool down;
        tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, APPLY_WAIT_MS, &down);
        long long epoch = -1;
        if (s) {
            redisReply *r = redisCommand(tasks_redis_context(s), "GET %s", KEY_EPOCH);
            bool ok = tasks_redis_reply_ok(s, r);
            if (ok && r->type == REDIS_REPLY_STRING) epoch = strtoll(r->str, NULL, 10);
            if (r) freeReplyObject(r);
            tasks_redis_release(rm->redis, s, !ok);
        }
        if (epoch >= 0 && epoch != rm->full_epoch) {
            long users = 0, tasks = 0;
            long long seen = epoch;
            long long t0 = clock_mono_ms();
            if (rebuild_all_users(rm, keeper_stop, &users, &tasks, &seen) == 0) {
                rm->full_epoch = epoch;
                metrics_add(rm->m_rebuild_full, 1);
                log_info("read model: rebuilt", LOG_INT("epoch", epoch), LOG_INT("users", users),
                         LOG_INT("tasks", tasks), LOG_INT("ms", clock_mono_ms() - t0));
            }
        }
        struct pollfd fd = {.fd = rm->stop_fd, .events = POLLIN};
        poll(&fd, 1, KEEPER_PERIOD_MS);
    }
    return NULL;
}

int tasks_readmodel_keeper_start(tasks_readmodel_t *rm, char *err, size_t errlen)
{
    if (pthread_create(&rm->keeper, NULL, keeper_main, rm) != 0) {
        snprintf(err, errlen, "cannot start the read model keeper thread");
        return -1;
    }
    rm->keeper_started = true;
    return 0;
}

/* ==== lifecycle ========================================================================= */

static metrics_series_t *series(metrics_family_t *f, const char *v)
{
    return metrics_series(f, METRICS_LABELS(v));
}

static void register_metrics(tasks_readmodel_t *rm, metrics_registry_t *reg)
{
    if (!reg) return;
    char e[256];
    metrics_family_t *f = metrics_counter(reg, "tasks_read_model_hits_total",
                                          "GET /api/tasks answered from the Redis read model.",
                                          NULL, e, sizeof e);
    rm->m_hits = metrics_series(f, NULL);
    f = metrics_counter(reg, "tasks_read_model_fallbacks_total",
                        "GET /api/tasks answered from PostgreSQL instead, by reason.", "reason", e,
                        sizeof e);
    rm->m_fb_down = series(f, "redis_down");
    rm->m_fb_not_built = series(f, "not_built");
    rm->m_fb_error = series(f, "error");
    rm->m_fb_busy = series(f, "busy");
    f = metrics_counter(reg, "tasks_read_model_updates_total",
                        "Committed changes applied to the read model, by result.", "result", e,
                        sizeof e);
    rm->m_apply_ok = series(f, "applied");
    rm->m_apply_stale = series(f, "stale");
    rm->m_apply_skipped = series(f, "not_built");
    rm->m_apply_failed = series(f, "failed");
    f = metrics_counter(reg, "tasks_read_model_rebuilds_total",
                        "Read model rebuilds, of one user or of all.", "scope", e, sizeof e);
    rm->m_rebuild_user = series(f, "user");
    rm->m_rebuild_full = series(f, "all");
    f = metrics_counter(reg, "tasks_read_model_epoch_bumps_total",
                        "Times this process invalidated the whole read model.", NULL, e, sizeof e);
    rm->m_bumps = metrics_series(f, NULL);
}

int tasks_readmodel_new(const tasks_readmodel_config_t *cfg, tasks_readmodel_t **out, char *err, size_t errlen)
{
    *out = NULL;
    tasks_readmodel_t *rm = calloc(1, sizeof *rm);
    if (!rm) return snprintf(err, errlen, "out of memory"), -1;
    rm->cfg = *cfg;
    rm->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    atomic_init(&rm->stop, false);
    rm->full_epoch = -1;
    register_metrics(rm, cfg->metrics);
    tasks_redis_config_t rc = {.url = cfg->url,
                               .pool_size = cfg->pool_size,
                               .timeout_ms = cfg->timeout_ms,
                               .scripts = scripts,
                               .nscripts = S_COUNT,
                               .on_connect = on_connect,
                               .user = rm};
    if (rm->stop_fd < 0) {
        snprintf(err, errlen, "cannot make an eventfd");
        tasks_readmodel_free(rm);
        return -1;
    }
    if (tasks_redis_new(&rc, &rm->redis, err, errlen) < 0) {
        tasks_readmodel_free(rm);
        return -1;
    }
    *out = rm;
    return 0;
}

void tasks_readmodel_free(tasks_readmodel_t *rm)
{
    if (!rm) return;
    if (rm->keeper_started) {
        atomic_store(&rm->stop, true);
        uint64_t one = 1;
        ssize_t w = write(rm->stop_fd, &one, sizeof one);
        (void)w;
        pthread_join(rm->keeper, NULL);
    }
    tasks_redis_free(rm->redis);
    if (rm->stop_fd >= 0) close(rm->stop_fd);
    free(rm);
}
