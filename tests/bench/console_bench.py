"""todo-console benchmark (run by tests/bench/console.sh from `make bench`). Prints; never
asserts. Loopback only, bounded: a fixed number of messages and hyperfine runs.

  1. tail: a topic (console-bench, created once and kept, so later runs skip the fill) holds
     CONSOLE_BENCH_MESSAGES task-event-shaped messages with the system's headers; then
     `todo-console -o json topics tail console-bench --from-beginning` and
     `kcat -C -e -J -o beginning -t console-bench` each read all of it into /dev/null, three
     runs each, alternating. Rate = messages / wall time; peak RSS from wait4()'s rusage.
  2. startup: hyperfine of `todo-console --version`, `todo-console -o json tasks list` (a
     logged-in session in a temporary state directory, 50 tasks) and `curl` of the same
     GET /api/tasks with the same token.
"""
import json
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
import time
import uuid

import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run"))
ENV = dict(l.split("=", 1) for l in (RUN / "stack.env").read_text().splitlines()
           if l and not l.startswith("#") and "=" in l)
CONSOLE = str(ROOT / "bin" / "todo-console")
TOPIC = "console-bench"
N = int(os.environ.get("CONSOLE_BENCH_MESSAGES", "200000"))


def high_total():
    c = Consumer({"bootstrap.servers": ENV["KAFKA_BROKERS"], "group.id": f"bench-{uuid.uuid4()}"})
    try:
        md = c.list_topics(TOPIC, timeout=30)
        if TOPIC not in md.topics or md.topics[TOPIC].error:
            return None
        return sum(c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1]
                   for p in md.topics[TOPIC].partitions)
    except Exception:  # a topic just created has no leaders for a moment
        return None
    finally:
        c.close()


def fill():
    have = high_total()
    if have is None:
        admin = AdminClient({"bootstrap.servers": ENV["KAFKA_BROKERS"]})
        admin.create_topics([NewTopic(TOPIC, num_partitions=6, replication_factor=1)])[TOPIC].result(30)
        deadline = time.monotonic() + 30
        while high_total() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        have = 0
    if have >= N:
        print(f"tail: {TOPIC} already holds {have:,} messages")
        return have
    p = Producer({"bootstrap.servers": ENV["KAFKA_BROKERS"], "linger.ms": 20,
                  "compression.type": "lz4", "queue.buffering.max.messages": 200000})
    t0 = time.monotonic()
    for i in range(have, N):
        task = i % 5000 + 1
        eid = str(uuid.uuid4())
        value = json.dumps({"id": eid, "type": "task.updated", "occurred_at": "2026-12-01T00:00:00.000Z",
                            "user_id": task % 97 + 1, "task_id": task, "version": i // 5000 + 1,
                            "task": {"id": task, "title": f"bench task {task} — прогон", "priority": 3,
                                     "done": False, "tags": ["bench", "ops"], "due_at": None,
                                     "created_at": "2026-12-01T00:00:00.000Z",
                                     "updated_at": "2026-12-01T00:00:00.000Z", "completed_at": None,
                                     "version": i // 5000 + 1}})
        headers = [("event_id", eid), ("event_type", "task.updated"),
                   ("traceparent", f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"),
                   ("content-type", "application/json")]
        while True:
            try:
                p.produce(TOPIC, key=str(task), value=value, headers=headers)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    p.flush(120)
    print(f"tail: filled {TOPIC} to {N:,} messages in {time.monotonic() - t0:.1f}s")
    return high_total()


def measure(argv):
    """Runs argv with stdout to /dev/null; returns (seconds, peak RSS in MB, exit code)."""
    t0 = time.monotonic()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(proc.pid, 0)
    dt = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        print(f"  {argv[0]} exited {proc.returncode}: {err.strip()[:300]}")
    return dt, ru.ru_maxrss / 1024, proc.returncode


def bench_tail():
    total = fill()
    env_console = [CONSOLE, "-o", "json", "topics", "tail", TOPIC, "--from-beginning"]
    kcat = ["kcat", "-C", "-e", "-J", "-q", "-o", "beginning", "-b", ENV["KAFKA_BROKERS"], "-t", TOPIC]
    # the console sends its own spans; the bench measures reading, not the exporter
    results = {"todo-console": [], "kcat": []}
    for _ in range(3):
        for name, argv in (("todo-console", env_console), ("kcat", kcat)):
            results[name].append(measure(argv))
    print(f"\ntail of {total:,} messages to /dev/null (3 runs each, best and median):")
    print(f"  {'tool':<14}{'msgs/s best':>14}{'msgs/s median':>16}{'peak RSS MB':>14}")
    for name, runs in results.items():
        rates = sorted(total / r[0] for r in runs if r[2] == 0)
        rss = max(r[1] for r in runs)
        if rates:
            print(f"  {name:<14}{rates[-1]:>14,.0f}{rates[len(rates) // 2]:>16,.0f}{rss:>14.1f}")


def bench_startup():
    gw = ENV["GATEWAY_URL"]
    email = f"bench-{secrets.token_hex(6)}@example.com"
    pw = "pw-" + secrets.token_urlsafe(18)
    assert requests.post(gw + "/api/auth/register", json={"email": email, "password": pw},
                         timeout=60).status_code == 201
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "XDG_STATE_HOME": state, "XDG_CONFIG_HOME": state}
        subprocess.run([CONSOLE, "login", "--email", email, "--password-stdin"], input=pw + "\n",
                       text=True, env=env, check=True, capture_output=True)
        token = json.loads((pathlib.Path(state) / "todo-console" / "session.json").read_text())["access_token"]
        for i in range(50):
            requests.post(gw + "/api/tasks", json={"title": f"bench {i}", "tags": ["bench"]},
                          headers={"Authorization": "Bearer " + token}, timeout=30)
        out = pathlib.Path(state) / "hyperfine.json"
        cmds = [
            f"{CONSOLE} --version",
            f"{CONSOLE} -o json tasks list",
            f"curl -sf -H 'Authorization: Bearer {token}' {gw}/api/tasks",
        ]
        env["OTLP_ENDPOINT"] = ENV.get("OTLP_ENDPOINT", "")
        p = subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", "40", "--export-json",
                            str(out), *cmds], env=env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            print("startup: hyperfine failed:", p.stderr[-500:])
            return
        print("\nstart-up (hyperfine, 40 runs after 3 warm-ups):")
        names = ["todo-console --version", "todo-console -o json tasks list", "curl GET /api/tasks"]
        for name, r in zip(names, json.loads(out.read_text())["results"]):
            print(f"  {name:<34} mean {r['mean'] * 1000:7.2f} ms  ± {r['stddev'] * 1000:5.2f}  "
                  f"min {r['min'] * 1000:6.2f} ms")


if __name__ == "__main__":
    bench_tail()
    bench_startup()
