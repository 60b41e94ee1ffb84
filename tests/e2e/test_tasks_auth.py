"""tasks-service and auth-service: every token is validated over gRPC; when auth-service is
down, protected routes fail closed with 503 quickly (no hang, no 500) and work again when it
is back."""
import time

import requests

from conftest import Counters, ready, stack, wait_until
from tasks_support import Api, new_account


def test_auth_down_fails_closed_with_503_then_recovers(env):
    api = Api(env, new_account(env)[0])
    task = api.create("before the outage")
    # a token never used before, so no validation of it can be cached
    fresh = Api(env, new_account(env)[0])
    direct = Api(env, fresh.s.headers["Authorization"][7:], base=env["TASKS_HTTP_URL"])
    tasks = Counters(env["TASKS_HTTP_URL"])
    stack("stop", "auth")
    try:
        # auth-service is a per-request dependency: tasks-service stays ready
        code, body = ready(env["TASKS_HTTP_URL"])
        assert code == 200 and body["checks"] == {"postgres": "ok", "schema": "ok"}, body
        for client in (fresh, direct):
            for method, path, body in [("GET", "/api/tasks", None),
                                       ("POST", "/api/tasks", {"title": "x"}),
                                       ("GET", f"/api/tasks/{task['id']}", None),
                                       ("PATCH", f"/api/tasks/{task['id']}", {"title": "y"}),
                                       ("POST", f"/api/tasks/{task['id']}/complete", None),
                                       ("DELETE", f"/api/tasks/{task['id']}", None)]:
                t0 = time.monotonic()
                r = client.req(method, path, body, timeout=10)
                took = time.monotonic() - t0
                assert r.status_code == 503, (method, path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "auth_unavailable"
                assert took < 3, f"{method} {path} took {took:.1f}s (deadline is 1s)"
        # without a token it is still 401: nothing to validate
        assert requests.get(env["TASKS_HTTP_URL"] + "/api/tasks", timeout=5).status_code == 401
        assert requests.get(env["TASKS_HTTP_URL"] + "/health", timeout=5).status_code == 200
        # each of the twelve requests asked auth-service once, and each is counted
        assert tasks.delta("tasks_auth_validations_total", result="unavailable") == 12
        assert tasks.delta("tasks_auth_validations_total", result="valid") == 0
        assert tasks.delta("http_requests_total", status="503") == 12
    finally:
        stack("start", "auth")
    wait_until("tasks to accept tokens again",
               lambda: fresh.list().status_code == 200, timeout=30)
    assert api.req("GET", f"/api/tasks/{task['id']}").json()["title"] == "before the outage"
