"""The Redis read model (CQRS): served from Redis, falls back to PostgreSQL while Redis is
down (reads stay correct, writes succeed), repairs itself when Redis returns, survives lost
keys, and the rebuild command. Redis is inspected with redis-py, PostgreSQL with psycopg2."""
import subprocess
import time

import redis

from conftest import stack, wait_until
from tasks_support import Api, bin_dir, new_account, sql


def pg_view(env, user_id):
    """(id, title, done, version) of the user's tasks as PostgreSQL has them, newest first."""
    return [tuple(r) for r in sql(env, "SELECT id, title, done, version FROM tasks "
                                       "WHERE user_id = %s ORDER BY id DESC", (user_id,))]


def api_view(tasks):
    return [(t["id"], t["title"], t["done"], t["version"]) for t in tasks]


def test_redis_down_reads_fall_back_and_writes_succeed_then_repair(env):
    token, uid = new_account(env)
    api = Api(env, token)
    made = [api.create(f"rm {i}", tags=["a" if i % 2 else "b"]) for i in range(7)]
    before, sources = api.list_all(limit=3)
    assert sources == {"redis"}

    stack("stop", "redis")
    try:
        t0 = time.monotonic()
        during, sources = api.list_all(limit=3)
        assert sources == {"postgres"}
        assert during == before  # the same JSON, pages and order from either source
        assert api.list_all(tag="a")[0] == [t for t in before if t["tags"] == ["a"]]
        assert time.monotonic() - t0 < 5, "fallback reads must not wait on a dead Redis"
        # writes succeed while Redis is down, and the writer reads them back (from PostgreSQL)
        new = api.create("written while Redis was down")
        api.patch(made[0]["id"], title="changed while Redis was down")
        api.req("POST", f"/api/tasks/{made[1]['id']}/complete")
        assert api.req("DELETE", f"/api/tasks/{made[2]['id']}").status_code == 204
        r = api.list(limit=50)
        assert r.status_code == 200 and r.headers["X-Read-Source"] == "postgres"
        assert api_view(r.json()["tasks"]) == pg_view(env, uid)
        assert r.json()["tasks"][0] == new
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


def test_lost_keys_are_rebuilt_from_postgres(env):
    token, uid = new_account(env)
    api = Api(env, token)
    for i in range(5):
        api.create(f"lost {i}")
    rd = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    rd.delete(*[k for k in rd.scan_iter(f"tasks:user:{uid}*")])  # as after an eviction
    r = api.list()
    assert r.status_code == 200 and r.headers["X-Read-Source"] == "redis"
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)


def test_rebuild_command_repairs_a_corrupted_model(env):
    token, uid = new_account(env)
    api = Api(env, token)
    ts = [api.create(f"rebuild {i}") for i in range(4)]
    assert api.list().headers["X-Read-Source"] == "redis"  # the user's projection is built
    rd = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    key = f"tasks:user:{uid}"
    rd.hset(key, ts[0]["id"], '{"id":%d,"title":"CORRUPT","done":false,"tags":[],"version":1}'
            % ts[0]["id"])
    rd.hdel(key, ts[1]["id"])
    assert "CORRUPT" in api.list().text  # the corruption is visible before the rebuild
    e = {**env, "LOG_LEVEL": "warn"}
    out = subprocess.run([str(bin_dir() / "tasks-service"), "--rebuild-read-model"], env=e,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"rebuilt_users"' in out.stdout
    r = api.list(limit=50)
    assert r.headers["X-Read-Source"] == "redis"
    assert api_view(r.json()["tasks"]) == pg_view(env, uid)
    assert "CORRUPT" not in r.text


def test_a_user_with_no_tasks_is_served_from_redis(env):
    api = Api(env, new_account(env)[0])
    r = api.list()
    assert r.status_code == 200 and r.json() == {"tasks": [], "next_cursor": None}
    assert api.list().headers["X-Read-Source"] == "redis"
