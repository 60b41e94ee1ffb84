"""Helpers for the full-screen console's tests (tests/e2e/test_console_ui.py).

Two ways to drive it, as tig's tests do and as an operator does:
  * headless: `todo-console ui --headless SCRIPT` replays keys, waits for text on its screen
    and saves screens to files, with TERM, LINES, COLUMNS and TZ fixed (exact screens);
  * tmux: the real program on a real terminal (a tmux pane), keys sent with send-keys and the
    screen read with capture-pane.
The console runs as its own process with the stack's addresses (TODO_RUN_DIR), a private state
and config directory per test, and what it shows is checked against independent clients.
"""
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import time

from conftest import RUN
from console_support import Console, console_bin

HERE = pathlib.Path(__file__).resolve().parent
SCREENS = HERE / "console_screens"
# The fixed terminal of the exact screens.
TERMINAL = {"TERM": "xterm-256color", "LINES": "24", "COLUMNS": "80", "TZ": "UTC",
            "LANG": "C.UTF-8"}
# infra/local/stack finds the broker's jars and Jaeger in the cache of the user who built
# them; the console's private HOME must not hide it (`:stack start kafka`).
CACHE = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")


class Ui(Console):
    """todo-console's full-screen console with a private state and config directory."""

    def __init__(self, tmp_path, **env):
        super().__init__(tmp_path, XDG_CACHE_HOME=CACHE, **{**TERMINAL, **env})
        self.dir = tmp_path
        self.runs = 0

    def config_file(self, text):
        (self.config / "todo-console").mkdir(parents=True, exist_ok=True)
        (self.config / "todo-console" / "config").write_text(text)

    def headless(self, script, *flags, check=0, timeout=600, env=None):
        """Runs SCRIPT (text; `save NAME` writes DIR/NAME.txt); returns (process, screens)
        where screens maps NAME to the saved text."""
        self.runs += 1
        out = self.dir / f"run{self.runs}"
        out.mkdir()
        lines = []
        for line in script.strip().splitlines():
            line = line.strip()
            if line.startswith("save "):
                line = f"save {out}/{line[5:].strip()}.txt"
            lines.append(line)
        path = out / "script"
        path.write_text("\n".join(lines) + "\n")
        p = self.run("ui", *flags, "--headless", path, timeout=timeout, env=env)
        if check is not None:
            assert p.returncode == check, (f"headless console exited {p.returncode}, wanted {check}:\n"
                                           f"{p.stdout}\n{p.stderr}")
        screens = {f.stem: f.read_text() for f in out.glob("*.txt")}
        return p, screens


def masked(screen, **words):
    """SCREEN with what differs from run to run replaced: clock times, and each WORDS value by
    its key ("<email>")."""
    for name, word in words.items():
        screen = screen.replace(str(word), f"<{name}>")
    return re.sub(r"\b\d\d:\d\d:\d\d\.\d\d\d\b", "hh:mm:ss.mmm", screen)


def expect_screen(name, screen):
    """Compares SCREEN with tests/e2e/console_screens/NAME.txt; TODO_UPDATE_SCREENS=1 writes
    the file instead (then review it: it is the expected screen from then on)."""
    path = SCREENS / f"{name}.txt"
    if os.environ.get("TODO_UPDATE_SCREENS") == "1":
        SCREENS.mkdir(exist_ok=True)
        path.write_text(screen)
    want = path.read_text()
    assert screen == want, f"screen {name} differs from {path}:\n---- got ----\n{screen}---- want ----\n{want}"


def figure(screen, label):
    """The integer after LABEL on the screen ("backlog 3" → 3); None when absent."""
    m = re.search(re.escape(label) + r" (\d+)", screen)
    return int(m.group(1)) if m else None


class Tmux:
    """The console in a tmux pane of its own server (a private socket): a real terminal."""

    def __init__(self, ui, cols=100, rows=30, args=()):
        assert shutil.which("tmux"), "tmux is missing (make deps)"
        self.sock = f"todo-console-test-{os.getpid()}-{secrets.token_hex(3)}"
        self.rc_file = ui.dir / f"tmux-rc-{self.sock}"
        env = {k: v for k, v in ui.env.items() if k not in ("LINES", "COLUMNS")}
        exports = " ".join(f"{k}={_sh(v)}" for k, v in env.items())
        cmd = (f"env -i {exports} {_sh(str(console_bin()))} {' '.join(map(_sh, args))}; "
               f"echo $? > {_sh(str(self.rc_file))}; sleep 600")
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "c",
                        "-x", str(cols), "-y", str(rows), "sh", "-c", cmd], check=True, timeout=30)

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True,
                              timeout=30, check=check)

    def keys(self, *keys):
        """send-keys: tmux key names (Enter, Escape, Up) or literal text (with -l)."""
        for k in keys:
            if k in ("Enter", "Escape", "Up", "Down", "Left", "Right", "Tab", "BSpace", "PPage", "NPage"):
                self.tmux("send-keys", "-t", "c", k)
            else:
                self.tmux("send-keys", "-t", "c", "-l", k)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "c").stdout

    def wait(self, text, timeout=60):
        """Polls the pane until TEXT is on it (a deadline, never a fixed sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the terminal:\n{self.screen()}")

    def exit_code(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rc_file.exists() and self.rc_file.read_text().strip():
                return int(self.rc_file.read_text())
            time.sleep(0.1)
        raise AssertionError(f"the console did not exit:\n{self.screen()}")

    def resize(self, cols, rows):
        self.tmux("resize-window", "-t", "c", "-x", str(cols), "-y", str(rows))

    def close(self):
        self.tmux("kill-server", check=False)


def _sh(s):
    return "'" + str(s).replace("'", "'\\''") + "'"
