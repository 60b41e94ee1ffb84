"""End-to-end fixtures: the real local stack, started by the project's own script.

`make test-e2e` brings the stack up before pytest; the session fixture calls
`infra/local/stack up` again (a no-op when everything is ready) so that running
pytest by hand works too. Addresses come from .run/stack.env, as for any client.

The services under test are the binaries of TODO_BIN_DIR (`make test-e2e`: the ASan+UBSan
builds in build/asan/bin; by hand without it: bin/). A stack left running by `make up` or
`make run` runs other binaries (the release builds, or builds older than the ones just
made): the session fixture restarts every such service and then checks, from the running
process itself, that each one is the binary under test — otherwise the sanitizer gate would
pass with nothing checked.

Order: every test must pass alone and in any order (`pytest -p random_order
--random-order`); tests take counter deltas, never absolute values. Tests marked
`stack_last` (they stop and restart the whole stack) are moved behind all others.
"""
import contextlib
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK = ROOT / "infra" / "local" / "stack"
# The stack under test: .run/ of the checkout, or TODO_RUN_DIR (a second stack beside it).
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run")).resolve()
# What a sanitizer report starts with (also tests/e2e/sanitizer-check.sh).
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
# The stack's parts that are our own programs: part name -> binary name.
SERVICES = {"auth": "auth-service", "tasks": "tasks-service", "notify": "notification-service"}


def bin_dir():
    """The directory of the binaries under test (TODO_BIN_DIR, default bin/)."""
    d = pathlib.Path(os.environ.get("TODO_BIN_DIR", ROOT / "bin"))
    return d if d.is_absolute() else ROOT / d


def read_env():
    env = {}
    for line in (RUN / "stack.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def stack(*args, check=True, timeout=300):
    """Run infra/local/stack with ARGS; returns the CompletedProcess."""
    p = subprocess.run([str(STACK), *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"stack {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def wait_until(what, fn, timeout=30.0, interval=0.1):
    """Poll FN until it returns a truthy value; fail naming WHAT after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the condition may raise while not yet true
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_exc!r}")


# ---- the processes of the stack -------------------------------------------------------------

def part_pid(name):
    """The pid the stack recorded for part NAME (None when it has none)."""
    f = RUN / "pids" / f"{name}.pid"
    try:
        return int(f.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def running_binary(pid):
    """The executable of process PID as the kernel sees it; ' (deleted)' when the file was
    replaced since it started (a rebuild)."""
    return os.readlink(f"/proc/{pid}/exe")


@contextlib.contextmanager
def paused(part):
    """The stack's part NAME hung: SIGSTOP, so its sockets still accept connections and nothing
    answers (unlike a stopped part, which refuses them); SIGCONT when the block ends, whatever
    happened in it."""
    pid = part_pid(part)
    assert pid, f"the stack has no pid for {part}"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


def stale_services():
    """{part: what runs} for every service part of the stack that is not running the binary
    under test (another build, or an older copy of it)."""
    out = {}
    for part, binary in SERVICES.items():
        want = bin_dir() / binary
        pid = part_pid(part)
        if not want.exists() or pid is None:
            continue
        try:
            have = running_binary(pid)
        except OSError:
            continue  # not running: `stack up` starts it from TODO_BIN_DIR
        if have != str(want.resolve()):
            out[part] = have
    return out


@pytest.fixture(scope="session")
def env():
    stack("up")
    for part in stale_services():
        stack("restart", part)
    stale = stale_services()
    assert not stale, f"the stack does not run the binaries under test ({bin_dir()}): {stale}"
    return read_env()


# ---- readiness and metrics, as an operator (or Prometheus) reads them ----------------------

def ready(base):
    """(status code, JSON body) of BASE/ready."""
    r = requests.get(base + "/ready", timeout=10)
    return r.status_code, r.json()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(base):
    """Every sample of BASE/metrics: {(name, frozenset of (label, value)): float}."""
    text = requests.get(base + "/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and not line.startswith("#"):
            out[(m.group(1), frozenset(_LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    """The sum of NAME's samples whose labels include LABELS (0 when none exists)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


class Counters:
    """Counter deltas of one service across a scenario: c = Counters(url) before it,
    c.delta(name, label=value, …) after."""

    def __init__(self, base):
        self.base = base
        self.before = scrape(base)

    def delta(self, name, **labels):
        return metric(scrape(self.base), name, **labels) - metric(self.before, name, **labels)


def new_server_errors(base, before, route_prefix):
    """{(route, method, status): count} of 5xx answers BASE counted since the scrape BEFORE,
    on routes starting with ROUTE_PREFIX."""
    out = {}
    for (name, labels), v in scrape(base).items():
        ls = dict(labels)
        if name == "http_requests_total" and ls.get("status", "").startswith("5") and \
                ls.get("route", "").startswith(route_prefix):
            d = v - before.get((name, labels), 0)
            if d:
                out[(ls["route"], ls.get("method"), ls["status"])] = d
    return out


# ---- order ----------------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "stack_last: stops and restarts the whole stack; runs "
                                       "after every other test")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """After any reordering (random_order's included): stack_last tests go to the end."""
    items.sort(key=lambda item: item.get_closest_marker("stack_last") is not None)
