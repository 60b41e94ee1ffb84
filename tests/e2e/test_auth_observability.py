"""auth-service observability: JSON log lines without secrets, traces in Jaeger, metrics."""
import json
import re
import secrets
import urllib.parse

import requests

from auth_support import (auth_log_path, grpc_channel, grpc_validate, login, post, register,
                          strong_password, unique_email, validate)
from conftest import Counters, wait_until


def test_no_secret_ever_reaches_the_log(env):
    """Drive every route, including failures, reuse and a lockout, with secrets we know; then
    no log line written meanwhile contains any of them, or anything shaped like one."""
    log = auth_log_path()
    start = log.stat().st_size
    base = env["GATEWAY_URL"]
    email, pw = unique_email("logscan"), "Secret-" + secrets.token_hex(12)
    secrets_used = [pw]
    assert register(base, email, pw).status_code == 201
    t1 = login(base, email, pw).json()
    r = post(base, "/api/auth/refresh", {"refresh_token": t1["refresh_token"]})
    t2 = r.json()
    assert post(base, "/api/auth/refresh", {"refresh_token": t1["refresh_token"]}).status_code == 401
    assert validate(base, t2["access_token"]).status_code == 200
    assert validate(base, t2["access_token"] + "x").status_code == 401
    wrong = "Wrong-" + secrets.token_hex(12)
    secrets_used.append(wrong)
    for _ in range(6):
        login(base, email, wrong)
    assert post(base, "/api/auth/logout", {"refresh_token": t2["refresh_token"]}).status_code == 204
    # a password inside a body that does not parse
    bad = '{"email":"%s","password":"%s"' % (email, pw)
    requests.post(base + "/api/auth/login", data=bad, timeout=10,
                  headers={"Content-Type": "application/json"})
    secrets_used += [t1["access_token"], t1["refresh_token"], t2["access_token"], t2["refresh_token"]]
    db_password = urllib.parse.urlparse(env["AUTH_DATABASE_URL"]).password
    secrets_used.append(db_password)

    def logged():
        with open(log, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")

    # the last request's access-log line is written after its answer: wait for it
    text = wait_until("the auth log to show the last request",
                      lambda: (t := logged()).count('"status":400') >= 1 and t, timeout=10)
    for s in secrets_used:
        assert s not in text, f"a secret ({s[:6]}…) is in the auth-service log"
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", text), "a JWT is in the log"
    assert "$argon2id$" not in text
    for line in text.splitlines():
        if not line.startswith("{"):
            continue  # not ours (a sanitizer report would be caught by the e2e runner)
        rec = json.loads(line)
        assert {"ts", "level", "service", "msg"} <= rec.keys()
        assert rec["service"] == "auth-service"
    # what the log does say
    assert '"msg":"spent refresh token presented again: session revoked"' in text
    assert '"msg":"login locked after repeated failures"' in text


def test_login_trace_in_jaeger(env):
    """A login with a traceparent: its spans (HTTP server, PostgreSQL, argon2id) are in Jaeger
    under the caller's trace id."""
    base = env["GATEWAY_URL"]
    email, pw = unique_email("trace"), strong_password()
    assert register(base, email, pw).status_code == 201
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    r = requests.post(base + "/api/auth/login", json={"email": email, "password": pw}, timeout=30,
                      headers={"traceparent": f"00-{trace_id}-{parent}-01"})
    assert r.status_code == 200

    def ops():
        q = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=5)
        if q.status_code != 200:
            return None
        data = q.json()["data"][0]
        services = {p["serviceName"] for p in data["processes"].values()}
        names = {s["operationName"] for s in data["spans"]}
        want = {"argon2id verify", "pg users.find", "pg refresh.issue"}
        # the server span ends last, so it may reach Jaeger in a later batch than its children
        server = any("login" in n for n in names)
        return (services, names) if want <= names and server else None

    services, names = wait_until("the login's spans in Jaeger", ops, timeout=30, interval=0.5)
    assert "auth-service" in services


def test_metrics_by_outcome(env):
    """Each action of this test moves exactly its own counters, by the amount it should."""
    auth = Counters(env["AUTH_HTTP_URL"])
    base = env["GATEWAY_URL"]
    email, pw = unique_email("metrics"), strong_password()
    assert register(base, email, pw).status_code == 201
    assert register(base, email, pw).status_code == 409
    t = login(base, email, pw).json()
    assert login(base, email, pw + "-wrong").status_code == 401
    assert validate(base, t["access_token"]).status_code == 200
    assert validate(base, "garbage").status_code == 401
    with grpc_channel(env["AUTH_GRPC_ADDR"]) as ch:
        assert grpc_validate(ch, t["access_token"]).valid
    assert post(base, "/api/auth/refresh", {"refresh_token": t["refresh_token"]}).status_code == 200
    r = post(base, "/api/auth/refresh", {"refresh_token": t["refresh_token"]})
    assert r.status_code == 401  # spent: the session is revoked
    assert post(base, "/api/auth/logout", {"refresh_token": t["refresh_token"]}).status_code == 204
    want = {
        ("auth_registrations_total", "outcome", "created"): 1,
        ("auth_registrations_total", "outcome", "email_taken"): 1,
        ("auth_logins_total", "outcome", "success"): 1,
        ("auth_logins_total", "outcome", "invalid_credentials"): 1,
        ("auth_logins_total", "outcome", "locked"): 0,
        ("auth_tokens_issued_total", "kind", "access"): 2,   # the login and the refresh
        ("auth_tokens_issued_total", "kind", "refresh"): 2,
        ("auth_refreshes_total", "outcome", "rotated"): 1,
        ("auth_refreshes_total", "outcome", "reused"): 1,
    }
    assert auth.delta("auth_logouts_total") == 1
    got = {k: auth.delta(k[0], **{k[1]: k[2]}) for k in want}
    assert got == want
    assert auth.delta("auth_token_validations_total", via="http", outcome="valid") == 1
    assert auth.delta("auth_token_validations_total", via="http", outcome="malformed") == 1
    assert auth.delta("auth_token_validations_total", via="grpc", outcome="valid") == 1
    # argon2id ran for the registration and the two logins (a taken email is refused first)
    assert auth.delta("auth_password_hash_seconds_count") == 3
    assert auth.delta("grpc_server_handled_total", grpc_code="OK",
                      grpc_method="/todo.auth.v1.AuthService/ValidateToken") == 1
