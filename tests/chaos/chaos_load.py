"""Bounded load through the gateway, as clients send it (requests, one keep-alive session per
worker thread), recording every request: what was sent, when, the answer, and for writes
the task and version the answer acknowledged.

The load is open-loop: operation i is due at start + i / rate whatever earlier ones are
doing (a stall shows as late and slow requests, not as a lower rate that hides it), on a
pool of worker threads large enough for a few seconds of stalled requests. Every request
has a deadline (REQUEST_TIMEOUT); a request without an answer by then is recorded as such.

Operations: create (POST /api/tasks), patch (PATCH a title), complete, delete, read
(GET /api/tasks?limit=20). A task is changed by one request at a time (it is taken out of
the pool while a request on it runs), so the version an answer carries is that change's
version, and a delete's event is the task's last one.
"""
import concurrent.futures
import math
import random
import secrets
import threading
import time

import requests

from chaos_checker import Expected

REQUEST_TIMEOUT = 10.0
OK = {"create": 201, "patch": 200, "complete": 200, "delete": 204, "read": 200}


def new_accounts(env, n):
    """N fresh users, registered and logged in at auth-service directly (the gateway lets
    one address make only a few credential requests a second). [(token, user id)]."""
    out = []
    base = env["AUTH_HTTP_URL"]
    for _ in range(n):
        email = f"chaos-{secrets.token_hex(6)}@example.com"
        password = "pw-" + secrets.token_urlsafe(18)
        r = requests.post(base + "/api/auth/register", json={"email": email, "password": password},
                          timeout=60)
        r.raise_for_status()
        uid = r.json()["id"]
        r = requests.post(base + "/api/auth/login", json={"email": email, "password": password},
                          timeout=60)
        r.raise_for_status()
        out.append((r.json()["access_token"], uid))
    return out


class Result:
    __slots__ = ("op", "due", "start", "end", "status", "code", "task", "version", "source",
                 "error")

    def __init__(self, op, due, start):
        self.op, self.due, self.start = op, due, start
        self.end = self.status = self.code = self.task = self.version = self.source = None
        self.error = None

    @property
    def ok(self):
        return self.status == OK[self.op]

    @property
    def seconds(self):
        return (self.end or time.time()) - self.start


class Load:
    """Operations at RATE per second, drawn from MIX ({op: weight}), for ACCOUNTS, until
    stop(). Results in .results (appended as requests finish). With CLOSED set instead of
    a rate, CLOSED threads each send the next request as soon as the last is answered (a
    capacity measurement)."""

    def __init__(self, env, accounts, rate, mix, workers=256, base=None, closed=0):
        self.base = base or env["GATEWAY_URL"]
        self.accounts = accounts
        self.rate = rate
        self.ops, self.weights = zip(*mix.items())
        self.results = []
        self.expected = []          # Expected events of acknowledged writes
        self.acked = {}             # task id -> (highest acknowledged version, deleted?)
        self._idle = []             # (account index, task id) not in a request now
        self._state = {}            # task id -> {"v": version, "done": bool}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="load")
        self._rng = random.Random()
        self.started = time.time()
        self._threads = [threading.Thread(target=self._dispatch, name="load-dispatch", daemon=True)]
        if closed:
            self._threads = [threading.Thread(target=self._closed, name=f"load-{i}", daemon=True)
                             for i in range(closed)]
        for t in self._threads:
            t.start()

    # -- the schedule ---------------------------------------------------------------------------

    def _dispatch(self):
        t0 = time.monotonic()
        wall0 = time.time()
        i = 0
        while not self._stop.is_set():
            due = t0 + i / self.rate
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):  # pacing the schedule, not a condition
                break
            op = self._rng.choices(self.ops, self.weights)[0]
            self._pool.submit(self._run, op, wall0 + i / self.rate)
            i += 1

    def _closed(self):
        while not self._stop.is_set():
            self._run(self._rng.choices(self.ops, self.weights)[0], time.time())

    def stop(self):
        """Stops issuing operations and waits for those in flight (each has a deadline)."""
        self._stop.set()
        for t in self._threads:
            t.join()
        self._pool.shutdown(wait=True)

    # -- one operation --------------------------------------------------------------------------

    def _session(self):
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
        return s

    def _take(self, want_open=False):
        """An idle task (removed from the idle pool), or None."""
        with self._lock:
            for _ in range(8):
                if not self._idle:
                    return None
                i = self._rng.randrange(len(self._idle))
                self._idle[i], self._idle[-1] = self._idle[-1], self._idle[i]
                acct, task = self._idle[-1]
                if want_open and self._state[task]["done"]:
                    continue
                self._idle.pop()
                return acct, task
            return None

    def _give_back(self, acct, task):
        with self._lock:
            self._idle.append((acct, task))

    def _run(self, op, due):
        acct, task = None, None
        if op in ("patch", "complete", "delete"):
            got = self._take(want_open=(op == "complete"))
            if got is None:
                op = "create"
            else:
                acct, task = got
        if acct is None:
            acct = self._rng.randrange(len(self.accounts))
        token = self.accounts[acct][0]
        r = Result(op, due, time.time())
        r.task = task
        try:
            self._request(r, token, task)
        except requests.RequestException as e:
            r.error = type(e).__name__
        finally:
            r.end = time.time()
            self._account(r, acct)
            self.results.append(r)

    def _request(self, r, token, task):
        s, h = self._session(), {"Authorization": f"Bearer {token}"}
        url = self.base + "/api/tasks"
        title = f"chaos {secrets.token_hex(4)}"
        if r.op == "create":
            a = s.post(url, json={"title": title, "priority": 1 + self._rng.randrange(5),
                                  "tags": ["chaos"]}, headers=h, timeout=REQUEST_TIMEOUT)
        elif r.op == "patch":
            a = s.patch(f"{url}/{task}", json={"title": title}, headers=h, timeout=REQUEST_TIMEOUT)
        elif r.op == "complete":
            a = s.post(f"{url}/{task}/complete", headers=h, timeout=REQUEST_TIMEOUT)
        elif r.op == "delete":
            a = s.delete(f"{url}/{task}", headers=h, timeout=REQUEST_TIMEOUT)
        else:
            a = s.get(url, params={"limit": 20}, headers=h, timeout=REQUEST_TIMEOUT)
            r.source = a.headers.get("X-Read-Source")
        r.status = a.status_code
        if not r.ok:
            try:
                r.code = a.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                r.code = None
        if r.ok and r.op in ("create", "patch", "complete"):
            body = a.json()
            r.task, r.version = int(body["id"]), int(body["version"])

    def _account(self, r, acct):
        """Books the answer: the Expected event of an acknowledged write, the task's state,
        and the task back into the idle pool (unless it was deleted)."""
        if r.op == "read":
            return
        with self._lock:
            if r.ok:
                if r.op == "delete":
                    self.expected.append(Expected(r.task, None, "delete", r.end))
                    self.acked[r.task] = (self.acked.get(r.task, (0, False))[0], True)
                    self._state.pop(r.task, None)
                    return
                st = self._state.setdefault(r.task, {"v": 0, "done": False})
                if r.version > st["v"]:  # complete on a done task changes nothing: no event
                    self.expected.append(Expected(r.task, r.version, r.op, r.end))
                st["v"] = max(st["v"], r.version)
                st["done"] = st["done"] or r.op == "complete"
                self.acked[r.task] = (st["v"], False)
            if r.task is not None and r.task in self._state:
                self._idle.append((acct, r.task))

    # -- what happened ----------------------------------------------------------------------------

    def between(self, t0, t1, ops=None):
        """Results of requests that started in [t0, t1)."""
        return [r for r in list(self.results)
                if t0 <= r.start < t1 and (ops is None or r.op in ops)]

    def failed(self, ops=None, t0=0.0, t1=float("inf")):
        return [r for r in self.between(t0, t1, ops) if not r.ok]

    def writes(self):
        return [r for r in list(self.results) if r.op != "read"]

    def recovered(self, since, quiet=2.0):
        """True once every request that started in the last QUIET seconds (and after SINCE)
        succeeded, and there were some."""
        now = time.time()
        recent = [r for r in list(self.results) if r.start >= max(since, now - quiet - 1.0)]
        if not recent or any(not r.ok for r in recent):
            return False
        bad = [r for r in list(self.results) if not r.ok]
        return now - max([r.end for r in bad] + [since]) >= quiet

    def achieved_rate(self):
        if not self.results:
            return 0.0
        t0 = min(r.start for r in self.results)
        t1 = max(r.start for r in self.results)
        return len(self.results) / max(t1 - t0, 1e-9)


def percentile(values, p):
    """The P-th percentile (nearest rank) of VALUES; None when empty."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))]


def describe_failures(results, limit=4):
    """'N× 503, M× ReadTimeout' — what the failed requests got."""
    counts = {}
    for r in results:
        key = (f"{r.status} {r.code}" if r.code else str(r.status)) if r.status is not None \
            else (r.error or "no answer")
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{n}× {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts[:limit]) if parts else "none"
