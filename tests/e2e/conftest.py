"""End-to-end fixtures: the real local stack, started by the project's own script.

`make test-e2e` brings the stack up before pytest; the session fixture calls
`infra/local/stack up` again (a no-op when everything is ready) so that running
pytest by hand works too. Addresses come from .run/stack.env, as for any client.
"""
import os
import pathlib
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK = ROOT / "infra" / "local" / "stack"
# The stack under test: .run/ of the checkout, or TODO_RUN_DIR (a second stack beside it).
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run")).resolve()


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


@pytest.fixture(scope="session")
def env():
    stack("up")
    return read_env()
