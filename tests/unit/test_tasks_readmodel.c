/* Unit tests for services/tasks/tasks_readmodel.c and tasks_redis.c. The scripts run against
 * a real redis-server started on an ephemeral port for this test, with a password as the
 * stack's Redis has (they fail without redis-server: make deps installs it, and a skip would
 * hide that nothing ran): versioned updates, tombstones, rebuild leases and stages, epochs,
 * filters, the scan bound and pagination, AUTH. The PostgreSQL side of rebuilds and the
 * marks are covered end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../../services/tasks/tasks_model.c"
#include "../../services/tasks/tasks_outbox.c"
#include "../../services/tasks/tasks_readmodel.c"
#include "../../services/tasks/tasks_redis.c"
#include "../../services/tasks/tasks_store.c"

static pid_t redis_pid;
static int redis_port;
static char redis_password[33];
static char redis_url[128];

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    return ntohs(a.sin_port);
}

static int start_redis(void **state)
{
    (void)state;
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_tasks_readmodel: no redis-server on PATH; run 'make deps'\n");
        return -1;
    }
    redis_port = free_port();
    unsigned char rnd[16];
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) return -1;
    close(fd);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(redis_password + 2 * i, 3, "%02x", rnd[i]);
    snprintf(redis_url, sizeof redis_url, "redis://:%s@127.0.0.1:%d/0", redis_password, redis_port);
    char port[16];
    snprintf(port, sizeof port, "%d", redis_port);
    /* the password reaches the server as configuration on its stdin ("-"), not as an argument */
    int conf[2];
    if (pipe(conf) < 0) return -1;
    redis_pid = fork();
    if (redis_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(conf[0], 0);
        close(conf[0]);
        close(conf[1]);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("redis-server", "redis-server", "-", "--port", port, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    close(conf[0]);
    dprintf(conf[1], "requirepass %s\n", redis_password);
    close(conf[1]);
    for (int i = 0; i < 100; i++) { /* up to 5 s */
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
        bool ok = c && !c->err;
        if (c) redisFree(c);
        if (ok) return 0;
        usleep(50000);
    }
    return -1;
}

static int stop_redis(void **state)
{
    (void)state;
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    return 0;
}

static tasks_readmodel_t *new_rm(const char *url)
{
    tasks_readmodel_config_t cfg = {.url = url, .pool_size = 2, .timeout_ms = 500, .pool = NULL};
    tasks_readmodel_t *rm;
    char err[256];
    assert_int_equal(tasks_readmodel_new(&cfg, &rm, err, sizeof err), 0);
    return rm;
}

static void need_redis(void)
{
    if (redis_pid <= 0) fail_msg("no redis-server (see the group set-up's message)");
}

static redisReply *raw(tasks_readmodel_t *rm, const char *fmt, const char *a)
{
    bool down;
    tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, 1000, &down);
    assert_non_null(s);
    redisReply *r = redisCommand(tasks_redis_context(s), fmt, a);
    tasks_redis_release(rm->redis, s, false);
    assert_non_null(r);
    return r;
}

static long long get_int(tasks_readmodel_t *rm, const char *key)
{
    redisReply *r = raw(rm, "GET %s", key);
    long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    return v;
}

static void mk(task_t *t, int64_t uid, int64_t id, int64_t version, const char *title, bool done,
               const char *tag)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    t->user_id = uid;
    t->version = version;
    snprintf(t->title, sizeof t->title, "%s", title);
    t->priority = 3;
    t->done = done;
    t->has_completed = done;
    t->created_ms = t->updated_ms = t->completed_ms = 1000 * id;
    if (tag) {
        t->ntags = 1;
        snprintf(t->tags[0], sizeof t->tags[0], "%s", tag);
    }
}

/* The steps of rebuild_user without PostgreSQL: begin takes the lease (forced: a built user
 * too) and returns the epoch; fill writes a snapshot into the lease's stage in pages, as
 * copy_snapshot does; swap installs it. */
static void begin_rebuild(tasks_readmodel_t *rm, int64_t uid, const char *token, char epoch[32])
{
    user_keys k;
    keys_for(uid, &k);
    const char *keys[] = {k.lease, k.built, KEY_EPOCH};
    const char *args[] = {token, "30000", "1"};
    char err[256];
    redisReply *r = run_script(rm, S_BEGIN, 3, keys, 3, args, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(r->element[0]->integer, 1);
    snprintf(epoch, 32, "%s", r->element[1]->str);
    freeReplyObject(r);
}

static int fill(tasks_readmodel_t *rm, int64_t uid, const char *token, const task_t *ts, size_t n)
{
    user_keys k;
    keys_for(uid, &k);
    int rc = 1;
    for (size_t at = 0; at < n && rc == 1; at += TASKS_READMODEL_PAGE)
        rc = fill_page(rm, &k, token, ts + at, n - at < TASKS_READMODEL_PAGE ? n - at : TASKS_READMODEL_PAGE);
    return rc;
}

static long long swap(tasks_readmodel_t *rm, int64_t uid, const char *token, const char *epoch)
{
    user_keys k;
    keys_for(uid, &k);
    const char *keys[] = {k.hash, k.order, k.ver, k.deleted, k.built, k.lease, KEY_EPOCH};
    const char *args[] = {token, epoch, "1000"};
    char err[256];
    redisReply *r = run_script(rm, S_SWAP, 7, keys, 3, args, NULL, err, sizeof err);
    assert_non_null(r);
    long long v = r->integer;
    freeReplyObject(r);
    /* either way no stage key is left, and no expiry on the real ones */
    char pattern[96];
    snprintf(pattern, sizeof pattern, "%s:stage:%s:*", k.hash, token);
    redisReply *e = raw(rm, "KEYS %s", pattern);
    assert_int_equal(e->elements, 0);
    freeReplyObject(e);
    e = raw(rm, "PTTL %s", k.hash);
    assert_true(e->integer < 0);
    freeReplyObject(e);
    return v;
}

/* A whole rebuild from the given snapshot. Returns the swap's answer. */
static long long rebuild_with(tasks_readmodel_t *rm, int64_t uid, const task_t *ts, size_t n)
{
    char epoch[32];
    begin_rebuild(rm, uid, "t0", epoch);
    assert_int_equal(fill(rm, uid, "t0", ts, n), 1);
    return swap(rm, uid, "t0", epoch);
}

/* Lists with the script only (never the PostgreSQL fallback). Returns 1, 0 (not built). */
static int list(tasks_readmodel_t *rm, int64_t uid, const char *done, const char *tag, const char *q,
                const char *limit, const char *cursor, buf_t *body)
{
    task_query_t tq;
    const char *code;
    char err[128];
    assert_int_equal(tasks_model_query_parse(done, tag, q, limit, cursor, &tq, &code, err, sizeof err), 0);
    bool down, broken;
    tasks_redis_conn_t *s = tasks_redis_acquire(rm->redis, 1000, &down);
    assert_non_null(s);
    user_keys k;
    keys_for(uid, &k);
    buf_reset(body);
    int rc = list_once(rm, s, &k, &tq, body, &broken);
    tasks_redis_release(rm->redis, s, broken);
    assert_int_not_equal(rc, -1);
    return rc;
}

/* ---- pure parts ----------------------------------------------------------------------- */

static void test_render_list(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    const char *docs[] = {"{\"id\":2}", "{\"id\":1}"};
    tasks_readmodel_render_list(&b, docs, 2, 0);
    assert_string_equal(buf_str(&b), "{\"tasks\":[{\"id\":2},{\"id\":1}],\"next_cursor\":null}");
    buf_reset(&b);
    tasks_readmodel_render_list(&b, docs, 1, 2);
    assert_string_equal(buf_str(&b), "{\"tasks\":[{\"id\":2}],\"next_cursor\":\"2\"}");
    buf_reset(&b);
    tasks_readmodel_render_list(&b, NULL, 0, 0);
    assert_string_equal(buf_str(&b), "{\"tasks\":[],\"next_cursor\":null}");
    buf_free(&b);
}

/* Redis not there: reads say so at once (the breaker); an update that cannot be applied
 * marks its user (in memory here: no PostgreSQL in this test), never the whole model. Before
 * the first sweep of the marks nothing is served from Redis. */
static void test_redis_down(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", free_port());
    tasks_readmodel_t *rm = new_rm(url);
    task_query_t q;
    const char *code, *why = NULL;
    char err[64];
    tasks_model_query_parse(NULL, NULL, NULL, NULL, NULL, &q, &code, err, sizeof err);
    buf_t body = BUF_INIT;
    assert_int_equal(tasks_readmodel_list(rm, 1, &q, &body, &why), 0);
    assert_string_equal(why, "starting");
    atomic_store(&rm->swept, true);
    assert_int_equal(tasks_readmodel_list(rm, 1, &q, &body, &why), 0);
    assert_string_equal(why, "redis_down");
    assert_true(tasks_redis_breaker_is_open(rm->redis));
    task_t t;
    mk(&t, 7, 1, 1, "x", false, NULL);
    tasks_readmodel_apply(rm, &t, false);
    assert_int_equal(rm->nmarks, 1);
    assert_int_equal(rm->marks[0].uid, 7);
    assert_false(rm->marks[0].durable);
    tasks_readmodel_apply(rm, &t, false); /* marked once */
    assert_int_equal(rm->nmarks, 1);
    assert_int_equal(rm->marks[0].gen, 2);
    assert_false(tasks_redis_recheck_pending(rm->redis));
    assert_false(tasks_readmodel_up(rm));
    buf_free(&body);
    tasks_readmodel_free(rm);

    tasks_readmodel_t *bad;
    tasks_readmodel_config_t cfg = {.url = "nope", .pool_size = 1, .timeout_ms = 100};
    assert_int_equal(tasks_readmodel_new(&cfg, &bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_URL"));
}

/* ---- against redis-server ------------------------------------------------------------- */

/* The URL's password is sent with AUTH on each new connection; a Redis that refuses it (a
 * wrong password, or none) is treated like a Redis that is down: reads fall back. */
static void test_password(void **state)
{
    (void)state;
    need_redis();
    tasks_readmodel_t *rm = new_rm(redis_url);
    redisReply *r = raw(rm, "ECHO %s", "authenticated");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "authenticated");
    freeReplyObject(r);
    assert_true(tasks_readmodel_up(rm));
    tasks_readmodel_free(rm);

    char bad[2][160];
    snprintf(bad[0], sizeof bad[0], "redis://:wrong-%s@127.0.0.1:%d/0", redis_password, redis_port);
    snprintf(bad[1], sizeof bad[1], "redis://127.0.0.1:%d/0", redis_port);
    for (size_t i = 0; i < 2; i++) {
        rm = new_rm(bad[i]);
        bool down = false;
        assert_null(tasks_redis_acquire(rm->redis, 1000, &down));
        assert_true(down);
        assert_false(tasks_readmodel_up(rm));
        tasks_readmodel_free(rm);
    }
}

static void test_epochs(void **state)
{
    (void)state;
    need_redis();
    tasks_readmodel_t *rm = new_rm(redis_url);
    buf_t b = BUF_INIT;
    (void)list(rm, 0, NULL, NULL, NULL, NULL, NULL, &b); /* connects: a new Redis bumps */
    long long e1 = get_int(rm, KEY_EPOCH);
    assert_true(e1 >= 1);
    tasks_readmodel_free(rm);
    rm = new_rm(redis_url); /* same server: no bump */
    (void)list(rm, 0, NULL, NULL, NULL, NULL, NULL, &b);
    assert_int_equal(get_int(rm, KEY_EPOCH), e1);
    /* a Redis that restarted has another run_id: the next connection bumps */
    freeReplyObject(raw(rm, "SET " KEY_RUNID " %s", "an-older-run"));
    tasks_readmodel_free(rm);
    rm = new_rm(redis_url);
    (void)list(rm, 0, NULL, NULL, NULL, NULL, NULL, &b);
    assert_int_equal(get_int(rm, KEY_EPOCH), e1 + 1);
    /* a missed update bumps on the next acquire, even on a live connection */
    tasks_redis_recheck(rm->redis);
    (void)list(rm, 0, NULL, NULL, NULL, NULL, NULL, &b);
    assert_int_equal(get_int(rm, KEY_EPOCH), e1 + 2);
    assert_false(tasks_redis_recheck_pending(rm->redis));
    buf_free(&b);
    tasks_readmodel_free(rm);
}

static void test_versioned_updates(void **state)
{
    (void)state;
    need_redis();
    tasks_readmodel_t *rm = new_rm(redis_url);
    buf_t b = BUF_INIT;
    const int64_t U = 101;
    task_t t;
    mk(&t, U, 5, 1, "first", false, NULL);
    tasks_readmodel_apply(rm, &t, false); /* not built yet: skipped (a rebuild is asked for) */
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 0);
    assert_int_equal(rm->qlen, 1);
    assert_int_equal(rm->queue[rm->qhead], U);
    assert_int_equal(rebuild_with(rm, U, &t, 1), 1);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "\"title\":\"first\""));

    mk(&t, U, 5, 3, "third", false, NULL);
    tasks_readmodel_apply(rm, &t, false);
    mk(&t, U, 5, 2, "second (late)", false, NULL); /* older: ignored */
    tasks_readmodel_apply(rm, &t, false);
    mk(&t, U, 5, 3, "third (repeated)", false, NULL); /* same version: ignored */
    tasks_readmodel_apply(rm, &t, false);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "\"title\":\"third\""));
    assert_null(strstr(buf_str(&b), "late"));
    assert_null(strstr(buf_str(&b), "repeated"));

    mk(&t, U, 5, 4, "deleted", false, NULL);
    tasks_readmodel_apply(rm, &t, true);
    mk(&t, U, 5, 9, "resurrected?", false, NULL); /* any update after a delete: ignored */
    tasks_readmodel_apply(rm, &t, false);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_string_equal(buf_str(&b), "{\"tasks\":[],\"next_cursor\":null}");
    buf_free(&b);
    tasks_readmodel_free(rm);
}

/* Rule 3: updates during a rebuild go to its stage, where the newer version wins over the
 * snapshot's; a deletion during the rebuild keeps the snapshot's copy out; a rebuild whose
 * lease was taken away (an invalidation) or whose epoch moved cannot swap. */
static void test_rebuild_stages_concurrent_writes(void **state)
{
    (void)state;
    need_redis();
    tasks_readmodel_t *rm = new_rm(redis_url);
    buf_t b = BUF_INIT;
    const int64_t U = 102;
    (void)list(rm, U, NULL, NULL, NULL, NULL, NULL, &b);
    task_t snap[3], t;
    mk(&snap[0], U, 1, 1, "one", false, NULL);
    mk(&snap[1], U, 2, 1, "two", false, NULL);
    mk(&snap[2], U, 3, 1, "three", false, NULL);
    char epoch[32];
    begin_rebuild(rm, U, "a", epoch);
    mk(&t, U, 2, 2, "two, changed after the snapshot", false, NULL);
    tasks_readmodel_apply(rm, &t, false); /* concurrent writers, after the lease */
    mk(&t, U, 3, 2, "three", false, NULL);
    tasks_readmodel_apply(rm, &t, true);
    mk(&t, U, 4, 1, "four, created after the snapshot", false, NULL);
    tasks_readmodel_apply(rm, &t, false);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 0); /* not built yet */
    assert_int_equal(fill(rm, U, "a", snap, 3), 1);
    assert_int_equal(swap(rm, U, "a", epoch), 1);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "{\"tasks\":[{\"id\":4,"));
    assert_non_null(strstr(buf_str(&b), "two, changed after"));
    assert_non_null(strstr(buf_str(&b), "\"one\""));
    assert_null(strstr(buf_str(&b), "three"));
    mk(&t, U, 3, 7, "three, late update", false, NULL); /* the tombstone survived the swap */
    tasks_readmodel_apply(rm, &t, false);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_null(strstr(buf_str(&b), "three"));

    /* an invalidation during a rebuild takes its lease: that rebuild cannot swap */
    begin_rebuild(rm, U, "b", epoch);
    assert_int_equal(invalidate_now(rm, U), 0);
    assert_int_equal(fill(rm, U, "b", snap, 1), 0); /* the lease is gone: stop */
    assert_int_equal(swap(rm, U, "b", epoch), 0);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 0);
    /* a moved epoch fails too */
    begin_rebuild(rm, U, "c", epoch);
    assert_int_equal(fill(rm, U, "c", snap, 2), 1);
    assert_int_equal(swap(rm, U, "c", "0"), 0);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 0);
    buf_free(&b);
    tasks_readmodel_free(rm);
}

static void test_filters_and_pages(void **state)
{
    (void)state;
    need_redis();
    tasks_readmodel_t *rm = new_rm(redis_url);
    buf_t b = BUF_INIT;
    const int64_t U = 103;
    (void)list(rm, U, NULL, NULL, NULL, NULL, NULL, &b);
    task_t ts[6];
    mk(&ts[0], U, 10, 1, "Buy MILK", false, "home");
    mk(&ts[1], U, 11, 1, "call bob", true, "work");
    mk(&ts[2], U, 12, 1, "milkshake Ж", true, "home");
    mk(&ts[3], U, 13, 1, "write report", false, "work");
    mk(&ts[4], U, 14, 1, "ЖМИЛК", false, NULL);
    mk(&ts[5], U, 15, 1, "50% off", false, NULL);
    assert_int_equal(rebuild_with(rm, U, ts, 6), 1);

    assert_int_equal(list(rm, U, NULL, NULL, NULL, "2", NULL, &b), 1); /* newest first */
    assert_non_null(strstr(buf_str(&b), "\"id\":15"));
    assert_non_null(strstr(buf_str(&b), "\"id\":14"));
    assert_non_null(strstr(buf_str(&b), "\"next_cursor\":\"14\""));
    assert_int_equal(list(rm, U, NULL, NULL, NULL, "2", "14", &b), 1);
    assert_non_null(strstr(buf_str(&b), "{\"tasks\":[{\"id\":13,"));
    assert_non_null(strstr(buf_str(&b), "\"next_cursor\":\"12\""));
    assert_int_equal(list(rm, U, NULL, NULL, NULL, "2", "11", &b), 1);
    assert_non_null(strstr(buf_str(&b), "\"next_cursor\":null"));

    assert_int_equal(list(rm, U, "true", NULL, NULL, NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "\"id\":12"));
    assert_non_null(strstr(buf_str(&b), "\"id\":11"));
    assert_null(strstr(buf_str(&b), "\"id\":10"));
    assert_int_equal(list(rm, U, "false", "home", NULL, NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "{\"tasks\":[{\"id\":10,"));
    assert_non_null(strstr(buf_str(&b), "\"next_cursor\":null"));
    /* q folds ASCII letters only, and matches literally (no patterns) */
    assert_int_equal(list(rm, U, NULL, NULL, "MiLk", NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "\"id\":12"));
    assert_non_null(strstr(buf_str(&b), "\"id\":10"));
    assert_null(strstr(buf_str(&b), "\"id\":14"));
    assert_int_equal(list(rm, U, NULL, NULL, "%", NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "{\"tasks\":[{\"id\":15,"));
    assert_null(strstr(buf_str(&b), "\"id\":14"));
    assert_int_equal(list(rm, U, NULL, NULL, ".", NULL, NULL, &b), 1);
    assert_string_equal(buf_str(&b), "{\"tasks\":[],\"next_cursor\":null}");
    /* filtered pages: limit 1 of the done ones */
    assert_int_equal(list(rm, U, "true", NULL, NULL, "1", NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "\"next_cursor\":\"12\""));
    assert_int_equal(list(rm, U, "true", NULL, NULL, "1", "12", &b), 1);
    assert_non_null(strstr(buf_str(&b), "{\"tasks\":[{\"id\":11,"));
    assert_non_null(strstr(buf_str(&b), "\"next_cursor\":null"));
    buf_free(&b);
    tasks_readmodel_free(rm);
}

/* A large user goes in chunks: 1,234 tasks. */
static void test_rebuild_in_chunks(void **state)
{
    (void)state;
    need_redis();
    tasks_readmodel_t *rm = new_rm(redis_url);
    buf_t b = BUF_INIT;
    const int64_t U = 104;
    (void)list(rm, U, NULL, NULL, NULL, NULL, NULL, &b);
    size_t n = 1234;
    task_t *ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) mk(&ts[i], U, (int64_t)i + 1, 2, "many", i % 2, NULL);
    assert_int_equal(rebuild_with(rm, U, ts, n), 1);
    redisReply *r = raw(rm, "HLEN %s", "tasks:user:104");
    assert_int_equal(r->integer, 1234);
    freeReplyObject(r);
    r = raw(rm, "ZCARD %s", "tasks:user:104:order");
    assert_int_equal(r->integer, 1234);
    freeReplyObject(r);
    assert_int_equal(list(rm, U, "true", NULL, NULL, "3", NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "{\"tasks\":[{\"id\":1234,"));
    assert_non_null(strstr(buf_str(&b), "\"next_cursor\":\"1230\""));
    /* rule 5: a filter that matches nothing decodes at most TASKS_READMODEL_SCAN_MAX
     * documents, then gives up to PostgreSQL; a match within the bound is served */
    assert_int_equal(list(rm, U, NULL, NULL, "no such title", NULL, NULL, &b), 2);
    assert_int_equal(list(rm, U, NULL, NULL, "many", "5", NULL, &b), 1);
    /* and an empty snapshot empties the projection */
    assert_int_equal(rebuild_with(rm, U, NULL, 0), 1);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_string_equal(buf_str(&b), "{\"tasks\":[],\"next_cursor\":null}");
    free(ts);
    buf_free(&b);
    tasks_readmodel_free(rm);
}

/* Issue 13, item 5: two rebuilds of one user overlap. A takes the lease and reads its
 * snapshot first (task 1); its lease expires while it is slow; B takes the lease and reads
 * later (tasks 1 and 2: 2 was created in between, its writer has not applied it yet) and
 * swaps in; then A tries to. A's older snapshot must not replace B's, and task 2's update
 * must show. (Before leases, A swapped and left a tombstone for task 2, hiding it.) Also: a
 * tombstone does not outlive a snapshot that holds its id. */
static void test_overlapping_rebuilds(void **state)
{
    (void)state;
    need_redis();
    tasks_readmodel_t *rm = new_rm(redis_url);
    buf_t b = BUF_INIT;
    const int64_t U = 105;
    (void)list(rm, U, NULL, NULL, NULL, NULL, NULL, &b);
    task_t a[1], bb[2], t;
    mk(&a[0], U, 1, 1, "one", false, NULL);
    mk(&bb[0], U, 1, 1, "one", false, NULL);
    mk(&bb[1], U, 2, 1, "two", false, NULL);
    char ea[32], eb[32];
    begin_rebuild(rm, U, "older", ea);
    assert_int_equal(fill(rm, U, "older", a, 1), 1);
    freeReplyObject(raw(rm, "DEL %s", "tasks:user:105:rebuilding")); /* A's lease expired */
    begin_rebuild(rm, U, "newer", eb);
    assert_int_equal(fill(rm, U, "newer", bb, 2), 1);
    assert_int_equal(swap(rm, U, "newer", eb), 1);
    long long second = swap(rm, U, "older", ea);
    mk(&t, U, 2, 2, "two, changed", false, NULL);
    tasks_readmodel_apply(rm, &t, false);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_int_equal(second, 0);
    assert_non_null(strstr(buf_str(&b), "two, changed"));

    /* a tombstone for an id the next snapshot holds goes with that snapshot */
    freeReplyObject(raw(rm, "ZADD tasks:user:105:deleted 999999999999999 %s", "1"));
    assert_int_equal(rebuild_with(rm, U, bb, 2), 1);
    redisReply *r = raw(rm, "ZSCORE tasks:user:105:deleted %s", "1");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    mk(&t, U, 1, 5, "one, changed", false, NULL);
    tasks_readmodel_apply(rm, &t, false);
    assert_int_equal(list(rm, U, NULL, NULL, NULL, NULL, NULL, &b), 1);
    assert_non_null(strstr(buf_str(&b), "one, changed"));
    buf_free(&b);
    tasks_readmodel_free(rm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_list),
        cmocka_unit_test(test_redis_down),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_epochs),
        cmocka_unit_test(test_versioned_updates),
        cmocka_unit_test(test_rebuild_stages_concurrent_writes),
        cmocka_unit_test(test_filters_and_pages),
        cmocka_unit_test(test_rebuild_in_chunks),
        cmocka_unit_test(test_overlapping_rebuilds),
    };
    return cmocka_run_group_tests(tests, start_redis, stop_redis);
}
