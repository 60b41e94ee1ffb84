"""auth-service gRPC interop: a Python grpcio client with stubs generated from
proto/auth/v1/auth.proto calls the C server (gRPC core) started by the stack."""
import concurrent.futures
import secrets
import time

import grpc
import pytest
import requests

from auth_support import (auth_pb2, es256_sign, grpc_channel, grpc_validate, health_pb2,
                          health_pb2_grpc, jwt_parts, new_account, service_private_key)
from conftest import wait_until


@pytest.fixture(scope="module")
def channel(env):
    with grpc_channel(env["AUTH_GRPC_ADDR"]) as ch:
        yield ch


@pytest.fixture(scope="module")
def account(env):
    email, _, t = new_account(env["GATEWAY_URL"])
    return email, t


def test_valid_token(channel, account):
    email, t = account
    r = grpc_validate(channel, t["access_token"])
    _, claims, _ = jwt_parts(t["access_token"])
    assert r.valid and r.reason == ""
    assert r.user_id == int(claims["sub"]) and r.email == email
    assert r.expires_at == claims["exp"]


def test_expired_token(env, channel, account):
    _, t = account
    header, claims, _ = jwt_parts(t["access_token"])
    now = int(time.time())
    tok = es256_sign(service_private_key(env), header, {**claims, "iat": now - 1000, "exp": now - 100})
    r = grpc_validate(channel, tok)
    assert not r.valid and r.reason == "expired"


def test_tampered_token(channel, account):
    _, t = account
    h, p, s = t["access_token"].split(".")
    flipped = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    r = grpc_validate(channel, f"{h}.{p}.{flipped}")
    assert not r.valid and r.reason == "bad_signature"


@pytest.mark.parametrize("token,reason", [("", "missing"), ("garbage", "malformed"),
                                          ("a.b.c", "malformed"), ("\u00e9.\u00e9.\u00e9", "malformed")])
def test_garbage_tokens(channel, token, reason):
    r = grpc_validate(channel, token)
    assert not r.valid and r.reason == reason


def test_oversized_messages(env, channel):
    r = grpc_validate(channel, "A" * (100 * 1024))
    assert not r.valid and r.reason == "too_large"
    # beyond the server's message limit: refused by gRPC itself, the server stays up
    with pytest.raises(grpc.RpcError) as e:
        grpc_validate(channel, "A" * (2 * 1024 * 1024))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_validate(channel, "garbage").reason == "malformed"


def test_not_a_request_message(channel):
    call = channel.unary_unary("/todo.auth.v1.AuthService/ValidateToken")
    with pytest.raises(grpc.RpcError) as e:
        call(b"\xff\xff\xff\xff", timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_health_check(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    SERVING = health_pb2.HealthCheckResponse.SERVING
    assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == SERVING
    assert stub.Check(health_pb2.HealthCheckRequest(service="todo.auth.v1.AuthService"),
                      timeout=5).status == SERVING
    with pytest.raises(grpc.RpcError) as e:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("method", ["/todo.auth.v1.AuthService/Nope", "/grpc.health.v1.Health/Watch",
                                    "/some.Other/Thing"])
def test_unknown_method_unimplemented_at_once(channel, method):
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        channel.unary_unary(method)(b"", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert time.monotonic() - t0 < 2, "answered, not left to hang until the deadline"


def test_abandoned_calls_free_their_slots(env, channel, account):
    """Callers that give up (tiny deadlines) must not leak the server's call slots: afterwards
    more calls than there are slots (64) all succeed, and nothing stays in flight."""
    _, t = account
    tok = t["access_token"]

    def impatient(_):
        with grpc_channel(env["AUTH_GRPC_ADDR"]) as ch:
            for _ in range(25):
                try:
                    grpc_validate(ch, tok, timeout=0.001)
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(impatient, range(8)))
    assert all(grpc_validate(channel, tok, timeout=5).valid for _ in range(100))

    def inflight():
        text = requests.get(env["AUTH_HTTP_URL"] + "/metrics", timeout=5).text
        return next(float(l.split()[-1]) for l in text.splitlines()
                    if l.startswith("grpc_server_inflight_calls "))

    wait_until("no gRPC call in flight", lambda: inflight() == 0, timeout=10)


def test_concurrent_callers(env, account):
    _, t = account
    tok = t["access_token"]

    def caller(_):
        with grpc_channel(env["AUTH_GRPC_ADDR"]) as ch:
            return sum(grpc_validate(ch, tok, timeout=10).valid for _ in range(100))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(caller, range(16))) == 1600


def test_traceparent_continues_the_callers_trace(env, channel, account):
    """The call's SERVER span lands in Jaeger under the trace id we sent, as a child of the
    span id we sent."""
    _, t = account
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    r = grpc_validate(channel, t["access_token"],
                      metadata=[("traceparent", f"00-{trace_id}-{parent}-01")])
    assert r.valid

    def spans():
        q = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=5)
        if q.status_code != 200:
            return None
        return [s for tr in q.json()["data"] for s in tr["spans"]
                if s["operationName"] == "/todo.auth.v1.AuthService/ValidateToken"]

    found = wait_until("the ValidateToken span in Jaeger", spans, timeout=30, interval=0.5)
    span = found[0]
    assert span["traceID"] == trace_id
    assert {"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent} in [
        {k: ref[k] for k in ("refType", "traceID", "spanID")} for ref in span["references"]]
    tags = {tg["key"]: tg["value"] for tg in span["tags"]}
    assert tags.get("rpc.system") == "grpc"
    assert tags.get("auth.token.valid") is True


def test_grpc_metrics_count_calls(env, channel):
    def handled():
        text = requests.get(env["AUTH_HTTP_URL"] + "/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith('grpc_server_handled_total{grpc_method="/todo.auth.v1.AuthService/'
                               'ValidateToken",grpc_code="OK"}'):
                return float(line.split()[-1])
        return 0.0

    before = handled()
    for _ in range(5):
        grpc_validate(channel, "garbage")
    assert handled() >= before + 5
