"""Helpers for the tests of tools/outbox-inspect and tools/trace-view (tests/e2e/test_outbox_
inspect.py, test_trace_view.py): each tool runs as a user runs it — its own process, addresses
from the stack's stack.env (TODO_RUN_DIR), private config and state directories — and what it
prints is checked against independent clients (psycopg2, requests, confluent-kafka)."""
import json
import os
import pty
import select
import signal
import subprocess
import time

from conftest import RUN, SANITIZER, bin_dir


class Tool:
    """One of the tools with a private HOME and XDG directories."""

    def __init__(self, name, tmp_path, **env):
        self.name = name
        (tmp_path / "config").mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "TODO_RUN_DIR": str(RUN),
            "LANG": "C.UTF-8",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
            **{k: str(v) for k, v in env.items()},
        }

    @property
    def path(self):
        return bin_dir() / self.name

    def run(self, *args, input=None, timeout=120, env=None, check=None):
        """Runs the tool; returns the CompletedProcess (text). check=N asserts the exit code.
        A sanitizer report fails the test whatever the code."""
        p = subprocess.run([str(self.path), *map(str, args)], input=input, capture_output=True,
                           text=True, timeout=timeout, env={**self.env, **(env or {})},
                           stdin=None if input is not None else subprocess.DEVNULL)
        assert not SANITIZER.search(p.stderr), f"sanitizer report from {args}:\n{p.stderr[-6000:]}"
        if check is not None:
            assert p.returncode == check, (f"{self.name} {' '.join(map(str, args))} exited "
                                           f"{p.returncode}, wanted {check}:\n{p.stdout[-3000:]}\n"
                                           f"{p.stderr[-3000:]}")
        return p

    def json(self, *args, **kw):
        """Runs with -o json, asserts exit 0, parses stdout (one object)."""
        return json.loads(self.run("-o", "json", *args, check=0, **kw).stdout)

    def lines(self, *args, **kw):
        """Runs with -o json, asserts exit 0, parses one object per line."""
        return [json.loads(l) for l in self.run("-o", "json", *args, check=0, **kw).stdout.splitlines()]

    def on_pty(self, args, extra_env=None, timeout=30, interrupt_when=None):
        """Runs the tool with a pseudo-terminal as its terminal and standard streams. With
        interrupt_when (bytes), sends SIGINT once the output contains it. Returns (exit code,
        output)."""
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its terminal
            os.execve(str(self.path), [str(self.path), *map(str, args)],
                      {**self.env, **(extra_env or {}), "TERM": "xterm", "COLUMNS": "120"})
        out, sent = b"", False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the child closed the terminal: it has exited
                    break
                if not chunk:
                    break
                out += chunk
            if interrupt_when and not sent and interrupt_when in out:
                os.kill(pid, signal.SIGINT)
                sent = True
        else:
            os.kill(pid, signal.SIGKILL)  # never leave it running on its terminal
            os.waitpid(pid, 0)
            os.close(fd)
            raise AssertionError(f"{self.name} {args} did not finish in {timeout}s: {out[-2000:]!r}")
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        text = out.decode(errors="replace")
        assert not SANITIZER.search(text), text[-6000:]
        return os.waitstatus_to_exitcode(status), text
