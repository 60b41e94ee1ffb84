"""The local stack as the chaos runs drive it: the project's own script for starting,
stopping and restarting parts; signals to the processes the stack recorded (SIGSTOP for a
hang, SIGKILL for a crash); processes of our own (extra relays, private
notification-service instances) started from the binaries under test.

Nothing here shares code with the services: the stack is driven through
infra/local/stack and /proc, like an operator would.
"""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK = ROOT / "infra" / "local" / "stack"
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run")).resolve()
LOGS = RUN / "logs"
SERVICES = {"auth": "auth-service", "tasks": "tasks-service", "notify": "notification-service"}
# Settings a service may be given, per service: its own secrets only (the stack's rule, §4).
SECRETS = {"AUTH_DATABASE_URL": "auth", "TASKS_DATABASE_URL": "tasks",
           "NOTIFY_DATABASE_URL": "notify", "REDIS_URL": "tasks"}
# What a sanitizer report starts with (as tests/e2e/sanitizer-check.sh).
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")
# Settings the runner may have been given that would change how a service runs: never
# passed on to the stack unless a scenario asks for them.
SERVICE_OVERRIDES = ("TASKS_RELAY_ENABLED", "TASKS_AUTH_CACHE_TTL")
SCENARIO_SETTINGS = SERVICE_OVERRIDES + ("TODO_BIN_DIR",)


def read_env():
    """.run/stack.env as a dict (written by the stack; holds the addresses and passwords)."""
    env = {}
    for line in (RUN / "stack.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def bin_dir(asan=False):
    return ROOT / ("build/asan/bin" if asan else "bin")


def stack(*args, settings=None, timeout=300):
    """Runs infra/local/stack ARGS; SETTINGS (a dict) reach the services it starts through
    the environment. Raises with the script's output when it fails."""
    e = {k: v for k, v in os.environ.items() if k not in SCENARIO_SETTINGS}
    e.update(settings or {})
    p = subprocess.run([str(STACK), *args], env=e, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"stack {' '.join(args)} failed ({p.returncode}):\n"
                           f"{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def part_pid(part):
    """The pid the stack recorded for PART, if that process is alive (else None)."""
    try:
        pid = int((RUN / "pids" / f"{part}.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def process_state(pid):
    """The state letter of /proc/PID/stat (R, S, D, T stopped, Z …), None when gone."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def running_binary(part):
    pid = part_pid(part)
    try:
        return os.readlink(f"/proc/{pid}/exe") if pid else None
    except OSError:
        return None


def started_with_settings(part):
    """The scenario overrides (SERVICE_OVERRIDES) in the environment PART's process runs with."""
    pid = part_pid(part)
    try:
        environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if pid else []
    except OSError:
        return []
    return [v.decode() for v in environ
            if v.split(b"=", 1)[0].decode(errors="replace") in SERVICE_OVERRIDES]


def ensure_services(asan=False, settings=None):
    """Brings the stack up and makes every service run the binary wanted (the release builds
    in bin/, or the ASan+UBSan builds), restarting any that runs another one (a stack left
    by make test-e2e runs the ASan builds) or that a scenario started with its own settings
    (relay off, validation cache off)."""
    want = bin_dir(asan)
    s = dict(settings or {})
    if asan:
        s["TODO_BIN_DIR"] = str(want)
    for f in (RUN / "pids").glob("*.pid"):  # a part left SIGSTOPped would never be ready
        pid = part_pid(f.stem)
        if pid and process_state(pid) == "T":
            os.kill(pid, signal.SIGCONT)
    stack("up", settings=s)
    for part, binary in SERVICES.items():
        if running_binary(part) != str((want / binary).resolve()) or started_with_settings(part):
            stack("restart", part, settings=s)
    for part, binary in SERVICES.items():
        have = running_binary(part)
        if have != str((want / binary).resolve()):
            raise RuntimeError(f"{part} runs {have}, not {want / binary}")


def restart_service(part, asan=False, **settings):
    """Restarts one service with extra SETTINGS (e.g. TASKS_RELAY_ENABLED=false)."""
    s = {k: str(v) for k, v in settings.items()}
    if asan:
        s["TODO_BIN_DIR"] = str(bin_dir(True))
    stack("restart", part, settings=s)


def signal_part(part, sig):
    pid = part_pid(part)
    if not pid:
        raise RuntimeError(f"the stack has no running process for {part}")
    os.kill(pid, sig)
    return pid


def pause(part):
    """SIGSTOP: the part's sockets still accept connections and nothing answers (a hang)."""
    return signal_part(part, signal.SIGSTOP)


def resume(part):
    return signal_part(part, signal.SIGCONT)


def rss_mb(pid):
    """Resident set size of PID in MB (VmRSS), None when it is gone."""
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def thread_count(pid):
    """Threads of process PID (None when it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(env, part, **settings):
    """The environment of a process of service PART: the stack's settings without the other
    services' secrets, plus SETTINGS."""
    e = {k: v for k, v in os.environ.items() if k not in SECRETS and k not in SCENARIO_SETTINGS}
    e.update({k: v for k, v in env.items() if SECRETS.get(k, part) == part})
    e["LOG_LEVEL"] = "info"
    e.update({k: str(v) for k, v in settings.items()})
    return e


class Process:
    """A process of our own (a relay, a notification-service instance) started from a binary
    under test, logging into the stack's log directory (where the sanitizer check looks)."""

    def __init__(self, name, argv, environ):
        self.name, self.argv, self.environ = name, argv, environ
        self.log = LOGS / f"chaos-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.p = None
        self.start()

    def start(self):
        with open(self.log, "ab") as out:
            self.p = subprocess.Popen(self.argv, env=self.environ, stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        return self

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def kill(self):
        """SIGKILL, and wait until it is gone."""
        if self.alive():
            self.p.send_signal(signal.SIGKILL)
        if self.p:
            self.p.wait(timeout=30)

    def stop(self, timeout=60):
        """SIGCONT (it may be frozen), SIGTERM, SIGKILL after TIMEOUT. Returns the exit status."""
        if not self.p:
            return None
        if self.alive():
            self.p.send_signal(signal.SIGCONT)
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=30)
        return self.p.returncode


def wait_until(what, fn, timeout=30.0, interval=0.1):
    """Polls FN until it returns a truthy value (returned); raises naming WHAT on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the condition may raise while it is not yet true
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last error: {last!r}")


def load_average():
    return os.getloadavg()[0]
