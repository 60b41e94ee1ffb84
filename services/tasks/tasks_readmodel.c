/* tasks_readmodel — the Redis read model; the rules are in tasks_readmodel.h. The
 * connections, the breaker and the script loading are tasks_redis's; the SQL is
 * tasks_store's. */
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
#define SWEEP_PERIOD_MS 1000
#define USERS_PAGE 256
#define APPLY_WAIT_MS 5000
#define LEASE_MS 30000     /* a rebuild's lease; renewed with every page it writes */
#define QUEUE_MAX 1024     /* users waiting for a rebuild; more are dropped (asked again) */
#define MARKS_MAX 4096     /* users this process marked, not yet invalidated; more move the epoch */
#define SWEEP_BATCH 500
#define TOMBSTONE_MS "3600000"

/* ---- the scripts ---------------------------------------------------------------------- */

/* KEYS: runid, epoch. ARGV: this server's run_id, "1" to bump regardless.
 * Returns {bumped 0/1, epoch}. */
static const char LUA_INIT[] =
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur ~= ARGV[1] or ARGV[2] == '1' or not redis.call('GET', KEYS[2]) then "
    "  redis.call('INCR', KEYS[2]) redis.call('SET', KEYS[1], ARGV[1]) "
    "  return {1, redis.call('GET', KEYS[2])} end "
    "return {0, redis.call('GET', KEYS[2])}";

/* Rule 1 on one set of structures (hash, order, ver, deleted): 1 applied, -1 the task is
 * deleted, -2 not newer. Shared by the scripts that write tasks. */
#define LUA_PUT                                                                                   \
    "local function put(h, o, v, d, id, ver, doc, now) "                                          \
    "  if redis.call('ZSCORE', d, id) then return -1 end "                                        \
    "  if tonumber(redis.call('HGET', v, id) or '0') >= ver then return -2 end "                  \
    "  if doc == '' then "                                                                        \
    "    redis.call('HDEL', h, id) redis.call('ZREM', o, id) redis.call('HDEL', v, id) "          \
    "    redis.call('ZADD', d, now, id) "                                                         \
    "    redis.call('ZREMRANGEBYSCORE', d, '-inf', now - " TOMBSTONE_MS ") "                      \
    "  else "                                                                                     \
    "    redis.call('HSET', h, id, doc) redis.call('ZADD', o, id, id) "                           \
    "    redis.call('HSET', v, id, ver) "                                                         \
    "  end "                                                                                      \
    "  return 1 "                                                                                 \
    "end "

/* The four stage keys of lease token t of the user whose hash key is h. */
#define LUA_STAGE                                                                                 \
    "local function stage(h, t) local p = h .. ':stage:' .. t "                                   \
    "  return {p .. ':hash', p .. ':order', p .. ':ver', p .. ':deleted'} end "

/* KEYS: hash, order, ver, deleted, built, lease, epoch. ARGV: id, version, json ("" = deleted),
 * now_ms. The change goes to the stage of a rebuild under way (a tombstone of the live
 * projection counts there too), and to the projection if it is built. Returns 1 applied,
 * -1 task deleted, -2 not newer, 0 not built (a rebuild should be asked for), 2 not built but
 * staged (the rebuild under way has it). */
static const char LUA_APPLY[] =
    LUA_PUT LUA_STAGE
    "local ver, now = tonumber(ARGV[2]), tonumber(ARGV[4]) "
    "local staged = false "
    "local token = redis.call('GET', KEYS[6]) "
    "if token then "
    "  local s = stage(KEYS[1], token) "
    "  if not redis.call('ZSCORE', KEYS[4], ARGV[1]) then "
    "    put(s[1], s[2], s[3], s[4], ARGV[1], ver, ARGV[3], now) end "
    "  local ttl = redis.call('PTTL', KEYS[6]) "
    "  if ttl > 0 then for _, k in ipairs(s) do redis.call('PEXPIRE', k, ttl) end end "
    "  staged = true "
    "end "
    "local ep = redis.call('GET', KEYS[7]) "
    "if not ep or redis.call('GET', KEYS[5]) ~= ep then "
    "  if staged then return 2 end return 0 end "
    "return put(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ver, ARGV[3], now)";

/* KEYS: hash, order, built, epoch. ARGV: cursor ("" = newest), limit, done ("", "0", "1"),
 * tag, q (ASCII-lowercased), scan max. Returns nil when the projection is not built in this
 * epoch; -1 when a filtered list would decode more than scan max documents (the caller reads
 * PostgreSQL: a large user's rare filter must not hold Redis for everyone); else
 * {id, json, id, json, …} for up to limit + 1 matching tasks, newest first. The title search
 * folds ASCII letters only (string.lower in the C locale), like ascii_lower() in SQL. */
static const char LUA_LIST[] =
    "local ep = redis.call('GET', KEYS[4]) "
    "if not ep or redis.call('GET', KEYS[3]) ~= ep then return false end "
    "local want = 2 * (tonumber(ARGV[2]) + 1) "
    "local maxs = '+inf' "
    "if ARGV[1] ~= '' then maxs = '(' .. ARGV[1] end "
    "local filtered = ARGV[3] ~= '' or ARGV[4] ~= '' or ARGV[5] ~= '' "
    "local scanmax, scanned = tonumber(ARGV[6]), 0 "
    "local chunk = tonumber(ARGV[2]) + 1 "
    "if filtered then chunk = 200 end "
    "local out = {} "
    "while #out < want do "
    "  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[2], maxs, '-inf', 'LIMIT', 0, chunk) "
    "  if #ids == 0 then break end "
    "  if filtered and scanned >= scanmax then return -1 end "
    "  local docs = redis.call('HMGET', KEYS[1], unpack(ids)) "
    "  for i = 1, #ids do "
    "    local d = docs[i] "
    "    if d then "
    "      local keep = true "
    "      if filtered then "
    "        scanned = scanned + 1 "
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

/* KEYS: lease, built, epoch. ARGV: token, lease ms, "1" to rebuild a built user too.
 * Returns {1, epoch} the lease is taken, {0, epoch} the user is built in this epoch (nothing
 * to do), {-1, epoch} another rebuild holds the lease, {-2, ""} no epoch yet. */
static const char LUA_BEGIN[] =
    "local ep = redis.call('GET', KEYS[3]) "
    "if not ep then return {-2, ''} end "
    "if ARGV[3] ~= '1' and redis.call('GET', KEYS[2]) == ep then return {0, ep} end "
    "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {-1, ep} end "
    "return {1, ep}";

/* KEYS: lease, hash. ARGV: token, lease ms, then id, version, json for each task of a page of
 * the snapshot. Writes them into the stage by rule 1 (a newer version or a tombstone staged
 * by an update since the lease was taken wins) and renews the lease and the stage's expiry.
 * Returns 1, or 0 when the lease is no longer this rebuild's (it must stop). */
static const char LUA_FILL[] =
    LUA_STAGE
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "local s = stage(KEYS[2], ARGV[1]) "
    "for i = 3, #ARGV, 3 do "
    "  local id, ver = ARGV[i], tonumber(ARGV[i + 1]) "
    "  if not redis.call('ZSCORE', s[4], id) and "
    "     tonumber(redis.call('HGET', s[3], id) or '0') < ver then "
    "    redis.call('HSET', s[1], id, ARGV[i + 2]) redis.call('ZADD', s[2], id, id) "
    "    redis.call('HSET', s[3], id, ver) "
    "  end "
    "end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) "
    "for _, k in ipairs(s) do redis.call('PEXPIRE', k, ARGV[2]) end "
    "return 1";

/* KEYS: hash, order, ver, deleted, built, lease, epoch. ARGV: token, epoch at the start,
 * now_ms. Installs the stage as the projection if the lease is still this rebuild's and the
 * epoch has not moved; else drops the stage. Tombstones of the old projection are kept,
 * except those of ids the new one holds: a snapshot that contains an id proves the task was
 * not deleted when its tombstone says. Returns 1 installed, 0 lost. */
static const char LUA_SWAP[] =
    LUA_STAGE
    "local s = stage(KEYS[1], ARGV[1]) "
    "if redis.call('GET', KEYS[6]) ~= ARGV[1] or redis.call('GET', KEYS[7]) ~= ARGV[2] then "
    "  redis.call('UNLINK', s[1], s[2], s[3], s[4]) return 0 end "
    "local now = tonumber(ARGV[3]) "
    "local live = redis.call('ZRANGEBYSCORE', KEYS[4], now - " TOMBSTONE_MS ", '+inf', "
    "                        'WITHSCORES') "
    "for i = 1, #live, 2 do "
    "  if redis.call('HEXISTS', s[1], live[i]) == 0 and not redis.call('ZSCORE', s[4], live[i]) "
    "  then redis.call('ZADD', s[4], live[i + 1], live[i]) end "
    "end "
    "redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4]) "
    "for i = 1, 4 do "
    "  if redis.call('EXISTS', s[i]) == 1 then "
    "    redis.call('RENAME', s[i], KEYS[i]) redis.call('PERSIST', KEYS[i]) end "
    "end "
    "redis.call('SET', KEYS[5], ARGV[2]) "
    "redis.call('DEL', KEYS[6]) "
    "return 1";

/* KEYS: lease, hash. ARGV: token. A rebuild that cannot finish drops its stage and gives its
 * lease back (if it still holds it), so the next rebuild of the user need not wait for the
 * lease to expire. */
static const char LUA_ABORT[] =
    LUA_STAGE
    "local s = stage(KEYS[2], ARGV[1]) "
    "redis.call('UNLINK', s[1], s[2], s[3], s[4]) "
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end "
    "return 1";

/* KEYS: built, lease. Rule 4 for one user: the projection is no longer served, and a rebuild
 * under way (whose snapshot may miss the change) can no longer swap. */
static const char LUA_INVALIDATE[] = "return redis.call('DEL', KEYS[1], KEYS[2])";

enum { S_INIT, S_APPLY, S_LIST, S_BEGIN, S_FILL, S_SWAP, S_ABORT, S_INVALIDATE, S_COUNT };
static const char *const scripts[S_COUNT] = {LUA_INIT, LUA_APPLY, LUA_LIST,  LUA_BEGIN,
                                             LUA_FILL, LUA_SWAP,  LUA_ABORT, LUA_INVALIDATE};

/* ---- state ---------------------------------------------------------------------------- */

struct tasks_readmodel {
    tasks_readmodel_config_t cfg;
    tasks_redis_t *redis;
    pthread_t keeper, rebuilder;
    bool keeper_started, rebuilder_started;
    atomic_bool stop;
    int stop_fd;
    long long full_epoch; /* epoch of the last completed full rebuild by this keeper */
    /* the rebuilder's work, under mu: users to rebuild; users this process marked and has not
     * seen invalidated yet (its reads of them go to PostgreSQL meanwhile) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t queue[QUEUE_MAX];
    size_t qhead, qlen;
    struct mark_entry {
        int64_t uid;
        unsigned gen;  /* moves with every new mark of the user */
        bool durable;  /* in readmodel_dirty */
    } marks[MARKS_MAX];
    size_t nmarks;
    atomic_bool swept; /* the marks were swept once: Redis may serve */
    metrics_series_t *m_hits, *m_fb_down, *m_fb_busy, *m_fb_not_built, *m_fb_error,
        *m_fb_scan, *m_fb_starting, *m_fb_marked, *m_apply_ok, *m_apply_stale, *m_apply_skipped,
        *m_apply_failed, *m_rebuild_user, *m_rebuild_full, *m_bumps, *m_inv_apply,
        *m_inv_commit, *m_queue_dropped;
};

static void request_rebuild(tasks_readmodel_t *rm, int64_t uid);
static void mark(tasks_readmodel_t *rm, int64_t uid, bool durable_now);

/* ==== connections ======================================================================= */

/* On every new connection (and before the next use after tasks_redis_recheck): compares the
 * server's run_id with the one the model was built against — a Redis that restarted may
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
                 LOG_STR("why", force ? "a full rebuild was asked for, or marks overflowed"
                                      : "Redis restarted or is new"));
    }
    freeReplyObject(r);
    return 0;
}

/* ==== keys ============================================================================== */

typedef struct user_keys {
    char hash[48], order[56], ver[56], deleted[60], built[56], lease[64];
} user_keys;

static void keys_for(int64_t uid, user_keys *k)
{
    snprintf(k->hash, sizeof k->hash, "tasks:user:%lld", (long long)uid);
    snprintf(k->order, sizeof k->order, "tasks:user:%lld:order", (long long)uid);
    snprintf(k->ver, sizeof k->ver, "tasks:user:%lld:ver", (long long)uid);
    snprintf(k->deleted, sizeof k->deleted, "tasks:user:%lld:deleted", (long long)uid);
    snprintf(k->built, sizeof k->built, "tasks:user:%lld:built", (long long)uid);
    snprintf(k->lease, sizeof k->lease, "tasks:user:%lld:rebuilding", (long long)uid);
}

/* Runs script i once on a pooled connection. Returns the reply (the caller frees it) or NULL
 * with err; a broken connection is closed. */
static redisReply *run_script(tasks_readmodel_t *rm, int i, int nkeys, const char **keys, int nargs,
                              const char **args, const size_t *lens, char *err, size_t errlen)
{
    bool down;
    tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, APPLY_WAIT_MS, &down);
    if (!s) return snprintf(err, errlen, "%s", down ? "Redis is down" : "no Redis connection free"), NULL;
    redisReply *r = tasks_redis_script(s, i, nkeys, keys, nargs, args, lens, err, errlen);
    tasks_redis_release(rm->redis, s, tasks_redis_broken(s));
    return r;
}

/* ==== updates =========================================================================== */

void tasks_readmodel_apply(tasks_readmodel_t *rm, const task_t *t, bool deleted)
{
    if (!rm) return;
    user_keys k;
    keys_for(t->user_id, &k);
    buf_t doc = BUF_INIT;
    if (!deleted) tasks_model_render(&doc, t);
    char id[24], ver[24], now[24], err[256] = "out of memory";
    snprintf(id, sizeof id, "%lld", (long long)t->id);
    snprintf(ver, sizeof ver, "%lld", (long long)t->version);
    snprintf(now, sizeof now, "%lld", (long long)clock_wall_ms());
    const char *keys[] = {k.hash, k.order, k.ver, k.deleted, k.built, k.lease, KEY_EPOCH};
    const char *args[] = {id, ver, deleted ? "" : buf_str(&doc), now};
    /* a busy pool is worth waiting for (APPLY_WAIT_MS): giving up marks the user */
    redisReply *r = doc.oom ? NULL : run_script(rm, S_APPLY, 7, keys, 4, args, NULL, err, sizeof err);
    buf_free(&doc);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        metrics_add(rm->m_apply_failed, 1);
        metrics_add(rm->m_inv_apply, 1);
        log_warn("read model: update not applied; the user is marked for a rebuild",
                 LOG_INT("task_id", t->id), LOG_INT("user_id", t->user_id),
                 LOG_STR("error", r ? "unexpected reply" : err));
        if (r) freeReplyObject(r);
        mark(rm, t->user_id, true);
        return;
    }
    long long res = r->integer;
    freeReplyObject(r);
    metrics_add(res == 1 ? rm->m_apply_ok : (res == 0 || res == 2) ? rm->m_apply_skipped
                                                                    : rm->m_apply_stale,
                1);
    if (res == 0) request_rebuild(rm, t->user_id); /* its next read is likely to come soon */
}

/* ==== marks (rule 4) ==================================================================== */

/* The entry of uid, or NULL. Under mu. */
static struct mark_entry *mark_find(tasks_readmodel_t *rm, int64_t uid)
{
    for (size_t i = 0; i < rm->nmarks; i++)
        if (rm->marks[i].uid == uid) return &rm->marks[i];
    return NULL;
}

/* Forgets uid's entry if it is still the one of generation gen (no newer mark). Under mu. */
static void mark_drop(tasks_readmodel_t *rm, int64_t uid, unsigned gen)
{
    struct mark_entry *e = mark_find(rm, uid);
    if (!e || e->gen != gen) return;
    *e = rm->marks[--rm->nmarks];
}

/* Marks uid: in PostgreSQL now if asked and it takes it (else the sweep writes it), and in
 * this process until the sweep has invalidated the user, so that this process never serves
 * the user from Redis in between. A full table falls back to moving the epoch (everyone is
 * rebuilt). */
static void mark(tasks_readmodel_t *rm, int64_t uid, bool durable_now)
{
    pg_err e;
    bool durable = durable_now && rm->cfg.pool && tasks_store_mark_dirty(rm->cfg.pool, &uid, 1, &e) == 0;
    pthread_mutex_lock(&rm->mu);
    struct mark_entry *m = mark_find(rm, uid);
    if (!m && rm->nmarks < MARKS_MAX) {
        m = &rm->marks[rm->nmarks++];
        *m = (struct mark_entry){uid, 0, false};
    }
    if (m) {
        m->gen++;
        m->durable = durable; /* a mark not written now is written by the sweep */
    }
    pthread_cond_signal(&rm->cv);
    pthread_mutex_unlock(&rm->mu);
    if (!m) {
        log_warn("read model: too many users marked; invalidating every user");
        tasks_redis_recheck(rm->redis);
    }
}

static bool marked(tasks_readmodel_t *rm, int64_t uid)
{
    pthread_mutex_lock(&rm->mu);
    bool yes = rm->nmarks && mark_find(rm, uid);
    pthread_mutex_unlock(&rm->mu);
    return yes;
}

/* Drops the user's projection and any rebuild under way. 0, or -1 (Redis failed). */
static int invalidate_now(tasks_readmodel_t *rm, int64_t uid)
{
    user_keys k;
    keys_for(uid, &k);
    const char *keys[] = {k.built, k.lease};
    char err[256];
    redisReply *r = run_script(rm, S_INVALIDATE, 2, keys, 0, NULL, NULL, err, sizeof err);
    if (r) freeReplyObject(r);
    return r ? 0 : -1;
}

void tasks_readmodel_invalidate(tasks_readmodel_t *rm, int64_t user_id)
{
    if (!rm) return;
    metrics_add(rm->m_inv_commit, 1);
    /* at once, so that no stale answer is served meanwhile; and again by the sweep once
     * PostgreSQL takes the mark, when the COMMIT's outcome is settled: a rebuild made now
     * could read a snapshot from before a commit that lands a moment later */
    (void)invalidate_now(rm, user_id);
    mark(rm, user_id, false);
}

/* Invalidates uid in Redis and queues its rebuild; forgets this process's mark of it if no
 * newer one came meanwhile. 0, or -1 (Redis failed). */
static int sweep_user(tasks_readmodel_t *rm, int64_t uid)
{
    pthread_mutex_lock(&rm->mu);
    struct mark_entry *m = mark_find(rm, uid);
    unsigned gen = m ? m->gen : 0;
    bool durable = m ? m->durable : true;
    pthread_mutex_unlock(&rm->mu);
    if (!durable) return 0; /* its change may be committing still: after PostgreSQL took it */
    if (invalidate_now(rm, uid) < 0) return -1;
    pthread_mutex_lock(&rm->mu);
    if (m) mark_drop(rm, uid, gen);
    pthread_mutex_unlock(&rm->mu);
    request_rebuild(rm, uid);
    return 0;
}

/* One sweep: this process's marks not yet in PostgreSQL are written; every mark in
 * PostgreSQL (any replica's) is invalidated in Redis, its user queued for a rebuild and the
 * mark deleted; then this process's own marks that another replica's sweep handled are
 * invalidated too. Returns 0 when everything was swept, -1 otherwise. */
static int sweep(tasks_readmodel_t *rm)
{
    int64_t uids[MARKS_MAX];
    unsigned gens[MARKS_MAX];
    size_t n = 0;
    pg_err e;
    pthread_mutex_lock(&rm->mu);
    for (size_t i = 0; i < rm->nmarks; i++)
        if (!rm->marks[i].durable) uids[n] = rm->marks[i].uid, gens[n++] = rm->marks[i].gen;
    pthread_mutex_unlock(&rm->mu);
    if (n) {
        if (tasks_store_mark_dirty(rm->cfg.pool, uids, n, &e) < 0) return -1;
        pthread_mutex_lock(&rm->mu);
        for (size_t i = 0; i < n; i++) {
            struct mark_entry *m = mark_find(rm, uids[i]);
            if (m && m->gen == gens[i]) m->durable = true;
        }
        pthread_mutex_unlock(&rm->mu);
    }
    char at[SWEEP_BATCH][40];
    size_t m = 0;
    if (tasks_store_dirty_list(rm->cfg.pool, SWEEP_BATCH, uids, at, &m, &e) < 0) return -1;
    for (size_t i = 0; i < m; i++) {
        if (sweep_user(rm, uids[i]) < 0) return -1; /* Redis unavailable: next sweep */
        if (tasks_store_dirty_clear(rm->cfg.pool, uids[i], at[i], &e) < 0) return -1;
    }
    if (m) log_info("read model: marked users invalidated", LOG_INT("users", (int64_t)m));
    if (m == SWEEP_BATCH) return -1; /* more may wait: sweep again soon */
    pthread_mutex_lock(&rm->mu);
    n = 0;
    for (size_t i = 0; i < rm->nmarks; i++)
        if (rm->marks[i].durable) uids[n++] = rm->marks[i].uid;
    pthread_mutex_unlock(&rm->mu);
    for (size_t i = 0; i < n; i++)
        if (sweep_user(rm, uids[i]) < 0) return -1;
    return 0;
}

/* ==== rebuilds ========================================================================== */

/* Renders one page as FILL arguments and runs the script. 1 written, 0 lease lost, -1 error. */
static int fill_page(tasks_readmodel_t *rm, const user_keys *k, const char *token, const task_t *ts,
                     size_t n)
{
    size_t argc = 2 + 3 * n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char (*nums)[2][24] = malloc((n ? n : 1) * sizeof *nums);
    buf_t *docs = calloc(n ? n : 1, sizeof *docs);
    int rc = argv && lens && nums && docs ? 0 : -1;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", LEASE_MS);
    if (rc == 0) {
        argv[0] = token, lens[0] = strlen(token);
        argv[1] = ttl, lens[1] = strlen(ttl);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        snprintf(nums[i][0], sizeof nums[i][0], "%lld", (long long)ts[i].id);
        snprintf(nums[i][1], sizeof nums[i][1], "%lld", (long long)ts[i].version);
        if (tasks_model_render(&docs[i], &ts[i]) < 0) rc = -1;
        argv[2 + 3 * i] = nums[i][0], lens[2 + 3 * i] = strlen(nums[i][0]);
        argv[3 + 3 * i] = nums[i][1], lens[3 + 3 * i] = strlen(nums[i][1]);
        argv[4 + 3 * i] = buf_str(&docs[i]), lens[4 + 3 * i] = docs[i].len;
    }
    if (rc == 0) {
        const char *keys[] = {k->lease, k->hash};
        char err[256];
        redisReply *r = run_script(rm, S_FILL, 2, keys, (int)argc, argv, lens, err, sizeof err);
        rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
        if (!r) log_warn("read model: rebuild could not write a page", LOG_STR("error", err));
        if (r) freeReplyObject(r);
    }
    for (size_t i = 0; docs && i < n; i++) buf_free(&docs[i]);
    free(docs);
    free(nums);
    free(lens);
    free(argv);
    return rc;
}

/* Reads the user's tasks from one REPEATABLE READ snapshot, a page at a time, into the stage
 * of lease token. 1 done, 0 lease lost, -1 error. */
static int copy_snapshot(tasks_readmodel_t *rm, int64_t uid, const user_keys *k, const char *token,
                         long *ntasks)
{
    task_t *page = malloc(TASKS_READMODEL_PAGE * sizeof *page);
    pg_err e = {{0}, {0}, {0}};
    PGconn *c = page ? pg_acquire(rm->cfg.pool, &e) : NULL;
    int rc = c && pg_command(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, &e) >= 0
                 ? 1
                 : -1;
    int64_t before = 0;
    long copied = 0;
    while (rc == 1) {
        size_t n = 0;
        if (tasks_store_user_page(c, uid, before, TASKS_READMODEL_PAGE, page, &n, &e) < 0) {
            rc = -1;
            break;
        }
        if (n == 0) break;
        rc = fill_page(rm, k, token, page, n);
        copied += (long)n;
        before = page[n - 1].id;
        if (n < TASKS_READMODEL_PAGE || atomic_load(&rm->stop)) break;
    }
    if (rc == 1 && atomic_load(&rm->stop)) rc = -1;
    if (c) {
        pg_tx_rollback(c); /* read only: nothing to keep */
        pg_release(rm->cfg.pool, c);
    }
    free(page);
    if (rc < 0 && e.msg[0])
        log_warn("read model: rebuild cannot read PostgreSQL", LOG_INT("user_id", uid),
                 LOG_STR("error", e.msg));
    if (rc == 1 && ntasks) *ntasks += copied;
    return rc;
}

typedef enum { RB_DONE = 1, RB_FRESH = 0, RB_BUSY = -1, RB_LOST = -2, RB_ERROR = -3 } rebuild_rc;

/* Rule 3 for one user: lease, snapshot into the stage, swap. force: even if it is built. */
static rebuild_rc rebuild_user(tasks_readmodel_t *rm, int64_t uid, bool force, long *ntasks)
{
    user_keys k;
    keys_for(uid, &k);
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return RB_ERROR;
    char token[17];
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(token + 2 * i, 3, "%02x", rnd[i]);
    char ttl[24], err[256];
    snprintf(ttl, sizeof ttl, "%d", LEASE_MS);
    const char *bkeys[] = {k.lease, k.built, KEY_EPOCH};
    const char *bargs[] = {token, ttl, force ? "1" : "0"};
    redisReply *r = run_script(rm, S_BEGIN, 3, bkeys, 3, bargs, NULL, err, sizeof err);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
        if (r) freeReplyObject(r);
        return RB_ERROR;
    }
    long long begun = r->element[0]->integer;
    char epoch[32];
    snprintf(epoch, sizeof epoch, "%s", r->element[1]->str);
    freeReplyObject(r);
    if (begun == 0) return RB_FRESH;
    if (begun == -1) return RB_BUSY;
    if (begun != 1) return RB_ERROR;

    long n = 0;
    int copied = copy_snapshot(rm, uid, &k, token, &n);
    long long swapped = 0;
    if (copied == 1) {
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)clock_wall_ms());
        const char *skeys[] = {k.hash, k.order, k.ver, k.deleted, k.built, k.lease, KEY_EPOCH};
        const char *sargs[] = {token, epoch, now};
        r = run_script(rm, S_SWAP, 7, skeys, 3, sargs, NULL, err, sizeof err);
        swapped = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        if (r) freeReplyObject(r);
    } else { /* best effort: otherwise the stage and the lease expire by themselves */
        const char *akeys[] = {k.lease, k.hash};
        const char *aargs[] = {token};
        r = run_script(rm, S_ABORT, 2, akeys, 1, aargs, NULL, err, sizeof err);
        if (r) freeReplyObject(r);
    }
    if (copied < 0 || swapped < 0) {
        log_warn("read model: rebuild failed", LOG_INT("user_id", uid),
                 LOG_STR("error", swapped < 0 ? err : "copying the snapshot failed"));
        return RB_ERROR;
    }
    if (copied == 0 || swapped == 0) return RB_LOST;
    metrics_add(rm->m_rebuild_user, 1);
    if (ntasks) *ntasks += n;
    return RB_DONE;
}

/* Rebuilds every user not built in the current epoch. Stops early on stop or error. Returns
 * 0 when every user was visited and none failed, -1 otherwise. */
static int rebuild_all_users(tasks_readmodel_t *rm, long *users, long *tasks)
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
            if (atomic_load(&rm->stop)) return -1;
            rebuild_rc rc = rebuild_user(rm, ids[i], false, tasks);
            if (rc == RB_ERROR && !tasks_redis_up(rm->redis)) return -1; /* again later */
            /* one user failing, or rebuilt by someone else right now, does not hold up the
             * others: it is rebuilt when read, and the pass is repeated */
            failed += rc != RB_DONE && rc != RB_FRESH;
            if (users && rc == RB_DONE) (*users)++;
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
    /* a user another process is rebuilding at this moment is visited again */
    int rc = -1;
    for (int pass = 0; pass < 3 && rc < 0; pass++) rc = rebuild_all_users(rm, users, tasks);
    if (rc < 0) return snprintf(err, errlen, "the rebuild stopped early (see the log)"), -1;
    metrics_add(rm->m_rebuild_full, 1);
    return 0;
}

/* ==== the rebuilder ===================================================================== */

/* Queues uid for the rebuilder, once (a user already waiting is not queued twice). A full
 * queue drops the request: the user's next read asks again. */
static void request_rebuild(tasks_readmodel_t *rm, int64_t uid)
{
    pthread_mutex_lock(&rm->mu);
    bool queued = false;
    for (size_t i = 0; i < rm->qlen && !queued; i++)
        queued = rm->queue[(rm->qhead + i) % QUEUE_MAX] == uid;
    if (!queued && rm->qlen < QUEUE_MAX) {
        rm->queue[(rm->qhead + rm->qlen) % QUEUE_MAX] = uid;
        rm->qlen++;
        pthread_cond_signal(&rm->cv);
    } else if (!queued) {
        metrics_add(rm->m_queue_dropped, 1);
    }
    pthread_mutex_unlock(&rm->mu);
}

/* Rebuilds queued users one at a time (a user rebuilt by another process right now is left
 * to it), and sweeps the marks every SWEEP_PERIOD_MS, or sooner while more wait. */
static void *rebuilder_main(void *arg)
{
    tasks_readmodel_t *rm = arg;
    long long next_sweep = 0;
    while (!atomic_load(&rm->stop)) {
        if (clock_mono_ms() >= next_sweep) {
            bool ok = sweep(rm) == 0;
            if (ok && !atomic_exchange(&rm->swept, true))
                log_info("read model: marks swept; serving from Redis");
            next_sweep = clock_mono_ms() + (ok ? SWEEP_PERIOD_MS : SWEEP_PERIOD_MS / 4);
        }
        pthread_mutex_lock(&rm->mu);
        if (rm->qlen == 0 && !atomic_load(&rm->stop)) {
            struct timespec until = clock_deadline(CLOCK_MONOTONIC, SWEEP_PERIOD_MS / 4);
            pthread_cond_timedwait(&rm->cv, &rm->mu, &until);
        }
        int64_t uid = 0;
        if (rm->qlen) {
            uid = rm->queue[rm->qhead];
            rm->qhead = (rm->qhead + 1) % QUEUE_MAX;
            rm->qlen--;
        }
        pthread_mutex_unlock(&rm->mu);
        if (uid) (void)rebuild_user(rm, uid, false, NULL);
    }
    return NULL;
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

/* Runs the list script once: 1 served, 0 not built, 2 over the scan bound, -1 failed. */
static int list_once(tasks_readmodel_t *rm, tasks_redis_conn_t *s, const user_keys *k, const task_query_t *q,
                     buf_t *body, bool *broken)
{
    char cursor[24] = "", limit[16], scan[16];
    if (q->cursor) snprintf(cursor, sizeof cursor, "%lld", (long long)q->cursor);
    snprintf(limit, sizeof limit, "%d", q->limit);
    snprintf(scan, sizeof scan, "%d", TASKS_READMODEL_SCAN_MAX);
    const char *keys[] = {k->hash, k->order, k->built, KEY_EPOCH};
    const char *args[] = {cursor, limit, q->done < 0 ? "" : q->done ? "1" : "0",
                          q->has_tag ? q->tag : "", q->has_q ? q->q : "", scan};
    char err[256];
    redisReply *r = tasks_redis_script(s, S_LIST, 4, keys, 6, args, NULL, err, sizeof err);
    *broken = tasks_redis_broken(s);
    if (!r) {
        log_warn("read model: list failed", LOG_STR("error", err));
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return 2;
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
    if (!atomic_load(&rm->swept)) { /* rule 4: a mark left by a process before a restart */
        *why = "starting";
        metrics_add(rm->m_fb_starting, 1);
        return 0;
    }
    bool down;
    tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, rm->cfg.timeout_ms, &down);
    if (!s) {
        *why = down ? "redis_down" : "busy";
        metrics_add(down ? rm->m_fb_down : rm->m_fb_busy, 1);
        return 0;
    }
    if (marked(rm, user_id)) { /* rule 4: this process knows the projection missed a change */
        tasks_redis_release(rm->redis, s, false);
        *why = "marked";
        metrics_add(rm->m_fb_marked, 1);
        return 0;
    }
    user_keys k;
    keys_for(user_id, &k);
    bool broken = false;
    int rc = list_once(rm, s, &k, q, body, &broken);
    tasks_redis_release(rm->redis, s, broken);
    if (rc == 1) {
        metrics_add(rm->m_hits, 1);
        return 1;
    }
    buf_reset(body);
    if (rc == 0) { /* rule 2: PostgreSQL answers this one; the user is rebuilt meanwhile */
        request_rebuild(rm, user_id);
        *why = "not_built";
        metrics_add(rm->m_fb_not_built, 1);
    } else if (rc == 2) {
        *why = "scan_limit";
        metrics_add(rm->m_fb_scan, 1);
    } else {
        *why = broken ? "redis_down" : "error";
        metrics_add(broken ? rm->m_fb_down : rm->m_fb_error, 1);
    }
    return 0;
}

bool tasks_readmodel_up(tasks_readmodel_t *rm)
{
    return rm && tasks_redis_up(rm->redis);
}

/* ==== the keeper ======================================================================== */

/* Every second: touch Redis (which reconnects, and moves the epoch for a Redis that
 * restarted); when the epoch differs from the last full rebuild this keeper finished,
 * rebuild every user not built in it. */
static void *keeper_main(void *arg)
{
    tasks_readmodel_t *rm = arg;
    while (!atomic_load(&rm->stop)) {
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
            long long t0 = clock_mono_ms();
            if (rebuild_all_users(rm, &users, &tasks) == 0) {
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
    if (pthread_create(&rm->rebuilder, NULL, rebuilder_main, rm) != 0) {
        snprintf(err, errlen, "cannot start the read model rebuilder thread");
        return -1;
    }
    rm->rebuilder_started = true;
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
    rm->m_fb_scan = series(f, "scan_limit");
    rm->m_fb_starting = series(f, "starting");
    rm->m_fb_marked = series(f, "marked");
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
    f = metrics_counter(reg, "tasks_read_model_invalidations_total",
                        "Users marked because a change may have missed the read model, by why.",
                        "reason", e, sizeof e);
    rm->m_inv_apply = series(f, "update_failed");
    rm->m_inv_commit = series(f, "commit_unknown");
    f = metrics_counter(reg, "tasks_read_model_rebuild_requests_dropped_total",
                        "Rebuild requests dropped because the queue was full.", NULL, e, sizeof e);
    rm->m_queue_dropped = metrics_series(f, NULL);
}

int tasks_readmodel_new(const tasks_readmodel_config_t *cfg, tasks_readmodel_t **out, char *err, size_t errlen)
{
    *out = NULL;
    tasks_readmodel_t *rm = calloc(1, sizeof *rm);
    if (!rm) return snprintf(err, errlen, "out of memory"), -1;
    rm->cfg = *cfg;
    rm->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    atomic_init(&rm->stop, false);
    atomic_init(&rm->swept, false);
    pthread_mutex_init(&rm->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rm->cv, &ca);
    pthread_condattr_destroy(&ca);
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
    atomic_store(&rm->stop, true);
    uint64_t one = 1;
    if (rm->stop_fd >= 0) {
        ssize_t w = write(rm->stop_fd, &one, sizeof one);
        (void)w;
    }
    pthread_mutex_lock(&rm->mu);
    pthread_cond_broadcast(&rm->cv);
    pthread_mutex_unlock(&rm->mu);
    if (rm->keeper_started) pthread_join(rm->keeper, NULL);
    if (rm->rebuilder_started) pthread_join(rm->rebuilder, NULL);
    tasks_redis_free(rm->redis);
    if (rm->stop_fd >= 0) close(rm->stop_fd);
    pthread_mutex_destroy(&rm->mu);
    pthread_cond_destroy(&rm->cv);
    free(rm);
}
