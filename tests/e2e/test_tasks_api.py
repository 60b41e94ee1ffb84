"""tasks-service API through the gateway: CRUD, filters, search, pagination, tags, user
isolation, read-your-writes, the events each change publishes, and the service endpoints.
Real auth-service tokens; results checked against PostgreSQL and Kafka independently."""
import concurrent.futures
import re

import requests

from conftest import Counters, metric, scrape, wait_until
from tasks_support import (Api, consume_since, end_offsets, new_account, pending_for, sql)

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIELDS = {"id", "title", "priority", "done", "tags", "due_at", "created_at", "updated_at",
          "completed_at", "version"}


def test_crud_round_trip(env):
    api = Api(env, new_account(env)[0])
    t = api.create("  Buy milk  ", priority=2, tags=["shop", "home", "shop"],
                   due_at="2030-01-31T17:00:00+01:00")
    assert set(t) == FIELDS
    assert t["title"] == "Buy milk"
    assert t["priority"] == 2 and t["done"] is False and t["version"] == 1
    assert t["tags"] == ["home", "shop"]
    assert t["due_at"] == "2030-01-31T16:00:00.000Z"
    assert TIME.match(t["created_at"]) and t["created_at"] == t["updated_at"]
    assert t["completed_at"] is None

    r = api.req("GET", f"/api/tasks/{t['id']}")
    assert r.status_code == 200 and r.json() == t

    p = api.patch(t["id"], title="Buy oat milk", priority=5, tags=["x"], due_at=None)
    assert (p["title"], p["priority"], p["tags"], p["due_at"], p["version"]) == \
        ("Buy oat milk", 5, ["x"], None, 2)
    assert p["updated_at"] >= t["updated_at"] and p["created_at"] == t["created_at"]

    c = api.req("POST", f"/api/tasks/{t['id']}/complete")
    assert c.status_code == 200
    c = c.json()
    assert c["done"] is True and c["version"] == 3 and TIME.match(c["completed_at"])
    again = api.req("POST", f"/api/tasks/{t['id']}/complete").json()
    assert again == c, "completing a done task is not a change"

    reopened = api.patch(t["id"], done=False)
    assert reopened["done"] is False and reopened["completed_at"] is None
    assert reopened["version"] == 4

    assert api.req("DELETE", f"/api/tasks/{t['id']}").status_code == 204
    r = api.req("GET", f"/api/tasks/{t['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert api.req("DELETE", f"/api/tasks/{t['id']}").status_code == 404
    assert api.req("PATCH", f"/api/tasks/{t['id']}", {"title": "x"}).status_code == 404
    assert api.req("POST", f"/api/tasks/{t['id']}/complete").status_code == 404


def test_validation_errors(env):
    api = Api(env, new_account(env)[0])
    bad = [
        ({}, "title is required"),
        ({"title": ""}, "empty"),
        ({"title": "x" * 201}, "at most 200"),
        ({"title": "x", "priority": 0}, "priority"),
        ({"title": "x", "priority": "high"}, "priority"),
        ({"title": "x", "tags": "a,b"}, "tags"),
        ({"title": "x", "tags": ["a"] * 0 + [f"t{i}" for i in range(21)]}, "at most 20"),
        ({"title": "x", "due_at": "next week"}, "due_at"),
        ({"title": "x", "owner": 2}, "unknown field"),
        ({"title": "x", "done": True}, "unknown field"),
    ]
    for body, msg in bad:
        r = api.req("POST", "/api/tasks", body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["code"] == "validation_failed" and msg in err["message"], (body, err)
    t = api.create("ok")
    r = api.req("PATCH", f"/api/tasks/{t['id']}", {})
    assert r.status_code == 400 and "nothing to change" in r.json()["error"]["message"]
    assert api.req("GET", "/api/tasks/abc").json()["error"]["code"] == "invalid_id"
    assert api.list(limit=0).json()["error"]["code"] == "invalid_query"
    assert api.list(cursor="zz").json()["error"]["code"] == "invalid_cursor"
    assert api.list(cursor="").json()["error"]["code"] == "invalid_cursor"  # as notifications
    # a search is limited in characters, like the titles it searches
    assert api.list(q="\U0001F511" * 200).status_code == 200
    assert api.list(q="\U0001F511" * 201).json()["error"]["code"] == "invalid_query"
    assert api.list(done="maybe").status_code == 400


def test_filters_search_tags_and_pagination(env):
    api = Api(env, new_account(env)[0])
    specs = [("Buy MILK", ["home", "shop"], False), ("call Bob", ["work"], True),
             ("milkshake", ["home"], True), ("Write report", ["work"], False),
             ("50% off_sale", [], False), ("Ж Milk Ж", ["кириллица"], False)]
    made = []
    for title, tags, done in specs * 2:  # twelve tasks
        t = api.create(title, tags=tags)
        if done:
            t = api.req("POST", f"/api/tasks/{t['id']}/complete").json()
        made.append(t)
    ids_desc = [t["id"] for t in sorted(made, key=lambda t: -t["id"])]

    api.wait_redis()  # a new user's projection is built in the background
    tasks, sources = api.list_all()
    assert sources == {"redis"}
    assert [t["id"] for t in tasks] == ids_desc
    assert tasks == sorted(made, key=lambda t: -t["id"])  # the same JSON as the writes returned

    def ids(**q):
        tasks, _ = api.list_all(**q)
        return [t["id"] for t in tasks]

    by = {t["id"]: t for t in made}
    assert ids(done="true") == [i for i in ids_desc if by[i]["done"]]
    assert ids(done="false") == [i for i in ids_desc if not by[i]["done"]]
    assert ids(tag="home") == [i for i in ids_desc if "home" in by[i]["tags"]]
    assert ids(tag="кириллица") == [i for i in ids_desc if by[i]["title"] == "Ж Milk Ж"]
    assert ids(tag="hom") == []
    assert ids(q="milk") == [i for i in ids_desc if "milk" in by[i]["title"].lower()]
    assert ids(q="MILK", done="true", tag="home") == \
        [i for i in ids_desc if by[i]["title"] == "milkshake"]
    assert ids(q="%") == [i for i in ids_desc if "%" in by[i]["title"]]  # literal, not a pattern
    assert ids(q="_") == [i for i in ids_desc if "_" in by[i]["title"]]
    assert ids(q="'; DROP TABLE tasks; --") == []

    # pages of 5: stable, no duplicates, no gaps, and a cursor keeps working after new writes
    first = api.list(limit=5).json()
    assert [t["id"] for t in first["tasks"]] == ids_desc[:5] and first["next_cursor"]
    newer = api.create("written between pages")
    second = api.list(limit=5, cursor=first["next_cursor"]).json()
    assert [t["id"] for t in second["tasks"]] == ids_desc[5:10]
    third = api.list(limit=5, cursor=second["next_cursor"]).json()
    assert [t["id"] for t in third["tasks"]] == ids_desc[10:] and third["next_cursor"] is None
    assert ids()[0] == newer["id"]


def test_read_your_writes(env):
    api = Api(env, new_account(env)[0])
    api.wait_redis()  # the new user's (empty) projection, built in the background
    for i in range(15):
        t = api.create(f"rw {i}")
        r = api.list(limit=1)
        assert r.headers["X-Read-Source"] == "redis"
        assert r.json()["tasks"][0] == t
        p = api.patch(t["id"], title=f"rw {i} changed")
        assert api.list(limit=1).json()["tasks"][0] == p
        assert api.req("DELETE", f"/api/tasks/{t['id']}").status_code == 204
        assert all(x["id"] != t["id"] for x in api.list(limit=5).json()["tasks"])


def test_users_are_isolated(env):
    a, b = Api(env, new_account(env)[0]), Api(env, new_account(env)[0])
    t = a.create("A's secret", tags=["private"])
    for method, path, body in [("GET", f"/api/tasks/{t['id']}", None),
                               ("PATCH", f"/api/tasks/{t['id']}", {"title": "pwned"}),
                               ("POST", f"/api/tasks/{t['id']}/complete", None),
                               ("DELETE", f"/api/tasks/{t['id']}", None)]:
        r = b.req(method, path, body)
        assert r.status_code == 404, (method, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert b.list_all()[0] == []
    assert b.list_all(tag="private")[0] == []
    assert a.req("GET", f"/api/tasks/{t['id']}").json() == t  # untouched, same version
    # B's tag of the same name is B's own
    tb = b.create("B's", tags=["private"])
    assert [x["id"] for x in a.list_all(tag="private")[0]] == [t["id"]]
    assert [x["id"] for x in b.list_all(tag="private")[0]] == [tb["id"]]


def test_concurrent_patches_end_consistent(env):
    api = Api(env, new_account(env)[0])
    t = api.create("contended")

    def one(i):
        return Api(env, api.s.headers["Authorization"][7:]).patch(t["id"], title=f"v{i}",
                                                                   priority=1 + i % 5)
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(30)))
    assert sorted(r["version"] for r in results) == list(range(2, 32))
    row = sql(env, "SELECT title, version FROM tasks WHERE id = %s", (t["id"],))[0]
    listed = api.list(limit=1).json()["tasks"][0]
    assert (listed["title"], listed["version"]) == row  # the read model kept the newest
    assert api.req("GET", f"/api/tasks/{t['id']}").json() == listed


def test_each_change_publishes_its_event(env):
    token, user_id = new_account(env)
    api = Api(env, token)
    start = end_offsets(env)
    r = api.req("POST", "/api/tasks", {"title": "evented", "tags": ["k"]})
    created = r.json()
    trace_id = r.headers["traceparent"].split("-")[1]
    api.patch(created["id"], priority=4)
    api.req("POST", f"/api/tasks/{created['id']}/complete")
    api.req("DELETE", f"/api/tasks/{created['id']}")
    wait_until("the four events to be published", lambda: pending_for(env, [created["id"]]) == 0,
               timeout=60)
    rows = sql(env, "SELECT event_id::text, version FROM outbox WHERE aggregate_id = %s "
                    "ORDER BY id", (created["id"],))
    msgs = [m for m in consume_since(env, start) if m["key"] == str(created["id"])]
    assert [m["event_id"] for m in msgs] == [r[0] for r in rows]
    assert [m["value"]["type"] for m in msgs] == ["task.created", "task.updated",
                                                  "task.completed", "task.deleted"]
    for m, version in zip(msgs, (1, 2, 3, 4)):
        v = m["value"]
        assert set(v) == {"id", "type", "occurred_at", "user_id", "task_id", "version", "task"}
        assert v["version"] == version and v["task"]["version"] == version
        assert v["user_id"] == user_id and v["task_id"] == created["id"]
        assert TIME.match(v["occurred_at"]) and set(v["task"]) == FIELDS
        h = m["headers"]
        assert h["event_id"] == v["id"] and h["event_type"] == v["type"]
        assert h["content-type"] == "application/json"
        assert re.match(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", h["traceparent"])
    assert msgs[0]["value"]["task"] == created
    assert msgs[3]["value"]["task"]["tags"] == ["k"]  # the deleted task as it was
    # the create's event continues the trace of the request that made it
    assert msgs[0]["headers"]["traceparent"].split("-")[1] == trace_id


def test_auth_is_required(env):
    gw = env["GATEWAY_URL"]
    for headers, code in [({}, "unauthorized"),
                          ({"Authorization": "Basic dXNlcjpwdw=="}, "unauthorized"),
                          ({"Authorization": "Bearer"}, "unauthorized"),
                          ({"Authorization": "Bearer not.a.jwt"}, "invalid_token")]:
        for method, path in [("GET", "/api/tasks"), ("POST", "/api/tasks"),
                             ("GET", "/api/tasks/1"), ("DELETE", "/api/tasks/1")]:
            r = requests.request(method, gw + path, headers=headers, timeout=10)
            assert r.status_code == 401, (headers, method, path, r.text)
            assert r.json()["error"]["code"] == code
    # a real token with one byte changed in its signature
    token = new_account(env)[0]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    r = requests.get(gw + "/api/tasks", headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


def test_service_endpoints(env):
    base = env["TASKS_HTTP_URL"]
    assert requests.get(base + "/health", timeout=5).status_code == 200
    r = requests.get(base + "/ready", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"postgres": "ok", "schema": "ok"}
    api = Api(env, new_account(env)[0])
    api.wait_redis()  # the new user's projection, built in the background
    tasks = Counters(base)
    api.list()
    t = api.create("counted")
    wait_until("the create's event to be published", lambda: pending_for(env, [t["id"]]) == 0,
               timeout=60)
    m = requests.get(base + "/metrics", timeout=5).text
    for name in ("http_requests_total", "http_request_duration_seconds_bucket", "outbox_backlog",
                 "outbox_oldest_unpublished_age_seconds", "outbox_dead_rows", "outbox_dead_total",
                 "outbox_published_total", "outbox_publish_failures_total",
                 "outbox_commit_to_publish_seconds_bucket", "outbox_relay_shards_held",
                 "tasks_read_model_hits_total", "tasks_read_model_fallbacks_total",
                 "tasks_read_model_redis_up", "tasks_auth_validations_total"):
        assert re.search(rf"^{name}[{{ ]", m, re.M), name
    # and by value: exactly what the two requests did
    assert tasks.delta("http_requests_total", route="/api/tasks", method="GET", status="200") == 1
    assert tasks.delta("http_requests_total", route="/api/tasks", method="POST", status="201") == 1
    assert tasks.delta("http_request_duration_seconds_count", route="/api/tasks") == 2
    assert tasks.delta("tasks_read_model_hits_total") == 1
    assert tasks.delta("tasks_read_model_fallbacks_total") == 0
    assert tasks.delta("tasks_read_model_updates_total", result="applied") == 1
    # validated once while waiting for the projection, then cached; cache hits are not timed
    assert tasks.delta("tasks_auth_validations_total", result="valid") == 0
    assert tasks.delta("tasks_auth_validations_total", result="cached") == 2
    assert tasks.delta("tasks_auth_validate_seconds_count") == 0
    assert tasks.delta("outbox_published_total") >= 1
    assert tasks.delta("outbox_relay_batches_total") >= 1
    assert tasks.delta("outbox_commit_to_publish_seconds_count") >= 1
    assert metric(scrape(base), "tasks_read_model_redis_up") == 1
    wait_until("the stack's relay to hold every shard (no other relay runs)",
               lambda: metric(scrape(base), "outbox_relay_shards_held") == 64, timeout=15)
