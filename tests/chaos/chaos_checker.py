"""The independent checker: clients the project did not write, reading what the system
really did, never what it says it did.

  EventLog   a Kafka consumer (confluent_kafka, librdkafka's Python client) of its own that
             records every message of a topic from given offsets: event id, task id, version,
             type, partition, offset and when it arrived here.
  verdict    compares an EventLog with the writes the load saw acknowledged: events lost,
             duplicates, per-task order violations, tasks spread over several partitions.
  acked_in_database
             every acknowledged write read back from the tasks database (psycopg2).
  Poller     an independent probe (a connect, a request) run every few milliseconds to know
             when a dependency went away and when it answered again.

Nothing here shares code with the services.
"""
import json
import threading
import time
import uuid

import grpc
import psycopg2
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "task-events"


# ---- Kafka ----------------------------------------------------------------------------------

def _consumer(env, **extra):
    return Consumer({"bootstrap.servers": env["KAFKA_BROKERS"],
                     "group.id": f"chaos-checker-{uuid.uuid4()}", "enable.auto.commit": False,
                     "enable.partition.eof": False, "log_level": 2,
                     "reconnect.backoff.max.ms": 500, **extra})


def end_offsets(env, topic=TOPIC):
    """{partition: high watermark} of TOPIC now."""
    c = _consumer(env)
    try:
        md = c.list_topics(topic, timeout=30)
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in md.topics[topic].partitions}
    finally:
        c.close()


def create_topic(env, name, partitions=6):
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BROKERS"], "log_level": 2})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(30)
    deadline = time.monotonic() + 30
    while name not in admin.list_topics(timeout=10).topics:  # metadata follows a moment later
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name} not in the metadata after 30 s")
        time.sleep(0.1)


def delete_topic(env, name):
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BROKERS"], "log_level": 2})
    for f in admin.delete_topics([name]).values():
        try:
            f.result(30)
        except Exception:  # already gone: nothing to clean
            pass


def produce(env, topic, messages):
    """Produces [(key, value bytes, headers)] with acks from all replicas; waits for every
    acknowledgement. Raises if any failed."""
    p = Producer({"bootstrap.servers": env["KAFKA_BROKERS"], "acks": "all",
                  "enable.idempotence": True, "partitioner": "murmur2_random", "linger.ms": 5,
                  "log_level": 2})
    failed = []
    for key, value, headers in messages:
        while True:
            try:
                p.produce(topic, key=key, value=value, headers=headers,
                          on_delivery=lambda err, _m: failed.append(err) if err else None)
                break
            except BufferError:  # the local queue is full: serve reports, then again
                p.poll(0.1)
        p.poll(0)
    if p.flush(120) != 0:
        raise RuntimeError("messages still queued after 120 s")
    if failed:
        raise RuntimeError(f"{len(failed)} messages not acknowledged: {failed[0]}")


class EventLog:
    """Every message of TOPIC from START ({partition: offset}; default: the end now), recorded
    by a consumer thread of its own until stop(). Survives a broker that goes away (it keeps
    polling; librdkafka reconnects)."""

    def __init__(self, env, topic=TOPIC, start=None):
        self.env, self.topic = env, topic
        self.start_offsets = start if start is not None else end_offsets(env, topic)
        self.messages = []          # (arrived, partition, offset, event_id, task_id, version, type)
        self.first = {}             # (task_id, version) -> first arrival time
        self.deleted = {}           # task_id -> first arrival of its task.deleted
        self.ids = {}               # event_id -> number of copies
        self.errors = []            # messages that were not events (never expected)
        self.next = dict(self.start_offsets)  # partition -> next offset to read
        self.eids = {}              # (task_id, version) -> event id of its first copy
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name=f"eventlog-{topic}", daemon=True)
        self._t.start()

    def _run(self):
        c = _consumer(self.env, **{"fetch.wait.max.ms": 20})
        try:
            c.assign([TopicPartition(self.topic, p, o) for p, o in self.start_offsets.items()])
            while not self._stop.is_set():
                for m in c.consume(num_messages=1000, timeout=0.1):
                    if m.error():  # transport errors while the broker is away: retried
                        continue
                    self._record(time.time(), m)
        finally:
            c.close()

    def _record(self, now, m):
        self.next[m.partition()] = m.offset() + 1
        headers = dict(m.headers() or [])
        eid = (headers.get("event_id") or b"").decode(errors="replace")
        try:
            v = json.loads(m.value())
            task, version, etype = int(v["task_id"]), int(v["version"]), v["type"]
        except (ValueError, KeyError, TypeError) as e:
            self.errors.append((m.partition(), m.offset(), repr(e)))
            return
        with self._lock:
            self.messages.append((now, m.partition(), m.offset(), eid, task, version, etype))
            self.ids[eid] = self.ids.get(eid, 0) + 1
            self.first.setdefault((task, version), now)
            self.eids.setdefault((task, version), eid)
            if etype == "task.deleted":
                self.deleted.setdefault(task, now)

    def arrival(self, exp):
        """When the event of EXP (an Expected) first arrived; None while it has not."""
        if exp.kind == "delete":
            return self.deleted.get(exp.task)
        return self.first.get((exp.task, exp.version))

    def missing(self, expected):
        with self._lock:
            return [e for e in expected if self.arrival(e) is None]

    def wait_all(self, expected, timeout):
        """Waits until every Expected event arrived; returns the seconds it took, or None when
        TIMEOUT passed first (the missing ones are then lost)."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if not self.missing(expected):
                return time.monotonic() - t0
            time.sleep(0.1)
        return None

    def caught_up(self, ends):
        """Read everything up to ENDS ({partition: offset}, e.g. end_offsets() now)."""
        return all(self.next.get(p, 0) >= o for p, o in ends.items())

    def event_ids(self, expected):
        """The event ids of the EXPECTED (non-delete) events that arrived."""
        with self._lock:
            return [self.eids[(e.task, e.version)] for e in expected
                    if e.kind != "delete" and (e.task, e.version) in self.eids]

    def stop(self):
        self._stop.set()
        self._t.join(timeout=30)


class Expected:
    """An event a write acknowledged to the client must lead to: (task, version) for a
    create, patch or complete (the version the answer carried), a task.deleted event for a
    delete (204 carries no version). acked: when the client had the answer."""
    __slots__ = ("task", "version", "kind", "acked")

    def __init__(self, task, version, kind, acked):
        self.task, self.version, self.kind, self.acked = task, version, kind, acked


def verdict(log, expected):
    """What the EventLog shows of the EXPECTED events: {'lost', 'duplicates', 'order',
    'split', 'messages'}. order counts first arrivals of a task's version after a higher
    version of that task had arrived; split counts tasks whose events came on more than one
    partition; duplicates counts copies beyond the first of an event id (of these tasks)."""
    tasks = {e.task for e in expected}
    with log._lock:
        msgs = [m for m in log.messages if m[4] in tasks]
        lost = sum(1 for e in expected if log.arrival(e) is None)
    seen, dups, order, top, parts = set(), 0, 0, {}, {}
    for _, part, _, eid, task, version, _ in sorted(msgs, key=lambda m: (m[1], m[2])):
        parts.setdefault(task, set()).add(part)
        if eid in seen:
            dups += 1
            continue
        seen.add(eid)
        if version <= top.get(task, 0):
            order += 1
        top[task] = max(top.get(task, 0), version)
    return {"lost": lost, "duplicates": dups, "order": order,
            "split": sum(1 for p in parts.values() if len(p) > 1), "messages": len(msgs)}


# ---- PostgreSQL -----------------------------------------------------------------------------

def query(url, sql, args=None):
    c = psycopg2.connect(url, connect_timeout=5)
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else cur.rowcount
    finally:
        c.close()


def acked_in_database(env, acked_tasks):
    """ACKED_TASKS: {task id: (highest version acknowledged, deleted?)}. Returns how many
    acknowledged writes the tasks database does not have: a task missing (not deleted by an
    acknowledged delete) or at an older version than acknowledged."""
    live = {t: v for t, (v, deleted) in acked_tasks.items() if not deleted}
    if not live:
        return 0
    rows = dict(query(env["TASKS_DATABASE_URL"], "SELECT id, version FROM tasks WHERE id = ANY(%s)",
                      (list(live),)))
    return sum(1 for t, v in live.items() if rows.get(t, 0) < v)


def outbox_backlog(env):
    return query(env["TASKS_DATABASE_URL"], "SELECT count(*) FROM outbox WHERE NOT published")[0][0]


# ---- probes ---------------------------------------------------------------------------------

class Poller:
    """Runs PROBE (a function that raises or returns False when the dependency does not
    answer) every INTERVAL seconds on a thread; records (time, result) samples (an exception
    is False). down_up() gives the first failure and the first success after it; a probe
    that returns numbers is a sampler (values())."""

    def __init__(self, probe, interval=0.05):
        self.probe, self.interval = probe, interval
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.time()
            try:
                v = self.probe()
            except Exception:
                v = False
            self.samples.append((t, v))
            self._stop.wait(self.interval)

    def down_up(self):
        """(first failed probe, first good probe after it) — either None when not seen."""
        down = up = None
        for t, ok in list(self.samples):
            if not ok and down is None:
                down = t
            elif ok and down is not None:
                up = t
                break
        return down, up

    def values(self):
        return [v for _, v in list(self.samples) if not isinstance(v, bool)]

    def stop(self):
        self._stop.set()
        self._t.join(timeout=10)


def pg_probe(url):
    def probe():
        c = psycopg2.connect(url, connect_timeout=1)
        try:
            with c.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone()[0] == 1
        finally:
            c.close()
    return probe


def http_ready_probe(base):
    return lambda: requests.get(base + "/ready", timeout=1).status_code == 200


def grpc_health_probe(addr):
    """grpc.health.v1.Health/Check on a new channel each time (grpcio; a reused channel would
    add its own reconnect backoff to what is measured). The request {service: ""} is empty
    on the wire; SERVING is b"\x08\x01"."""
    def probe():
        ch = grpc.insecure_channel(addr)
        try:
            call = ch.unary_unary("/grpc.health.v1.Health/Check",
                                  request_serializer=lambda x: x,
                                  response_deserializer=lambda b: b)
            return call(b"", timeout=1) == b"\x08\x01"
        finally:
            ch.close()
    return probe


def all_of(*probes):
    return lambda: all(p() for p in probes)
