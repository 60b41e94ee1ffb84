"""todo-console's operator verbs against the real stack: outbox, read model, topics, traces,
health and notifications, each checked against what PostgreSQL, Redis, Kafka, Jaeger and the
services hold, read with independent clients."""
import datetime
import json
import uuid

import pytest
import redis
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import wait_until
from console_support import Console, account, bearer
from tasks_support import TOPIC, sql


@pytest.fixture
def user(env, tmp_path):
    c = Console(tmp_path)
    email, pw, uid = account(env["GATEWAY_URL"])
    c.login(email, pw)
    return c, uid


def rclient(env):
    return redis.Redis.from_url(env["REDIS_URL"], decode_responses=True, socket_timeout=5)


# ---- outbox ----------------------------------------------------------------------------------

def test_outbox_stats_match_the_database(env, user):
    c, _ = user
    for _ in range(20):  # the relay drains concurrently: compare when the count held still
        before = sql(env, "SELECT count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead) "
                          "FROM outbox WHERE NOT published")[0]
        s = c.json("outbox", "stats")
        after = sql(env, "SELECT count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead) "
                         "FROM outbox WHERE NOT published")[0]
        if before == after:
            assert (s["backlog"], s["dead"]) == before
            break
    else:
        pytest.fail("the outbox never held still for a comparison")
    for k in ("backlog", "oldest_unpublished_age_seconds", "dead", "published_last_minute"):
        assert isinstance(s[k], (int, float)) and not isinstance(s[k], bool)
    assert s["published_last_hour"] >= s["published_last_minute"]
    relays = sql(env, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tasks-outbox-relay'")[0][0]
    assert len(s["relays"]) == relays
    table = c.run("outbox", "stats", check=0).stdout
    assert "backlog" in table and "oldest unpublished age" in table


def test_outbox_list_and_show_match_the_database(env, user):
    c, _ = user
    t = c.json("tasks", "add", "outbox me")
    c.json("tasks", "done", str(t["id"]))
    wait_until("both events published", lambda: sql(
        env, "SELECT count(*) FROM outbox WHERE aggregate_id = %s AND published", (t["id"],))[0][0] == 2)
    rows = c.json("outbox", "list", "--task", str(t["id"]))["rows"]
    db = sql(env, "SELECT id, event_id::text, event_type, version, traceparent, payload FROM outbox "
                  "WHERE aggregate_id = %s ORDER BY id DESC", (t["id"],))
    assert [(r["id"], r["event_id"], r["event_type"], r["version"], r["state"]) for r in rows] == \
        [(d[0], d[1], d[2], d[3], "published") for d in db]
    assert c.json("outbox", "list", "--task", str(t["id"]), "--unpublished")["rows"] == []
    one = c.json("outbox", "show", str(db[-1][0]))
    assert one["payload"] == db[-1][5]
    assert one["headers"]["event_id"] == db[-1][1] and one["headers"]["traceparent"] == db[-1][4]
    assert one["trace_id"] == db[-1][4].split("-")[1]
    assert one["task_id"] == t["id"] and one["published_at"]
    missing = sql(env, "SELECT COALESCE(max(id), 0) + 1000000 FROM outbox")[0][0]
    p = c.run("outbox", "show", str(missing), check=1)
    assert f"no outbox row {missing}" in p.stderr


# ---- read model --------------------------------------------------------------------------------

def built(c):
    """`readmodel show` once the user's projection is built in the current epoch: after a
    user's first writes it is built in the background, while reads go to PostgreSQL
    (services/tasks/tasks_readmodel.h, rule 2)."""
    return wait_until("the user's projection to be built",
                      lambda: (lambda j: j if j["current"] else None)(c.json("readmodel", "show")),
                      timeout=30, interval=0.1)


def test_readmodel_show_matches_redis_and_the_api(env, user):
    c, uid = user
    a = c.json("tasks", "add", "rm one")
    b = c.json("tasks", "add", "rm two", "--tag", "x")
    api = c.json("tasks", "list")
    rm = built(c)
    assert rm["user_id"] == uid and rm["current"] is True
    assert rm["tasks"] == api["tasks"]
    r = rclient(env)
    assert sorted(int(k) for k in r.hkeys(f"tasks:user:{uid}")) == sorted([a["id"], b["id"]])
    assert rm["epoch"] == r.get("tasks:rm:epoch")
    assert c.json("readmodel", "show", "--user", str(uid)) == rm


def test_readmodel_diff_finds_drift_made_by_hand(env, user):
    c, uid = user
    a = c.json("tasks", "add", "drift a")
    b = c.json("tasks", "add", "drift b")
    c.json("tasks", "edit", str(b["id"]), "--title", "drift b v2")
    e = c.json("tasks", "add", "drift e", "--tag", "z", "--tag", "a", "--due", "2030-05-06T07:08:09.123Z")
    c.json("tasks", "done", str(e["id"]))
    c.json("tasks", "list")
    built(c)
    clean = c.json("readmodel", "diff")
    assert clean["drift"] == [] and clean["users_checked"] == 1
    r = rclient(env)
    key = f"tasks:user:{uid}"
    saved = r.hgetall(key)
    try:
        # task b goes back to version 1 in Redis; task a disappears; a task that does not exist appears
        old = json.loads(saved[str(b["id"])])
        old["version"] = 1
        r.hset(key, str(b["id"]), json.dumps(old))
        r.hdel(key, str(a["id"]))
        ghost = dict(old, id=b["id"] + 10**9, version=7)
        r.hset(key, str(ghost["id"]), json.dumps(ghost))
        # and a third task keeps its version but not its title
        edited = json.loads(saved[str(e["id"])])
        edited["title"] = "edited by hand"
        r.hset(key, str(e["id"]), json.dumps(edited))
        p = c.run("readmodel", "diff", check=1)
        assert f"task {b['id']}: older (postgres v2, redis v1)" in p.stdout
        assert f"task {a['id']}: missing" in p.stdout
        assert f"task {ghost['id']}: extra" in p.stdout
        assert f"task {e['id']}: differs title (postgres v2, redis v2)" in p.stdout
        assert "drift" in p.stderr
        j = json.loads(c.run("-o", "json", "readmodel", "diff", check=1).stdout)
        kinds = {(d["task_id"], d["kind"]) for d in j["drift"]}
        assert kinds == {(b["id"], "older"), (a["id"], "missing"), (ghost["id"], "extra"),
                         (e["id"], "differs")}
        everyone = json.loads(c.run("-o", "json", "readmodel", "diff", "--all", check=1).stdout)
        mine = {(d["task_id"], d["kind"]) for d in everyone["drift"] if d["user_id"] == uid}
        assert mine == kinds
        assert everyone["users_checked"] >= 1
    finally:
        r.delete(key)
        if saved:
            r.hset(key, mapping=saved)
    assert c.json("readmodel", "diff")["drift"] == []


# ---- Kafka ---------------------------------------------------------------------------------------

def consumer(env, group=None):
    return Consumer({"bootstrap.servers": env["KAFKA_BROKERS"],
                     "group.id": group or f"console-e2e-{uuid.uuid4()}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})


def test_topics_list_matches_the_broker(env, user):
    c, _ = user
    k = consumer(env)
    try:
        md = k.list_topics(timeout=30)
        out = {t["name"]: t for t in c.json("topics", "list")["topics"]}
        for name in (TOPIC, TOPIC + ".dlq"):
            assert out[name]["partitions"] == len(md.topics[name].partitions)
            for p in out[name]["offsets"]:
                low, high = k.get_watermark_offsets(TopicPartition(name, p["partition"]), timeout=30)
                assert p["low"] == low and p["high"] <= high  # the topic may have grown since
        assert not any(n.startswith("__") for n in out)
    finally:
        k.close()


def test_topics_tail_reads_what_an_independent_consumer_reads(env, user):
    c, uid = user
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    t = c.json("tasks", "add", "tail me")
    c.json("tasks", "edit", str(t["id"]), "--priority", "1")
    c.json("tasks", "done", str(t["id"]))
    stamp = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"

    def mine():
        p = c.run("-o", "json", "topics", "tail", TOPIC, "--since", stamp, "--key", str(t["id"]), check=0)
        return [json.loads(l) for l in p.stdout.splitlines()] if p.stdout.count("\n") >= 3 else None

    msgs = wait_until("three events of the task in Kafka", mine, timeout=60, interval=0.5)
    assert [json.loads(m["value"])["version"] for m in msgs] == [1, 2, 3]
    assert [m["headers"]["event_type"] for m in msgs] == ["task.created", "task.updated", "task.completed"]
    # the same messages, read by confluent-kafka from the same partition and offsets
    part = msgs[0]["partition"]
    k = consumer(env)
    try:
        k.assign([TopicPartition(TOPIC, part, msgs[0]["offset"])])
        got = []
        while len(got) < 3:
            m = k.poll(10)
            assert m is not None, "the independent consumer read nothing"
            if m.error() or m.key() != str(t["id"]).encode():
                continue
            got.append(m)
        for mine_, theirs in zip(msgs, got):
            assert (mine_["partition"], mine_["offset"]) == (theirs.partition(), theirs.offset())
            assert mine_["value"] == theirs.value().decode()
            assert mine_["timestamp"] == theirs.timestamp()[1]
            assert mine_["headers"] == {h: v.decode() for h, v in theirs.headers()}
    finally:
        k.close()
    # filters: header and value
    p = c.run("-o", "json", "topics", "tail", TOPIC, "--since", stamp, "--header",
              "event_type=task.completed", "--grep", '"task_id": %d' % t["id"], check=0)
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    assert [m["offset"] for m in lines] == [msgs[2]["offset"]]
    # -n: the last N across partitions in time order, then it stops
    last = [json.loads(l) for l in c.run("-o", "json", "topics", "tail", TOPIC, "-n", "5",
                                         check=0).stdout.splitlines()]
    assert len(last) == 5
    assert [m["timestamp"] for m in last] == sorted(m["timestamp"] for m in last)
    # table output names partition, offset, key and type
    table = c.run("topics", "tail", TOPIC, "--since", stamp, "--key", str(t["id"]), check=0).stdout
    assert f"{part}:{msgs[2]['offset']} key={t['id']} task.completed" in table


def test_tail_never_commits_or_joins_a_group(env, user):
    c, _ = user
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BROKERS"]})
    before = {g.id for g in admin.list_groups(timeout=30)}
    c.run("-o", "json", "topics", "tail", TOPIC, "-n", "3", check=0)
    c.run("topics", "tail", TOPIC, "--idle", "500ms", "--max", "1", timeout=60)
    after = {g.id for g in admin.list_groups(timeout=30)}
    assert after - before == set()


def test_topics_lag_matches_committed_offsets(env, user):
    c, _ = user
    t = c.json("tasks", "add", "lag me")
    group = f"console-lag-{uuid.uuid4()}"
    k = consumer(env, group)
    try:
        md = k.list_topics(TOPIC, timeout=30)
        parts = [TopicPartition(TOPIC, p) for p in md.topics[TOPIC].partitions]
        # commit offset 0 on every partition: the lag is then everything the topic holds
        k.commit(offsets=[TopicPartition(TOPIC, p.partition, 0) for p in parts], asynchronous=False)
        highs = {p.partition: k.get_watermark_offsets(p, timeout=30)[1] for p in parts}
    finally:
        k.close()
    out = c.json("topics", "lag", "--group", group)["groups"]
    assert len(out) == 1 and out[0]["group"] == group and out[0]["topic"] == TOPIC
    got = {p["partition"]: (p["committed"], p["lag"]) for p in out[0]["partitions"]}
    for p, high in highs.items():
        assert got[p][0] == 0 and got[p][1] >= high  # the topic may grow, never shrink
    assert out[0]["lag"] >= sum(highs.values()) > 0
    assert t["id"]


# ---- traces ------------------------------------------------------------------------------------

def jaeger_trace(env, trace_id):
    r = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=30)
    return r.json()["data"][0] if r.status_code == 200 and r.json().get("data") else None


def test_traces_start_at_the_console(env, user):
    c, _ = user
    t = c.json("tasks", "add", "trace me")
    tp = sql(env, "SELECT traceparent FROM outbox WHERE aggregate_id = %s", (t["id"],))[0][0]
    trace_id = tp.split("-")[1]

    def complete():
        tr = jaeger_trace(env, trace_id)
        if not tr:
            return None
        services = {tr["processes"][s["processID"]]["serviceName"] for s in tr["spans"]}
        names = {s["operationName"] for s in tr["spans"]}
        return tr if {"todo-console", "tasks-service"} <= services and \
            any(n.endswith("publish") for n in names) else None

    tr = wait_until("the console's trace with the relay's publish in Jaeger", complete, timeout=60,
                    interval=0.5)
    shown = c.json("traces", "show", trace_id)
    assert shown["trace_id"] == trace_id and len(shown["spans"]) == len(tr["spans"])
    root = shown["spans"][0]
    assert (root["service"], root["name"], root["depth"]) == ("todo-console", "todo-console tasks add", 0)
    assert root["critical"] is True
    by_id = {s["spanID"]: s for s in tr["spans"]}
    for s in shown["spans"]:
        j = by_id[s["span_id"]]
        assert s["duration_us"] == j["duration"] and s["name"] == j["operationName"]
    pub = next(s for s in shown["spans"] if s["name"].endswith("publish"))
    assert pub["hop"] == "outbox" and pub["hop_duration_us"] >= 0
    text = c.run("traces", "show", trace_id, check=0).stdout
    assert f"trace {trace_id}" in text and "todo-console tasks add" in text and "(outbox" in text

    listed = wait_until("the trace in the console's list", lambda: next(
        (x for x in c.json("traces", "list", "--service", "todo-console", "--limit", "50")["traces"]
         if x["trace_id"] == trace_id), None), timeout=30, interval=0.5)
    assert listed["root_name"] == "todo-console tasks add" and listed["spans"] >= len(tr["spans"]) - 1


def test_traces_show_slowest(env, user):
    c, _ = user
    c.json("tasks", "add", "slow one")
    out = c.json("traces", "show", "--slowest", "--service", "todo-console", "--limit", "20")
    # independently: each trace it compared, read from Jaeger, is no longer than the one chosen
    assert out["trace_id"] in out["compared_traces"] and len(out["compared_traces"]) <= 20

    def duration(tid):
        spans = jaeger_trace(env, tid)["spans"]
        return max(s["startTime"] + s["duration"] for s in spans) - min(s["startTime"] for s in spans)

    assert duration(out["trace_id"]) == out["duration_us"]
    assert all(duration(t) <= out["duration_us"] for t in out["compared_traces"])
    slow = [s for s in out["spans"] if s["span_id"] == out["slowest_span"]]
    assert len(slow) == 1 and slow[0]["self_us"] == max(s["self_us"] for s in out["spans"])
    p = c.run("traces", "show", "--slowest", "--service", "no-such-service", check=1)
    assert "no traces" in p.stderr or "not found" in p.stderr


# ---- health and notifications --------------------------------------------------------------------

def test_health_reports_every_part(env, user):
    c, _ = user

    def all_ready():  # another test may just have restarted a part: wait for it to be back
        p = c.run("-o", "json", "health")
        h = json.loads(p.stdout)
        return (p, h) if h["ready"] else None

    p, h = wait_until("every part ready per todo-console health", all_ready, timeout=90, interval=1)
    assert p.returncode == 0
    parts = {x["name"]: x for x in h["parts"]}
    assert set(parts) == {"gateway", "auth-service", "tasks-service", "notification-service",
                          "postgres", "redis", "kafka", "jaeger", "prometheus"}
    assert all(x["configured"] and x["alive"] and x["ready"] for x in h["parts"])
    for url in (env["AUTH_HTTP_URL"], env["TASKS_HTTP_URL"], env["NOTIFY_HTTP_URL"]):
        assert requests.get(url + "/ready", timeout=10).status_code == 200
    assert "outbox_backlog" in parts["tasks-service"]["figures"]
    assert "consumer_lag" in parts["notification-service"]["figures"]
    assert "***" in parts["postgres"]["address"]
    for secret_url in (env["TASKS_DATABASE_URL"], env["REDIS_URL"]):
        userinfo = secret_url.split("//")[1].split("@")[0]
        if ":" in userinfo and userinfo.split(":")[1]:
            assert userinfo.split(":")[1] not in p.stdout
    # a part that does not answer: not ready, exit 1, named in the table
    p = c.run("health", env={"JAEGER_QUERY_URL": "http://127.0.0.1:1"}, check=1)
    line = next(l for l in p.stdout.splitlines() if l.startswith("jaeger"))
    assert "down" in line


def test_notifications(env, user):
    c, _ = user
    t = c.json("tasks", "add", "notify me")
    c.json("tasks", "done", str(t["id"]))  # completing a task notifies its owner
    got = wait_until("a notification for the completed task", lambda: next(
        (n for n in c.json("notifications")["notifications"] if n.get("task_id") == t["id"]), None),
        timeout=60, interval=0.5)
    assert got["kind"] == "task_done" and got["read_at"] is None
    api = requests.get(env["GATEWAY_URL"] + "/api/notifications", headers=bearer(c), timeout=30).json()
    assert c.json("notifications") == api
    table = c.run("notifications", check=0).stdout
    assert "task_done" in table and "●" in table
    read = c.json("notifications", "read", str(got["id"]))
    assert read["id"] == got["id"] and read["read_at"]
    again = requests.get(env["GATEWAY_URL"] + "/api/notifications", headers=bearer(c), timeout=30).json()
    assert next(n for n in again["notifications"] if n["id"] == got["id"])["read_at"] == read["read_at"]
    p = c.run("notifications", "read", "999999999999", check=1)
    assert "404" in p.stderr
    assert "●" not in c.run("notifications", check=0).stdout
    figures = wait_until("notification-service's figures in todo-console health", lambda: next(
        x for x in json.loads(c.run("-o", "json", "health").stdout)["parts"]
        if x["name"] == "notification-service" and x["ready"])["figures"], timeout=60, interval=1)
    assert "consumer_lag" in figures


# ---- a Redis with a password (REDIS_URL forms redis://:pw@host and redis://pw@host) ------------

@pytest.fixture
def redis_with_password(tmp_path):
    import shutil
    import socket
    import subprocess
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pw = "pw-" + uuid.uuid4().hex
    proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
                             "--bind", "127.0.0.1", "--requirepass", pw, "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis.Redis(host="127.0.0.1", port=port, password=pw, socket_timeout=2)
    wait_until("the private redis to answer", lambda: r.ping(), timeout=15)
    yield port, pw, r
    proc.terminate()
    proc.wait(timeout=15)


def test_redis_password_forms(env, user, redis_with_password):
    c, uid = user
    port, pw, r = redis_with_password
    doc = {"id": 5, "title": "in a private redis", "version": 3}
    r.hset(f"tasks:user:{uid}", "5", json.dumps(doc))
    for url in (f"redis://:{pw}@127.0.0.1:{port}/0", f"redis://{pw}@127.0.0.1:{port}/0",
                f"redis://default:{pw}@127.0.0.1:{port}"):
        out = c.json("readmodel", "show", env={"REDIS_URL": url})
        assert out["tasks"] == [doc], url
    p = c.run("readmodel", "show", env={"REDIS_URL": f"redis://:wrong@127.0.0.1:{port}/0"}, check=3)
    assert "refused" in p.stderr and pw not in p.stderr and "wrong" not in p.stderr
    p = c.run("readmodel", "show", env={"REDIS_URL": f"redis://127.0.0.1:{port}/0"}, check=3)
    assert "NOAUTH" in p.stderr
    health = json.loads(c.run("-o", "json", "health", env={"REDIS_URL": f"redis://:{pw}@127.0.0.1:{port}/0"}).stdout)
    part = next(x for x in health["parts"] if x["name"] == "redis")
    assert part["ready"] and pw not in json.dumps(health) and "***" in part["address"]
    conf = c.json("config", env={"REDIS_URL": f"redis://{pw}@127.0.0.1:{port}/0"})
    assert pw not in json.dumps(conf)
