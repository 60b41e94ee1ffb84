"""Dependencies that fail in the two ways a network sees: a database that is down (connections
refused), and Redis, Kafka and auth-service hung — SIGSTOP, so their sockets still accept and
nothing answers, the case a missing deadline turns into a stuck thread. Each scenario checks
what stays ready and what turns 503 naming the dependency, the answers within the configured
deadlines (requests carry timeouts; a hang fails them), the metrics an operator reads, and
normal service afterwards. Every part is resumed or restarted in `finally`."""
import concurrent.futures

import redis
import requests

from auth_support import register, strong_password, unique_email
from conftest import Counters, metric, paused, ready, scrape, stack, wait_until
from tasks_support import (Api, check_delivery, consume_since, end_offsets, events_of,
                           new_account, pending_for, sql, wait_drained)

# Per request: far above every deadline the services use (auth 1 s, Redis 250 ms, the
# database's statement timeout 5 s), far below "hung".
ANSWER_WITHIN = 10


def assert_ready(base, checks):
    code, body = ready(base)
    assert code == 200 and body["status"] == "ready" and body["checks"] == checks, (base, body)


def assert_not_ready_naming(base, dependency):
    code, body = ready(base)
    assert code == 503, (base, body)
    assert body["status"] == "not_ready" and body["error"]["code"] == "not_ready", body
    assert body["error"]["message"].startswith(dependency + ":"), body
    assert body["checks"][dependency] != "ok", body
    assert requests.get(base + "/health", timeout=5).status_code == 200  # alive all the same
    return body


TASKS_CHECKS = {"postgres": "ok", "schema": "ok"}
AUTH_CHECKS = {"postgres": "ok", "schema": "ok", "grpc": "ok"}


def test_postgres_down_services_not_ready_then_recover(env):
    token, uid = new_account(env)
    api = Api(env, token)
    task = api.create("before the database went down")
    api.wait_redis()
    stack("stop", "postgres")
    try:
        for base in (env["TASKS_HTTP_URL"], env["AUTH_HTTP_URL"]):
            wait_until(f"{base}/ready to turn 503", lambda: ready(base)[0] == 503, timeout=15)
            assert_not_ready_naming(base, "postgres")
        # writes fail with the contract's 503, quickly; reads are still served from Redis
        r = api.req("POST", "/api/tasks", {"title": "no database"}, timeout=ANSWER_WITHIN)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] and r.json()["error"]["message"]
        r = api.req("PATCH", f"/api/tasks/{task['id']}", {"title": "no"}, timeout=ANSWER_WITHIN)
        assert r.status_code == 503, r.text
        r = api.list(limit=10)
        assert r.status_code == 200 and r.headers["X-Read-Source"] == "redis"
        assert r.json()["tasks"] == [task]
        r = register(env["GATEWAY_URL"], unique_email("pgdown"), strong_password())
        assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable", r.text
    finally:
        stack("start", "postgres")
    for base, checks in ((env["TASKS_HTTP_URL"], TASKS_CHECKS), (env["AUTH_HTTP_URL"], AUTH_CHECKS)):
        wait_until(f"{base}/ready again", lambda: ready(base)[0] == 200, timeout=30)
        assert_ready(base, checks)
    after = api.create("after the database came back")
    assert [t["id"] for t in api.list().json()["tasks"]] == [after["id"], task["id"]]
    assert sql(env, "SELECT count(*) FROM tasks WHERE user_id = %s", (uid,))[0][0] == 2
    assert register(env["GATEWAY_URL"], unique_email("pgback"), strong_password()).status_code == 201


def test_hung_redis_reads_fall_back_and_writes_succeed(env):
    token, uid = new_account(env)
    api = Api(env, token)
    made = [api.create(f"hung redis {i}") for i in range(3)]
    api.wait_redis()
    tasks = Counters(env["TASKS_HTTP_URL"])
    reads = 0
    with paused("redis"):
        r = api.list(limit=50, timeout=ANSWER_WITHIN)
        reads += 1
        assert r.status_code == 200 and r.headers["X-Read-Source"] == "postgres", r.text
        assert r.json()["tasks"] == made[::-1]
        new = api.create("written while Redis hung")
        changed = api.patch(made[0]["id"], title="changed while Redis hung")
        # no request thread waits on the hung server: many readers at once, all answered
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            answers = list(ex.map(lambda _: api.list(limit=50, timeout=ANSWER_WITHIN), range(32)))
        reads += 32
        assert {(a.status_code, a.headers["X-Read-Source"]) for a in answers} == {(200, "postgres")}
        assert answers[0].json()["tasks"][0] == new
        assert_ready(env["TASKS_HTTP_URL"], TASKS_CHECKS)
        assert metric(scrape(env["TASKS_HTTP_URL"]), "tasks_read_model_redis_up") == 0
        assert tasks.delta("tasks_read_model_fallbacks_total") == reads
        assert tasks.delta("tasks_read_model_hits_total") == 0

    def from_redis():
        r = api.list(limit=50, timeout=ANSWER_WITHIN)
        return r if r.headers["X-Read-Source"] == "redis" else None

    r = wait_until("reads to come from Redis again", from_redis, timeout=30)
    assert [t["id"] for t in r.json()["tasks"]] == [new["id"]] + [t["id"] for t in made[::-1]]
    assert r.json()["tasks"][-1] == changed
    rd = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    assert sorted(int(k) for k in rd.hkeys(f"tasks:user:{uid}")) == \
        sorted([new["id"]] + [t["id"] for t in made])
    assert metric(scrape(env["TASKS_HTTP_URL"]), "tasks_read_model_redis_up") == 1
    # every connection of the pool works again: more readers at once than it has connections
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        answers = list(ex.map(lambda _: api.list(limit=50, timeout=ANSWER_WITHIN), range(48)))
    assert {a.status_code for a in answers} == {200}


def test_hung_kafka_writes_succeed_rows_wait_then_drain(env):
    api = Api(env, new_account(env)[0])
    start = end_offsets(env)
    tasks = Counters(env["TASKS_HTTP_URL"])
    with paused("kafka"):
        ids = [api.create(f"hung kafka {i}")["id"] for i in range(20)]
        for i in ids[:5]:
            api.patch(i, priority=1)
        assert pending_for(env, ids) == 25  # no broker answer, no row marked published
        assert_ready(env["TASKS_HTTP_URL"], TASKS_CHECKS)
        # the relay gives a delivery up after TASKS_RELAY_DELIVERY_TIMEOUT and retries later
        wait_until("a delivery to time out (counted as transient)",
                   lambda: tasks.delta("outbox_publish_failures_total", kind="transient") > 0,
                   timeout=60, interval=0.5)
        assert pending_for(env, ids) == 25
    wait_drained(env, ids, timeout=120)
    expected = events_of(env, ids)
    assert len(expected) == 25
    dups = check_delivery(consume_since(env, start), expected)
    print(f"duplicates after the hang: {dups} (a timed-out delivery may have landed)")
    assert tasks.delta("outbox_dead_total") == 0
    assert tasks.delta("outbox_published_total") >= 25
    assert api.create("after the hang")["version"] == 1


def test_hung_auth_fails_closed_within_the_deadline_then_recovers(env):
    fresh = Api(env, new_account(env)[0])   # never validated by tasks-service: not cached
    recent = Api(env, new_account(env)[0])
    assert recent.list().status_code == 200  # validated now: cached for TASKS_AUTH_CACHE_TTL
    tasks = Counters(env["TASKS_HTTP_URL"])
    with paused("auth"):
        assert_ready(env["TASKS_HTTP_URL"], TASKS_CHECKS)
        r = fresh.list(timeout=ANSWER_WITHIN)
        assert r.status_code == 503 and r.json()["error"]["code"] == "auth_unavailable", r.text
        # sixteen callers at once: each waits for its own deadline, none for another's call
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            answers = list(ex.map(lambda _: fresh.list(timeout=ANSWER_WITHIN), range(16)))
        assert {a.status_code for a in answers} == {503}
        # the documented trade-off: a token validated moments ago keeps working
        assert recent.list(timeout=ANSWER_WITHIN).status_code == 200
        assert tasks.delta("tasks_auth_validations_total", result="unavailable") == 17
        assert tasks.delta("tasks_auth_validations_total", result="cached") == 1
    wait_until("tasks to accept new tokens again",
               lambda: fresh.list(timeout=ANSWER_WITHIN).status_code == 200, timeout=30)
    # auth-service answered (or dropped) every call queued while it hung: none left in flight
    wait_until("no gRPC call in flight at auth-service",
               lambda: metric(scrape(env["AUTH_HTTP_URL"]), "grpc_server_inflight_calls") == 0,
               timeout=30)
    assert_ready(env["AUTH_HTTP_URL"], AUTH_CHECKS)
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        others = list(ex.map(lambda _: Api(env, new_account(env)[0]).list(timeout=ANSWER_WITHIN),
                             range(8)))
    assert {a.status_code for a in others} == {200}
