"""The full-screen console (todo-console ui) against the real stack: login, adding a task and
seeing it, every view, the help screen, resize, a backend down, a backend hung (the console
keeps answering), the outage demo with the backlog read from the screen, and the Flow view of
a completed task — driven headless (exact screens, TERM/LINES/COLUMNS/TZ fixed) and in a real
terminal (tmux), and checked against independent clients."""
import re
import secrets
import time

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from conftest import paused, stack, wait_until
from console_support import account
from console_ui_support import Tmux, Ui, expect_screen, figure, masked
from tasks_support import sql

# the status bar once every backend has answered: exact screens are saved after it
ALL_UP = "gateway✓ postgres✓ redis✓ kafka✓ jaeger✓"


@pytest.fixture
def user(env, tmp_path):
    """A fresh account, logged in through the CLI (the saved session the console then uses)."""
    ui = Ui(tmp_path)
    email, pw, uid = account(env["GATEWAY_URL"])
    ui.login(email, pw)
    return ui, email, uid


def api_tasks(ui, env):
    s = ui.session()
    r = requests.get(env["GATEWAY_URL"] + "/api/tasks", timeout=30,
                     headers={"Authorization": "Bearer " + s["access_token"]})
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


# ---- login, add, see -----------------------------------------------------------------------

def test_login_form_then_add_a_task_and_see_it(env, tmp_path):
    ui = Ui(tmp_path)
    email, pw, uid = account(env["GATEWAY_URL"])
    _, s = ui.headless(f"""
        wait Log in through the gateway
        wait {ALL_UP}
        save login
        keys {email}<Tab>wrong-password<Enter>
        wait invalid_credentials
        save refused
        keys <C-u>{pw}<Enter>
        wait logged in as
        wait no tasks here
        keys a
        wait Add a task
        keys Ship the 日本語 release<Tab>1<Tab>ops release<Tab>2030-01-02T03:04:05Z<Enter>
        wait Ship the 日本語 release
        wait {ALL_UP}
        # the "task N created" message goes after a few seconds: the saved screen is stable
        wait-not created
        save tasks
    """)
    expect_screen("login", masked(s["login"], gateway=env["GATEWAY_URL"]))
    assert "invalid" in s["refused"].lower() or "401" in s["refused"]
    # the session was saved as the CLI saves it (mode 0600), for this user
    assert ui.session()["user_id"] == uid
    assert (ui.session_file.stat().st_mode & 0o777) == 0o600
    # what the API holds (read with another client) is what the screen shows
    tasks = api_tasks(ui, env)
    assert [(t["title"], t["priority"], t["tags"], t["due_at"]) for t in tasks] == \
        [("Ship the 日本語 release", 1, ["ops", "release"], "2030-01-02T03:04:05.000Z")]
    expect_screen("tasks-one", masked(s["tasks"], email=email, id=f"{tasks[0]['id']:>7}"))


def test_a_real_terminal_login_add_and_quit(env, tmp_path):
    """The program as `make run` starts it: no verb, on a terminal (tmux)."""
    ui = Ui(tmp_path)
    email, pw, _ = account(env["GATEWAY_URL"])
    t = Tmux(ui, cols=100, rows=30)
    try:
        t.wait("Log in through the gateway")
        t.keys(email, "Tab", pw, "Enter")
        t.wait(f"logged in as {email}")
        t.keys("a")
        t.wait("Add a task")
        t.keys("from tmux", "Enter")
        screen = t.wait("from tmux")
        assert "1 task · read from" in screen
        t.keys("Q")
        assert t.exit_code() == 0
    finally:
        t.close()
    assert [x["title"] for x in api_tasks(ui, env)] == ["from tmux"]


def test_edit_complete_and_delete_asks_first(env, user):
    ui, email, uid = user
    _, s = ui.headless("""
        wait no tasks here
        keys aone<Tab>3<Enter>
        wait created
        # the list shows it (a refresh after the write): e edits the selected line
        wait 1 task · read from
        keys e<C-u>one, edited<Tab><Backspace>5<Enter>
        wait one, edited
        keys c
        wait completed
        keys d
        wait Delete task
        keys n
        wait cancelled
        save kept
        keys d
        wait Delete task
        keys y
        wait deleted
        wait no tasks here
    """)
    assert "one, edited" in s["kept"]
    assert api_tasks(ui, env) == []
    done = sql(env, "SELECT event_type FROM outbox WHERE aggregate_id = (SELECT max(aggregate_id) "
                    "FROM outbox WHERE payload->>'user_id' = %s) ORDER BY id", (str(uid),))
    assert [d[0] for d in done] == ["task.created", "task.updated", "task.completed", "task.deleted"]


def test_readonly_refuses_every_write(env, user):
    ui, email, uid = user
    requests.post(env["GATEWAY_URL"] + "/api/tasks", timeout=30, json={"title": "keep me"},
                  headers={"Authorization": "Bearer " + ui.session()["access_token"]}).raise_for_status()
    _, s = ui.headless("""
        wait keep me
        keys a
        wait read-only console
        save add
        keys d
        wait read-only console
        keys :stack stop kafka<Enter>
        wait read-only console
        keys ?
        wait off: read-only
        save help
    """, "--readonly")
    assert "READ-ONLY" in s["add"] and "Add a task" not in s["add"]
    assert [t["title"] for t in api_tasks(ui, env)] == ["keep me"]
    assert "Stop kafka" not in s["help"]


# ---- the help screen and key bindings --------------------------------------------------------

def test_help_screen(env, user):
    ui, email, _ = user
    _, s = ui.headless(f"""
        wait no tasks here
        wait {ALL_UP}
        keys ?
        wait Keys everywhere
        save help
        keys <PgDn>
        wait Commands
        save help2
        keys q
        wait no tasks here
    """)
    expect_screen("help-tasks", masked(s["help"], email=email))
    expect_screen("help-tasks-2", masked(s["help2"], email=email))


def test_keys_rebound_in_the_config_file(env, user):
    ui, email, _ = user
    ui.config_file("# my keys\nKEY_tasks_add=n\nKEY_generic_quit='x Q'\n")
    _, s = ui.headless("""
        wait no tasks here
        keys ?
        wait Keys everywhere
        save help
        keys q
        keys nrebound<Enter>
        wait rebound
        keys x
    """)
    assert re.search(r"\ba n\s+add\b", s["help"]), s["help"]
    assert re.search(r"\bQ x\s+quit\b", s["help"]) or re.search(r"\bx Q\s+quit\b", s["help"]), s["help"]
    assert [t["title"] for t in api_tasks(ui, env)] == ["rebound"]
    # a bad binding stops the console with the file and line named (exit 2)
    ui.config_file("KEY_tasks_frobnicate=z\n")
    p, _ = ui.headless("quit", check=2)
    assert "config:1" in p.stderr and "frobnicate" in p.stderr


# ---- every view ------------------------------------------------------------------------------

def test_every_view(env, user):
    ui, email, uid = user
    token = ui.session()["access_token"]
    r = requests.post(env["GATEWAY_URL"] + "/api/tasks", timeout=30, json={"title": "viewed", "tags": ["v"]},
                      headers={"Authorization": "Bearer " + token})
    task = r.json()
    requests.post(env["GATEWAY_URL"] + f"/api/tasks/{task['id']}/complete", timeout=30,
                  headers={"Authorization": "Bearer " + token}).raise_for_status()
    _, s = ui.headless(f"""
        keys 1
        wait viewed
        save tasks
        keys 2
        wait · following ·
        wait-not lag: asking
        save topics
        keys 3
        wait relays
        save outbox
        keys 4
        wait drift none
        save readmodel
        keys 5
        wait service tasks-service
        save traces
        keys 6
        wait prometheus
        wait-not checking every part
        save services
        keys 7
        wait task_done
        save notifications
        keys 8
        wait task changes
        wait {task['id']}
        save flow
    """, env={"COLUMNS": "120", "LINES": "30"})
    assert "read from redis" in s["tasks"] and "viewed" in s["tasks"]
    assert "task-events + task-events.dlq" in s["topics"]
    assert "backlog" in s["outbox"] and "drain/s" in s["outbox"]
    relays = sql(env, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tasks-outbox-relay'")[0][0]
    assert f"relays {relays}" in s["outbox"]
    assert f"user {uid}" in s["readmodel"] and "viewed" in s["readmodel"]
    assert re.search(rf"{task['id']} viewed\s+v2\s+v2 ok", s["readmodel"]), s["readmodel"]
    for part in ("gateway", "auth-service", "tasks-service", "notification-service", "postgres",
                 "redis", "kafka", "jaeger", "prometheus"):
        assert re.search(rf"^ {re.escape(part)}\s+ready", s["services"], re.M), s["services"]
    n = requests.get(env["GATEWAY_URL"] + "/api/notifications", timeout=30,
                     headers={"Authorization": "Bearer " + token}).json()["notifications"]
    assert n and all(str(x["id"]) in s["notifications"] for x in n)
    assert "task.completed" in s["flow"] and "task.created" in s["flow"]


def test_topics_filter_pause_and_raw(env, user):
    ui, email, uid = user
    token = ui.session()["access_token"]
    ids = []
    for i in range(3):
        r = requests.post(env["GATEWAY_URL"] + "/api/tasks", timeout=30, json={"title": f"t{i}"},
                          headers={"Authorization": "Bearer " + token})
        ids.append(r.json()["id"])
    _, s = ui.headless(f"""
        keys 2
        wait · following ·
        wait-not lag: asking
        keys :topic task-events -500<Enter>
        wait received
        keys /key:{ids[1]}<Enter>
        wait 1 of
        save filtered
        keys r
        wait · raw (r)
        save raw
        keys /h:event_type=task.created key:{ids[2]}<Enter>
        wait 1 of
        keys p
        wait paused
        save paused
    """, env={"COLUMNS": "120", "LINES": "30"})
    # the one message shown is the one Kafka holds for that key (read with another consumer)
    lines = [l for l in s["filtered"].splitlines() if re.search(rf"\s{ids[1]}\s+task.created", l)]
    assert len(lines) == 1, s["filtered"]
    # its pretty JSON below the list: the event's task
    assert re.search(rf'"task": \{{\s+"id": {ids[1]},', s["filtered"]), s["filtered"]
    assert "filter key:" + str(ids[1]) in s["filtered"]
    assert "event_id:" in s["raw"]
    assert "paused" in s["paused"]


# ---- resize ----------------------------------------------------------------------------------

def test_resize_in_a_real_terminal(env, user):
    ui, email, _ = user
    t = Tmux(ui, cols=120, rows=30)
    try:
        t.wait("1 Tasks 2 Topics")          # wide: the full titles
        t.resize(80, 24)
        t.wait("1 tasks 2 topics")          # narrow: the short names
        t.resize(60, 20)
        t.wait("needs at least 80×24")
        t.resize(100, 30)
        screen = t.wait("1 Tasks")
        assert "needs at least" not in screen
        t.keys("Q")
        assert t.exit_code() == 0
    finally:
        t.close()


def test_no_color_in_a_real_terminal(env, tmp_path):
    """NO_COLOR set: the terminal gets no colour escapes (reverse video and bold stay, and the
    default-colour resets 39/49); unset: it does (the same screen, read with capture-pane -e)."""
    sgr = re.compile(r"\x1b\[([0-9;]*)m")

    def colours(screen):
        found = set()
        for m in sgr.finditer(screen):
            for p in (m.group(1) or "0").split(";"):
                if p and int(p) not in (39, 49) and (30 <= int(p) <= 48 or 90 <= int(p) <= 107):
                    found.add(p)
        return found

    for no_color, want in (("1", False), ("", True)):
        ui = Ui(tmp_path / f"nc{no_color or 0}", NO_COLOR=no_color)
        t = Tmux(ui, cols=100, rows=30)
        try:
            t.wait("Log in through the gateway")
            t.wait("jaeger✓")
            screen = t.tmux("capture-pane", "-e", "-p", "-t", "c").stdout
            assert bool(colours(screen)) == want, (no_color, sorted(colours(screen)), screen)
            t.keys("Escape")                # no session: on without one, then quit
            t.wait("Tasks · ? help")
            t.keys("Q")
            assert t.exit_code() == 0
        finally:
            t.close()


def test_resize_headless_exact(env, user):
    ui, email, _ = user
    _, s = ui.headless("""
        wait no tasks here
        resize 20 60
        wait needs at least
        save small
        resize 24 80
        wait no tasks here
    """)
    expect_screen("too-small", s["small"])


# ---- backends down and hung ----------------------------------------------------------------

def test_a_backend_down_is_shown_where_its_data_would_be(env, user):
    """Redis and Jaeger unreachable for this console (addresses with nothing behind them): the
    Read model shows Redis's error in its place and PostgreSQL's side still; Traces says Jaeger
    is unreachable; the status bar marks both; Tasks still works (the gateway is fine)."""
    ui, email, uid = user
    requests.post(env["GATEWAY_URL"] + "/api/tasks", timeout=30, json={"title": "still here"},
                  headers={"Authorization": "Bearer " + ui.session()["access_token"]}).raise_for_status()
    _, s = ui.headless("""
        wait still here
        keys 4
        wait PostgreSQL 1 tasks
        wait 127.0.0.1:9
        save readmodel
        keys 5
        wait 127.0.0.1:9
        save traces
        keys 1
        wait still here
        wait redis✗
        wait jaeger✗
        save tasks
    """, env={"REDIS_URL": "redis://127.0.0.1:9/0", "JAEGER_QUERY_URL": "http://127.0.0.1:9",
              "COLUMNS": "120", "LINES": "30"})
    assert "still here" in s["readmodel"] and "v1" in s["readmodel"]
    assert "127.0.0.1:9" in s["traces"]
    assert "gateway✓" in s["tasks"]


def test_a_hung_backend_never_freezes_the_console(env, user):
    """Jaeger stopped with SIGSTOP (its socket accepts, nothing answers): while the Traces
    view's request is still outstanding, the console keeps drawing other views and the help."""
    ui, email, _ = user
    with paused("jaeger"):
        _, s = ui.headless("""
            keys 5
            wait asking Jaeger
            keys ?
            wait Keys everywhere
            keys q
            keys 6
            wait PART
            keys 5
            wait asking Jaeger
            save traces
        """)
    assert "asking Jaeger" in s["traces"]


# ---- the outage demo -------------------------------------------------------------------------

def test_outage_demo_read_from_the_screen(env, user):
    """Outbox view open; `:stack stop kafka` (asks first); tasks created: the backlog and its age
    climb on the screen; K starts Kafka: the backlog drains to 0, the Topics view shows the
    events arriving, and the Flow view of one shows its wait in the outbox."""
    ui, email, uid = user
    tag = "outage-" + secrets.token_hex(3)  # this run's tasks, among what the topic holds
    try:
        _, s = ui.headless(f"""
            timeout 240
            keys 3
            wait relays
            keys :stack stop kafka<Enter>
            wait Stop kafka of the local stack?
            keys y
            wait stack: stop kafka done
            keys 1
            wait no tasks here
            keys a{tag} 1<Enter>
            wait {tag} 1
            keys 3
            wait backlog 1
            save backlog1
            keys 1
            keys a{tag} 2<Enter>
            wait {tag} 2
            keys a{tag} 3<Enter>
            wait {tag} 3
            keys 3
            wait backlog 3
            wait kafka✗
            save backlog
            keys K
            wait stack: start kafka done
            wait backlog 0
            save drained
            keys 2
            wait · following ·
            wait-not lag: asking
            keys /{tag}<Enter>
            wait 3 of
            save topics
            keys 1
            keys f
            wait outbox wait
            wait notification-service: group
            save flow
        """, env={"COLUMNS": "120", "LINES": "30"})
    finally:
        stack("start", "kafka")  # whatever happened above (a no-op when it runs)
    ids = [t["id"] for t in api_tasks(ui, env)]
    assert len(ids) == 3
    # the backlog, as the screen showed it while Kafka was down, climbed from 1 to the three new
    # rows, and the age of the oldest (the first task's row) with it
    assert figure(s["backlog1"], "backlog") == 1, s["backlog1"]
    assert figure(s["backlog"], "backlog") == 3, s["backlog"]
    assert age_s(s["backlog"]) > age_s(s["backlog1"]) > 0, (s["backlog1"], s["backlog"])
    waiting = [int(m.group(1)) for m in re.finditer(r"^\s+\d+\s+(\d+) task\.created", s["backlog"], re.M)]
    assert set(ids) == set(waiting), s["backlog"]
    assert "kafka✗" in s["backlog"]
    assert figure(s["drained"], "backlog") == 0
    # the events arrived in Kafka's tail: each task id as a key, task.created
    for i in ids:
        assert re.search(rf"\s{i}\s+task\.created", s["topics"]), s["topics"]
    # and the Flow of the newest: its outbox wait on the screen is at least seconds long
    m = re.search(r"publish\s+\+\S+\s+(\S+) outbox wait", s["flow"])
    assert m, s["flow"]
    assert m.group(1).endswith("s") and not m.group(1).endswith("ms") and not m.group(1).endswith("µs"), m.group(1)
    assert "send failed" not in s["flow"], s["flow"]


def age_s(screen):
    """The Outbox view's "oldest unpublished" age in seconds (ops_fmt_us's forms)."""
    m = re.search(r"oldest unpublished (\d+(?:\.\d+)?)(µs|ms|s)\b|oldest unpublished (\d+)m(\d\d)s", screen)
    assert m, screen
    if m.group(3):
        return int(m.group(3)) * 60 + int(m.group(4))
    return float(m.group(1)) * {"µs": 1e-6, "ms": 1e-3, "s": 1}[m.group(2)]


# ---- the Flow view of a completed task ---------------------------------------------------------

def test_flow_of_a_completed_task(env, user):
    ui, email, uid = user
    _, s = ui.headless("""
        wait no tasks here
        keys aflow me<Enter>
        wait flow me
        keys c
        wait completed
        keys f
        wait task.completed v2
        wait notification-service: notification
        wait Redis holds v2
        # the services export their spans in batches: the Flow view asks Jaeger again every
        # 2 s until the publish (with its partition and offset) and the consume are there
        wait task-events partition
        wait on the broker
        save flow
        keys <Enter>
        wait task-events process
        save trace
    """, env={"COLUMNS": "140", "LINES": "30"})
    flow = s["flow"]
    token = ui.session()["access_token"]
    task = api_tasks(ui, env)[0]
    row = sql(env, "SELECT event_id::text, traceparent FROM outbox WHERE aggregate_id = %s "
                   "AND event_type = 'task.completed'", (task["id"],))[0]
    event_id, trace_id = row[0], row[1].split("-")[1]
    assert event_id in flow and trace_id in flow
    # partition and offset on the screen are where an independent consumer finds the event
    m = re.search(r"task-events partition (\d+) offset (\d+), in Kafka", flow)
    assert m, flow
    part, off = int(m.group(1)), int(m.group(2))
    c = Consumer({"bootstrap.servers": env["KAFKA_BROKERS"], "group.id": f"ui-{event_id}",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition("task-events", part, off)])
        msg = c.poll(30)
        assert msg is not None and not msg.error()
        headers = dict((k, v.decode()) for k, v in msg.headers())
        assert headers["event_id"] == event_id and msg.key().decode() == str(task["id"])
    finally:
        c.close()
    # the notification on the screen is the one the API lists for this event
    notes = requests.get(env["GATEWAY_URL"] + "/api/notifications", timeout=30,
                         headers={"Authorization": "Bearer " + token}).json()["notifications"]
    mine = [n for n in notes if n["event_id"] == event_id]
    assert len(mine) == 1 and f"notification {mine[0]['id']} task_done" in flow
    # every step on one line, each with its time from the request
    for step in ("request", "outbox row", "commit", "publish", "consume", "notification", "read model"):
        assert re.search(rf"^{step}\s", flow, re.M), (step, flow)
    assert "outbox wait" in flow and "on the broker" in flow
    # Enter opened the trace's waterfall (ops_waterfall), the async hops as segments with notes
    assert re.search(r"\(outbox \d", s["trace"]) and re.search(r"\(broker \d", s["trace"]), s["trace"]
