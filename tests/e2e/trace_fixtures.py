"""Jaeger JSON fixtures for trace-view, made by the tests (tests/e2e/test_trace_view.py) and the
bench (tests/bench/tools.sh): the shape Jaeger's /api/traces/{id} returns, built from span
tuples so each test knows every time and parent by construction.

    python3 tests/e2e/trace_fixtures.py big 5000 OUT.json   # the bench's 5,000-span trace
"""
import json
import pathlib
import random
import sys

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_790_000_000_000_000  # µs since the epoch


class Trace:
    """Spans added in any order; .jaeger() is the {"data":[trace]} answer."""

    def __init__(self, trace_id=TRACE_ID):
        self.trace_id = trace_id
        self.spans = []
        self.services = {}
        self._next = 1

    def span(self, parent, service, name, kind, start, dur, error=False, outbox_id=None,
             ref="CHILD_OF", span_id=None):
        """Adds a span starting `start` µs after T0; returns its id (16 hex digits)."""
        sid = span_id or f"{self._next:016x}"
        self._next += 1
        pid = self.services.setdefault(service, f"p{len(self.services) + 1}")
        tags = [{"key": "span.kind", "type": "string", "value": kind}]
        if error:
            tags.append({"key": "error", "type": "bool", "value": True})
            tags.append({"key": "otel.status_description", "type": "string", "value": "boom"})
        if outbox_id is not None:
            tags.append({"key": "outbox.id", "type": "int64", "value": outbox_id})
        refs = [{"refType": ref, "traceID": self.trace_id, "spanID": parent}] if parent else []
        self.spans.append({"traceID": self.trace_id, "spanID": sid, "flags": 1,
                           "operationName": name, "references": refs, "startTime": T0 + start,
                           "duration": dur, "tags": tags, "logs": [], "processID": pid,
                           "warnings": None})
        return sid

    def trace(self):
        return {"traceID": self.trace_id, "spans": self.spans,
                "processes": {p: {"serviceName": s, "tags": []} for s, p in self.services.items()},
                "warnings": None}

    def jaeger(self):
        return {"data": [self.trace()], "total": 0, "limit": 0, "offset": 0, "errors": None}

    def write(self, path):
        path = pathlib.Path(path)
        path.write_text(json.dumps(self.jaeger()))
        return path


def four_services():
    """console → tasks-service → auth-service, the commit, the relay's publish after 18 ms in the
    outbox, notification-service's consumer after 10 ms on the broker. Returns (trace, ids)."""
    t = Trace()
    ids = {}
    ids["root"] = t.span(None, "todo-console", "todo-console tasks add", "internal", 0, 20000)
    ids["client"] = t.span(ids["root"], "todo-console", "POST /api/tasks", "client", 100, 19000)
    ids["server"] = t.span(ids["client"], "tasks-service", "POST /api/tasks", "server", 1000, 15000)
    ids["vt"] = t.span(ids["server"], "tasks-service", "ValidateToken", "client", 1100, 2000)
    ids["auth"] = t.span(ids["vt"], "auth-service", "ValidateToken", "server", 1300, 1500)
    ids["insert"] = t.span(ids["server"], "tasks-service", "INSERT tasks", "client", 4000, 3000)
    ids["commit"] = t.span(ids["server"], "tasks-service", "COMMIT tasks", "client", 8000, 4000)
    ids["publish"] = t.span(ids["server"], "tasks-service", "task-events publish", "producer",
                            30000, 5000, outbox_id=42)
    ids["consume"] = t.span(ids["publish"], "notification-service", "task-events process",
                            "consumer", 45000, 7000)
    return t, ids


def missing_parent():
    """A trace an exporter dropped a span of: auth-service's server span points at a client
    span that is not there."""
    t = Trace()
    ids = {"root": t.span(None, "tasks-service", "GET /api/tasks", "server", 0, 5000)}
    ids["select"] = t.span(ids["root"], "tasks-service", "SELECT tasks", "client", 100, 1000)
    ids["orphan"] = t.span("00000000000fffff", "auth-service", "ValidateToken", "server", 2000, 500)
    ids["child"] = t.span(ids["orphan"], "auth-service", "SELECT users", "client", 2100, 200)
    return t, ids


def clock_skew():
    """auth-service's clock runs 50 ms behind tasks-service's: its server span seems to start
    before the client call that made it."""
    t = Trace()
    ids = {"root": t.span(None, "tasks-service", "POST /api/tasks", "server", 100000, 10000)}
    ids["client"] = t.span(ids["root"], "tasks-service", "ValidateToken", "client", 101000, 4000)
    ids["server"] = t.span(ids["client"], "auth-service", "ValidateToken", "server", 51500, 3000)
    ids["child"] = t.span(ids["server"], "auth-service", "SELECT users", "client", 52000, 1000)
    return t, ids


def cycle():
    t = Trace()
    t.span("0000000000000002", "s", "a", "server", 0, 10, span_id="0000000000000001")
    t.span("0000000000000001", "s", "b", "server", 5, 10, span_id="0000000000000002")
    return t


def big(n=5000, seed=7):
    """A trace of exactly n spans: one import run by the console making requests one after the
    other, each through tasks-service (token check at auth-service, SQL), its event published
    by the relay and consumed by notification-service; one consumer in 50 fails."""
    rnd = random.Random(seed)
    t = Trace()
    root = t.span(None, "todo-console", "todo-console import", "internal", 0, 1)
    now, req = 200, 0
    while len(t.spans) < n:
        req += 1
        d = rnd.randint(2000, 6000)
        client = t.span(root, "todo-console", "POST /api/tasks", "client", now, d)
        server = t.span(client, "tasks-service", "POST /api/tasks", "server", now + 150, d - 300)
        at = now + 200
        vt = t.span(server, "tasks-service", "ValidateToken", "client", at, 700)
        t.span(vt, "auth-service", "ValidateToken", "server", at + 100, 500)
        at += 800
        for op in ("BEGIN tasks", "INSERT tasks", "INSERT task_tags", "COMMIT tasks"):
            dd = rnd.randint(80, 400)
            t.span(server, "tasks-service", op, "client", at, dd)
            at += dd + 20
        pub_at = now + d + rnd.randint(500, 3000)
        pub = t.span(server, "tasks-service", "task-events publish", "producer", pub_at, 900,
                     outbox_id=req)
        con_at = pub_at + 900 + rnd.randint(1000, 5000)
        con = t.span(pub, "notification-service", "task-events process", "consumer", con_at, 1500,
                     error=req % 50 == 0)
        t.span(con, "notification-service", "INSERT notifications", "client", con_at + 200, 600)
        now += d + 100
    del t.spans[n:]  # spans are in preorder: cutting the tail never removes a parent
    end = max(s["startTime"] + s["duration"] for s in t.spans)
    t.spans[0]["duration"] = end - t.spans[0]["startTime"]
    return t


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "big":
        sys.exit("usage: trace_fixtures.py big N OUT.json")
    big(int(sys.argv[2])).write(sys.argv[3])
