"""notification-service end to end: the API through the gateway, exactly-once effect against
duplicate, stale and poison messages (sent by an independent producer), crashes, a
rebalance, a PostgreSQL outage, the webhook channel, and one trace across every service.

Heavy scenarios use a topic and a database of their own (a private instance), so the stack's
instance and the other tests are not disturbed."""
import http.server
import json
import os
import signal
import socket
import threading
import time
import uuid

import pytest
import requests
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import RUN, stack, wait_until
from notify_support import (DLQ, Instance, dlq_ends, dlq_messages, event, metric, notifications_for,
                            nsql, private_database, recorded, send, start_group_at_end, unique_task,
                            wait_recorded)
from tasks_support import Api, new_account


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_topic(env, partitions=6):
    name = f"task-events-e2e-{uuid.uuid4().hex[:8]}"
    a = AdminClient({"bootstrap.servers": env["KAFKA_BROKERS"]})
    for f in a.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(30)
    return name


# ---- the API -----------------------------------------------------------------------------

def test_completing_a_task_notifies_its_owner(env):
    token, _ = new_account(env)
    api = Api(env, token)
    task = api.create("Water the plants", due_at="2031-06-01T08:00:00Z")
    r = api.req("POST", f"/api/tasks/{task['id']}/complete")
    assert r.status_code == 200, r.text

    def mine():
        r = api.s.get(env["GATEWAY_URL"] + "/api/notifications", timeout=10)
        assert r.status_code == 200, r.text
        n = r.json()["notifications"]
        return n if len(n) >= 2 else None

    notes = wait_until("two notifications", mine, timeout=60, interval=0.3)
    assert [n["kind"] for n in notes] == ["task_done", "reminder_scheduled"]  # newest first
    done = notes[0]
    assert done["task_id"] == task["id"] and done["title"] == "Task done: Water the plants"
    assert done["read_at"] is None and done["delivery"] == {"log": "delivered"}
    assert notes[1]["remind_at"] == "2031-06-01T08:00:00.000Z"

    r = api.req("POST", f"/api/notifications/{done['id']}/read")
    assert r.status_code == 200 and r.json()["read_at"], r.text
    first = r.json()["read_at"]
    assert api.req("POST", f"/api/notifications/{done['id']}/read").json()["read_at"] == first

    other = Api(env, new_account(env)[0])
    r = other.req("POST", f"/api/notifications/{done['id']}/read")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert other.s.get(env["GATEWAY_URL"] + "/api/notifications", timeout=10).json() == \
        {"notifications": [], "next_cursor": None}


def test_notifications_page_with_a_cursor(env):
    token, uid = new_account(env)
    events = [event(unique_task(), user_id=uid) for _ in range(5)]
    send(env, events)
    wait_recorded(env, [e for e, _ in events])
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    seen, cursor = [], None
    while True:
        r = s.get(env["GATEWAY_URL"] + "/api/notifications",
                  params={"limit": 2, **({"cursor": cursor} if cursor else {})}, timeout=10)
        assert r.status_code == 200, r.text
        seen += [n["id"] for n in r.json()["notifications"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("query,code", [("limit=0", "invalid_query"), ("limit=201", "invalid_query"),
                                        ("limit=abc", "invalid_query"), ("cursor=-1", "invalid_cursor"),
                                        ("cursor=1e3", "invalid_cursor")])
def test_bad_queries_are_400(env, query, code):
    token, _ = new_account(env)
    r = requests.get(env["GATEWAY_URL"] + "/api/notifications?" + query,
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == code


def test_bad_ids_and_tokens(env):
    token, _ = new_account(env)
    h = {"Authorization": f"Bearer {token}"}
    for bad in ["abc", "0", "-1", "99999999999999999999"]:
        r = requests.post(env["NOTIFY_HTTP_URL"] + f"/api/notifications/{bad}/read", headers=h, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_id", bad
    r = requests.get(env["NOTIFY_HTTP_URL"] + "/api/notifications", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = requests.get(env["NOTIFY_HTTP_URL"] + "/api/notifications",
                     headers={"Authorization": "Bearer not.a.jwt"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


# ---- exactly once in effect --------------------------------------------------------------

def test_a_duplicate_delivery_changes_nothing(env):
    url = env["NOTIFY_HTTP_URL"]
    before = metric(url, "notify_duplicates_total")
    eid, body = event(unique_task())
    send(env, [(eid, body)])
    wait_recorded(env, [eid])
    send(env, [(eid, body)])  # the same event again, as a relay re-send would
    wait_until("the duplicate to be counted",
               lambda: metric(url, "notify_duplicates_total") >= before + 1, timeout=60)
    assert notifications_for(env, [eid]) == {eid: 1}
    assert recorded(env, [eid]) == {eid: "notified"}


def test_a_stale_version_is_not_notified_again(env):
    url = env["NOTIFY_HTTP_URL"]
    before = metric(url, "notify_stale_total")
    task = unique_task()
    new_id, newer = event(task, version=5)
    old_id, older = event(task, version=3)  # a replayed outbox row arriving late
    send(env, [(new_id, newer)])
    wait_recorded(env, [new_id])
    send(env, [(old_id, older)])
    wait_recorded(env, [old_id])
    assert recorded(env, [new_id, old_id]) == {new_id: "notified", old_id: "stale"}
    assert notifications_for(env, [new_id, old_id]) == {new_id: 1}
    assert metric(url, "notify_stale_total") == before + 1


def test_poison_messages_go_to_the_dlq_and_consumption_goes_on(env):
    url = env["NOTIFY_HTTP_URL"]
    dead_before = metric(url, "notify_dead_lettered_total", 'reason="invalid_json"')
    since = dlq_ends(env)
    task = unique_task()
    bad_type_id, bad_type = event(task, etype="task.exploded")
    good_id, good = event(unique_task())
    send(env, [(bad_type_id, bad_type)], raw=[(str(task).encode(), b"{not json")])
    send(env, [(good_id, good)])
    wait_recorded(env, [good_id])
    msgs = wait_until("two dead letters", lambda: (lambda m: m if len(m) >= 2 else None)(
        [m for m in dlq_messages(env, since) if m["key"] == str(task).encode()]), timeout=60)
    by_reason = {m["headers"]["dlq_reason"]: m for m in msgs}
    assert set(by_reason) == {"invalid_json", "unknown_type"}
    poison = by_reason["invalid_json"]
    assert poison["value"] == b"{not json"
    assert poison["headers"]["dlq_source_topic"] == "task-events"
    assert int(poison["headers"]["dlq_source_partition"]) >= 0
    assert int(poison["headers"]["dlq_source_offset"]) >= 0
    assert by_reason["unknown_type"]["headers"]["event_id"] == bad_type_id  # original headers kept
    assert recorded(env, [bad_type_id]) == {}
    assert metric(url, "notify_dead_lettered_total", 'reason="invalid_json"') >= dead_before + 1


# ---- crashes and rebalances (a topic and database of their own) ----------------------------

def test_sigkill_with_5000_queued_then_restart(env):
    topic, db = private_topic(env), private_database(env)
    events = [event(unique_task()) for _ in range(5000)]
    ids = [e for e, _ in events]
    from notify_support import producer
    p = producer(env)
    for eid, body in events:
        p.produce(topic, key=str(body["task_id"]), value=json.dumps(body),
                  headers=[("event_id", eid)])
        p.poll(0)
    assert p.flush(60) == 0
    inst = Instance(env, "kill", free_port(), NOTIFY_TOPIC=topic, NOTIFY_DATABASE_URL=db,
                    NOTIFY_GROUP="e2e-" + topic, NOTIFY_BATCH_MAX=20)
    try:
        wait_until("part of the queue recorded",
                   lambda: 0 < len(recorded(env, ids, url=db)) < len(ids), timeout=120, interval=0.05)
        inst.kill()  # SIGKILL in the middle of the queue
        got = len(recorded(env, ids, url=db))
        assert got < len(ids), "the queue was drained before the kill: the test proves nothing"
        inst.start()
        wait_recorded(env, ids, timeout=300, url=db)
        counts = notifications_for(env, ids, url=db)
        assert len(counts) == len(ids) and set(counts.values()) == {1}
        total = nsql(env, "SELECT count(*) FROM notifications", url=db)[0][0]
        assert total == len(ids)
    finally:
        inst.stop()
        inst.assert_clean()


def test_two_instances_and_a_rebalance(env):
    """Two instances in one group: a second joins while the first is busy (a rebalance), more
    events arrive, then the first stops (another rebalance). Every event: exactly one
    notification, and both instances did part of the work."""
    topic, db = private_topic(env), private_database(env)
    settings = dict(NOTIFY_TOPIC=topic, NOTIFY_DATABASE_URL=db, NOTIFY_GROUP="e2e-" + topic,
                    NOTIFY_BATCH_MAX=50)
    from notify_support import producer

    def produce(evs):
        p = producer(env)
        for eid, body in evs:
            p.produce(topic, key=str(body["task_id"]), value=json.dumps(body),
                      headers=[("event_id", eid)])
            p.poll(0)
        assert p.flush(60) == 0

    a = Instance(env, "rebal-a", free_port(), **settings)
    b = None
    try:
        a.ready()
        first = [event(unique_task()) for _ in range(2500)]
        second = [event(unique_task()) for _ in range(2500)]
        ids = [e for e, _ in first + second]
        produce(first)
        wait_until("the first instance at work",
                   lambda: len(recorded(env, ids, url=db)) > 0, timeout=120, interval=0.05)
        b = Instance(env, "rebal-b", free_port(), **settings)  # joins: the group rebalances
        wait_until("the second instance to get partitions",
                   lambda: any("partitions assigned" in l for l in b.lines()), timeout=120)
        produce(second)
        wait_until("part of the second half recorded", lambda: len(recorded(env, ids, url=db)) > 2500,
                   timeout=120, interval=0.05)
        a.stop()  # leaves the group: its partitions move to the second instance
        wait_recorded(env, ids, timeout=300, url=db)
        counts = notifications_for(env, ids, url=db)
        assert len(counts) == len(ids) and set(counts.values()) == {1}
        assert nsql(env, "SELECT count(*) FROM notifications", url=db)[0][0] == len(ids)
        done_by_b = sum(metric(b.url, "notify_events_processed_total",
                               f'type="task.completed",outcome="{o}"') for o in ("notified",))
        assert done_by_b > 0, "the second instance recorded nothing: no rebalance was tested"
    finally:
        a.stop()
        a.assert_clean()
        if b:
            b.stop()
            b.assert_clean()


# ---- PostgreSQL down -----------------------------------------------------------------------

def test_postgres_outage_pauses_and_skips_nothing(env):
    url = env["NOTIFY_HTTP_URL"]
    failed_before = metric(url, "notify_batches_failed_total")
    stack("stop", "postgres")
    stopped = time.monotonic()
    try:
        events = [event(unique_task()) for _ in range(300)]
        send(env, events)

        def paused():
            r = requests.get(url + "/ready", timeout=5)
            return r.status_code == 503 and r.json()["checks"]["postgres"] != "ok" and \
                metric(url, "notify_batches_failed_total") > failed_before

        wait_until("the consumer to pause on the outage", paused, timeout=60)
        # the scenario: an outage of 20 s while events arrive
        time.sleep(max(0.0, 20 - (time.monotonic() - stopped)))
    finally:
        stack("start", "postgres")
    ids = [e for e, _ in events]
    wait_recorded(env, ids, timeout=120)
    counts = notifications_for(env, ids)
    assert len(counts) == len(ids) and set(counts.values()) == {1}
    wait_until("notification-service ready again",
               lambda: requests.get(url + "/ready", timeout=5).status_code == 200, timeout=60)


# ---- the webhook channel -------------------------------------------------------------------

class Receiver:
    """A local webhook receiver; answers 503 while down."""

    def __init__(self):
        self.got, self.down = [], False
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.got.append({"json": json.loads(body), "headers": dict(self.headers)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/hook"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def ids(self):
        return {g["json"]["event_id"] for g in self.got}

    def close(self):
        self.srv.shutdown()


def test_webhook_delivers_retries_and_never_blocks(env):
    topic, db = private_topic(env), private_database(env)
    rx = Receiver()
    inst = Instance(env, "webhook", free_port(), NOTIFY_TOPIC=topic, NOTIFY_DATABASE_URL=db,
                    NOTIFY_GROUP="e2e-" + topic, NOTIFY_WEBHOOK_URL=rx.url,
                    NOTIFY_WEBHOOK_BACKOFF="100ms", NOTIFY_WEBHOOK_TIMEOUT="2s")
    from notify_support import producer

    def produce(evs, traceparent=None):
        p = producer(env)
        for eid, body in evs:
            h = [("event_id", eid)] + ([("traceparent", traceparent)] if traceparent else [])
            p.produce(topic, key=str(body["task_id"]), value=json.dumps(body), headers=h)
        assert p.flush(30) == 0

    try:
        trace_id = uuid.uuid4().hex
        first = [event(unique_task()) for _ in range(3)]
        produce(first, f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
        wait_until("three webhook posts", lambda: {e for e, _ in first} <= rx.ids(), timeout=60)
        post = next(g for g in rx.got if g["json"]["event_id"] == first[0][0])
        assert post["headers"]["Content-Type"] == "application/json"
        assert post["json"]["kind"] == "task_done"
        assert post["headers"]["X-Notification-Id"] == str(post["json"]["id"])
        # the webhook call continues the event's trace
        assert post["headers"]["traceparent"].split("-")[1] == trace_id

        rx.down = True  # the receiver stays down: consumption must go on regardless
        later = [event(unique_task()) for _ in range(2)]
        produce(later)
        ids = [e for e, _ in later]
        wait_recorded(env, ids, url=db)
        wait_until("retries of the failing deliveries", lambda: nsql(
            env, "SELECT min(d.attempts) FROM deliveries d JOIN notifications n ON n.id = "
                 "d.notification_id WHERE d.channel = 'webhook' AND n.event_id = ANY(%s::uuid[])",
            (ids,), url=db)[0][0] >= 2, timeout=60)
        more = [event(unique_task()) for _ in range(2)]
        produce(more)
        wait_recorded(env, [e for e, _ in more], url=db)  # not held up by the failing receiver
        rx.down = False
        wait_until("the retried deliveries", lambda: set(ids) <= rx.ids(), timeout=60)
        status = nsql(env, "SELECT DISTINCT d.status FROM deliveries d JOIN notifications n "
                           "ON n.id = d.notification_id WHERE d.channel = 'webhook' AND "
                           "n.event_id = ANY(%s::uuid[])", (ids,), url=db)
        wait_until("delivered recorded", lambda: nsql(
            env, "SELECT count(*) FROM deliveries d JOIN notifications n ON n.id = "
                 "d.notification_id WHERE d.channel = 'webhook' AND d.status = 'delivered' "
                 "AND n.event_id = ANY(%s::uuid[])", (ids,), url=db)[0][0] == len(ids),
            timeout=30)
        assert status
        assert metric(inst.url, "notify_deliveries_total", 'channel="webhook",outcome="retry"') >= 2
    finally:
        inst.stop()
        inst.assert_clean()
        rx.close()


# ---- one trace across every service --------------------------------------------------------

def test_one_trace_from_the_gateway_to_the_webhook(env):
    """POST /api/tasks/{id}/complete through the gateway: one trace in Jaeger with the request
    in tasks-service, its PostgreSQL work, auth-service's ValidateToken (child of tasks-service's
    client span), the relay's publish (with the outbox wait) and notification-service's
    processing (child of the publish, through the Kafka header), the webhook call its child.
    A private notification-service with a webhook reads task-events beside the stack's."""
    rx = Receiver()
    db = private_database(env)
    group = "e2e-trace-" + uuid.uuid4().hex[:8]
    start_group_at_end(env, group)  # not the whole history of task-events: what comes next
    inst = Instance(env, "trace", free_port(), NOTIFY_DATABASE_URL=db, NOTIFY_GROUP=group,
                    NOTIFY_WEBHOOK_URL=rx.url)
    try:
        gw = env["GATEWAY_URL"]
        email, pw = f"trace-{uuid.uuid4().hex[:10]}@example.com", "pw-" + uuid.uuid4().hex
        assert requests.post(gw + "/api/auth/register", json={"email": email, "password": pw},
                             timeout=60).status_code == 201
        login = lambda: requests.post(gw + "/api/auth/login", json={"email": email, "password": pw},
                                      timeout=60).json()["access_token"]
        task = Api(env, login()).create("follow me")
        # a fresh token: not in tasks-service's validation cache, so ValidateToken is called
        api = Api(env, login())
        trace_id = uuid.uuid4().hex
        start_us = int(time.time() * 1e6)
        r = api.req("POST", f"/api/tasks/{task['id']}/complete",
                    headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"})
        assert r.status_code == 200, r.text
        q = env["JAEGER_QUERY_URL"]

        def whole():
            t = requests.get(f"{q}/api/traces/{trace_id}", timeout=5)
            if t.status_code != 200:
                return None
            data = t.json()["data"][0]
            svc = {k: p["serviceName"] for k, p in data["processes"].items()}
            spans = {s["spanID"]: s for s in data["spans"]}
            for s in spans.values():
                s["service"] = svc[s["processID"]]
                s["tags_"] = {t["key"]: t["value"] for t in s["tags"]}
                refs = [x["spanID"] for x in s.get("references", []) if x["refType"] == "CHILD_OF"]
                s["parent"] = spans.get(refs[0]) if refs and refs[0] in spans else None
            names = {(s["service"], s["operationName"]) for s in spans.values()}
            need = {("notification-service", "webhook POST"),
                    ("notification-service", "task-events process"),
                    ("auth-service", "/todo.auth.v1.AuthService/ValidateToken")}
            # the services export in batches of their own: wait for every part
            return spans if need <= names and any(n == "task-events publish" for _, n in names) \
                and any(s == "tasks-service" and "complete" in n for s, n in names) else None

        spans = wait_until("the whole trace in Jaeger", whole, timeout=90, interval=1.0).values()
        by = lambda svc, op: [s for s in spans if s["service"] == svc and op in s["operationName"]]
        server = by("tasks-service", "complete")
        assert server and server[0]["tags_"].get("span.kind") == "server"
        assert by("tasks-service", "tasks"), "no PostgreSQL span of the request"
        grpc_server = [s for s in by("auth-service", "ValidateToken")
                       if s["tags_"].get("span.kind") == "server"]
        assert grpc_server and grpc_server[0]["parent"]["service"] == "tasks-service"
        assert grpc_server[0]["parent"]["tags_"].get("span.kind") == "client"
        publish = [s for s in spans if s["operationName"] == "task-events publish"]
        assert publish and "outbox.wait_ms" in publish[0]["tags_"]
        process = [s for s in by("notification-service", "task-events process")
                   if s["parent"] is publish[0]]
        assert process, "no notification-service span under the publish"
        hook = by("notification-service", "webhook POST")
        assert hook[0]["parent"]["operationName"] == "task-events process"
        assert {s["traceID"] for s in spans} == {trace_id}
        # found by a search too, with start and end (Jaeger ignores lookback)
        found = requests.get(f"{q}/api/traces", params={
            "service": "tasks-service", "operation": server[0]["operationName"], "start": start_us,
            "end": int(time.time() * 1e6) + 1_000_000, "limit": 100}, timeout=10).json()["data"]
        assert trace_id in {t["traceID"] for t in found}
    finally:
        inst.stop()
        inst.assert_clean()
        rx.close()
