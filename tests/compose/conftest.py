"""The compose suite: the whole system in real containers, built and started by the
project's own script (infra/docker/compose, what `make compose-up` runs), tested from the
host through its published ports with independent clients (requests, confluent-kafka,
psycopg2) and the docker CLI.

  make test-compose            (make test runs it when a Docker engine can run)
  /usr/bin/python3 -m pytest -q tests/compose

The suite runs its own compose project (todo-test-<offset>), with its own image tag, env
file (fresh passwords under .run/compose-test/) and ports, so it runs beside a local stack
and beside `make compose-up`: its ports are the local stack's defaults shifted by
STACK_PORT_OFFSET + 500 (or − 500 near the top of the range), or COMPOSE_TEST_PORT_OFFSET.
The project is removed with its volumes before and after the run.

The files run in name order, each a stage of one system's life: up (10), caching (15), one
user's flow (20), Kafka outage (30), scale-out (40), down (90). The steps that need
notification-service run when services/notify exists (see notify_present()).
"""
import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "infra" / "docker" / "compose"
ENGINE = ROOT / "infra" / "docker" / "engine.sh"
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run")).resolve()


def suite_offset():
    if os.environ.get("COMPOSE_TEST_PORT_OFFSET"):
        return int(os.environ["COMPOSE_TEST_PORT_OFFSET"])
    off = int(os.environ.get("STACK_PORT_OFFSET", "0") or 0)
    return off + 500 if off + 500 < 3600 else off - 500


OFFSET = suite_offset()
PROJECT = f"todo-test-{OFFSET}"
TAG = f"test-{OFFSET}"
WORK = RUN / "compose-test"
# the port variables infra/docker/compose computes are the suite's own: never the caller's
PORT_VARS = ["PG_PORT", "REDIS_PORT", "KAFKA_PORT", "OTLP_GRPC_PORT", "OTLP_HTTP_PORT",
             "JAEGER_QUERY_PORT", "JAEGER_QUERY_GRPC_PORT", "JAEGER_HEALTH_PORT", "PROMETHEUS_PORT",
             "GATEWAY_PORT", "AUTH_HTTP_PORT", "AUTH_GRPC_PORT", "TASKS_HTTP_PORT", "NOTIFY_HTTP_PORT",
             "NOTIFY_HTTP_PORT_LAST"]


def compose_env():
    env = {k: v for k, v in os.environ.items() if k not in PORT_VARS}
    env.update(STACK_PORT_OFFSET=str(OFFSET), COMPOSE_PROJECT_NAME=PROJECT, TODO_IMAGE_TAG=TAG,
               TODO_RUN_DIR=str(WORK))
    return env


def compose(*args, check=True, timeout=900):
    """infra/docker/compose ARGS for the suite's project; returns the CompletedProcess."""
    p = subprocess.run([str(COMPOSE), *args], capture_output=True, text=True, env=compose_env(),
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"compose {' '.join(args)} failed ({p.returncode}):\n"
                             f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def notify_present():
    """notification-service is in the tree, so compose runs it and the suite runs its steps
    (a checkout from before it landed skips them)."""
    return (ROOT / "services" / "notify" / "module.mk").is_file()


def need_notify():
    if not notify_present():
        pytest.skip("notification-service is not in the tree yet (services/notify): step skipped")


def wait_until(what, fn, timeout=60.0, interval=0.2):
    """Poll FN until it returns a truthy value; fail naming WHAT after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the condition may raise while not yet true
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last!r}")


def ps():
    """`docker compose ps -a` as a list of dicts (one per container)."""
    out = compose("ps", "-a", "--format", "json").stdout
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        v = json.loads(line)
        rows.extend(v if isinstance(v, list) else [v])
    return rows


def project_objects():
    """Containers, networks and volumes labelled with the suite's project."""
    label = f"label=com.docker.compose.project={PROJECT}"
    found = {}
    for kind, cmd in (("containers", ["docker", "ps", "-aq", "--filter", label]),
                      ("networks", ["docker", "network", "ls", "-q", "--filter", label]),
                      ("volumes", ["docker", "volume", "ls", "-q", "--filter", label])):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
        found[kind] = p.stdout.split()
    return found


@pytest.fixture(scope="session")
def engine():
    p = subprocess.run([str(ENGINE), "start"], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        pytest.skip("no Docker engine can run here: " + (p.stdout + p.stderr).strip().splitlines()[-1])
    if not shutil.which("docker") or subprocess.run(["docker", "compose", "version"],
                                                    capture_output=True).returncode != 0:
        pytest.fail("docker compose v2 is missing: run `make deps`")


@pytest.fixture(scope="session")
def system(engine):
    """The system, built and up: {name: value} of the ports and passwords compose was given."""
    compose("down", "-v", timeout=300)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    t0 = time.monotonic()
    up = compose("up", timeout=1800)
    print(f"\ncompose suite: build + up took {time.monotonic() - t0:.0f}s (project {PROJECT}, "
          f"ports {OFFSET:+d})")
    env = {}
    for line in compose("env").stdout.splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    for line in (WORK / "compose.env").read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    env["GATEWAY_URL"] = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    env["up_output"] = up.stdout + up.stderr
    yield env
    # whatever happened: no container, network or volume of the suite's project stays
    compose("down", "-v", check=False, timeout=300)
    subprocess.run(["docker", "image", "prune", "-f", "--filter", "label=org.todo-system.image"],
                   capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def flow(system):
    """One user's task, created and completed through the gateway, and the task-events
    messages written meanwhile: (user, created, completed, [(partition, key, headers, value)])."""
    from compose_support import User, end_offsets, read_events, backlog
    start = end_offsets(system)
    user = User(system)
    task = user.create("write the compose suite")
    done = user.complete(task["id"])
    wait_until("the outbox to drain", lambda: backlog(system) == 0, timeout=60)
    events = read_events(system, start, end_offsets(system))
    return user, task, done, events
