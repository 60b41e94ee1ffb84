"""The Redis read model (CQRS): served from Redis, falls back to PostgreSQL while Redis is
down (reads stay correct, writes succeed), repairs itself when Redis returns, survives lost
keys, and the rebuild command. Redis is inspected with redis-py, PostgreSQL with psycopg2."""
import json
import time

import redis

from conftest import Counters, metric, ready, scrape, stack, wait_until
from tasks_support import Api, cli, new_account, sql


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
    # the missed updates moved the epoch, and the keeper rebuilt every user in the background
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
    r = api.list()
    assert r.status_code == 200 and r.headers["X-Read-Source"] == "redis"
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    # rebuilt on the spot for that read (the keeper may be rebuilding others meanwhile), and
    # the read was a hit
    assert rd.get(f"tasks:user:{uid}:built") == rd.get("tasks:rm:epoch")
    assert tasks.delta("tasks_read_model_rebuilds_total", scope="user") >= 1
    assert tasks.delta("tasks_read_model_hits_total") == 1
    assert tasks.delta("tasks_read_model_fallbacks_total") == 0


def test_rebuild_command_repairs_a_corrupted_model(env):
    """The command itself rebuilds Redis (not merely invalidating it for the next read): with
    tasks-service stopped, so that neither its keeper nor a read can do the work, Redis is read
    directly after the command returns, and its counts are checked against PostgreSQL."""
    token, uid = new_account(env)
    api = Api(env, token)
    ts = [api.create(f"rebuild {i}") for i in range(4)]
    assert api.list().headers["X-Read-Source"] == "redis"  # the user's projection is built
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
    r = api.list(limit=50)
    assert r.headers["X-Read-Source"] == "redis"
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    assert "CORRUPT" not in r.text


def test_a_user_with_no_tasks_is_served_from_redis(env):
    api = Api(env, new_account(env)[0])
    r = api.list()
    assert r.status_code == 200 and r.json() == {"tasks": [], "next_cursor": None}
    assert api.list().headers["X-Read-Source"] == "redis"
