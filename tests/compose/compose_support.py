"""Clients for the compose suite. Independent of the services' code: requests through the
published gateway, confluent-kafka (librdkafka's Python client) on Kafka's host listener,
psycopg2 on the published PostgreSQL, Jaeger's and Prometheus's HTTP APIs."""
import json
import secrets

import psycopg2
import requests
from confluent_kafka import Consumer, TopicPartition

from conftest import compose, wait_until

TOPIC = "task-events"


# ---- the API through the gateway ---------------------------------------------------------

class User:
    """A freshly registered and logged-in user, talking to the gateway."""

    def __init__(self, env):
        self.base = env["GATEWAY_URL"]
        self.email = f"compose-{secrets.token_hex(6)}@example.com"
        password = "pw-" + secrets.token_urlsafe(18)
        r = requests.post(self.base + "/api/auth/register",
                          json={"email": self.email, "password": password}, timeout=60)
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        r = requests.post(self.base + "/api/auth/login",
                          json={"email": self.email, "password": password}, timeout=60)
        assert r.status_code == 200, r.text
        self.token = r.json()["access_token"]
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method, path, **kw):
        return self.s.request(method, self.base + path, timeout=30, **kw)

    def create(self, title, **fields):
        r = self.call("POST", "/api/tasks", json={"title": title, "priority": 3, "tags": [], **fields})
        assert r.status_code == 201, r.text
        return r.json()

    def complete(self, task_id):
        r = self.call("POST", f"/api/tasks/{task_id}/complete")
        assert r.status_code == 200, r.text
        return r.json()

    def rename(self, task_id, title):
        r = self.call("PATCH", f"/api/tasks/{task_id}", json={"title": title})
        assert r.status_code == 200, r.text
        return r.json()

    def notifications(self):
        """Every notification of the user (all pages), newest first."""
        out, cursor = [], None
        while True:
            r = self.call("GET", "/api/notifications", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            body = r.json()
            out += body["notifications"]
            cursor = body.get("next_cursor")
            if not cursor:
                return out


def notifications_of_task(items, task_id, kind="task_done"):
    """The notifications of KIND about TASK_ID (task.completed gives one "task_done"; a task
    created without due_at gives none)."""
    return [n for n in items if n.get("task_id") == task_id and n.get("kind") == kind]


# ---- Kafka -------------------------------------------------------------------------------

def kafka_conf(env, **extra):
    return {"bootstrap.servers": f"127.0.0.1:{env['KAFKA_PORT']}", "enable.auto.commit": False,
            "group.id": "compose-suite-" + secrets.token_hex(4), **extra}


def end_offsets(env):
    """{partition: high watermark} of task-events now."""
    c = Consumer(kafka_conf(env))
    try:
        md = c.list_topics(TOPIC, timeout=30)
        parts = sorted(md.topics[TOPIC].partitions)
        return {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1] for p in parts}
    finally:
        c.close()


def read_events(env, start, stop):
    """Every message of task-events from START up to STOP ({partition: offset} each), in
    partition order: [(partition, key, headers dict, value dict)]."""
    c = Consumer(kafka_conf(env, **{"auto.offset.reset": "earliest"}))
    want = {p: stop[p] for p in stop if stop[p] > start.get(p, 0)}
    out = []
    try:
        if not want:
            return out
        c.assign([TopicPartition(TOPIC, p, start.get(p, 0)) for p in want])
        seen = {p: start.get(p, 0) for p in want}

        def drained():
            for m in c.consume(500, timeout=1.0):
                if m.error():
                    raise AssertionError(f"consumer error: {m.error()}")
                p = m.partition()
                if m.offset() >= want[p]:
                    continue
                seen[p] = m.offset() + 1
                out.append((p, m.key().decode(), {k: v.decode() for k, v in (m.headers() or [])},
                            json.loads(m.value())))
            return all(seen[p] >= want[p] for p in want)

        wait_until("the events up to the recorded offsets", drained, timeout=120, interval=0)
        return out
    finally:
        c.close()


# ---- the outbox (tasks database, as the tasks role) ----------------------------------------

def backlog(env):
    """Unpublished, not dead outbox rows."""
    with psycopg2.connect(host="127.0.0.1", port=int(env["PG_PORT"]), dbname="tasks", user="tasks",
                          password=env["PG_TASKS_PASSWORD"], connect_timeout=10) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM outbox WHERE NOT published AND NOT dead")
            return cur.fetchone()[0]


# ---- metrics ------------------------------------------------------------------------------

def metric(text, name):
    """Sum of every sample of NAME (any labels) in a Prometheus text exposition."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"no {name} in the metrics"
    return total


def container_metrics(service, index, port):
    """GET /metrics of one replica, from inside it (replicas publish no host port)."""
    p = compose("exec", "-T", "--index", str(index), service, "curl", "-fsS",
                f"http://127.0.0.1:{port}/metrics", timeout=60)
    return p.stdout


def prometheus(env, query):
    r = requests.get(f"http://127.0.0.1:{env['PROMETHEUS_PORT']}/api/v1/query", params={"query": query},
                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]
