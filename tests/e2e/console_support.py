"""Helpers for the todo-console CLI tests (tests/e2e/test_console_*.py).

The program runs as a user would run it: its own process, addresses from the stack's
stack.env (TODO_RUN_DIR), a private state directory per test (XDG_STATE_HOME), and what it
prints is checked against independent clients (requests, psycopg2, redis-py, confluent-kafka).
"""
import json
import os
import pathlib
import secrets
import subprocess

import requests

from conftest import RUN
from tasks_support import bin_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]


def console_bin():
    return bin_dir() / "todo-console"


class Console:
    """todo-console with a private state and config directory."""

    def __init__(self, tmp_path, **env):
        self.state = tmp_path / "state"
        self.config = tmp_path / "config"
        self.config.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "XDG_STATE_HOME": str(self.state),
            "XDG_CONFIG_HOME": str(self.config),
            "TODO_RUN_DIR": str(RUN),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
            **{k: str(v) for k, v in env.items()},
        }

    @property
    def session_file(self):
        return self.state / "todo-console" / "session.json"

    def session(self):
        return json.loads(self.session_file.read_text())

    def run(self, *args, input=None, timeout=120, env=None, check=None):
        """Runs the program; returns the CompletedProcess (text). check=N asserts the code."""
        p = subprocess.run([str(console_bin()), *map(str, args)], input=input,
                           capture_output=True, text=isinstance(input, str) or input is None,
                           timeout=timeout, env={**self.env, **(env or {})})
        if check is not None:
            assert p.returncode == check, (f"todo-console {' '.join(map(str, args))} exited "
                                           f"{p.returncode}, wanted {check}:\n"
                                           f"{p.stdout}\n{p.stderr}")
        return p

    def json(self, *args, **kw):
        """Runs with -o json, asserts exit 0, parses stdout."""
        p = self.run("-o", "json", *args, check=0, **kw)
        return json.loads(p.stdout)

    def login(self, email, password, check=0):
        return self.run("login", "--email", email, "--password-stdin", input=password + "\n",
                        check=check)


def account(gateway):
    """Registers a fresh account; returns (email, password, user id)."""
    email = f"console-{secrets.token_hex(6)}@example.com"
    password = "pw-" + secrets.token_urlsafe(18)
    r = requests.post(gateway + "/api/auth/register", json={"email": email, "password": password},
                      timeout=60)
    assert r.status_code == 201, r.text
    return email, password, r.json()["id"]


def bearer(console):
    return {"Authorization": "Bearer " + console.session()["access_token"]}
