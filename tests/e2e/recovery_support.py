"""Recovery after a dependency returns (issue 13, item 2): how long each service takes to be
back to normal once auth-service, PostgreSQL, Redis or Kafka is ready again.

One run: every probe is normal; the part is stopped (`stack stop`) for OUTAGE seconds while
the probes keep sending traffic; it is started again while a poller asks the part itself,
every 10 ms, whether it is ready (a new connection each time: a client's own reconnect
backoff must not be what is measured); from that moment each probe, on a thread of its own,
polls its service until it answers normally. The result per probe is the time from "the
part is ready" to "the service is normal" — the recovery the services owe, excluding the
part's own start-up.

Used by tests/e2e/test_recovery.py (the behaviour: back to normal, within a generous deadline)
and by tests/bench/recovery_bench.py (`make bench`: the numbers). Independent clients only:
requests, psycopg2, redis-py, confluent_kafka, grpcio.
"""
import json
import secrets
import threading
import time
import uuid

import grpc
import psycopg2
import redis
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from auth_support import health_pb2, health_pb2_grpc
from conftest import stack, wait_until
from notify_support import TOPIC, event, nsql
from tasks_support import Api, new_account, sql

# A well-formed bearer token no service issued: a service answers it 401 once auth-service
# answers ValidateToken, and 503 while it cannot ask (a refusal is never cached).
FOREIGN_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0." + "A" * 86
POLL_S = 0.02
READY_POLL_S = 0.01


# ---- "the part is ready": asked of the part itself ------------------------------------------

def postgres_ready(env):
    c = psycopg2.connect(env["TASKS_DATABASE_URL"], connect_timeout=1)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone() == (1,)
    finally:
        c.close()


def redis_ready(env):
    return redis.Redis.from_url(env["REDIS_URL"], socket_timeout=0.5,
                                socket_connect_timeout=0.5).ping()


def kafka_ready(env):
    """The broker answers a metadata request and every partition of task-events has a leader."""
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BROKERS"], "socket.timeout.ms": 500,
                         "log_level": 0})
    md = admin.list_topics(TOPIC, timeout=0.5)
    t = md.topics.get(TOPIC)
    return bool(t and not t.error and t.partitions and
                all(p.leader >= 0 for p in t.partitions.values()))


def auth_ready(env):
    with grpc.insecure_channel(env["AUTH_GRPC_ADDR"]) as ch:
        r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=0.3)
        return r.status == health_pb2.HealthCheckResponse.SERVING


READY = {"auth": auth_ready, "postgres": postgres_ready, "redis": redis_ready, "kafka": kafka_ready}


# ---- probes: "the service is normal" -------------------------------------------------------

class Probe:
    """A named check, polled until it returns True. prepare() runs once during the outage
    (to leave work waiting, e.g. an event the service cannot record yet). Exceptions count as
    'not yet'."""

    def __init__(self, name, check, prepare=None):
        self.name, self.check, self.prepare = name, check, prepare

    def ok(self):
        try:
            return bool(self.check())
        except Exception:  # the service or the dependency is still coming back
            return False


def _status(method, url, want, token=FOREIGN_TOKEN, **kw):
    r = requests.request(method, url, headers={"Authorization": f"Bearer {token}"},
                         timeout=2, **kw)
    return r.status_code == want


def auth_probes(env):
    """auth-service returns: tasks-service and notification-service validate tokens again."""
    return [
        Probe("tasks-service", lambda: _status("GET", env["TASKS_HTTP_URL"] + "/api/tasks", 401)),
        Probe("notification-service",
              lambda: _status("GET", env["NOTIFY_HTTP_URL"] + "/api/notifications", 401)),
    ]


class _PublishedAfterWrite:
    """A task written once the write path works again, then published by the relay."""

    def __init__(self, env, api):
        self.env, self.api, self.task = env, api, None

    def __call__(self):
        if self.task is None:
            r = self.api.req("POST", "/api/tasks", {"title": "recovery probe"}, timeout=2)
            if r.status_code != 201:
                return False
            self.task = r.json()["id"]
        rows = sql(self.env, "SELECT bool_and(published) FROM outbox WHERE aggregate_id = %s",
                   (self.task,))
        return rows[0][0] is True


class _EventRecorded:
    """An event for notification-service, produced during the outage (prepare) or, when Kafka
    itself is what returns, by a new producer on the first poll; normal once it is recorded."""

    def __init__(self, env, during_outage):
        self.env, self.during_outage = env, during_outage
        self.eid = None

    def send(self):
        eid, body = event(9_000_000_000_000 + secrets.randbelow(10**12))
        p = Producer({"bootstrap.servers": self.env["KAFKA_BROKERS"], "acks": "all",
                      "enable.idempotence": True, "partitioner": "murmur2_random"})
        p.produce(TOPIC, key=str(body["task_id"]), value=json.dumps(body),
                  headers=[("event_id", eid), ("event_type", body["type"]),
                           ("content-type", "application/json")])
        assert p.flush(30) == 0, "the probe's event was not acknowledged"
        self.eid = eid

    def prepare(self):
        if self.during_outage:
            self.send()

    def __call__(self):
        if self.eid is None:
            self.send()
        rows = nsql(self.env, "SELECT count(*) FROM processed_events WHERE event_id = %s::uuid",
                    (self.eid,))
        return rows[0][0] == 1


def postgres_probes(env):
    token = new_account(env)[0]
    tasks = Api(env, token, base=env["TASKS_HTTP_URL"])
    notes = requests.Session()
    notes.headers["Authorization"] = f"Bearer {token}"
    recorded = _EventRecorded(env, during_outage=True)
    return [
        # a refresh token nobody issued: 401 needs the database, 503 without it
        Probe("auth-service", lambda: requests.post(
            env["AUTH_HTTP_URL"] + "/api/auth/refresh", timeout=2,
            json={"refresh_token": secrets.token_urlsafe(32)}).status_code == 401),
        Probe("tasks-service", lambda: tasks.req("POST", "/api/tasks", {"title": "probe"},
                                                 timeout=2).status_code == 201),
        Probe("outbox relay", _PublishedAfterWrite(env, Api(env, token, base=env["TASKS_HTTP_URL"]))),
        Probe("notification-service",
              lambda: notes.get(env["NOTIFY_HTTP_URL"] + "/api/notifications", timeout=2).status_code == 200),
        Probe("notification-service consumer", recorded, prepare=recorded.prepare),
    ]


def redis_probes(env):
    api = Api(env, new_account(env)[0], base=env["TASKS_HTTP_URL"])
    api.create("read back from Redis")
    return [Probe("tasks-service", lambda: api.list(timeout=2).headers.get("X-Read-Source") == "redis")]


class _PublishedFromOutage:
    """A task written while Kafka is down: normal once its event is confirmed by the broker."""

    def __init__(self, env, api):
        self.env, self.api, self.task = env, api, None

    def prepare(self):
        self.task = self.api.create("written while Kafka is down")["id"]

    def __call__(self):
        rows = sql(self.env, "SELECT bool_and(published) FROM outbox WHERE aggregate_id = %s",
                   (self.task,))
        return rows[0][0] is True


def kafka_probes(env):
    published = _PublishedFromOutage(env, Api(env, new_account(env)[0], base=env["TASKS_HTTP_URL"]))
    recorded = _EventRecorded(env, during_outage=False)
    return [
        Probe("outbox relay", published, prepare=published.prepare),
        Probe("notification-service consumer", recorded),
    ]


PROBES = {"auth": auth_probes, "postgres": postgres_probes, "redis": redis_probes,
          "kafka": kafka_probes}


# ---- one run ---------------------------------------------------------------------------------

def measure(env, part, outage_s, deadline_s=60):
    """Stops PART for OUTAGE_S seconds under probe traffic, starts it, and returns
    ({probe name: seconds from "PART is ready" to "normal"}, every probe's name); a probe not
    normal within DEADLINE_S is missing from the first (the caller decides what that means)."""
    probes = PROBES[part](env)
    names = [p.name for p in probes]
    for p in probes:
        if p.prepare is None:
            wait_until(f"{p.name} normal before the outage", p.ok, timeout=60)
    stack("stop", part)
    started = None
    try:
        for p in probes:
            if p.prepare:
                p.prepare()
        end = time.monotonic() + outage_s
        while time.monotonic() < end:  # the outage, under traffic
            for p in probes:
                p.ok()
            time.sleep(0.05)
        started = threading.Thread(target=stack, args=("start", part), daemon=True)
        started.start()
        ready = READY[part]

        def is_ready():
            try:
                return ready(env)
            except Exception:  # still starting
                return False
        wait_until(f"{part} ready again", is_ready, timeout=180, interval=READY_POLL_S)
        t_ready = time.monotonic()
        out = {}

        def poll(p):
            while time.monotonic() < t_ready + deadline_s:
                if p.ok():
                    out[p.name] = time.monotonic() - t_ready
                    return
                time.sleep(POLL_S)

        threads = [threading.Thread(target=poll, args=(p,), daemon=True) for p in probes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out, names
    finally:
        if started:
            started.join(timeout=300)
        stack("start", part)  # a no-op when it is up; brings it back if the run failed early
