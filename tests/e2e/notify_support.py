"""Helpers for the notification-service end-to-end tests (tests/e2e/test_notify_*.py).

Independent clients only: confluent_kafka produces events straight to task-events (as a
relay would, or a broken one) and reads the dead-letter topic; psycopg2 reads what the
service recorded in its own database; requests talks to the API through the gateway.
Nothing here shares code with the service.
"""
import json
import os
import pathlib
import re
import secrets
import signal
import subprocess
import time
import uuid

import psycopg2
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import RUN, wait_until
from tasks_support import bin_dir

TOPIC = "task-events"
DLQ = "task-events.dlq"
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")


def ndb(env):
    c = psycopg2.connect(env["NOTIFY_DATABASE_URL"], connect_timeout=5)
    c.autocommit = True
    return c


def nsql(env, query, args=None, url=None):
    c = psycopg2.connect(url or env["NOTIFY_DATABASE_URL"], connect_timeout=5)
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else cur.rowcount
    finally:
        c.close()


def superuser(env):
    """The stack's PostgreSQL as its superuser, over the data directory's socket (trust)."""
    port = env["NOTIFY_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]
    c = psycopg2.connect(host=str((RUN / "postgres" / "sock").resolve()), port=port,
                         user="postgres", dbname="postgres", connect_timeout=5)
    c.autocommit = True
    return c


def private_database(env):
    """A fresh database owned by the notifications role, for a private instance that must
    not share its exactly-once record with the stack's. Returns its URL."""
    name = "notify_e2e_" + secrets.token_hex(4)
    c = superuser(env)
    try:
        with c.cursor() as cur:  # CREATE DATABASE cannot run in a transaction: no `with c`
            cur.execute(f"CREATE DATABASE {name} OWNER notifications")
    finally:
        c.close()
    return re.sub(r"/notifications(\?|$)", f"/{name}\\1", env["NOTIFY_DATABASE_URL"])


def event(task_id, version=1, etype="task.completed", user_id=1, title=None, due=None,
          event_id=None):
    """An event as the outbox relay writes it (CONTRACT §5)."""
    eid = event_id or str(uuid.uuid4())
    task = {"id": task_id, "title": title or f"task {task_id}", "priority": 3,
            "done": etype == "task.completed", "tags": [], "due_at": due,
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
            "completed_at": "2026-01-01T00:00:00.000Z" if etype == "task.completed" else None,
            "version": version}
    return eid, {"id": eid, "type": etype, "occurred_at": "2026-01-01T00:00:00.000Z",
                 "user_id": user_id, "task_id": task_id, "version": version, "task": task}


def producer(env):
    return Producer({"bootstrap.servers": env["KAFKA_BROKERS"], "acks": "all",
                     "enable.idempotence": True, "partitioner": "murmur2_random",
                     "linger.ms": 5})


def send(env, events, raw=None, headers_for=None):
    """Produces events [(event_id, body)] (and raw [(key, bytes)]) and waits for every ack."""
    p = producer(env)
    failed = []
    cb = lambda err, msg: failed.append(err) if err else None
    for eid, body in events:
        h = [("event_id", eid), ("event_type", body["type"]), ("content-type", "application/json")]
        if headers_for:
            h += headers_for(eid)
        p.produce(TOPIC, key=str(body["task_id"]), value=json.dumps(body), headers=h, on_delivery=cb)
        p.poll(0)
    for key, value in raw or []:
        p.produce(TOPIC, key=key, value=value, on_delivery=cb)
    assert p.flush(60) == 0, "messages still queued after 60 s"
    assert not failed, failed


def unique_task():
    return 9_000_000_000_000 + secrets.randbelow(10**12)


def notifications_for(env, event_ids, url=None):
    """{event_id: number of notifications} for these ids."""
    rows = nsql(env, "SELECT event_id::text, count(*) FROM notifications "
                     "WHERE event_id = ANY(%s::uuid[]) GROUP BY 1", (list(event_ids),), url=url)
    return dict(rows)


def recorded(env, event_ids, url=None):
    """{event_id: outcome} of the processed_events rows of these ids."""
    rows = nsql(env, "SELECT event_id::text, outcome FROM processed_events "
                     "WHERE event_id = ANY(%s::uuid[])", (list(event_ids),), url=url)
    return dict(rows)


def wait_recorded(env, event_ids, timeout=120, url=None):
    ids = list(event_ids)
    return wait_until(f"{len(ids)} events recorded",
                      lambda: (lambda r: r if len(r) == len(ids) else None)(recorded(env, ids, url)),
                      timeout=timeout, interval=0.3)


def metric(url, name, labels=""):
    """The value of one sample of /metrics (0 when absent)."""
    text = requests.get(url + "/metrics", timeout=10).text
    want = name + (("{" + labels + "}") if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def dlq_messages(env, since):
    """Messages of the DLQ from offsets since {partition: offset} to the end."""
    c = Consumer({"bootstrap.servers": env["KAFKA_BROKERS"], "group.id": f"dlq-e2e-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(DLQ, timeout=30)
        out = []
        for p in md.topics[DLQ].partitions:
            _, high = c.get_watermark_offsets(TopicPartition(DLQ, p), timeout=30)
            lo = since.get(p, 0)
            if high <= lo:
                continue
            c.assign([TopicPartition(DLQ, p, lo)])
            while lo < high:
                m = c.poll(5.0)
                assert m is not None, "the DLQ did not deliver its messages"
                assert m.error() is None, m.error()
                out.append({"headers": {k: (v.decode() if v is not None else None)
                                        for k, v in (m.headers() or [])},
                            "value": m.value(), "key": m.key()})
                lo = m.offset() + 1
        return out
    finally:
        c.close()


def start_group_at_end(env, group, topic=TOPIC):
    """Commits, for a new consumer group, the current end of every partition of topic, so an
    instance in that group starts with what comes next instead of the whole history."""
    c = Consumer({"bootstrap.servers": env["KAFKA_BROKERS"], "group.id": group,
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=30)
        ends = [TopicPartition(topic, p, c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1])
                for p in md.topics[topic].partitions]
        c.commit(offsets=ends, asynchronous=False)
    finally:
        c.close()


def dlq_ends(env):
    c = Consumer({"bootstrap.servers": env["KAFKA_BROKERS"], "group.id": f"dlq-e2e-{uuid.uuid4()}"})
    try:
        md = c.list_topics(DLQ, timeout=30)
        return {p: c.get_watermark_offsets(TopicPartition(DLQ, p), timeout=30)[1]
                for p in md.topics[DLQ].partitions}
    finally:
        c.close()


class Instance:
    """A notification-service process of its own (its own port, database and settings),
    logging into the stack's log directory so the sanitizer check sees it."""

    def __init__(self, env, name, port, **settings):
        self.log = RUN / "logs" / f"notify-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.start_at = self.log.stat().st_size if self.log.exists() else 0
        self.url = f"http://127.0.0.1:{port}"
        e = {**os.environ, **env, "LOG_LEVEL": "info", "NOTIFY_HTTP_LISTEN": f"127.0.0.1:{port}",
             **{k: str(v) for k, v in settings.items()}}
        self.env = e
        self.p = None
        self.start()

    def start(self):
        self.p = subprocess.Popen([str(bin_dir() / "notification-service")], env=self.env,
                                  stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def ready(self, timeout=60):
        wait_until("the private notification-service to be ready",
                   lambda: requests.get(self.url + "/ready", timeout=2).status_code == 200,
                   timeout=timeout, interval=0.2)

    def lines(self):
        with open(self.log, "rb") as f:
            f.seek(self.start_at)
            return f.read().decode(errors="replace").splitlines()

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(timeout=30)

    def stop(self):
        """SIGTERM; the exit status must be 0 (a clean stop)."""
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            assert self.p.wait(timeout=60) == 0, "\n".join(self.lines()[-30:])

    def assert_clean(self):
        bad = [l for l in self.lines() if SANITIZER.search(l)]
        assert not bad, "sanitizer report:\n" + "\n".join(self.lines()[-60:])
