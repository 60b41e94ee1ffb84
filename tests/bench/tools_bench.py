"""outbox-inspect and trace-view benchmark (run by tests/bench/tools.sh from `make bench`).
Prints; never asserts. Loopback only, bounded: fixed sizes, fixed hyperfine runs, and the
scratch database is dropped whatever happens.

  1. trace-view on the 5,000-span trace of tests/e2e/trace_fixtures.py (2 MB of Jaeger JSON):
     hyperfine of the drawn waterfall, of -o json, and of --version (the start-up alone);
     CPU time and peak RSS of the waterfall from wait4() over 20 runs.
  2. outbox-inspect stats on a 1,000,000-row outbox in a database of its own (created from the
     tasks-service migrations, owned by the tasks role): two shapes — a working system (99% of
     the rows published over the last two hours, 9,000 waiting, 1,000 dead) and a long Kafka
     outage (every row waiting). hyperfine of `-o json stats`; then the plans PostgreSQL
     actually ran for it (auto_explain, read back from the server log) with the indexes used.
"""
import json
import os
import pathlib
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg2

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run")).resolve()
ENV = dict(l.split("=", 1) for l in (RUN / "stack.env").read_text().splitlines()
           if l and not l.startswith("#") and "=" in l)
ROWS = int(os.environ.get("TOOLS_BENCH_ROWS", "1000000"))
TV, OI = str(ROOT / "bin" / "trace-view"), str(ROOT / "bin" / "outbox-inspect")
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import trace_fixtures  # noqa: E402


def hyperfine(cmds, runs, env=None, warmup=3):
    """[(mean, stddev, min, max)] in ms per command (hyperfine -N: no shell, output discarded)."""
    with tempfile.TemporaryDirectory() as d:
        out = pathlib.Path(d) / "h.json"
        p = subprocess.run(["hyperfine", "-N", "--warmup", str(warmup), "--runs", str(runs),
                            "--export-json", str(out), *cmds], capture_output=True, text=True,
                           timeout=900, env={**os.environ, **(env or {})})
        if p.returncode != 0:
            raise RuntimeError("hyperfine failed: " + p.stderr[-800:])
        return [(r["mean"] * 1000, r["stddev"] * 1000, r["min"] * 1000, r["max"] * 1000)
                for r in json.loads(out.read_text())["results"]]


def rusage(argv, runs):
    """Median CPU ms (user + system) and max peak RSS in MB of argv over runs."""
    cpu, rss = [], 0
    for _ in range(runs):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, ru = os.wait4(p.pid, 0)
        cpu.append((ru.ru_utime + ru.ru_stime) * 1000)
        rss = max(rss, ru.ru_maxrss / 1024)
    return statistics.median(cpu), rss


def load():
    return open("/proc/loadavg").read().split()[0]


# ---- 1. trace-view --------------------------------------------------------------------------

def bench_trace_view():
    with tempfile.TemporaryDirectory() as d:
        f = trace_fixtures.big(5000).write(pathlib.Path(d) / "trace-5000.json")
        cmds = [f"{TV} -f {f} -w 160", f"{TV} -o json -f {f}", f"{TV} --version"]
        res = hyperfine(cmds, runs=30)
        cpu, rss = rusage([TV, "-f", str(f), "-w", "160"], 20)
        print(f"trace-view, 5,000 spans ({f.stat().st_size / 1e6:.1f} MB of Jaeger JSON), "
              f"load average {load()}:")
        for name, (mean, sd, lo, hi) in zip(["waterfall (-w 160)", "-o json (the layout)",
                                             "--version (start-up only)"], res):
            print(f"  {name:<28} mean {mean:7.2f} ms  ± {sd:5.2f}  min {lo:6.2f}  max {hi:7.2f}")
        print(f"  waterfall: CPU {cpu:.1f} ms (median of 20), peak RSS {rss:.1f} MB")


# ---- 2. outbox-inspect stats on 1,000,000 rows ----------------------------------------------

def superuser():
    port = ENV["TASKS_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]
    c = psycopg2.connect(host=str((RUN / "postgres" / "sock").resolve()), port=port,
                         user="postgres", dbname="postgres")
    c.autocommit = True
    return c


def run_sql(url, statements):
    c = psycopg2.connect(url)
    c.autocommit = True
    try:
        with c.cursor() as cur:
            for s in statements:
                cur.execute(s)
            return cur.fetchall() if cur.description else None
    finally:
        c.close()


# The working shape: published rows spread over the last two hours (each created a second
# before its publish), then the waiting rows (created over the last ten minutes), the last
# `dead` of them dead. Four event types, four rows a task.
FILL = """
INSERT INTO outbox (event_id, event_type, aggregate_id, version, key, payload, published,
                    published_at, created_at, dead, dead_at, attempts, last_error)
SELECT gen_random_uuid(), (ARRAY['task.created','task.updated','task.completed','task.deleted'])[1 + g %% 4],
       g / 4, 1 + g %% 4, (g / 4)::text,
       jsonb_build_object('type', 'task.updated', 'task_id', g / 4, 'version', 1 + g %% 4,
                          'task', jsonb_build_object('id', g / 4, 'title', 'bench task ' || g,
                          'priority', 3, 'done', false, 'tags', '[]'::jsonb)),
       g <= %(published)s,
       CASE WHEN g <= %(published)s THEN now() - (g %% 7200) * interval '1 second' END,
       CASE WHEN g <= %(published)s THEN now() - (g %% 7200 + 1) * interval '1 second'
            ELSE now() - ((%(rows)s - g) %% 600) * interval '1 second' END,
       g > %(rows)s - %(dead)s, CASE WHEN g > %(rows)s - %(dead)s THEN now() END,
       CASE WHEN g > %(rows)s - %(dead)s THEN 5 ELSE 0 END,
       CASE WHEN g > %(rows)s - %(dead)s THEN 'Broker: Message size too large' END
FROM generate_series(1, %(rows)s) g
"""


def plans(log, since):
    """The plans auto_explain logged since byte offset `since`: [(ms, nodes)], nodes being
    'Index Only Scan idx_…', 'Seq Scan outbox' … of each statement."""
    with open(log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    out = []
    for m in re.finditer(r"duration: ([0-9.]+) ms\s+plan:\s*(\{.*?\n\t\})", text, re.S):
        try:
            plan = json.loads(m.group(2))
        except ValueError:
            continue
        nodes = []

        def walk(n):
            kind = n.get("Node Type", "")
            if "Scan" in kind:
                nodes.append(f"{kind} {n.get('Index Name') or n.get('Relation Name', '')}".strip())
            for c in n.get("Plans", []):
                walk(c)
        walk(plan.get("Plan", {}))
        out.append((float(m.group(1)), plan.get("Query Text", "").strip().split("\n")[0][:60], nodes))
    return out


def stats_shape(su, db, url, log, name):
    """hyperfine of `outbox-inspect -o json stats` on db, then the plans it ran."""
    env = {"TASKS_DATABASE_URL": url}
    stats = json.loads(subprocess.run([OI, "-o", "json", "stats"], capture_output=True, text=True,
                                      env={**os.environ, **env}, check=True).stdout)
    (mean, sd, lo, hi), = hyperfine([f"{OI} -o json stats"], runs=20, env=env)
    print(f"  {name}")
    print(f"    backlog {stats['backlog']:,}  dead {stats['dead']:,}  published last hour "
          f"{stats['published_last_hour']:,}")
    print(f"    stats: mean {mean:7.2f} ms  ± {sd:5.2f}  min {lo:6.2f}  max {hi:7.2f}")
    # the plans it ran: auto_explain for this database only, for one more run, then off
    for k, v in (("session_preload_libraries", "'auto_explain'"), ("auto_explain.log_min_duration", "0"),
                 ("auto_explain.log_analyze", "on"), ("auto_explain.log_format", "'json'")):
        su.cursor().execute(f"ALTER DATABASE {db} SET {k} = {v}")
    since = log.stat().st_size
    subprocess.run([OI, "-o", "json", "stats"], capture_output=True, env={**os.environ, **env},
                   check=True)
    su.cursor().execute(f"ALTER DATABASE {db} RESET ALL")
    found, deadline = [], time.monotonic() + 10
    while len(found) < 3 and time.monotonic() < deadline:  # the server's log lags a little
        found = plans(log, since)
        time.sleep(0.1)
    for ms, query, nodes in found:
        print(f"    {ms:8.2f} ms  {query[:50]:<50}  {', '.join(dict.fromkeys(nodes))}")


def bench_outbox_stats():
    db = f"outbox_bench_{secrets.token_hex(4)}"
    url = re.sub(r"/tasks(\?|$)", f"/{db}\\1", ENV["TASKS_DATABASE_URL"])
    su = superuser()
    log = RUN / "logs" / "postgres.log"
    try:
        su.cursor().execute(f"CREATE DATABASE {db} OWNER tasks")
        migrations = sorted((ROOT / "services" / "tasks" / "migrations").glob("*.sql"))
        run_sql(url, [m.read_text() for m in migrations])
        t0 = time.monotonic()
        run_sql(url, [FILL % {"rows": ROWS, "published": ROWS - 10000, "dead": 1000}])
        run_sql(url, ["VACUUM ANALYZE outbox"])
        print(f"\noutbox-inspect stats, {ROWS:,} rows in database {db} (filled and vacuumed in "
              f"{time.monotonic() - t0:.0f} s), load average {load()}:")
        stats_shape(su, db, url, log, "working: 99% published over 2 h, 9,000 waiting, 1,000 dead")
        # a long Kafka outage: nothing published, every row waiting
        t0 = time.monotonic()
        run_sql(url, ["UPDATE outbox SET published = false, published_at = NULL, dead = false",
                      "VACUUM ANALYZE outbox"])
        stats_shape(su, db, url, log, f"outage: every row waiting (made so in "
                                      f"{time.monotonic() - t0:.0f} s)")
    finally:
        su.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        su.close()


if __name__ == "__main__":
    bench_trace_view()
    bench_outbox_stats()
