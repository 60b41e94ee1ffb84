"""The Redis read model (CQRS): served from Redis, falls back to PostgreSQL while Redis is
down (reads stay correct, writes succeed), repairs itself when Redis returns, survives lost
keys, and the rebuild command. Redis is inspected with redis-py, PostgreSQL with psycopg2."""
import json
import socket
import threading
import time
import urllib.parse

import redis

from conftest import Counters, metric, ready, scrape, stack, wait_until
from tasks_support import Api, TasksInstance, cli, new_account, sql


def pg_view(env, user_id):
    """(id, title, done, version) of the user's tasks as PostgreSQL has them, newest first."""
    return [tuple(r) for r in sql(env, "SELECT id, title, done, version FROM tasks "
                                       "WHERE user_id = %s ORDER BY id DESC", (user_id,))]


def api_view(tasks):
    return [(t["id"], t["title"], t["done"], t["version"]) for t in tasks]


def redis_view(rd, user_id):
    """What Redis holds for the user, read directly: the same tuples, newest first."""
    docs = [json.loads(v) for v in rd.hvals(f"tasks:user:{user_id}")]
    return api_view(sorted(docs, key=lambda t: -t["id"]))


def redis_up(env):
    return metric(scrape(env["TASKS_HTTP_URL"]), "tasks_read_model_redis_up")


def assert_tasks_ready(env):
    """tasks-service stays ready without Redis (a degraded-mode dependency)."""
    code, body = ready(env["TASKS_HTTP_URL"])
    assert code == 200 and body["checks"] == {"postgres": "ok", "schema": "ok"}, body


def test_redis_down_reads_fall_back_and_writes_succeed_then_repair(env):
    token, uid = new_account(env)
    api = Api(env, token)
    made = [api.create(f"rm {i}", tags=["a" if i % 2 else "b"]) for i in range(7)]
    api.wait_redis()
    before, sources = api.list_all(limit=3)
    assert sources == {"redis"}
    assert redis_up(env) == 1

    tasks = Counters(env["TASKS_HTTP_URL"])
    stack("stop", "redis")
    lists = 0
    try:
        assert_tasks_ready(env)
        t0 = time.monotonic()
        during, sources = api.list_all(limit=3)
        lists += 3  # seven tasks, pages of three
        assert sources == {"postgres"}
        assert during == before  # the same JSON, pages and order from either source
        assert api.list_all(tag="a")[0] == [t for t in before if t["tags"] == ["a"]]
        lists += 1
        assert time.monotonic() - t0 < 5, "fallback reads must not wait on a dead Redis"
        # writes succeed while Redis is down, and the writer reads them back (from PostgreSQL)
        new = api.create("written while Redis was down")
        api.patch(made[0]["id"], title="changed while Redis was down")
        api.req("POST", f"/api/tasks/{made[1]['id']}/complete")
        assert api.req("DELETE", f"/api/tasks/{made[2]['id']}").status_code == 204
        r = api.list(limit=50)
        lists += 1
        assert r.status_code == 200 and r.headers["X-Read-Source"] == "postgres"
        assert api_view(r.json()["tasks"]) == pg_view(env, uid)
        assert r.json()["tasks"][0] == new
        # what an operator sees: Redis down, every read a fallback, none a hit
        assert redis_up(env) == 0
        assert tasks.delta("tasks_read_model_fallbacks_total", reason="redis_down") == lists
        assert tasks.delta("tasks_read_model_fallbacks_total") == lists
        assert tasks.delta("tasks_read_model_hits_total") == 0
        assert tasks.delta("tasks_read_model_updates_total", result="applied") == 0
        # each change whose update could not be applied marked its user (rule 4)
        assert tasks.delta("tasks_read_model_invalidations_total", reason="update_failed") == 4
        assert_tasks_ready(env)
    finally:
        stack("start", "redis")

    def served_by_redis():
        r = api.list(limit=50)
        return r if r.headers.get("X-Read-Source") == "redis" else None
    r = wait_until("reads to come from Redis again", served_by_redis, timeout=30)
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    after, sources = api.list_all(limit=3)
    assert sources == {"redis"}
    assert api_view(after) == pg_view(env, uid)
    # and what Redis holds is the repaired state
    rd = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    assert not rd.hexists(f"tasks:user:{uid}", made[2]["id"])
    assert b"changed while Redis was down" in rd.hget(f"tasks:user:{uid}", made[0]["id"])
    assert redis_view(rd, uid) == pg_view(env, uid)
    assert redis_up(env) == 1
    assert tasks.delta("tasks_read_model_hits_total") >= 2
    # the restarted Redis moved the epoch, and the keeper rebuilt every user in the background
    assert tasks.delta("tasks_read_model_epoch_bumps_total") >= 1
    wait_until("the keeper's full rebuild to be counted",
               lambda: tasks.delta("tasks_read_model_rebuilds_total", scope="all") >= 1, timeout=30)


def test_lost_keys_are_rebuilt_from_postgres(env):
    token, uid = new_account(env)
    api = Api(env, token)
    for i in range(5):
        api.create(f"lost {i}")
    rd = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    rd.delete(*[k for k in rd.scan_iter(f"tasks:user:{uid}*")])  # as after an eviction
    tasks = Counters(env["TASKS_HTTP_URL"])
    # the read that finds the projection gone is answered by PostgreSQL (never a rebuild in
    # the request) and asks for a rebuild, made in the background
    r = api.list()
    assert r.status_code == 200 and r.headers["X-Read-Source"] == "postgres"
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    assert tasks.delta("tasks_read_model_fallbacks_total", reason="not_built") == 1
    r = api.wait_redis()
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    assert rd.get(f"tasks:user:{uid}:built") == rd.get("tasks:rm:epoch")
    assert tasks.delta("tasks_read_model_rebuilds_total", scope="user") >= 1
    assert tasks.delta("tasks_read_model_hits_total") >= 1


def test_rebuild_command_repairs_a_corrupted_model(env):
    """The command itself rebuilds Redis (not merely invalidating it for the next read): with
    tasks-service stopped, so that neither its keeper nor a read can do the work, Redis is read
    directly after the command returns, and its counts are checked against PostgreSQL."""
    token, uid = new_account(env)
    api = Api(env, token)
    ts = [api.create(f"rebuild {i}") for i in range(4)]
    api.wait_redis()  # the user's projection is built
    rd = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    key = f"tasks:user:{uid}"
    stack("stop", "tasks")
    try:
        rd.hset(key, ts[0]["id"], '{"id":%d,"title":"CORRUPT","done":false,"tags":[],"version":1}'
                % ts[0]["id"])
        rd.hdel(key, ts[1]["id"])
        assert redis_view(rd, uid) != pg_view(env, uid)
        epoch = int(rd.get("tasks:rm:epoch"))
        out = cli(env, "--rebuild-read-model")
        assert out.returncode == 0, out.stderr
        counts = json.loads(out.stdout)
        # straight after the command, before any read: Redis holds PostgreSQL's state, built in
        # the new epoch the command moved to
        assert redis_view(rd, uid) == pg_view(env, uid)
        assert int(rd.get("tasks:rm:epoch")) > epoch
        assert rd.get(f"{key}:built") == rd.get("tasks:rm:epoch")
        users, tasks = sql(env, "SELECT count(DISTINCT user_id), count(*) FROM tasks")[0]
        assert counts == {"rebuilt_users": users, "tasks": tasks}
    finally:
        stack("start", "tasks")
    r = api.wait_redis(limit=50)  # a started service serves Redis after its first sweep
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    assert "CORRUPT" not in r.text


def test_a_user_with_no_tasks_is_served_from_redis(env):
    api = Api(env, new_account(env)[0])
    r = api.list()
    assert r.status_code == 200 and r.json() == {"tasks": [], "next_cursor": None}
    assert api.wait_redis().json() == {"tasks": [], "next_cursor": None}


# ---- changes the read model missed (issue 13, item 6) ----------------------------------------

def test_a_missed_update_survives_a_restart_of_the_service(env):
    """Redis refuses writes (CLIENT PAUSE WRITE) while a task is created: the create succeeds
    (201) and its read model update fails. tasks-service is then restarted. The user's list must
    show the task: the mark that the update was missed is in PostgreSQL, not only in the memory
    of the process that failed (before: the restarted service served the old projection from
    Redis, without the task, until the user's next change)."""
    token, uid = new_account(env)
    api = Api(env, token)
    api.create("before the pause")
    api.wait_redis()
    rd = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    tasks = Counters(env["TASKS_HTTP_URL"])
    rd.execute_command("CLIENT", "PAUSE", "30000", "WRITE")
    try:
        missed = api.create("created while Redis refused writes")
        assert tasks.delta("tasks_read_model_invalidations_total", reason="update_failed") == 1
        assert sql(env, "SELECT count(*) FROM readmodel_dirty WHERE user_id = %s", (uid,))[0][0] == 1
        stack("restart", "tasks")
    finally:
        rd.execute_command("CLIENT", "UNPAUSE")
    r = api.list()
    assert missed in r.json()["tasks"], r.headers.get("X-Read-Source")
    r = api.wait_redis()
    assert missed in r.json()["tasks"]
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    wait_until("the mark to be swept",
               lambda: sql(env, "SELECT count(*) FROM readmodel_dirty WHERE user_id = %s",
                           (uid,))[0][0] == 0, timeout=30)


class CommitDropper:
    """A TCP proxy in front of PostgreSQL. Armed, it passes the next COMMIT on to the server
    and then closes the client's connection instead of passing the server's answer back: the
    transaction commits and its client cannot know (a connection lost during COMMIT)."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.armed = threading.Event()
        self.fired = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            doomed = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, doomed, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, doomed, False), daemon=True).start()

    def _pump(self, src, dst, doomed, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if doomed.is_set() and not from_client:
                    break  # the answer to the COMMIT: dropped with the connection
                if from_client and self.armed.is_set() and b"COMMIT\x00" in data:
                    self.armed.clear()
                    doomed.set()
                    dst.sendall(data)
                    self.fired.set()
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.sock.close()


def test_a_commit_whose_outcome_is_unknown_invalidates_the_user(env):
    """A private tasks-service reaches PostgreSQL through CommitDropper: a create's COMMIT
    reaches the server, which commits, and the connection is cut before the answer. The
    service answers 503 (it cannot know), and the read model must not hide the committed task:
    the user is invalidated and rebuilt (before: 503 and no invalidation, and the user's list
    was served from Redis without the task until its next change)."""
    token, uid = new_account(env)
    u = urllib.parse.urlsplit(env["TASKS_DATABASE_URL"])
    proxy = CommitDropper(u.hostname, u.port)
    url = env["TASKS_DATABASE_URL"].replace(f"{u.hostname}:{u.port}", f"127.0.0.1:{proxy.port}")
    try:
        with TasksInstance(env, "commit-unknown", TASKS_DATABASE_URL=url,
                           TASKS_RELAY_ENABLED="false") as inst:
            api = Api(env, token, base=inst.url)
            api.create("before")
            api.wait_redis()
            counters = Counters(inst.url)
            proxy.armed.set()
            r = api.req("POST", "/api/tasks", {"title": "committed, answer lost"})
            assert proxy.fired.is_set()
            assert r.status_code == 503, r.text
            assert counters.delta("tasks_read_model_invalidations_total", reason="commit_unknown") == 1
            # it did commit
            assert sql(env, "SELECT count(*) FROM tasks WHERE user_id = %s AND title = %s",
                       (uid, "committed, answer lost"))[0][0] == 1
            for who in (api, Api(env, token)):  # this instance, and the stack's through the gateway
                titles = [t["title"] for t in who.list().json()["tasks"]]
                assert "committed, answer lost" in titles, titles
            r = api.wait_redis()
            assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    finally:
        proxy.close()
