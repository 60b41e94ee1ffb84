"""todo-console's CLI against the real stack: login and the session, the tasks verbs checked
against the API and PostgreSQL, exit codes of every failure class, token refresh, bad input,
the shell, completion, the man page and `make install`."""
import json
import os
import re
import shutil
import stat
import subprocess
import time

import pytest
import requests

from auth_support import Instance, free_port
from conftest import wait_until
from console_support import ROOT, Console, account, bearer, console_bin
from tasks_support import sql


@pytest.fixture
def user(env, tmp_path):
    """A logged-in console and its account: (console, email, password, user id)."""
    c = Console(tmp_path)
    email, pw, uid = account(env["GATEWAY_URL"])
    c.login(email, pw)
    return c, email, pw, uid


@pytest.fixture
def instances():
    started = []
    yield started
    for i in started:
        i.stop()


# ---- login and the session ------------------------------------------------------------------

def test_login_keeps_a_private_session(env, tmp_path):
    c = Console(tmp_path)
    email, pw, uid = account(env["GATEWAY_URL"])
    p = c.login(email, pw)
    assert email in p.stdout and pw not in p.stdout + p.stderr
    st = os.stat(c.session_file)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(c.session_file.parent).st_mode) == 0o700
    s = c.session()
    assert s["gateway"] == env["GATEWAY_URL"] and s["user_id"] == uid and s["email"] == email
    # the saved access token is one the API accepts
    r = requests.get(env["GATEWAY_URL"] + "/api/auth/validate", headers=bearer(c), timeout=30)
    assert r.status_code == 200 and r.json()["user_id"] == uid
    who = c.json("whoami")
    assert who["user_id"] == uid and who["email"] == email


def test_login_json_and_wrong_password(env, tmp_path):
    c = Console(tmp_path)
    email, pw, uid = account(env["GATEWAY_URL"])
    p = c.run("-o", "json", "login", "--email", email, "--password-stdin", input=pw + "\n", check=0)
    assert json.loads(p.stdout) == {"email": email, "user_id": uid, "gateway": env["GATEWAY_URL"]}
    bad = Console(tmp_path / "other")
    p = bad.run("login", "--email", email, "--password-stdin", input="wrong-password\n", check=3)
    assert "401" in p.stderr
    assert not bad.session_file.exists()
    # no terminal and no --password-stdin: a usage error, nothing sent
    p = bad.run("login", "--email", email, check=2)
    assert "--password-stdin" in p.stderr


def test_logout_revokes_and_forgets(env, user):
    c, *_ = user
    refresh = c.session()["refresh_token"]
    c.run("logout", check=0)
    assert not c.session_file.exists()
    r = requests.post(env["GATEWAY_URL"] + "/api/auth/refresh", json={"refresh_token": refresh},
                      timeout=30)
    assert r.status_code == 401
    p = c.run("tasks", "list", check=3)
    assert "not logged in" in p.stderr
    c.run("logout", check=3)


# ---- tasks, checked against the API and PostgreSQL ------------------------------------------

def test_tasks_add_list_edit_done_rm(env, user):
    c, _, _, uid = user
    gw = env["GATEWAY_URL"]
    t = c.json("tasks", "add", "write the runbook", "--priority", "2", "--tag", "ops", "--tag", "docs",
               "--due", "2031-01-02T03:04:05Z")
    assert t["title"] == "write the runbook" and t["priority"] == 2 and t["version"] == 1
    assert t["tags"] == ["docs", "ops"] and t["due_at"].startswith("2031-01-02T03:04:05")
    # what the API and the database hold is what the CLI printed
    r = requests.get(f"{gw}/api/tasks/{t['id']}", headers=bearer(c), timeout=30)
    assert r.status_code == 200 and r.json() == t
    row = sql(env, "SELECT user_id, title, priority, version FROM tasks WHERE id = %s", (t["id"],))
    assert row == [(uid, "write the runbook", 2, 1)]
    second = c.json("tasks", "add", "второе задание ✓")
    listed = c.json("tasks", "list")
    api = requests.get(f"{gw}/api/tasks", headers=bearer(c), timeout=30).json()
    assert listed == api
    assert [x["id"] for x in listed["tasks"]] == [second["id"], t["id"]]
    assert c.json("tasks", "show", str(t["id"])) == t

    edited = c.json("tasks", "edit", str(t["id"]), "--title", "renamed", "--no-tags", "--priority", "5")
    assert (edited["title"], edited["tags"], edited["priority"], edited["version"]) == \
        ("renamed", [], 5, 2)
    done = c.json("tasks", "done", str(t["id"]))
    assert done["done"] is True and done["completed_at"] and done["version"] == 3
    assert sql(env, "SELECT done, version FROM tasks WHERE id = %s", (t["id"],)) == [(True, 3)]
    reopened = c.json("tasks", "edit", str(t["id"]), "--open")
    assert reopened["done"] is False and reopened["version"] == 4

    p = c.run("tasks", "rm", str(second["id"]), check=0)
    assert f"deleted task {second['id']}" in p.stdout
    assert requests.get(f"{gw}/api/tasks/{second['id']}", headers=bearer(c), timeout=30).status_code == 404
    p = c.run("tasks", "show", str(second["id"]), check=1)
    assert "not_found" in p.stderr and "404" in p.stderr
    # table output: a header and one row per task
    p = c.run("tasks", "list", check=0)
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "DONE", "PRI", "TITLE"] and len(lines) == 2
    assert "renamed" in lines[1]


def test_tasks_list_filters_and_pages(env, user):
    c, *_ = user
    a = c.json("tasks", "add", "alpha report", "--tag", "red")
    b = c.json("tasks", "add", "beta plan", "--tag", "blue")
    g = c.json("tasks", "add", "gamma REPORT", "--tag", "red")
    c.json("tasks", "done", str(g["id"]))
    ids = lambda out: [t["id"] for t in out["tasks"]]
    assert ids(c.json("tasks", "list", "--tag", "red")) == [g["id"], a["id"]]
    assert ids(c.json("tasks", "list", "--done")) == [g["id"]]
    assert ids(c.json("tasks", "list", "--open")) == [b["id"], a["id"]]
    assert ids(c.json("tasks", "list", "-q", "report")) == [g["id"], a["id"]]
    page = c.json("tasks", "list", "--limit", "2")
    assert ids(page) == [g["id"], b["id"]] and page["next_cursor"]
    rest = c.json("tasks", "list", "--limit", "2", "--cursor", str(page["next_cursor"]))
    assert ids(rest) == [a["id"]]
    assert ids(c.json("tasks", "list", "--limit", "1", "--all")) == [g["id"], b["id"], a["id"]]
    c.run("tasks", "list", "--done", "--open", check=2)


# ---- bad input: usage errors or the API's error, never a crash ------------------------------

@pytest.mark.parametrize("args, code, needle", [
    (["frobnicate"], 2, "unknown verb"),
    (["tasks"], 2, "needs a verb"),
    (["tasks", "list", "--bogus"], 2, "unknown flag"),
    (["tasks", "list", "--limit", "ten"], 2, "--limit"),
    (["tasks", "done", "abc"], 2, "task id"),
    (["tasks", "done", "-5"], 2, "unknown flag"),
    (["tasks", "done", "99999999999999999999999"], 2, "task id"),
    (["tasks", "add"], 2, "needs TITLE"),
    (["tasks", "add", "x", "y"], 2, "unexpected argument"),
    (["tasks", "edit", "1"], 2, "nothing to change"),
    (["-o", "yaml", "tasks", "list"], 2, "json or table"),
    (["tasks", "add", "x", "--priority", "9"], 1, "priority"),
    (["tasks", "add", "   "], 1, "title"),
    (["outbox", "show", "0"], 2, "outbox row id"),
    (["topics", "tail", "task-events", "-n", "0"], 2, "-n"),
    (["topics", "tail", "task-events", "--since", "yesterday"], 2, "--since"),
    (["traces", "show"], 2, "TRACE_ID or --slowest"),
    (["traces", "show", "not-hex!"], 2, "trace id"),
    (["completion", "zsh"], 2, "bash"),
    (["topics", "tail", "no-such-topic", "-n", "1"], 1, "no topic 'no-such-topic'"),
    (["topics", "tail", "task-events", "--partition", "99", "-n", "1"], 2, "no partition 99"),
    (["outbox", "show", "999999999999"], 1, "no outbox row"),
    (["readmodel", "diff", "--all", "--user", "1"], 2, "exclude each other"),
])
def test_bad_input(env, user, args, code, needle):
    c, *_ = user
    p = c.run(*args, check=code)
    assert needle in p.stderr, p.stderr
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr


def test_hostile_titles(env, user):
    c, *_ = user
    # invalid UTF-8 is refused before anything is sent
    p = subprocess.run([str(console_bin()), "tasks", "add", b"bad \xff\xfe title"],
                       capture_output=True, env=c.env, timeout=60)
    assert p.returncode == 2 and b"UTF-8" in p.stderr
    # a 1 MB title (through standard input: one argument cannot be that long) gets the API's error
    p = c.run("tasks", "add", "-", input="x" * (1 << 20), check=1)
    assert "title" in p.stderr or "413" in p.stderr or "too large" in p.stderr
    # terminal escapes in a title: the API refuses control characters, the CLI says so
    p = c.run("tasks", "add", "evil \x1b[2J title", check=1)
    assert "400" in p.stderr and "\x1b" not in p.stderr
    assert sql(env, "SELECT count(*) FROM tasks WHERE user_id = %s", (c.session()["user_id"],))[0][0] == 0


# ---- exit codes: unreachable, session gone --------------------------------------------------

def test_gateway_down_is_4(env, user, tmp_path):
    c, email, pw, _ = user
    bogus = f"http://127.0.0.1:{free_port()}"
    # a session for that gateway, so the only failure left is that nothing answers there
    s = c.session()
    s["gateway"] = bogus
    c.session_file.write_text(json.dumps(s))
    p = c.run("tasks", "list", env={"GATEWAY_URL": bogus}, check=4)
    assert bogus in p.stderr
    other = Console(tmp_path / "fresh", GATEWAY_URL=bogus)
    other.run("login", "--email", email, "--password-stdin", input=pw + "\n", check=4)
    # the other parts, unreachable too
    c.run("outbox", "stats", env={"TASKS_DATABASE_URL": f"postgres://tasks:x@127.0.0.1:{free_port()}/tasks"},
          check=4)
    c.run("readmodel", "show", "--user", "1", env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
          check=4)
    c.run("traces", "list", env={"JAEGER_QUERY_URL": bogus}, check=4)


def test_session_gone_is_3(env, user):
    c, *_ = user
    # a session whose refresh token was spent elsewhere and whose access token is refused
    s = c.session()
    r = requests.post(env["GATEWAY_URL"] + "/api/auth/refresh",
                      json={"refresh_token": s["refresh_token"]}, timeout=30)
    assert r.status_code == 200
    s["access_token"] = "not.a.token"
    c.session_file.write_text(json.dumps(s))
    p = c.run("tasks", "list", check=3)
    assert "log in again" in p.stderr
    assert not c.session_file.exists()
    c.run("tasks", "list", check=3)


def test_session_for_another_gateway_is_not_used(env, user):
    c, *_ = user
    p = c.run("tasks", "list", env={"GATEWAY_URL": "http://127.0.0.1:1"}, check=3)
    assert "not logged in to http://127.0.0.1:1" in p.stderr


# ---- token refresh with a short access-token lifetime ----------------------------------------

def test_expired_access_token_is_refreshed_once(env, tmp_path, instances):
    inst = Instance(env, tmp_path, AUTH_ACCESS_TTL="2s", AUTH_CLOCK_SKEW="0").start()
    instances.append(inst)
    c = Console(tmp_path, GATEWAY_URL=inst.url)
    email, pw, uid = account(inst.url)
    c.login(email, pw)
    first = c.session()

    def expired():
        r = requests.get(inst.url + "/api/auth/validate",
                         headers={"Authorization": "Bearer " + first["access_token"]}, timeout=10)
        return r.status_code == 401

    wait_until("the access token to expire", expired, timeout=15, interval=0.2)
    assert c.json("whoami")["user_id"] == uid
    second = c.session()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert stat.S_IMODE(os.stat(c.session_file).st_mode) == 0o600
    # the old refresh token is spent (rotation happened once, on the server)
    r = requests.post(inst.url + "/api/auth/refresh", json={"refresh_token": second["refresh_token"]},
                      timeout=30)
    assert r.status_code == 200
    # ... and presenting the spent one revoked the family: the console now says "log in again"
    third = r.json()
    s = c.session()
    s.update(access_token=third["access_token"], refresh_token=first["refresh_token"],
             expires_at=int(time.time()) + 3600)
    c.session_file.write_text(json.dumps(s))
    wait_until("the new access token to expire too", lambda: requests.get(
        inst.url + "/api/auth/validate",
        headers={"Authorization": "Bearer " + third["access_token"]}, timeout=10).status_code == 401,
        timeout=15, interval=0.2)
    p = c.run("whoami", check=3)
    assert "log in again" in p.stderr


def test_concurrent_refreshes_do_not_revoke_the_session(env, tmp_path, instances):
    """Refresh tokens are single-use and a reused one revokes its family: processes refreshing
    the same session at once must take turns (the session lock) and reuse the new pair."""
    inst = Instance(env, tmp_path, AUTH_ACCESS_TTL="2s", AUTH_CLOCK_SKEW="0").start()
    instances.append(inst)
    c = Console(tmp_path, GATEWAY_URL=inst.url)
    email, pw, uid = account(inst.url)
    c.login(email, pw)
    first = c.session()
    wait_until("the access token to expire", lambda: requests.get(
        inst.url + "/api/auth/validate",
        headers={"Authorization": "Bearer " + first["access_token"]}, timeout=10).status_code == 401,
        timeout=15, interval=0.2)
    procs = [subprocess.Popen([str(console_bin()), "-o", "json", "whoami"], env=c.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outs
    assert all(json.loads(o)["user_id"] == uid for o, _ in outs)
    # the family is intact: the saved refresh token still works
    r = requests.post(inst.url + "/api/auth/refresh",
                      json={"refresh_token": c.session()["refresh_token"]}, timeout=30)
    assert r.status_code == 200, r.text


def test_refresh_after_a_401(env, tmp_path, instances):
    """The local clock says the token is valid, the server says it is not: one refresh, then
    the call is repeated."""
    inst = Instance(env, tmp_path, AUTH_ACCESS_TTL="2s", AUTH_CLOCK_SKEW="0").start()
    instances.append(inst)
    c = Console(tmp_path, GATEWAY_URL=inst.url)
    email, pw, uid = account(inst.url)
    c.login(email, pw)
    s = c.session()
    s["expires_at"] = int(time.time()) + 3600
    c.session_file.write_text(json.dumps(s))
    wait_until("the access token to expire", lambda: requests.get(
        inst.url + "/api/auth/validate",
        headers={"Authorization": "Bearer " + s["access_token"]}, timeout=10).status_code == 401,
        timeout=15, interval=0.2)
    assert c.json("whoami")["user_id"] == uid
    assert c.session()["refresh_token"] != s["refresh_token"]


# ---- the shell, completion, the man page, install -------------------------------------------

def test_shell_runs_verbs_and_keeps_private_history(env, user):
    c, *_ = user
    t = c.json("tasks", "add", "from the shell test")
    p = c.run("shell", input="-o json tasks list\n\ntasks show 'abc'\nbogus\nexit\n", timeout=60)
    assert p.returncode == 0, p.stderr
    line = next(l for l in p.stdout.splitlines() if '{"tasks"' in l)
    listed = json.loads(line[line.index("{"):])
    assert [x["id"] for x in listed["tasks"]] == [t["id"]]
    assert "task id" in p.stderr and "unknown verb 'bogus'" in p.stderr
    hist = c.state / "todo-console" / "history"
    assert "-o json tasks list" in hist.read_text()
    assert stat.S_IMODE(os.stat(hist).st_mode) == 0o600


def test_completion_candidates(env, user):
    c, *_ = user
    t = c.json("tasks", "add", "complete me")
    comp = lambda *w: c.run("__complete", "--", *w, check=0).stdout.splitlines()
    top = comp()
    for verb in ("tasks", "topics", "outbox", "readmodel", "traces", "notifications", "health",
                 "login", "logout", "shell", "completion"):
        assert verb in top
    assert "__complete" not in top
    assert {"list", "add", "done", "edit", "rm", "show"} <= set(comp("tasks"))
    assert {"list", "tail", "lag"} <= set(comp("topics"))
    assert str(t["id"]) in comp("tasks", "done")
    assert {"task-events", "task-events.dlq"} <= set(comp("topics", "tail"))
    assert "--from-beginning" in comp("topics", "tail", "task-events")
    assert comp("-o") == ["json", "table"]
    assert comp("completion") == ["bash"]
    # values from Jaeger: its services, and a service's operations
    services = requests.get(env["JAEGER_QUERY_URL"] + "/api/services", timeout=30).json()["data"]
    assert sorted(comp("traces", "list", "--service")) == sorted(services)
    ops = requests.get(env["JAEGER_QUERY_URL"] + "/api/operations",
                       params={"service": "tasks-service"}, timeout=30).json()["data"]
    assert sorted(comp("traces", "list", "--service", "tasks-service", "--operation")) == \
        sorted(o["name"] for o in ops)
    # the bash script installs a completion function that asks the program
    script = c.run("completion", "bash", check=0).stdout
    p = subprocess.run(["bash", "-c", script + "\ncomplete -p todo-console"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and "_todo_console" in p.stdout


def test_help_and_exit_codes_are_documented(env, tmp_path):
    c = Console(tmp_path)
    h = c.run("--help", check=0).stdout
    codes = {int(l.split()[0]): l for l in h.split("Exit status:")[1].strip().splitlines()}
    assert sorted(codes) == [0, 1, 2, 3, 4]
    man = (ROOT / "console" / "todo-console.1").read_text()
    for n in range(5):
        assert f".B {n}\n" in man or f".IP {n}" in man, f"exit code {n} missing from the man page"
    for verb in ("tasks list", "topics tail", "outbox stats", "readmodel diff", "traces show",
                 "completion bash", "shell"):
        assert verb.replace(" ", " ") in man.replace("\\-", "-")
    assert c.run("tasks", "add", "--help", check=0).stdout.startswith("usage: todo-console tasks add")
    assert c.run("--version", check=0).stdout.startswith("todo-console ")
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(ROOT / "console" / "todo-console.1")],
                           capture_output=True, text=True, timeout=30)
        text = re.sub(".\x08", "", p.stdout)  # groff's overstrike bold
        assert p.returncode == 0 and "EXIT STATUS" in text and not p.stderr, p.stderr


def test_make_install(tmp_path):
    prefix = tmp_path / "prefix"
    p = subprocess.run(["make", "--no-print-directory", "install", f"PREFIX={prefix}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    exe = prefix / "bin" / "todo-console"
    assert os.access(exe, os.X_OK)
    assert (prefix / "share" / "man" / "man1" / "todo-console.1").exists()
    comp = (prefix / "share" / "bash-completion" / "completions" / "todo-console").read_text()
    assert "complete -o default -F _todo_console todo-console" in comp
    assert subprocess.run([str(exe), "--version"], capture_output=True, text=True).returncode == 0


# ---- on a terminal: the password prompt does not echo, colour only without NO_COLOR ---------

def run_on_pty(console, args, answers=(), extra_env=None, timeout=30):
    """Runs todo-console with a pseudo-terminal as its controlling terminal and standard
    streams; answers each prompt (a (prompt, text) pair) when it appears. Returns the output."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.execve(str(console_bin()), [str(console_bin()), *args], {**console.env, **(extra_env or {}),
                                                                    "TERM": "xterm", "COLUMNS": "120"})
    out, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal: it has exited
                break
            if not chunk:
                break
            out += chunk
        if pending and pending[0][0].encode() in out.split(b"\n")[-1]:
            os.write(fd, (pending.pop(0)[1] + "\n").encode())
    else:
        os.kill(pid, 9)  # never leave it waiting on its terminal
        os.waitpid(pid, 0)
        os.close(fd)
        raise AssertionError(f"todo-console {args} did not finish in {timeout}s: {out!r}")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_login_on_a_terminal_does_not_echo_the_password(env, tmp_path):
    c = Console(tmp_path)
    email, pw, uid = account(env["GATEWAY_URL"])
    code, out = run_on_pty(c, ["login"], [("Email: ", email), ("Password: ", pw)])
    assert code == 0, out
    assert email in out and pw not in out
    assert c.session()["user_id"] == uid
    c.json("tasks", "add", "on a terminal")
    code, out = run_on_pty(c, ["tasks", "list"])
    assert code == 0 and "\x1b[1m" in out and "ID  DONE" in out and "on a terminal" in out
    code, out = run_on_pty(c, ["tasks", "list"], extra_env={"NO_COLOR": "1"})
    assert code == 0 and "\x1b[" not in out and "on a terminal" in out


def test_config_shows_sources_without_passwords(env, tmp_path):
    c = Console(tmp_path, GATEWAY_URL="http://127.0.0.1:1")
    (c.config / "todo-console").mkdir(parents=True)
    (c.config / "todo-console" / "config").write_text("# mine\nJAEGER_QUERY_URL=http://127.0.0.1:2\n")
    out = c.json("config")
    a = out["addresses"]
    assert a["GATEWAY_URL"] == {"value": "http://127.0.0.1:1", "from": "environment"}
    assert a["JAEGER_QUERY_URL"] == {"value": "http://127.0.0.1:2", "from": "config file"}
    assert a["KAFKA_BROKERS"] == {"value": env["KAFKA_BROKERS"], "from": "stack.env"}
    db_password = env["TASKS_DATABASE_URL"].split("//")[1].split("@")[0].split(":")[1]
    assert a["TASKS_DATABASE_URL"]["value"].startswith("postgres://tasks:***@")
    p = c.run("config", check=0)
    assert db_password not in p.stdout and db_password not in json.dumps(out)
    assert out["stack_env"].endswith("stack.env") and out["state_dir"].endswith("todo-console")
    # a bad config line is a usage error naming the file and line
    (c.config / "todo-console" / "config").write_text("JAEGER_QUERY_URL=x\nnot a setting\n")
    p = c.run("config", check=2)
    assert "config:2" in p.stderr
