"""The gateway's edge (nginx, infra/local/conf/nginx.conf.in), against the running stack:

- a protected route without a bearer token is answered 401 with the contract's JSON by the
  gateway itself, also for notification-service's routes while that service is absent;
- every route's body limit is its service's: a body of exactly the limit reaches the service,
  one byte more is a 413 with the contract's JSON from the gateway (never the 503 a service's
  early 413 used to cause), with Content-Length and chunked;
- the credential routes are limited to a few requests a second per client address (429 JSON);
- a request without a valid traceparent starts its trace at the gateway (trace id = request
  id), a valid one is passed on unchanged; the JSON access log has the trace id, the client
  address and the upstream time;
- an idle upstream keep-alive connection is closed by the gateway, before the service's own
  idle timeout closes it.

Whether the gateway answered itself is read from its access log: such a line has no upstream.
Clients that must not share the per-address rate limit with the rest of the suite connect from
their own loopback address (127.0.0.0/8 is all loopback on Linux).
"""
import concurrent.futures
import http.client
import json
import os
import re
import secrets
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import RUN, wait_until
from tasks_support import new_account

JSON = {"Content-Type": "application/json"}
ACCESS_LOG = RUN / "logs" / "gateway-access.log"
AUTH_LOG = RUN / "logs" / "auth.log"

# the body limit of each service (http_config.max_body in services/*/…_app.c)
AUTH_LIMIT, TASKS_LIMIT, NOTIFY_LIMIT = 16 * 1024, 64 * 1024, 16 * 1024

# every route of the contract (CONTRACT.md §3): method, path, limit, needs a bearer token
ROUTES = [
    ("POST", "/api/auth/register", AUTH_LIMIT, False),
    ("POST", "/api/auth/login", AUTH_LIMIT, False),
    ("POST", "/api/auth/refresh", AUTH_LIMIT, False),
    ("POST", "/api/auth/logout", AUTH_LIMIT, False),
    ("GET", "/api/auth/validate", AUTH_LIMIT, True),
    ("GET", "/api/auth/.well-known/jwks.json", AUTH_LIMIT, False),
    ("GET", "/api/tasks", TASKS_LIMIT, True),
    ("POST", "/api/tasks", TASKS_LIMIT, True),
    ("GET", "/api/tasks/{id}", TASKS_LIMIT, True),
    ("PATCH", "/api/tasks/{id}", TASKS_LIMIT, True),
    ("POST", "/api/tasks/{id}/complete", TASKS_LIMIT, True),
    ("DELETE", "/api/tasks/{id}", TASKS_LIMIT, True),
    ("GET", "/api/notifications", NOTIFY_LIMIT, True),
    ("POST", "/api/notifications/{id}/read", NOTIFY_LIMIT, True),
]
PROTECTED = [(m, p) for m, p, _, protected in ROUTES if protected]


def route_id(r):
    return f"{r[0]} {r[1]}"


# ---- helpers ---------------------------------------------------------------------------------

def gateway_log_line(request_id, timeout=10):
    """The gateway's access-log record of REQUEST_ID (written just after the answer: polled)."""
    def find():
        # (a URI that is not UTF-8 is logged as nginx got it: ARCHITECTURE.md §9)
        with open(ACCESS_LOG, encoding="utf-8", errors="replace") as f:
            for line in f:
                if request_id in line:
                    rec = json.loads(line)
                    if rec["request_id"] == request_id:
                        return rec
        return None
    return wait_until(f"the gateway's log line of {request_id}", find, timeout=timeout)


def service_log_line(log, request_id, timeout=10):
    """A service's access-log record of REQUEST_ID (lib/http logs the X-Request-Id it got)."""
    def find():
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                if request_id in line and line.startswith("{"):
                    rec = json.loads(line)
                    if rec.get("request_id") == request_id and "status" in rec:
                        return rec
        return None
    return wait_until(f"the service's log line of {request_id}", find, timeout=timeout)


def answered_by_gateway(r):
    rec = gateway_log_line(r.headers["X-Request-Id"])
    return rec["upstream"] == ""


def contract_error(r, status):
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert re.fullmatch(r"[a-z_]+", body["error"]["code"]) and body["error"]["message"]
    return body["error"]


def notify_present(env):
    """notification-service runs in this stack (it is being written: until then the gateway
    answers its routes' 401 and 413 itself and passes the rest on to nobody: 503)."""
    try:
        return requests.get(env["NOTIFY_HTTP_URL"] + "/health", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def padded_json(obj, size):
    """OBJ as JSON followed by blanks: exactly SIZE bytes, still a valid body."""
    raw = json.dumps(obj).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def from_address(addr, method, url, body=b"", headers=None, timeout=30):
    """One request from loopback source address ADDR; returns (status, headers, body)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, source_address=(addr, 0), timeout=timeout)
    try:
        c.request(method, u.path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def fresh_loopback_address():
    """A loopback address no other test uses (the per-address limits start empty for it)."""
    return f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(254) + 1}.{secrets.randbelow(253) + 2}"


@pytest.fixture(scope="module")
def account(env):
    """(token, one of its task ids, its refresh token) — made through the gateway."""
    token, _ = new_account(env)
    r = requests.post(env["GATEWAY_URL"] + "/api/tasks", json={"title": "gateway test"}, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return token, r.json()["id"]


# ---- 401 at the gateway ------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_missing_bearer_token_is_401_json_from_the_gateway(env, method, path):
    url = env["GATEWAY_URL"] + path.format(id=1)
    code = "invalid_token" if path == "/api/auth/validate" else "unauthorized"  # as the service says
    for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer   "}, {"Authorization": "Token abc"}):
        r = requests.request(method, url, headers=headers, timeout=10)
        err = contract_error(r, 401)
        assert err["code"] == code, (headers, err)
        assert r.headers.get("WWW-Authenticate") == "Bearer"
        assert answered_by_gateway(r), (method, path, headers)


def test_a_bearer_token_in_any_case_reaches_the_service(env):
    """The scheme is case-insensitive (RFC 7235) as the services read it: the gateway only
    checks that a token is there; the service judges it."""
    for value in ("Bearer not.a.jwt", "bearer not.a.jwt", "BEARER not.a.jwt"):
        r = requests.get(env["GATEWAY_URL"] + "/api/tasks", headers={"Authorization": value}, timeout=10)
        assert contract_error(r, 401)["code"] == "invalid_token"
        assert not answered_by_gateway(r)


def test_unknown_paths_next_to_protected_ones_are_404(env):
    for path in ("/api/tasksx", "/api/notificationsx", "/api/task"):
        r = requests.get(env["GATEWAY_URL"] + path, timeout=10)
        assert contract_error(r, 404)["code"] == "not_found"


# ---- body limits --------------------------------------------------------------------------------

def at_limit_body(path, limit):
    """A body of exactly LIMIT bytes that the route can use."""
    if path == "/api/auth/register":
        return padded_json({"email": f"limit-{secrets.token_hex(6)}@example.com",
                            "password": "pw-" + secrets.token_urlsafe(18)}, limit)
    if path == "/api/auth/login":
        return padded_json({"email": f"limit-{secrets.token_hex(6)}@example.com",
                            "password": "wrong-password"}, limit)
    if path in ("/api/auth/refresh", "/api/auth/logout"):
        return padded_json({"refresh_token": "x" * 43}, limit)
    if path == "/api/tasks" or path.startswith("/api/tasks/"):
        return padded_json({"title": "at the limit", "priority": 3, "tags": ["limit"]}, limit)
    return padded_json({}, limit)


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_body_limit_is_the_services(env, account, route):
    """limit bytes: passed on and answered by the service (201 for a register); limit + 1:
    413 with the contract's JSON, by the gateway. Before the limits matched, a body between the
    service's limit and the gateway's 1 MB reached the service, which answered 413 and closed
    while nginx was still sending: 503."""
    method, path, limit, protected = route
    token, _ = account
    task_id = 1
    if "{id}" in path:  # a task of its own: the routes run in any order, DELETE included
        r = requests.post(env["GATEWAY_URL"] + "/api/tasks", json={"title": "limit test"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 201, r.text
        task_id = r.json()["id"]
    url = env["GATEWAY_URL"] + path.format(id=task_id)
    headers = dict(JSON)
    if protected:
        headers["Authorization"] = f"Bearer {token}"

    body = at_limit_body(path, limit)
    assert len(body) == limit
    r = requests.request(method, url, data=body, headers=headers, timeout=60)
    assert r.status_code != 413, (r.status_code, r.text[:200])
    if path.startswith("/api/notifications") and not notify_present(env):
        assert contract_error(r, 503)["code"] == "service_unavailable"  # passed on: nobody there
    else:
        assert r.status_code < 500, (r.status_code, r.text[:200])
        assert not answered_by_gateway(r)
    if path == "/api/auth/register":
        assert r.status_code == 201, r.text
    if method == "POST" and path == "/api/tasks":
        assert r.status_code == 201, r.text
    if method == "PATCH":
        assert r.status_code == 200 and r.json()["title"] == "at the limit", r.text

    over = body + b" "
    r = requests.request(method, url, data=over, headers=headers, timeout=60)
    err = contract_error(r, 413)
    assert err["code"] == "payload_too_large"
    assert str(limit) in err["message"], err
    assert answered_by_gateway(r)


def test_register_body_between_the_limits_is_413_not_503(env):
    """The case of the issue: 1,000,041 bytes to /api/auth/register (under nginx's old 1 MB,
    over auth-service's 16 KiB) was answered 503 "the upstream service is not available"."""
    shape = '{"email":"%s@example.com","password":"12345678"}'
    body = (shape % ("a" * (1_000_041 - len(shape % "")))).encode()
    assert len(body) == 1_000_041
    r = requests.post(env["GATEWAY_URL"] + "/api/auth/register", data=body, headers=JSON, timeout=60)
    assert contract_error(r, 413)["code"] == "payload_too_large"


def test_chunked_bodies_have_the_same_limit(env, account):
    """A chunked upload is read whole by the gateway (the service never sees chunks it would
    have to cut off without an answer): limit bytes → 201, one more → 413 JSON."""
    token, _ = account
    headers = {**JSON, "Authorization": f"Bearer {token}"}

    def chunks(data, n=4096):
        for i in range(0, len(data), n):
            yield data[i:i + n]

    body = padded_json({"title": "chunked", "priority": 2}, TASKS_LIMIT)
    r = requests.post(env["GATEWAY_URL"] + "/api/tasks", data=chunks(body), headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    r = requests.post(env["GATEWAY_URL"] + "/api/tasks", data=chunks(body + b" "), headers=headers,
                      timeout=60)
    assert contract_error(r, 413)["code"] == "payload_too_large"
    assert answered_by_gateway(r)


# ---- rate limit ---------------------------------------------------------------------------------

def test_credential_routes_allow_a_few_requests_a_second_per_address(env):
    """40 parallel logins from one address: the gateway lets through at most its burst (10)
    plus its rate (5/s) over the time the batch took; the rest get 429 with the contract's
    JSON and Retry-After. Another address is not affected. (A login with an empty object costs
    the service no password hash: it answers 400.)"""
    url = env["GATEWAY_URL"] + "/api/auth/login"
    addr = fresh_loopback_address()
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda _: from_address(addr, "POST", url, b"{}", JSON), range(40)))
    elapsed = time.monotonic() - t0
    passed = [r for r in results if r[0] != 429]
    limited = [r for r in results if r[0] == 429]
    assert all(status == 400 for status, _, _ in passed), [r[0] for r in passed]
    assert len(passed) <= 11 + 5 * elapsed, (len(passed), elapsed)
    assert limited
    for status, headers, body in limited:
        assert json.loads(body)["error"]["code"] == "rate_limited"
        assert headers.get("Retry-After") == "1"
        assert headers.get("Content-Type", "").startswith("application/json")
    # another client address has its own allowance
    status, _, _ = from_address(fresh_loopback_address(), "POST", url, b"{}", JSON)
    assert status == 400


# ---- trace context and the access log -------------------------------------------------------------

def jwks(env, headers=None):
    r = requests.get(env["GATEWAY_URL"] + "/api/auth/.well-known/jwks.json", headers=headers or {},
                     timeout=10)
    assert r.status_code == 200, r.text
    return r


def test_the_gateway_starts_the_trace_and_logs_it(env):
    r = jwks(env)
    rid = r.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    rec = gateway_log_line(rid)
    assert rec["trace_id"] == rid
    assert rec["traceparent"] == f"00-{rid}-{rid[16:]}-01"
    assert rec["client_traceparent"] == ""
    assert rec["client"] == "127.0.0.1"
    assert rec["upstream"].startswith("127.0.0.1:")
    assert float(rec["upstream_s"]) >= 0 and float(rec["upstream_connect_s"]) >= 0
    assert rec["status"] == 200 and rec["service"] == "gateway"
    # auth-service continued that trace …
    assert service_log_line(AUTH_LOG, rid)["trace_id"] == rid

    # … and its server span in Jaeger is a child of the gateway's hop
    def server_span():
        q = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{rid}", timeout=5)
        if q.status_code != 200:
            return None
        for span in q.json()["data"][0]["spans"]:
            if span["references"] and span["operationName"].startswith("GET"):
                return span
        return None
    span = wait_until("auth-service's span in Jaeger", server_span, timeout=30)
    assert span["traceID"] == rid
    assert span["references"][0]["spanID"] == rid[16:]


def test_the_client_address_is_logged(env):
    addr = fresh_loopback_address()
    status, headers, _ = from_address(addr, "GET", env["GATEWAY_URL"] + "/api/auth/.well-known/jwks.json")
    assert status == 200
    assert gateway_log_line(headers["X-Request-Id"])["client"] == addr


def test_a_valid_traceparent_is_passed_on_unchanged(env):
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    for tp in (f"00-{trace_id}-{parent}-01", f"00-{trace_id}-{parent}-00",
               f"cc-{trace_id}-{parent}-01-later-version-fields"):
        r = jwks(env, {"traceparent": tp, "tracestate": "vendor=value"})
        rid = r.headers["X-Request-Id"]
        rec = gateway_log_line(rid)
        assert rec["traceparent"] == tp and rec["client_traceparent"] == tp
        assert rec["trace_id"] == trace_id
        assert service_log_line(AUTH_LOG, rid)["trace_id"] == trace_id


@pytest.mark.parametrize("tp", [
    "00-{T}-{P}-01-extra",                 # version 00 has exactly four fields
    "ff-{T}-{P}-01",                       # version ff is invalid
    "00-00000000000000000000000000000000-{P}-01",
    "00-{T}-0000000000000000-01",
    "00-{TU}-{P}-01",                      # uppercase hex
    "00-{T}-{P}",                          # no flags
    "garbage",
])
def test_an_invalid_traceparent_is_replaced_by_the_gateways(env, tp):
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    tp = tp.format(T=trace_id, P=parent, TU=trace_id.upper())
    r = jwks(env, {"traceparent": tp})
    rid = r.headers["X-Request-Id"]
    rec = gateway_log_line(rid)
    assert rec["client_traceparent"] == tp
    assert rec["trace_id"] == rid and rec["traceparent"] == f"00-{rid}-{rid[16:]}-01"
    assert service_log_line(AUTH_LOG, rid)["trace_id"] == rid


# ---- upstream keep-alive ---------------------------------------------------------------------------

def nginx_workers():
    master = int((RUN / "pids" / "nginx.pid").read_text().split()[0])
    workers = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                workers.add(int(d))
    return workers


def ss(*args):
    return subprocess.run(["ss", "-Htn", *args], check=True, capture_output=True, text=True).stdout


def gateway_upstream_ports(service_port):
    """Local ports of the gateway's ESTABLISHED connections to SERVICE_PORT."""
    workers = nginx_workers()
    out = subprocess.run(["ss", "-Htnp", "state", "established", "dst", f"127.0.0.1:{service_port}"],
                         check=True, capture_output=True, text=True).stdout
    ports = set()
    for line in out.splitlines():
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if pids & workers:
            local = line.split()[2]
            ports.add(int(local.rsplit(":", 1)[1]))
    return ports


def test_idle_upstream_connections_are_closed_by_the_gateway_first(env, account):
    """The side that closes a TCP connection first holds it in TIME-WAIT. Every idle keep-alive
    connection from the gateway to a service must end on the gateway's side (its idle time,
    10 s, is shorter than the services' 15 s): a connection the service closed could be picked
    for a POST at that very moment, which nginx cannot retry (sporadic 502/503)."""
    token, _ = account
    ports = {"auth": int(env["AUTH_HTTP_URL"].rsplit(":", 1)[1]),
             "tasks": int(env["TASKS_HTTP_URL"].rsplit(":", 1)[1])}
    s = requests.Session()
    for _ in range(3):
        assert s.get(env["GATEWAY_URL"] + "/api/tasks", timeout=10,
                     headers={"Authorization": f"Bearer {token}"}).status_code == 200
        jwks(env)
    pooled = {name: gateway_upstream_ports(port) for name, port in ports.items()}
    for name, conns in pooled.items():
        assert conns, f"the gateway keeps no idle connection to {name}: keep-alive is not in use"

    def all_closed():
        return not any(pooled[n] & gateway_upstream_ports(p) for n, p in ports.items())
    wait_until("the idle upstream connections to close", all_closed, timeout=45, interval=0.5)

    tw = [line.split()[-2:] for line in ss("state", "time-wait").splitlines()]
    for name, port in ports.items():
        for local_port in pooled[name]:
            gw_side, svc_side = f"127.0.0.1:{local_port}", f"127.0.0.1:{port}"
            assert [svc_side, gw_side] not in tw, \
                f"{name} closed an idle keep-alive connection before the gateway did"
            assert [gw_side, svc_side] in tw, f"no TIME-WAIT on the gateway's side for {gw_side}"
