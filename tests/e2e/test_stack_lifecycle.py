"""The stack script's promises: idempotent up, single parts stopped and started while
the rest keeps running, a busy port reported by name, and a down that leaves no
process behind (checked by the pid files, never by process name).

Marked stack_last: conftest moves them behind every other test, whatever the order the
rest runs in (random included), since `down` restarts every part and its counters. Each one
leaves the stack whole, also when it fails, so they do not depend on each other either.
"""
import os
import socket

import psycopg2
import pytest
import redis

from conftest import RUN, read_env, stack
from test_smoke import kafka_roundtrip

PIDS = RUN / "pids"
pytestmark = pytest.mark.stack_last


def recorded_pids():
    return {p.stem: int(p.read_text().strip()) for p in PIDS.glob("*.pid")}


def pid_alive(pid):
    """PID runs. A zombie (exited, its parent has not collected it yet — here that is often
    init, which may take a while) holds no port or file any more and does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_up_twice_is_a_no_op(env):
    before = recorded_pids()
    assert {"postgres", "redis", "kafka", "jaeger", "prometheus", "nginx"} <= set(before)
    out = stack("up")
    assert recorded_pids() == before, "a second `up` restarted something"
    assert not [l for l in out.stdout.splitlines() if l.endswith(" ready")], out.stdout
    status = stack("status")
    for part in ("postgres", "redis", "kafka", "jaeger", "prometheus", "nginx"):
        assert any(line.split()[:2] == [part, "ready"] for line in status.stdout.splitlines()), status.stdout


def test_stop_and_start_kafka_while_the_rest_runs(env):
    others = {k: v for k, v in recorded_pids().items() if k != "kafka"}
    stack("stop", "kafka")
    try:
        assert "kafka" not in recorded_pids()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", int(env["KAFKA_BROKERS"].rsplit(":", 1)[1]))) != 0
        # everything else still answers
        assert redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5).ping()
        with psycopg2.connect(env["TASKS_DATABASE_URL"], connect_timeout=5) as c, c.cursor() as cur:
            cur.execute("SELECT 1")
        st = stack("status", check=False)
        assert any(l.split()[:2] == ["kafka", "stopped"] for l in st.stdout.splitlines())
        assert st.returncode != 0, "status must fail while a part is down"
    finally:
        stack("start", "kafka")
    assert {k: v for k, v in recorded_pids().items() if k != "kafka"} == others
    kafka_roundtrip(env["KAFKA_BROKERS"])


def test_busy_port_is_reported_by_name(env):
    port = int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    stack("stop", "redis")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        p = stack("start", "redis", check=False)
        assert p.returncode != 0
        assert f"port {port} (REDIS_PORT)" in p.stderr and "redis" in p.stderr, p.stderr
    finally:
        squatter.close()
        stack("start", "redis")
    assert redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5).ping()


def test_down_leaves_no_process_then_up_again(env):
    before = recorded_pids()
    assert before
    stack("down")
    try:
        assert not any(pid_alive(pid) for pid in before.values()), \
            {n: p for n, p in before.items() if pid_alive(p)}
        assert recorded_pids() == {}
    finally:
        stack("up")
    assert read_env()["GATEWAY_URL"] == env["GATEWAY_URL"]
    kafka_roundtrip(env["KAFKA_BROKERS"])
