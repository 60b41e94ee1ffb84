"""The local stack as a program run by root (infra/local/stack), checked from outside:

- no secret ever appears on a command line: every program the script runs while restarting the
  parts that handle passwords is recorded by strace (execve, full argv) and searched for the
  generated secrets; so is every process running on the machine;
- each service's environment holds its own secrets only (its database password; Redis's for
  tasks-service), also when the caller's environment held the others';
- Redis refuses clients without the generated password, and tasks-service still serves from it;
- a recorded pid that now belongs to another process is never signalled;
- PostgreSQL's relocated data directory (a checkout the postgres user cannot enter) is made by
  mktemp: a directory or link planted at the old predictable name is neither adopted nor written
  through, and a relocated directory not owned by root/postgres with mode 0700 is refused.

These restart single parts of the running stack and leave it up.
"""
import hashlib
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg2
import pytest
import redis

from conftest import RUN, STACK, read_env, stack, wait_until
from tasks_support import Api, new_account

SERVICES = {"auth": "AUTH_DATABASE_URL", "tasks": "TASKS_DATABASE_URL", "notify": "NOTIFY_DATABASE_URL"}


def secrets_of_the_stack():
    """Every generated secret of this stack: name → value."""
    return {p.name: p.read_text().strip() for p in (RUN / "secrets").iterdir() if p.is_file()}


def running(part):
    return (RUN / "pids" / f"{part}.pid").exists()


def pid_of(part):
    return int((RUN / "pids" / f"{part}.pid").read_text().split()[0])


def environ(pid):
    raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    return dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)


def all_command_lines():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                out[int(d)] = pathlib.Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                pass
    return out


# ---- secrets: command lines and environments -------------------------------------------------

def test_no_secret_on_any_command_line(env, tmp_path):
    """Restart the parts that handle passwords (PostgreSQL: roles and passwords re-synced with
    psql; Redis; the services) under strace, with the caller's environment holding every
    setting of stack.env, as a shell that sourced it would. Nothing any of them ran had a
    secret in its arguments."""
    if not shutil.which("strace"):
        pytest.fail("strace is not installed: run make deps")
    values = secrets_of_the_stack()
    assert {"pg_auth", "pg_tasks", "pg_notifications", "redis"} <= set(values), values.keys()
    caller = dict(os.environ, **read_env())
    trace = tmp_path / "execve.log"
    parts = ["postgres", "redis"] + [s for s in SERVICES if running(s)]
    for part in parts:
        p = subprocess.run(["strace", "-f", "-b", "execve", "-qq", "-s", "65536", "-e", "trace=execve",
                            # bash first: strace follows the script and detaches at each program
                            # it runs (-b execve), recording that program's full argv
                            "-e", "signal=none", "-o", str(trace), "/bin/bash", str(STACK), "restart", part],
                           env=caller, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        log = trace.read_text(errors="replace")
        execs = [l for l in log.splitlines() if "execve(" in l]
        assert len(execs) > 10, f"strace saw almost nothing while restarting {part}:\n{log[:2000]}"
        if part == "postgres":
            assert any("psql" in l for l in execs), "the role passwords were not re-synced with psql"
        for name, value in values.items():
            leaks = [l for l in execs if value in l]
            assert not leaks, f"restarting {part}: the secret {name} is on a command line:\n{leaks[0][:300]}"
    for pid, cmd in all_command_lines().items():
        for name, value in values.items():
            assert value not in cmd, f"process {pid} has the secret {name} on its command line: {cmd[:200]}"
    # the stack is whole again
    wait_until("the stack to be ready", lambda: stack("status", check=False).returncode == 0, timeout=60)


def test_each_service_gets_only_its_own_secrets(env):
    values = secrets_of_the_stack()
    stack_env = read_env()
    for svc, own in SERVICES.items():
        if not running(svc):
            continue
        e = environ(pid_of(svc))
        assert e.get(own) == stack_env[own], f"{svc} lacks its database URL"
        for other in set(SERVICES.values()) - {own}:
            assert other not in e, f"{svc} was given {other}"
        assert ("REDIS_URL" in e) == (svc == "tasks"), f"{svc}: REDIS_URL given or missing"
        leaked = {n for n, v in values.items() if v in "\n".join(f"{k}={v}" for k, v in e.items())}
        own_secrets = {"auth": {"pg_auth"}, "tasks": {"pg_tasks", "redis"}, "notify": {"pg_notifications"}}[svc]
        assert leaked <= own_secrets, f"{svc} holds other secrets: {leaked - own_secrets}"


def test_stack_env_and_secrets_are_private(env):
    assert (RUN / "stack.env").stat().st_mode & 0o077 == 0
    assert (RUN / "secrets").stat().st_mode & 0o077 == 0
    for p in (RUN / "secrets").iterdir():
        assert p.stat().st_mode & 0o077 == 0, p
    assert (RUN / "redis" / "auth.conf").stat().st_mode & 0o077 == 0


# ---- Redis requires its password ---------------------------------------------------------------

def test_redis_refuses_clients_without_the_password(env):
    url = env["REDIS_URL"]
    password = secrets_of_the_stack()["redis"]
    assert re.fullmatch(r"redis://:[A-Za-z0-9]{24}@127\.0\.0\.1:\d+/0", url), "REDIS_URL carries no password"
    assert f":{password}@" in url
    host, port = url.rsplit("@", 1)[1].split("/")[0].split(":")
    anonymous = redis.Redis(host=host, port=int(port), socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("tasks:rm:epoch")
    wrong = redis.Redis(host=host, port=int(port), password="not-" + password, socket_timeout=5)
    with pytest.raises(redis.ResponseError, match="WRONGPASS|invalid password"):
        wrong.ping()
    assert redis.Redis.from_url(url, socket_timeout=5).ping()


def test_tasks_service_authenticates_to_redis(env):
    """tasks-service's REDIS_URL (redis://:password@host:port/db) really sends AUTH: the read
    model is served from Redis, and the password never reaches its log."""
    token, _ = new_account(env)
    api = Api(env, token)
    api.create("served from an authenticated Redis")

    def from_redis():
        r = api.list()
        return r.status_code == 200 and r.headers.get("X-Read-Source") == "redis" and r
    r = wait_until("a list served from Redis", from_redis, timeout=20)
    assert [t["title"] for t in r.json()["tasks"]] == ["served from an authenticated Redis"]
    password = secrets_of_the_stack()["redis"]
    assert password not in (RUN / "logs" / "tasks.log").read_text(errors="replace")
    assert password not in (RUN / "logs" / "redis.log").read_text(errors="replace")


# ---- pid reuse ------------------------------------------------------------------------------------

def run_stack(run_dir, *args, extra_env=None, timeout=120):
    e = dict(os.environ, TODO_RUN_DIR=str(run_dir), **(extra_env or {}))
    return subprocess.run([str(STACK), *args], env=e, capture_output=True, text=True, timeout=timeout)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_reused_pid_is_never_signalled(tmp_path):
    """The pid files of a stack that is not running name a process the stack did not start —
    what a reboot or a crash leaves behind when the pid is taken again. `status` says stopped,
    `stop` and `down` leave that process alone (and forget the stale pid)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    victim = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        # a start time that is not the victim's (the process recorded there is long gone)
        (pids / "redis.pid").write_text(f"{victim.pid}\n")
        (pids / "redis.start").write_text("1\n")
        # a pid file of an older version of the script (no start time), written before the
        # victim started
        (pids / "kafka.pid").write_text(f"{victim.pid}\n")
        old = time.time() - 3600
        os.utime(pids / "kafka.pid", (old, old))
        for part in ("jaeger", "prometheus", "nginx"):
            (pids / f"{part}.pid").write_text(f"{victim.pid}\n")
            (pids / f"{part}.start").write_text("1\n")

        st = run_stack(tmp_path, "status")
        for part in ("redis", "kafka", "jaeger", "nginx"):
            assert any(l.split()[:2] == [part, "stopped"] for l in st.stdout.splitlines()), st.stdout
        p = run_stack(tmp_path, "stop", "redis")
        assert p.returncode == 0, p.stderr
        assert "not signalled" in p.stdout, p.stdout
        assert alive(victim.pid)
        assert not (pids / "redis.pid").exists() and not (pids / "redis.start").exists()
        p = run_stack(tmp_path, "down")
        assert p.returncode == 0, p.stderr
        assert alive(victim.pid), "down signalled a process the stack did not start"
        assert not list(pids.glob("*.pid"))
    finally:
        victim.kill()
        victim.wait()


def test_a_pid_file_of_an_older_stack_script_is_still_honoured(tmp_path):
    """A pid file without a start time (an older version of the script wrote it) names the
    process if that process started before the file was written: `stop` still stops it."""
    pids = tmp_path / "pids"
    pids.mkdir()
    ours = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        (pids / "redis.pid").write_text(f"{ours.pid}\n")
        st = run_stack(tmp_path, "status")
        assert any(l.split()[:3] == ["redis", "starting", str(ours.pid)] for l in st.stdout.splitlines()), st.stdout
        p = run_stack(tmp_path, "stop", "redis")
        assert p.returncode == 0, p.stderr
        assert ours.wait(timeout=30) == -signal.SIGTERM
    finally:
        if ours.poll() is None:
            ours.kill()
            ours.wait()


def test_the_parts_the_stack_started_are_recognised(env):
    for pidfile in (RUN / "pids").glob("*.pid"):
        start = pidfile.with_suffix(".start")
        assert start.exists(), f"{pidfile.name} has no start time"
        pid = int(pidfile.read_text())
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        assert stat.rsplit(")", 1)[1].split()[19] == start.read_text().strip(), pidfile.name
    assert stack("status").returncode == 0


# ---- PostgreSQL's relocated data directory ------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def owner_mode(path):
    st = os.lstat(path)
    return pwd.getpwuid(st.st_uid).pw_name, st.st_mode & 0o777


@pytest.fixture
def closed_checkout():
    """A .run inside a directory the postgres user cannot enter (like a clone under /root)."""
    if os.geteuid() != 0:
        pytest.skip("relocation happens only when the stack runs as root")
    top = pathlib.Path(tempfile.mkdtemp(prefix="todo-closed-"))   # 0700, root
    run = top / ".run"
    made = []
    yield run, made
    env = {"PG_PORT": str(free_port())}
    run_stack(run, "stop", "postgres", extra_env=env)
    for d in made:
        shutil.rmtree(d, ignore_errors=True)
    for d in pathlib.Path("/var/tmp").glob("todo-system-pg.*"):
        try:
            if (d / "checkout").read_text().strip() == str(run):
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass
    shutil.rmtree(top, ignore_errors=True)


def test_relocated_data_directory_is_made_safely(closed_checkout, tmp_path):
    run, made = closed_checkout
    # Another user prepares the directory the old script would have adopted
    # (/var/tmp/todo-system-<md5 of .run>), with a link where the server log goes.
    victim_dir = pathlib.Path(tempfile.mkdtemp(prefix="todo-victim-"))
    made.append(victim_dir)
    victim = victim_dir / "precious"
    victim.write_text("root's file\n")
    victim.chmod(0o600)
    planted = pathlib.Path("/var/tmp") / ("todo-system-" + hashlib.md5(str(run).encode()).hexdigest()[:12])
    made.append(planted)
    planted.mkdir()
    planted.chmod(0o777)
    (planted / "postgres.log").symlink_to(victim)
    shutil.chown(planted, "nobody")
    os.lchown(planted / "postgres.log", pwd_uid("nobody"), -1)

    port = free_port()
    p = run_stack(run, "start", "postgres", extra_env={"PG_PORT": str(port)}, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    # nothing was done through the planted link, nor to the planted directory
    assert owner_mode(victim) == ("root", 0o600) and victim.read_text() == "root's file\n"
    assert owner_mode(planted) == ("nobody", 0o777)
    # the data went to a new directory of mktemp's, postgres's, 0700
    link = pathlib.Path(os.readlink(run / "postgres"))
    reloc = link.parent
    assert link.name == "postgres" and reloc.name.startswith("todo-system-pg.") and reloc != planted
    assert owner_mode(reloc) == ("postgres", 0o700)
    assert (reloc / "checkout").read_text().strip() == str(run)
    assert os.path.realpath(run / "logs" / "postgres.log") == str(reloc / "postgres.log")
    # and PostgreSQL works from it
    url = read_env_of(run)["AUTH_DATABASE_URL"]
    with psycopg2.connect(url, connect_timeout=5) as c, c.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("auth",)

    # A fresh .run at the same path (a new clone): the old relocated directory is discarded,
    # a new one made; the planted directory is still left alone.
    assert run_stack(run, "stop", "postgres", extra_env={"PG_PORT": str(port)}).returncode == 0
    (run / "postgres").unlink()
    p = run_stack(run, "start", "postgres", extra_env={"PG_PORT": str(port)}, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not reloc.exists(), "the relocated data of the earlier .run is still there"
    assert pathlib.Path(os.readlink(run / "postgres")).parent != reloc
    assert planted.exists() and owner_mode(victim) == ("root", 0o600)


def pwd_uid(name):
    return pwd.getpwnam(name).pw_uid


def read_env_of(run):
    env = {}
    for line in (run / "stack.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


@pytest.mark.parametrize("owner,mode,why", [("nobody", 0o700, "owned by nobody"),
                                            ("postgres", 0o755, "mode 755"),
                                            ("root", 0o777, "mode 777")])
def test_a_relocated_directory_anyone_could_write_is_refused(closed_checkout, owner, mode, why):
    run, made = closed_checkout
    run.mkdir(parents=True)
    other = pathlib.Path(tempfile.mkdtemp(prefix="todo-system-pg.", dir="/var/tmp"))
    made.append(other)
    other.chmod(mode)
    shutil.chown(other, owner)
    (run / "postgres").symlink_to(other / "postgres")
    p = run_stack(run, "start", "postgres", extra_env={"PG_PORT": str(free_port())})
    assert p.returncode != 0
    assert f"refusing {other}" in p.stderr and why in p.stderr, p.stderr
    assert not (other / "postgres").exists() and not (other / "postgres.log").exists()
