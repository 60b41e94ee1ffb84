"""outbox-inspect against the real stack: what it prints is compared with the outbox table
read by psycopg2 and with what an independent Kafka consumer (confluent-kafka) reads; Kafka is
stopped while tasks are written (stats counts exactly those rows, watch shows the backlog
standing and then draining), dead rows are replayed and republished, prune never removes a
waiting or dead row, and a database that is down, refuses the login or is not configured
gives the documented exit code with the URL's password hidden."""
import json
import re
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, stack, wait_until
from tasks_support import Api, consume_since, end_offsets, new_account, sql
from tools_support import Tool

TYPES_SQL = ("SELECT event_type, count(*) FROM outbox WHERE NOT published AND NOT dead "
             "GROUP BY 1")


@pytest.fixture
def oi(tmp_path):
    return Tool("outbox-inspect", tmp_path)


def db_backlog(env):
    return sql(env, "SELECT count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead) "
                    "FROM outbox WHERE NOT published")[0]


def steady_stats(env, oi):
    """outbox-inspect stats taken while the outbox held still (the same backlog read by
    psycopg2 just before and just after)."""
    def attempt():
        before = db_backlog(env)
        s = oi.json("stats")
        return s if db_backlog(env) == before == (s["backlog"], s["dead"]) else None
    return wait_until("the outbox to hold still for a comparison", attempt, timeout=60, interval=0.3)


def fake_task_base():
    return 9_300_000_000_000 + int(time.time() * 1000) % 10**9 * 64


def insert_rows(env, rows):
    """Outbox rows for fake tasks; rows: dicts with aggregate_id and optionally dead,
    published, created_ago, published_ago (seconds). Returns their ids."""
    out = []
    for r in rows:
        out.append(sql(env, """
            INSERT INTO outbox (event_id, event_type, aggregate_id, version, key, payload, dead,
                                dead_at, attempts, last_error, published, published_at, created_at)
            VALUES (gen_random_uuid(), 'task.updated', %(t)s, 1, %(t)s::text, %(p)s, %(dead)s,
                    CASE WHEN %(dead)s THEN now() END, CASE WHEN %(dead)s THEN 5 ELSE 0 END,
                    CASE WHEN %(dead)s THEN 'Broker: Message size too large' END, %(pub)s,
                    CASE WHEN %(pub)s THEN now() - %(pago)s * interval '1 second' END,
                    now() - %(cago)s * interval '1 second')
            RETURNING id""", {"t": r["aggregate_id"], "p": json.dumps({"n": r["aggregate_id"]}),
                              "dead": r.get("dead", False), "pub": r.get("published", False),
                              "pago": r.get("published_ago", 0), "cago": r.get("created_ago", 0)})[0][0])
    return out


# ---- stats, list, show -------------------------------------------------------------------------

def test_stats_match_the_database(env, oi):
    s = steady_stats(env, oi)
    for k in ("backlog", "oldest_unpublished_age_seconds", "dead", "published_last_minute"):
        assert isinstance(s[k], (int, float)) and not isinstance(s[k], bool), k
    assert s["published_last_hour"] >= s["published_last_minute"]
    relays = sql(env, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tasks-outbox-relay'")[0][0]
    assert len(s["relays"]) == relays >= 1 and sum(r["shards"] for r in s["relays"]) == 64
    text = oi.run("stats", check=0).stdout
    assert re.search(r"^backlog +\d+$", text, re.M) and "oldest unpublished age" in text
    assert "relays holding shards" in text and f"pid {s['relays'][0]['pid']}" in text


def test_list_and_show_match_the_database(env, oi):
    token, _ = new_account(env)
    api = Api(env, token)
    t = api.create("inspect me")
    api.patch(t["id"], priority=1)
    wait_until("both events published", lambda: sql(
        env, "SELECT count(*) FROM outbox WHERE aggregate_id = %s AND published", (t["id"],))[0][0] == 2)
    rows = oi.json("list", "--task", t["id"])["rows"]
    db = sql(env, "SELECT id, event_id::text, event_type, version, traceparent, payload, attempts "
                  "FROM outbox WHERE aggregate_id = %s ORDER BY id DESC", (t["id"],))
    assert [(r["id"], r["event_id"], r["event_type"], r["version"], r["state"]) for r in rows] == \
        [(d[0], d[1], d[2], d[3], "published") for d in db]
    assert oi.json("list", "--task", t["id"], "--unpublished")["rows"] == []
    assert [r["id"] for r in oi.json("list", "--task", t["id"], "--published")["rows"]] == [d[0] for d in db]
    page = oi.json("list", "--task", t["id"], "--limit", "1")
    assert [r["id"] for r in page["rows"]] == [db[0][0]] and page["next_after"] == db[0][0]
    rest = oi.json("list", "--task", t["id"], "--limit", "1", "--after", page["next_after"])
    assert [r["id"] for r in rest["rows"]] == [db[1][0]]
    one = oi.json("show", db[-1][0])
    assert one["payload"] == db[-1][5] and one["attempts"] == db[-1][6] and one["last_error"] is None
    assert one["headers"] == {"event_id": db[-1][1], "event_type": "task.created",
                              "traceparent": db[-1][4], "content-type": "application/json"}
    assert one["trace_id"] == db[-1][4].split("-")[1] and one["task_id"] == t["id"]
    text = oi.run("show", db[-1][0], check=0).stdout
    assert f"trace id     {one['trace_id']}" in text and '"title":\t"inspect me"' in text
    table = oi.run("list", "--task", t["id"], check=0).stdout
    assert table.splitlines()[0].split()[:3] == ["ID", "TASK", "VER"] and str(db[0][0]) in table


def test_bad_ids_and_options(env, oi):
    missing = sql(env, "SELECT COALESCE(max(id), 0) + 1000000 FROM outbox")[0][0]
    p = oi.run("show", missing, check=1)
    assert f"no outbox row {missing}" in p.stderr
    for args, needle in ((["show", "abc"], "outbox row id: 'abc'"), (["show", "0"], "outbox row id"),
                         (["show"], "needs ID"), (["list", "--limit", "0"], "--limit"),
                         (["list", "--task", "-4"], "--task"),
                         (["list", "--dead", "--published"], "choose one of"),
                         (["watch", "--interval", "5ms"], "--interval"),
                         (["watch", "--interval", "soon"], "not a duration"),
                         (["prune"], "needs --older-than"),
                         (["prune", "--older-than", "7x"], "--older-than: '7x' is not a duration"),
                         (["prune", "--older-than", "-1d"], "is not a duration"),
                         (["prune", "--older-than", "99999999999d"], "is longer than 36500d"),
                         (["replay"], "needs --dead or --from"),
                         (["replay", "--from", "abc"], "--from"),
                         (["replay", "--from", "0"], "--from"),
                         (["replay", "--to", "5"], "--to needs --from"),
                         (["replay", "--from", "10", "--to", "5"], "empty range: --from 10 is after --to 5"),
                         (["replay", "--dead", "--published"], "--published needs a range"),
                         (["frobnicate"], "unknown verb"),
                         (["stats", "--bogus"], "unknown option '--bogus' for stats")):
        p = oi.run(*args, check=2)
        assert needle in p.stderr and "(try 'outbox-inspect --help')" in p.stderr, (args, p.stderr)
    # a range with no dead row in it is not an error of usage, but nothing was done
    p = oi.run("replay", "--from", missing, "--to", missing + 5, "--yes", check=1)
    assert f"nothing to replay: no dead rows in rows {missing}..{missing + 5}" in p.stderr


# ---- Kafka stopped: the backlog, exactly; watch while it stands and while it drains ----------

def test_kafka_stopped_stats_count_exactly_the_rows_written(env, oi):
    token, _ = new_account(env)
    api = Api(env, token)
    stack("stop", "kafka")
    try:
        before = steady_stats(env, oi)
        before_types = dict(sql(env, TYPES_SQL))
        ids = []
        for i in range(10):
            t = api.create(f"while kafka is down {i}")
            api.patch(t["id"], priority=2)
            api.patch(t["id"], title=f"still down {i}")
            ids.append(t["id"])
        after = oi.json("stats")
        assert after["backlog"] - before["backlog"] == 30
        assert after["dead"] == before["dead"]
        assert after["backlog_by_type"].get("task.created", 0) - before_types.get("task.created", 0) == 10
        assert after["backlog_by_type"].get("task.updated", 0) - before_types.get("task.updated", 0) == 20
        assert after["oldest_unpublished_age_seconds"] > 0
        waiting = {r["task_id"] for r in oi.json("list", "--unpublished", "--limit", "10000")["rows"]}
        assert set(ids) <= waiting
        # watch, off a terminal: one line per refresh; the backlog stands, nothing drains
        lines = oi.lines("watch", "--count", "3", "--interval", "200ms")
        assert len(lines) == 3 and all(l["backlog"] == after["backlog"] for l in lines)
        assert [l["published_since_last"] for l in lines[1:]] == [0, 0]
        assert lines[-1]["backlog_change_per_second"] == 0 and lines[-1]["drain_eta_seconds"] is None
        plain = oi.run("watch", "--count", "2", "--interval", "100ms", check=0).stdout.splitlines()
        assert len(plain) == 2 and f"backlog={after['backlog']} " in plain[0] and "eta_s=-" in plain[1]
    finally:
        stack("start", "kafka")
    # Kafka is back: watch until the backlog is empty; what it saw drain adds up
    lines = oi.lines("watch", "--until-empty", "--interval", "250ms", timeout=240)
    assert lines[-1]["backlog"] == 0 and lines[-1]["drain_eta_seconds"] == 0
    if len(lines) > 1:  # it saw the drain (not just its end): rows went out while it watched
        assert sum(l["published_since_last"] for l in lines[1:]) > 0
        assert any(l["published_per_second"] > 0 for l in lines[1:])
    assert sql(env, "SELECT count(*) FROM outbox WHERE aggregate_id = ANY(%s) AND NOT published",
               (ids,))[0][0] == 0


def test_watch_on_a_terminal_redraws_in_place_until_interrupted(env, oi):
    code, out = oi.on_pty(["watch", "--interval", "100ms"], interrupt_when=b"time to drain",
                          timeout=60)
    assert code == 0, out
    assert "outbox of postgres://" in out and ":***@" in out and "backlog " in out
    assert "\x1b[?25l" in out and out.rstrip().endswith("\x1b[?25h")  # the cursor comes back


# ---- replay: dead rows, republished -------------------------------------------------------------

def test_replay_republishes_dead_rows(env, oi):
    base = fake_task_base()
    ids = insert_rows(env, [{"aggregate_id": base + i, "dead": True, "created_ago": 60} for i in range(3)])
    events = dict(sql(env, "SELECT id, event_id::text FROM outbox WHERE id = ANY(%s)", (ids,)))
    try:
        dead = lambda: [r[0] for r in sql(env, "SELECT dead FROM outbox WHERE id = ANY(%s) ORDER BY id",  # noqa
                                          (ids,))]
        shown = {r["id"] for r in oi.json("list", "--dead", "--limit", "10000")["rows"]}
        assert set(ids) <= shown
        assert oi.json("show", ids[0])["last_error"] == "Broker: Message size too large"
        # every dead row, counted the way the database counts them
        assert oi.json("replay", "--dead", "--dry-run")["would_replay"] == db_backlog(env)[1]
        # asked, and refused: nothing changes
        p = oi.run("replay", "--from", ids[0], "--to", ids[-1], input="n\n", check=1)
        assert "re-queue 3 dead rows of 3 tasks" in p.stderr and "not confirmed" in p.stderr
        assert dead() == [True, True, True]
        p = oi.run("replay", "--from", ids[0], "--to", ids[-1], check=1)  # no answer at all
        assert dead() == [True, True, True]
        out = oi.json("replay", "--from", ids[0], "--to", ids[-1], "--dry-run")
        assert out["would_replay"] == 3 and out["dry_run"] is True
        assert sorted(out["tasks"]) == [base, base + 1, base + 2]
        assert dead() == [True, True, True]
        start = end_offsets(env)
        p = oi.run("replay", "--from", ids[0], "--to", ids[-1], input="yes\n", check=0)
        assert p.stdout.startswith("re-queued 3 dead rows of 3 tasks")
        wait_until("the replayed rows to be published", lambda: sql(
            env, "SELECT bool_and(published) FROM outbox WHERE id = ANY(%s)", (ids,))[0][0], timeout=60)
        # an independent consumer sees each of them
        seen = [m for m in consume_since(env, start) if m["event_id"] in events.values()]
        assert sorted(m["event_id"] for m in seen) == sorted(events.values())
        assert {m["key"] for m in seen} == {str(base + i) for i in range(3)}
        assert dead() == [False, False, False]
        # published rows are re-sent only when asked
        p = oi.run("replay", "--from", ids[0], "--to", ids[-1], "--yes", check=1)
        assert "nothing to replay" in p.stderr
        again = oi.json("replay", "--from", ids[0], "--to", ids[-1], "--published", "--yes")
        assert again["replayed"] == 3
        wait_until("the re-sent rows to be published again", lambda: sql(
            env, "SELECT bool_and(published) FROM outbox WHERE id = ANY(%s)", (ids,))[0][0], timeout=60)
    finally:
        sql(env, "DELETE FROM outbox WHERE id = ANY(%s)", (ids,))


# ---- prune: published rows only ----------------------------------------------------------------

def test_prune_never_removes_a_waiting_or_dead_row(env, oi):
    base = fake_task_base()
    stack("stop", "tasks")  # no relay: a waiting row stays waiting
    try:
        old_wait, old_dead, old_pub, new_pub = insert_rows(env, [
            {"aggregate_id": base, "created_ago": 30 * 86400},
            {"aggregate_id": base + 1, "dead": True, "created_ago": 30 * 86400},
            {"aggregate_id": base + 2, "published": True, "created_ago": 30 * 86400,
             "published_ago": 20 * 86400},
            {"aggregate_id": base + 3, "published": True, "published_ago": 10}])
        ids = [old_wait, old_dead, old_pub, new_pub]
        present = lambda: {r[0] for r in sql(env, "SELECT id FROM outbox WHERE id = ANY(%s)", (ids,))}  # noqa
        older = sql(env, "SELECT count(*) FROM outbox WHERE published AND published_at < now() - interval '10 days'")[0][0]
        dry = oi.json("prune", "--older-than", "10d", "--dry-run")
        assert dry == {"would_delete": older, "older_than_seconds": 864000, "dry_run": True} and older >= 1
        assert present() == set(ids)
        out = oi.json("prune", "--older-than", "10d")
        assert out["deleted"] >= 1
        assert present() == {old_wait, old_dead, new_pub}
        # even "older than nothing": every published row of these goes, never the others
        p = oi.run("prune", "--older-than", "0s", check=0)
        assert p.stdout.startswith("deleted ")
        assert present() == {old_wait, old_dead}
        assert sql(env, "SELECT count(*) FROM outbox WHERE published AND published_at < now() - interval '1 second'")[0][0] == 0
    finally:
        sql(env, "DELETE FROM outbox WHERE aggregate_id BETWEEN %s AND %s", (base, base + 3))
        stack("start", "tasks")


# ---- errors: the database down, refused, not configured ----------------------------------------

def test_database_errors_name_the_url_without_its_password(env, oi, tmp_path):
    url = env["TASKS_DATABASE_URL"]
    password = url.split("//")[1].split("@")[0].split(":")[1]
    host_part = url.split("@")[1]
    down = url.replace(host_part.split("/")[0], "127.0.0.1:1")
    p = oi.run("stats", env={"TASKS_DATABASE_URL": down}, check=4)
    assert "tasks database (postgres://tasks:***@127.0.0.1:1/" in p.stderr and password not in p.stderr
    wrong = url.replace(":" + password + "@", ":not-the-password@")
    p = oi.run("stats", env={"TASKS_DATABASE_URL": wrong}, check=3)
    assert "password authentication failed" in p.stderr and "not-the-password" not in p.stderr
    # no address anywhere: a usage error naming the setting
    lonely = Tool("outbox-inspect", tmp_path / "lonely", TODO_RUN_DIR=tmp_path / "no-stack")
    p = lonely.run("stats", check=2)
    assert "TASKS_DATABASE_URL" in p.stderr


def test_help_version_man_page_and_install(oi, tmp_path):
    h = oi.run("--help", check=0).stdout
    verbs = [l.split()[0] for l in h.split("Verbs:")[1].split("\n\n")[0].strip().splitlines()]
    assert verbs == ["stats", "list", "show", "watch", "replay", "prune"]
    man = (ROOT / "tools" / "outbox-inspect" / "outbox-inspect.1").read_text().replace("\\-", "-")
    for v in verbs:
        assert f".B {v}" in man
        vh = oi.run(v, "--help", check=0).stdout
        assert vh.startswith(f"usage: outbox-inspect {v}")
        for opt in re.findall(r"--([a-z-]+)", vh.split("Options:")[1].split("Exit status:")[0]):
            if opt not in ("output", "help"):
                assert f"--{opt}" in man, f"{v} --{opt} is not in the man page"
    for n in range(5):
        assert f".IP {n}" in man
    assert oi.run("--version", check=0).stdout.startswith("outbox-inspect ")
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww",
                            str(ROOT / "tools" / "outbox-inspect" / "outbox-inspect.1")],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and not p.stderr, p.stderr
    prefix = tmp_path / "prefix"
    p = subprocess.run(["make", "--no-print-directory", "install", f"PREFIX={prefix}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    for tool in ("outbox-inspect", "trace-view"):
        assert (prefix / "bin" / tool).exists()
        assert (prefix / "share" / "man" / "man1" / f"{tool}.1").exists()
        assert subprocess.run([str(prefix / "bin" / tool), "--version"], capture_output=True).returncode == 0
