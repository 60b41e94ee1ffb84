"""Helpers for the tasks-service end-to-end tests (tests/e2e/test_tasks_*.py).

Independent clients only: `requests` through the gateway, psycopg2 for what the service
stored, confluent_kafka (librdkafka's Python client, with its own consumer) for what reached
Kafka, redis-py for the read model. Accounts come from the real auth-service (register and
login through the gateway). Nothing here shares code with the service.
"""
import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import time
import uuid

import psycopg2
import requests
from confluent_kafka import Consumer, TopicPartition

from conftest import RUN, SANITIZER, bin_dir, wait_until

ROOT = pathlib.Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}
TOPIC = "task-events"


def cli(env, *args, timeout=300):
    """`tasks-service MODE …` (the one-shot modes) with the stack's settings; asserts that it
    printed no sanitizer report, returns the CompletedProcess."""
    e = {**os.environ, **env, "LOG_LEVEL": "warn"}
    p = subprocess.run([str(bin_dir() / "tasks-service"), *args], env=e, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert not SANITIZER.search(p.stderr), f"sanitizer report from {args}:\n{p.stderr[-6000:]}"
    return p


# ---- accounts and the API ------------------------------------------------------------------

def new_account(env):
    """Registers and logs in a fresh user; returns (access token, user id). Directly at
    auth-service: setting up an account is not what these tests are about, and the gateway
    lets one client address make only a few credential requests a second."""
    gw = env["AUTH_HTTP_URL"]
    email = f"tasks-{secrets.token_hex(6)}@example.com"
    password = "pw-" + secrets.token_urlsafe(18)
    r = requests.post(gw + "/api/auth/register", json={"email": email, "password": password},
                      timeout=60)
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    r = requests.post(gw + "/api/auth/login", json={"email": email, "password": password},
                      timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["access_token"], user_id


class Api:
    """A user's view of the tasks API through the gateway."""

    def __init__(self, env, token=None, base=None):
        self.base = base or env["GATEWAY_URL"]
        self.s = requests.Session()
        if token:
            self.s.headers["Authorization"] = f"Bearer {token}"

    def req(self, method, path, body=None, timeout=30, **kw):
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            kw.setdefault("headers", {}).update(JSON)
        return self.s.request(method, self.base + path, data=body, timeout=timeout, **kw)

    def create(self, title="a task", **fields):
        r = self.req("POST", "/api/tasks", {"title": title, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    def patch(self, task_id, **fields):
        r = self.req("PATCH", f"/api/tasks/{task_id}", fields)
        assert r.status_code == 200, r.text
        return r.json()

    def list(self, timeout=30, **params):
        return self.s.get(self.base + "/api/tasks", params=params, timeout=timeout)

    def wait_redis(self, timeout=30, **params):
        """Polls the user's list until it is served from Redis, and returns that answer. A
        projection that is not built (a new user, after an invalidation, a restart or a Redis
        restart) is rebuilt in the background while reads fall back to PostgreSQL
        (tasks_readmodel.h, rule 2)."""
        def from_redis():
            r = self.list(**params)
            return r if r.status_code == 200 and r.headers.get("X-Read-Source") == "redis" else None
        return wait_until("the list to be served from Redis", from_redis, timeout=timeout,
                          interval=0.05)

    def list_all(self, **params):
        """Every page, following next_cursor; returns (tasks, sources)."""
        tasks, sources, cursor = [], set(), None
        while True:
            p = dict(params)
            if cursor:
                p["cursor"] = cursor
            r = self.list(**p)
            assert r.status_code == 200, r.text
            sources.add(r.headers.get("X-Read-Source"))
            body = r.json()
            tasks += body["tasks"]
            cursor = body["next_cursor"]
            if not cursor:
                return tasks, sources


# ---- PostgreSQL ----------------------------------------------------------------------------

def db(env):
    c = psycopg2.connect(env["TASKS_DATABASE_URL"], connect_timeout=5)
    c.autocommit = True
    return c


def sql(env, query, args=None):
    with db(env) as c, c.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else cur.rowcount


def pending_for(env, task_ids):
    """Outbox rows of these tasks not yet published."""
    return sql(env, "SELECT count(*) FROM outbox WHERE aggregate_id = ANY(%s) AND NOT published",
               (list(task_ids),))[0][0]


def events_of(env, task_ids):
    """{event_id: (task id, version)} of every outbox row of these tasks."""
    rows = sql(env, "SELECT event_id::text, aggregate_id, version FROM outbox "
                    "WHERE aggregate_id = ANY(%s)", (list(task_ids),))
    return {r[0]: (r[1], r[2]) for r in rows}


def bulk_backlog(env, user_id, tasks, versions, base=None):
    """Inserts tasks x versions outbox rows the way the service writes them (version-major
    order, so each task's rows are spread over the whole backlog). Returns {event_id: (task,
    version)} and the task ids. The task ids are far above real ones and unique per call."""
    base = base or (8_000_000_000_000 + secrets.randbelow(10**12))
    rows = sql(env, """
        WITH g AS (SELECT gen_random_uuid() AS eid, t, v
                   FROM generate_series(1, %(v)s) v, generate_series(1, %(n)s) t)
        INSERT INTO outbox (event_id, event_type, aggregate_id, version, topic, key, payload)
        SELECT eid, 'task.updated', %(base)s + t, v, 'task-events', (%(base)s + t)::text,
               jsonb_build_object('id', eid, 'type', 'task.updated',
                   'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'user_id', %(uid)s, 'task_id', %(base)s + t, 'version', v,
                   'task', jsonb_build_object('id', %(base)s + t, 'title', 'bulk ' || t,
                        'priority', 3, 'done', false, 'tags', '[]'::jsonb, 'due_at', null,
                        'created_at', '2024-01-01T00:00:00.000Z',
                        'updated_at', '2024-01-01T00:00:00.000Z', 'completed_at', null,
                        'version', v))
        FROM g ORDER BY v, t
        RETURNING event_id::text, aggregate_id, version""",
               {"v": versions, "n": tasks, "base": base, "uid": user_id})
    assert len(rows) == tasks * versions
    return {r[0]: (r[1], r[2]) for r in rows}, [base + t for t in range(1, tasks + 1)]


def notify_relays(env):
    sql(env, "SELECT pg_notify('tasks_outbox', '')")


# ---- Kafka ---------------------------------------------------------------------------------

def _consumer(env):
    return Consumer({"bootstrap.servers": env["KAFKA_BROKERS"],
                     "group.id": f"tasks-e2e-{uuid.uuid4()}", "enable.auto.commit": False,
                     "enable.partition.eof": False})


def end_offsets(env, timeout=30):
    """{partition: high watermark} of task-events now."""
    c = _consumer(env)
    try:
        md = c.list_topics(TOPIC, timeout=timeout)
        out = {}
        for p in md.topics[TOPIC].partitions:
            _, high = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=timeout)
            out[p] = high
        return out
    finally:
        c.close()


def consume_since(env, start, timeout=120):
    """Every message of task-events from the offsets in start up to the current end, as dicts
    {event_id, key, headers, value, partition, offset}, in partition order."""
    until = end_offsets(env)
    c = _consumer(env)
    out = []
    try:
        todo = {p: (start.get(p, 0), until[p]) for p in until if until[p] > start.get(p, 0)}
        if not todo:
            return out
        c.assign([TopicPartition(TOPIC, p, lo) for p, (lo, _) in todo.items()])
        done = set()
        deadline = time.monotonic() + timeout
        while len(done) < len(todo):
            assert time.monotonic() < deadline, f"consumed only {len(out)} messages in {timeout}s"
            m = c.poll(1.0)
            if m is None:
                continue
            assert m.error() is None, m.error()
            headers = {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])}
            out.append({"event_id": headers.get("event_id"), "key": m.key().decode(),
                        "headers": headers, "value": json.loads(m.value()),
                        "partition": m.partition(), "offset": m.offset()})
            if m.offset() + 1 >= todo[m.partition()][1]:
                done.add(m.partition())
        return out
    finally:
        c.close()


def check_delivery(messages, expected):
    """expected: {event_id: (task id, version)}. Asserts every event arrived, each task's
    events (first arrival of each) in version order and on one partition. Returns the number
    of duplicates (at-least-once allows them)."""
    seen, dups, order, parts = set(), 0, {}, {}
    for m in messages:
        eid = m["event_id"]
        if eid not in expected:
            continue
        task, version = expected[eid]
        assert m["key"] == str(task)
        assert m["value"]["id"] == eid and m["value"]["version"] == version
        parts.setdefault(task, set()).add(m["partition"])
        if eid in seen:
            dups += 1
            continue
        seen.add(eid)
        order.setdefault(task, []).append(version)
    missing = set(expected) - seen
    assert not missing, f"{len(missing)} of {len(expected)} events never reached Kafka"
    bad = {t: v for t, v in order.items() if v != sorted(v)}
    assert not bad, f"per-task order broken for {len(bad)} tasks, e.g. {next(iter(bad.items()))}"
    assert all(len(p) == 1 for p in parts.values()), "a task's events on several partitions"
    return dups


# ---- relay processes -----------------------------------------------------------------------

class Relay:
    """`tasks-service --relay-only` as a separate process with the stack's settings, logging
    into the stack's log directory (so the sanitizer check sees it)."""

    def __init__(self, env, name, **settings):
        self.log = RUN / "logs" / f"tasks-relay-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.start_at = self.log.stat().st_size if self.log.exists() else 0
        e = {**os.environ, **env, "LOG_LEVEL": "info", **{k: str(v) for k, v in settings.items()}}
        self.p = subprocess.Popen([str(bin_dir() / "tasks-service"), "--relay-only"], env=e,
                                  stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)

    def lines(self):
        with open(self.log, "rb") as f:
            f.seek(self.start_at)
            text = f.read().decode(errors="replace")
        return text.splitlines()

    def events(self, msg):
        out = []
        for line in self.lines():
            if line.startswith("{"):
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("msg") == msg:
                    out.append(j)
        return out

    def shards(self):
        ev = self.events("relay: shards rebalanced")
        return ev[-1]["held"] if ev else 0

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=30)

    def stop(self, field="published"):
        """SIGTERM; asserts a clean exit (status 0, no sanitizer report); returns what the
        relay says it published (or another field of its stop line)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(timeout=60)
        self.assert_clean()
        assert self.p.returncode == 0, f"relay exited {self.p.returncode}:\n" + \
            "\n".join(self.lines()[-30:])
        ev = self.events("relay: stopped")
        assert ev, "the relay did not log its stop:\n" + "\n".join(self.lines()[-20:])
        return ev[-1][field]

    def assert_clean(self):
        bad = [l for l in self.lines() if SANITIZER.search(l)]
        assert not bad, "sanitizer report in relay log:\n" + "\n".join(self.lines()[-60:])


def wait_drained(env, task_ids, timeout=180):
    wait_until("the backlog to drain", lambda: pending_for(env, task_ids) == 0, timeout=timeout,
               interval=0.5)


def wait_relay_asleep(env, relay, timeout=30):
    """Waits until RELAY (the only relay running) holds every shard and sleeps. Right after the
    rebalance that gives it its shards (it logs it) a relay reads the outbox once; its next
    statement is the shard count of its next rebalance (a query on pg_stat_activity, once a
    second), so when its session shows that statement as its last, the round is over and the
    relay waits for a NOTIFY, its poll interval or its rebalance clock. A row inserted after
    this is found by a wake-up or a poll, not by a round that was already under way."""
    wait_until("the relay to hold every shard", lambda: relay.shards() == 64, timeout=timeout)

    def asleep():
        rows = sql(env, "SELECT state, query FROM pg_stat_activity "
                        "WHERE datname = current_database() "
                        "AND application_name = 'tasks-outbox-relay'")
        assert len(rows) == 1, f"expected one relay session, found {len(rows)}"
        return rows[0][0] == "idle" and "pg_stat_activity" in rows[0][1]

    wait_until("the relay's first round to end", asleep, timeout=timeout, interval=0.02)


# ---- a private tasks-service ----------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class TasksInstance:
    """A tasks-service process of its own (its own port and settings, the stack's database,
    Redis and auth-service), logging into the stack's log directory so the sanitizer check
    sees it. Use as a context manager: stopped with SIGTERM, and its exit checked, at the end."""

    def __init__(self, env, name, **settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = RUN / "logs" / f"tasks-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.start_at = self.log.stat().st_size if self.log.exists() else 0
        self.env = {**os.environ, **env, "LOG_LEVEL": "info",
                    "TASKS_HTTP_LISTEN": f"127.0.0.1:{self.port}",
                    **{k: str(v) for k, v in settings.items()}}
        self.p = subprocess.Popen([str(bin_dir() / "tasks-service")], env=self.env,
                                  stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until("the private tasks-service to be ready",
                   lambda: self.p.poll() is None and
                   requests.get(self.url + "/ready", timeout=2).status_code == 200,
                   timeout=60, interval=0.2)

    def lines(self):
        with open(self.log, "rb") as f:
            f.seek(self.start_at)
            return f.read().decode(errors="replace").splitlines()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(timeout=60)
        bad = [line for line in self.lines() if SANITIZER.search(line)]
        assert not bad, "sanitizer report:\n" + "\n".join(self.lines()[-60:])
        assert self.p.returncode == 0, "\n".join(self.lines()[-30:])
