"""notification-service benchmark (run by tests/bench/notify.sh from `make bench`). Prints
tables; never asserts. Loopback only, bounded in events and time.

  1. Drain: 100,000 task events (task.completed, each a notification) pre-filled in a topic of
     their own, consumed by a private instance (the release build) with a database of its
     own, every event recorded exactly once: events/s from start to the last one recorded.
  2. Latency: changes at a steady 200/s through the API (tasks with a due time, each a
     reminder_scheduled notification) — commit of the change (the outbox row's created_at)
     to the notification's created_at, p50/p99, on the stack's instance.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid

import psycopg2
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.dirname(__file__))
from tasks_bench import DIRECT, ENV, ROOT, RUN, account, paced_wrk, sql, table  # noqa: E402

EVENTS = int(os.environ.get("NOTIFY_BENCH_EVENTS", "100000"))


def superuser():
    port = ENV["NOTIFY_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]
    c = psycopg2.connect(host=str((RUN / "postgres" / "sock").resolve()), port=port,
                         user="postgres", dbname="postgres")
    c.autocommit = True
    return c


def nsql(url, q, args=None):
    c = psycopg2.connect(url)
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(q, args)
            return cur.fetchall() if cur.description else cur.rowcount
    finally:
        c.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_drain():
    topic = f"task-events.bench-notify-{secrets.token_hex(4)}"
    dbname = f"notify_bench_{secrets.token_hex(4)}"
    admin = AdminClient({"bootstrap.servers": ENV["KAFKA_BROKERS"]})
    for f in admin.create_topics([NewTopic(topic, 6, 1)]).values():
        f.result(30)
    su = superuser()
    su.cursor().execute(f"CREATE DATABASE {dbname} OWNER notifications")
    url = re.sub(r"/notifications(\?|$)", f"/{dbname}\\1", ENV["NOTIFY_DATABASE_URL"])
    p = Producer({"bootstrap.servers": ENV["KAFKA_BROKERS"], "linger.ms": 20,
                  "partitioner": "murmur2_random", "queue.buffering.max.messages": 200000})
    t0 = time.monotonic()
    for i in range(EVENTS):
        eid, task = str(uuid.uuid4()), 7_000_000_000_000 + i
        body = {"id": eid, "type": "task.completed", "occurred_at": "2026-01-01T00:00:00.000Z",
                "user_id": 1 + i % 1000, "task_id": task, "version": 2,
                "task": {"id": task, "title": f"bench {i}", "priority": 3, "done": True, "tags": [],
                         "due_at": None, "created_at": "2026-01-01T00:00:00.000Z",
                         "updated_at": "2026-01-01T00:00:00.000Z",
                         "completed_at": "2026-01-01T00:00:00.000Z", "version": 2}}
        p.produce(topic, key=str(task), value=json.dumps(body), headers=[("event_id", eid)])
        if i % 10000 == 0:
            p.poll(0)
    p.flush(120)
    fill = time.monotonic() - t0
    port = free_port()
    env = {**os.environ, **ENV, "NOTIFY_TOPIC": topic, "NOTIFY_DATABASE_URL": url,
           "NOTIFY_GROUP": f"bench-{topic}", "NOTIFY_HTTP_LISTEN": f"127.0.0.1:{port}",
           "LOG_LEVEL": "warn", "OTLP_ENDPOINT": ""}
    log = open(RUN / "logs" / "notify-bench.log", "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen([str(ROOT / "bin" / "notification-service")], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    peak = 0
    first = None
    try:
        deadline = time.monotonic() + 600
        done = 0
        while time.monotonic() < deadline:
            try:
                done = nsql(url, "SELECT count(*) FROM processed_events")[0][0]
            except psycopg2.Error:
                done = 0  # the schema is not there yet
            if done and first is None:
                first = time.monotonic()
            peak = max(peak, rss_kb(proc.pid))
            if done >= EVENTS:
                break
            time.sleep(0.2)
        total = time.monotonic() - t0
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        batch = {m: float(v) for m, v in (l.split()[:2] for l in metrics.splitlines()
                 if l.startswith(("notify_batch_seconds_sum", "notify_batch_seconds_count")))}
        notes = nsql(url, "SELECT count(*) FROM notifications")[0][0]
        dups = nsql(url, "SELECT count(*) - count(DISTINCT event_id) FROM notifications")[0][0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        admin.delete_topics([topic])
        su.cursor().execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        su.close()
    steady = EVENTS / (time.monotonic() - first) if first else 0
    in_db = batch.get("notify_batch_seconds_sum", 0.0)
    batches = batch.get("notify_batch_seconds_count", 0.0)
    table(f"notification-service drain: {EVENTS:,} task.completed events pre-filled "
          f"(6 partitions, filled in {fill:.1f}s), one instance (release build, batches of 500), "
          "each event recorded with its notification and log delivery in one transaction per batch",
          ["recorded", "notifications", "duplicate notifications", "seconds (from start)",
           "events/s (from start)", "events/s (from first record)", "peak RSS MB", "batches",
           "s in PostgreSQL"],
          [(done, notes, dups, f"{total:.1f}", f"{done / total:.0f}", f"{steady:.0f}",
            f"{peak / 1024:.1f}", f"{batches:.0f}", f"{in_db:.1f}")])


def bench_latency(rate=200, secs=20):
    token, uid = account()
    due = "2031-01-01T00:00:00Z"
    w = paced_wrk(DIRECT + "/api/tasks", token, rate, secs,
                  '{"title":"latency bench","due_at":"%s"}' % due, conns=max(4, rate // 30))
    want = sql("SELECT count(*) FROM tasks WHERE user_id = %s", (uid,))[0][0]
    commits = dict(sql("SELECT o.event_id::text, extract(epoch FROM o.created_at) FROM outbox o "
                       "JOIN tasks t ON t.id = o.aggregate_id WHERE t.user_id = %s", (uid,)))
    url = ENV["NOTIFY_DATABASE_URL"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = dict(nsql(url, "SELECT event_id::text, extract(epoch FROM created_at) FROM "
                             "notifications WHERE user_id = %s AND event_id IS NOT NULL", (uid,)))
        if len(got) >= want:
            break
        time.sleep(0.5)
    lat = sorted((float(got[e]) - float(commits[e])) * 1000 for e in got if e in commits)
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")  # noqa
    table(f"Commit -> notification at a steady {rate} changes/s for {secs}s (POST /api/tasks with "
          "a due time, direct; each a reminder_scheduled notification on the stack's instance): "
          "outbox row created_at to notification created_at",
          ["target/s", "writes/s", "changes", "notifications", "p50 ms", "p99 ms", "max ms"],
          [(rate, f"{w['rps']:.0f}", want, len(lat), f"{pct(0.5):.1f}", f"{pct(0.99):.1f}",
            f"{lat[-1] if lat else float('nan'):.1f}")])


def main():
    which = sys.argv[1:] or ["drain", "latency"]
    print(f"notification-service bench: {os.cpu_count()} CPUs, load "
          f"{open('/proc/loadavg').read().split()[:3]}")
    for part in which:
        {"drain": bench_drain, "latency": bench_latency}[part]()


if __name__ == "__main__":
    main()
