"""tasks-service benchmark (run by tests/bench/tasks.sh from `make bench`). Prints tables;
never asserts. Loopback only, bounded in time (TASKS_BENCH_SECONDS per wrk/pgbench run).

  1. GET /api/tasks from the Redis read model vs from PostgreSQL, for users with 10, 100
     and 1,000 tasks; wrk through the gateway and directly to the service. The PostgreSQL
     numbers are taken with Redis stopped (the service's own fallback path); Redis is
     started again afterwards whatever happens.
  2. Relay drain rate of a 100,000-row backlog (three shapes), published to a bench topic
     (task-events.bench, created and deleted here) so consumers of task-events see nothing.
  3. Commit-to-Kafka latency at a steady ~500 changes/s (POST /api/tasks paced by wrk).
  4. Outbox overhead: the write transaction with and without its outbox INSERT (pgbench),
     and POST /api/tasks throughput.
"""
import concurrent.futures
import json
import os
import pathlib
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run")).resolve()
SECS = int(os.environ.get("TASKS_BENCH_SECONDS", "10"))
BENCH_TOPIC = "task-events.bench"
PGBENCH = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin/pgbench"))[-1]
TMP = pathlib.Path(tempfile.mkdtemp(prefix="tasks-bench-"))


def read_env():
    env = {}
    for line in (RUN / "stack.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


ENV = read_env()
GW, DIRECT = ENV["GATEWAY_URL"], ENV["TASKS_HTTP_URL"]


def stack(*args):
    subprocess.run([str(ROOT / "infra/local/stack"), *args], check=True, capture_output=True,
                   timeout=300)


def sql(query, args=None):
    with psycopg2.connect(ENV["TASKS_DATABASE_URL"]) as c, c.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else cur.rowcount


def account():
    email = f"bench-{secrets.token_hex(6)}@example.com"
    pw = "pw-" + secrets.token_urlsafe(18)
    r = requests.post(GW + "/api/auth/register", json={"email": email, "password": pw}, timeout=60)
    r.raise_for_status()
    uid = r.json()["id"]
    r = requests.post(GW + "/api/auth/login", json={"email": email, "password": pw}, timeout=60)
    r.raise_for_status()
    return r.json()["access_token"], uid


def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w) for x, w in zip(r, widths))  # noqa: E731
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


# ---- wrk ------------------------------------------------------------------------------------

def wrk(url, token, conns, secs, script=None):
    args = ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{secs}s", "--latency", "--timeout", "10s",
            "-H", f"Authorization: Bearer {token}"]
    if script:
        p = TMP / f"s{secrets.token_hex(4)}.lua"
        p.write_text(script)
        args += ["-s", str(p)]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=secs + 60).stdout

    def ms(tag):
        m = re.search(rf"^\s+{tag}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": ms(50), "p99": ms(99), "bad": int(bad.group(1)) if bad else 0}


PACED = "function delay() return 4 end\n"  # per connection: stays under the gateway's limit
PEER_CONNS = 64  # the side-by-side table: wrk -t2 -c64, as in issue 14


def cpu_ticks(name):
    """User + system CPU of a stack process so far, in clock ticks (its pid from the stack)."""
    try:
        pid = (RUN / "pids" / f"{name}.pid").read_text().split()[0]
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return None


def wrk_cpu(url, token, conns, secs):
    """wrk plus the CPU microseconds per request spent by tasks-service and by Redis."""
    before = {p: cpu_ticks(p) for p in ("tasks", "redis")}
    r = wrk(url, token, conns, secs)
    hz = os.sysconf("SC_CLK_TCK")
    total = r["rps"] * secs
    for p in ("tasks", "redis"):
        after = cpu_ticks(p)
        r[p + "_us"] = ((after - before[p]) / hz * 1e6 / total
                        if before[p] is not None and after is not None and total else float("nan"))
    r["load"] = open("/proc/loadavg").read().split()[0]
    return r


class NginxPeer:
    """nginx answering `return 200` on a port of its own, started and stopped by the bench:
    the ceiling of an HTTP server on this machine in the same run."""

    def __enter__(self):
        import socket
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            self.port = so.getsockname()[1]
        d = TMP / "nginx-peer"
        (d / "logs").mkdir(parents=True, exist_ok=True)
        (d / "nginx.conf").write_text(
            "worker_processes auto;\npid nginx.pid;\nerror_log logs/error.log;\n"
            "events { worker_connections 1024; }\n"
            "http { access_log off; client_body_temp_path tmp; proxy_temp_path tmp;\n"
            "  fastcgi_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;\n"
            f"  server {{ listen 127.0.0.1:{self.port}; location / {{ return 200 'ok'; }} }} }}\n")
        self.proc = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf"),
                                      "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.get(self.url, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("nginx peer did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def bench_reads():
    users = []
    for n in (10, 100, 1000):
        token, uid = account()

        def make(i, token=token):
            r = requests.post(DIRECT + "/api/tasks", timeout=30,
                              headers={"Authorization": f"Bearer {token}"},
                              json={"title": f"bench task {i} milk" if i % 7 == 0 else f"bench task {i}",
                                    "priority": 1 + i % 5, "tags": ["bench", f"t{i % 4}"]})
            r.raise_for_status()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(make, range(n)))
        users.append((n, token))
    results = {}
    peer = {}
    for source in ("redis", "postgres"):
        if source == "postgres":
            stack("stop", "redis")
        try:
            token100 = users[1][1]
            if source == "redis":
                with NginxPeer() as ng:
                    peer["nginx"] = wrk_cpu(ng.url, token100, PEER_CONNS, SECS)
                peer["health"] = wrk_cpu(DIRECT + "/health", token100, PEER_CONNS, SECS)
            peer[source] = wrk_cpu(DIRECT + "/api/tasks", token100, PEER_CONNS, SECS)
            for n, token in users:
                h = {"Authorization": f"Bearer {token}"}
                got = requests.get(DIRECT + "/api/tasks", headers=h, timeout=10)
                assert got.headers["X-Read-Source"] == source, got.headers
                results[(source, n, "direct")] = wrk(DIRECT + "/api/tasks", token, 16, SECS)
                results[(source, n, "gateway")] = wrk(GW + "/api/tasks", token, 8, SECS, PACED)
                results[(source, n, "direct q")] = wrk(DIRECT + "/api/tasks?q=milk", token, 16,
                                                       max(3, SECS // 2))
        finally:
            if source == "postgres":
                stack("start", "redis")
    rows = []
    for n, _ in users:
        for route in ("direct", "gateway", "direct q"):
            r, p = results[("redis", n, route)], results[("postgres", n, route)]
            rows.append((n, {"direct q": "direct ?q=milk"}.get(route, route),
                         f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}",
                         f"{p['rps']:.0f}", f"{p['p50']:.2f}", f"{p['p99']:.2f}",
                         f"{r['rps'] / p['rps']:.2f}x", f"{p['p50'] / r['p50']:.2f}x",
                         r["bad"] + p["bad"]))
    ng = peer["nginx"]["rps"]
    prow = lambda label, r: (label, f"{r['rps']:.0f}", f"{r['rps'] / ng * 100:.1f}%",  # noqa: E731
                             f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['tasks_us']:.0f}",
                             f"{r['redis_us']:.0f}", r["load"], r["bad"])
    table(f"Side by side, one run: wrk -t2 -c{PEER_CONNS}, {SECS}s each, loopback; page of 50 of "
          "a user with 100 tasks; CPU µs per request of tasks-service and Redis (from /proc); "
          f"Redis page / PostgreSQL page = {peer['redis']['rps'] / peer['postgres']['rps']:.1f}x",
          ["server", "r/s", "of nginx", "p50 ms", "p99 ms", "tasks µs/req", "redis µs/req",
           "load", "non-2xx"],
          [prow("nginx return 200", peer["nginx"]), prow("tasks-service /health", peer["health"]),
           prow("GET /api/tasks from Redis", peer["redis"]),
           prow("GET /api/tasks from PostgreSQL", peer["postgres"])])
    table(f"GET /api/tasks (limit 50), Redis read model vs PostgreSQL; wrk {SECS}s per cell; "
          "direct: 16 connections, closed loop; gateway: 8 connections paced 4 ms between "
          "requests (the gateway allows one client 2,000 r/s)",
          ["tasks", "route", "redis r/s", "p50 ms", "p99 ms", "pg r/s", "p50 ms", "p99 ms",
           "r/s ratio", "p50 ratio", "non-2xx"], rows)


# ---- the relay ------------------------------------------------------------------------------

def bench_topic(create):
    admin = AdminClient({"bootstrap.servers": ENV["KAFKA_BROKERS"], "log_level": 3})
    if create:
        fs = admin.create_topics([NewTopic(BENCH_TOPIC, 6, 1)])
    else:
        fs = admin.delete_topics([BENCH_TOPIC])
    for f in fs.values():
        try:
            f.result(30)
        except Exception as e:  # already there / already gone
            if "exist" not in str(e).lower():
                print(f"  ({'create' if create else 'delete'} {BENCH_TOPIC}: {e})")
    if create:  # metadata reaches the broker's clients a moment later
        for _ in range(50):
            if BENCH_TOPIC in admin.list_topics(timeout=10).topics:
                break
            time.sleep(0.1)


def backlog(tasks, versions, uid, base):
    """Inserts tasks x versions rows in one transaction (version-major), returns their count."""
    with psycopg2.connect(ENV["TASKS_DATABASE_URL"]) as c, c.cursor() as cur:
        cur.execute("""
            WITH g AS (SELECT gen_random_uuid() AS eid, t, v
                       FROM generate_series(1, %(v)s) v, generate_series(1, %(n)s) t)
            INSERT INTO outbox (event_id, event_type, aggregate_id, version, topic, key, payload)
            SELECT eid, 'task.updated', %(b)s + t, v, %(topic)s, (%(b)s + t)::text,
                   jsonb_build_object('id', eid, 'type', 'task.updated',
                     'occurred_at', '2024-01-01T00:00:00.000Z', 'user_id', %(u)s,
                     'task_id', %(b)s + t, 'version', v,
                     'task', jsonb_build_object('id', %(b)s + t, 'title', 'bench task ' || t,
                        'priority', 3, 'done', false, 'tags', '["bench"]'::jsonb,
                        'due_at', null, 'created_at', '2024-01-01T00:00:00.000Z',
                        'updated_at', '2024-01-01T00:00:00.000Z', 'completed_at', null,
                        'version', v))
            FROM g ORDER BY v, t""", {"n": tasks, "v": versions, "b": base, "u": uid,
                                      "topic": BENCH_TOPIC})
        cur.execute("SELECT pg_notify('tasks_outbox', '')")
    return tasks * versions


def bench_drain():
    bench_topic(True)
    uid = account()[1]
    rows = []
    try:
        for tasks, versions in ((100_000, 1), (20_000, 5), (1, 2_000)):
            base = 7_000_000_000_000 + secrets.randbelow(10**12) * 64
            t_ins = time.monotonic()
            n = backlog(tasks, versions, uid, base)
            t0 = time.monotonic()
            ids = (base + 1, base + tasks)
            q = "SELECT count(*) FROM outbox WHERE aggregate_id BETWEEN %s AND %s AND NOT published"
            while sql(q, ids)[0][0] > 0:
                time.sleep(0.05)
                if time.monotonic() - t0 > 600:
                    print("  drain did not finish in 600 s")
                    break
            took = time.monotonic() - t0
            rows.append((f"{n:,}", f"{tasks:,} x {versions}", f"{t0 - t_ins:.1f}", f"{took:.1f}",
                         f"{n / took:,.0f}"))
            sql("DELETE FROM outbox WHERE aggregate_id BETWEEN %s AND %s", ids)
    finally:
        bench_topic(False)
    table("Relay drain (one relay: the service's own thread; batch 500; idempotent producer, "
          "acks=all, lz4; rows marked published from delivery reports)",
          ["rows", "tasks x events", "insert s", "drain s", "events/s"], rows)


# ---- commit-to-Kafka latency ----------------------------------------------------------------

def paced_wrk(url, token, rate, secs, body, conns=16):
    """wrk at about `rate` requests/s: each of `conns` connections waits `delay` ms after an
    answer; the delay is calibrated by a short first run (wrk has no open-loop mode)."""
    def script(delay):
        return ('wrk.method = "POST"\n'
                f"wrk.body = '{body}'\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"function delay() return {max(0, int(delay))} end\n")
    period = conns * 1000.0 / rate  # ms per request per connection
    delay = period - 5
    for _ in range(2):  # calibrate: latency = period actually achieved - delay
        probe = wrk(url, token, conns, 2, script(delay))
        latency = conns * 1000.0 / max(probe["rps"], 1) - max(0, int(delay))
        delay = period - latency
    return wrk(url, token, conns, secs, script(delay))


def latency_at(rate, secs):
    """Paced writes at `rate` for `secs`; returns the table rows for this rate."""
    token, uid = account()
    received = {}
    stop = threading.Event()
    c = Consumer({"bootstrap.servers": ENV["KAFKA_BROKERS"], "group.id": f"bench-{uid}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 5})
    md = c.list_topics("task-events", timeout=10)
    parts = []
    for p in md.topics["task-events"].partitions:
        _, high = c.get_watermark_offsets(TopicPartition("task-events", p), timeout=10)
        parts.append(TopicPartition("task-events", p, high))
    c.assign(parts)

    def consume():
        while not stop.is_set():
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            v = json.loads(m.value())
            if v.get("user_id") == uid:
                received[v["id"]] = time.time()
    th = threading.Thread(target=consume)
    th.start()
    w = paced_wrk(DIRECT + "/api/tasks", token, rate, secs,
                  '{"title":"latency bench","tags":["bench"]}', conns=max(4, rate // 30))
    q = ("SELECT count(*) FILTER (WHERE NOT o.published) FROM outbox o JOIN tasks t "
         "ON t.id = o.aggregate_id WHERE t.user_id = %s")
    t0 = time.monotonic()
    while sql(q, (uid,))[0][0] and time.monotonic() - t0 < 120:
        time.sleep(0.1)
    time.sleep(1)
    stop.set()
    th.join()
    c.close()
    pg = sql("""SELECT count(*),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.published_at - o.created_at)),
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM o.published_at - o.created_at)),
                  max(extract(epoch FROM o.published_at - o.created_at))
                FROM outbox o JOIN tasks t ON t.id = o.aggregate_id WHERE t.user_id = %s""",
             (uid,))[0]
    occurred = dict(sql("SELECT o.event_id::text, extract(epoch FROM o.created_at) FROM outbox o "
                        "JOIN tasks t ON t.id = o.aggregate_id WHERE t.user_id = %s", (uid,)))
    lat = sorted(received[e] - float(occurred[e]) for e in received if e in occurred)
    pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")  # noqa
    load = open("/proc/loadavg").read().split()[0]
    return [(rate, f"{w['rps']:.0f}", f"{w['p50']:.2f}", load, "commit -> ack (outbox)", pg[0],
             f"{pg[1] * 1000:.1f}", f"{pg[2] * 1000:.1f}", f"{pg[3] * 1000:.1f}"),
            ("", "", "", "", "commit -> consumer", len(lat), f"{pct(lat, 0.5):.1f}",
             f"{pct(lat, 0.99):.1f}", f"{lat[-1] * 1000 if lat else float('nan'):.1f}")]


def bench_latency():
    secs = max(10, 2 * SECS)
    rows = []
    for rate in (100, 250, 500):
        rows += latency_at(rate, secs)
    table(f"Commit-to-Kafka latency: POST /api/tasks paced at a steady rate for {secs}s each (wrk, "
          "rate/30 connections, delay calibrated by two 2 s runs that count too; direct); "
          "'commit' is the outbox row's insert, the change's last statement",
          ["target/s", "writes/s", "write p50 ms", "load", "measured", "events", "p50 ms",
           "p99 ms", "max ms"], rows)


# ---- outbox overhead ------------------------------------------------------------------------

PAYLOAD = json.dumps({"id": "00000000-0000-0000-0000-000000000000", "type": "task.created",
                      "occurred_at": "2024-01-01T00:00:00.000Z", "user_id": 1, "task_id": 1,
                      "version": 1, "task": {"id": 1, "title": "pgbench", "priority": 3,
                                             "done": False, "tags": ["a"], "due_at": None,
                                             "created_at": "2024-01-01T00:00:00.000Z",
                                             "updated_at": "2024-01-01T00:00:00.000Z",
                                             "completed_at": None, "version": 1}})


def pgbench(with_outbox, uid):
    lines = ["BEGIN;",
             f"INSERT INTO tasks AS t (user_id, title, priority, created_at, updated_at) VALUES "
             f"({uid}, 'pgbench', 3, date_trunc('milliseconds', now()), "
             f"date_trunc('milliseconds', now())) RETURNING id \\gset",
             f"INSERT INTO task_tags (task_id, tag_id) SELECT :id, id FROM tags WHERE user_id = {uid};"]
    if with_outbox:
        lines.append("INSERT INTO outbox (event_id, event_type, aggregate_id, version, topic, key, "
                     f"payload) VALUES (gen_random_uuid(), 'task.created', :id, 1, '{BENCH_TOPIC}', "
                     f":id::text, '{PAYLOAD}'::jsonb);")
    lines.append("COMMIT;")
    f = TMP / f"write_{int(with_outbox)}.sql"
    f.write_text("\n".join(lines) + "\n")
    out = subprocess.run([str(PGBENCH), "-n", "-c", "8", "-j", "2", "-T", str(SECS), "-f", str(f),
                          ENV["TASKS_DATABASE_URL"]], capture_output=True, text=True,
                         timeout=SECS + 60)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    lat = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    if not tps:
        print(out.stdout, out.stderr)
    return float(tps.group(1)), float(lat.group(1))


def bench_overhead():
    uid = 990_000_000 + secrets.randbelow(9_000_000)
    sql("INSERT INTO tags (user_id, name) VALUES (%s, 'bench') ON CONFLICT DO NOTHING", (uid,))
    bench_topic(True)
    try:
        without = pgbench(False, uid)
        with_ = pgbench(True, uid)
        stack("stop", "tasks")  # the insert alone, with no relay publishing and marking rows
        try:
            alone = pgbench(True, uid)
        finally:
            stack("start", "tasks")
        token = account()[0]
        script = ('wrk.method = "POST"\nwrk.body = \'{"title":"write bench","tags":["bench"]}\'\n'
                  'wrk.headers["Content-Type"] = "application/json"\n')
        http = wrk(DIRECT + "/api/tasks", token, 8, SECS, script)
    finally:
        sql("DELETE FROM outbox WHERE topic = %s", (BENCH_TOPIC,))
        sql("DELETE FROM tasks WHERE user_id = %s", (uid,))
        sql("DELETE FROM tags WHERE user_id = %s", (uid,))
        bench_topic(False)
    table(f"Outbox overhead: the write transaction (insert task + tag link [+ outbox row], "
          f"commit with fsync) with pgbench, 8 clients, {SECS}s",
          ["variant", "tx/s", "avg latency ms"],
          [("without outbox insert", f"{without[0]:.0f}", f"{without[1]:.2f}"),
           ("with outbox insert, relay stopped", f"{alone[0]:.0f}", f"{alone[1]:.2f}"),
           ("with outbox insert, relay publishing", f"{with_[0]:.0f}", f"{with_[1]:.2f}"),
           ("overhead of the insert", f"{(1 - alone[0] / without[0]) * 100:.1f}% fewer tx/s",
            f"+{alone[1] - without[1]:.2f}"),
           ("overhead with the relay", f"{(1 - with_[0] / without[0]) * 100:.1f}% fewer tx/s",
            f"+{with_[1] - without[1]:.2f}")])
    table("POST /api/tasks through the service (auth, validation, transaction with outbox, "
          f"read-model update), wrk 8 connections, {SECS}s, direct",
          ["writes/s", "p50 ms", "p99 ms", "non-2xx"],
          [(f"{http['rps']:.0f}", f"{http['p50']:.2f}", f"{http['p99']:.2f}", http["bad"])])


def main():
    which = sys.argv[1:] or ["reads", "drain", "latency", "overhead"]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"tasks-service bench: {os.cpu_count()} CPUs ({cpu}), load {open('/proc/loadavg').read().split()[:3]}, "
          f"{SECS}s per run, stack {RUN}")
    for part in which:
        {"reads": bench_reads, "drain": bench_drain, "latency": bench_latency,
         "overhead": bench_overhead}[part]()


if __name__ == "__main__":
    main()
