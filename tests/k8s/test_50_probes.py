"""Stage 5: the probes, observed failing when a dependency stops.

PostgreSQL stopped (its StatefulSet scaled to zero): every service's /ready names it, so the
readiness probes of auth-service, tasks-service, tasks-relay and notification-service fail, their
pods leave the Services' endpoints and the gateway answers the contract's JSON 503 — while
their liveness probes (/health) keep passing: no pod is restarted for a dependency's outage.
PostgreSQL back: every pod is ready again and the API works.

Redis hung (its process stopped with SIGSTOP from the node, as a hang would leave it): its own
readiness and liveness probes fail, the kubelet restarts the container; meanwhile tasks-service
serves reads from PostgreSQL (X-Read-Source: postgres) and accepts writes, and afterwards
reads come from Redis again."""
import subprocess

import requests

from conftest import NODE, kget, kubectl, wait_until
from k8s_support import User, events_of, pods, ready, restarts

SERVICES = ["auth-service", "tasks-service", "tasks-relay", "notification-service"]


def unhealthy(pod_name, probe):
    """Messages of the kubelet's "<probe> probe failed" events about POD_NAME, with counts."""
    return sum(1 for reason, msg in events_of(pod_name, "Unhealthy") if msg.startswith(f"{probe} probe failed"))


def test_postgres_stopped_fails_readiness_and_not_liveness(system):
    before = {p["metadata"]["name"]: restarts(p) for s in SERVICES for p in pods(s)}
    kubectl("scale", "statefulset", "postgres", "--replicas=0")
    try:
        wait_until("postgres-0 to be gone", lambda: not pods("postgres"), timeout=120, interval=1)
        wait_until("every service pod unready",
                   lambda: all(not ready(p) for s in SERVICES for p in pods(s)), timeout=120, interval=1)
        for name in before:
            assert unhealthy(name, "Readiness") > 0, name
            msgs = [m for _, m in events_of(name, "Unhealthy") if m.startswith("Readiness")]
            assert any("503" in m for m in msgs), msgs
        eps = kget("endpointslices", "-l", "kubernetes.io/service-name=tasks-service")["items"]
        assert not [e for s in eps for e in s.get("endpoints") or [] if e["conditions"].get("ready")]
        r = requests.get(system["GATEWAY_URL"] + "/api/tasks", headers={"Authorization": "Bearer x"}, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"], (r.status_code, r.text)
        # liveness holds: the same pods, none restarted
        now = {p["metadata"]["name"]: restarts(p) for s in SERVICES for p in pods(s)}
        assert now == before, (before, now)
        assert all(unhealthy(name, "Liveness") == 0 for name in now)
    finally:
        kubectl("scale", "statefulset", "postgres", "--replicas=1")
    kubectl("rollout", "status", "statefulset/postgres", "--timeout=180s", timeout=200)
    wait_until("every service pod ready again",
               lambda: all(ready(p) for s in SERVICES for p in pods(s)), timeout=180, interval=1)
    user = User(system)
    assert user.create("after the outage")["version"] == 1
    now = {p["metadata"]["name"]: restarts(p) for s in SERVICES for p in pods(s)}
    assert now == before, "a service pod was restarted because PostgreSQL was away"


def test_a_hung_redis_fails_its_probes_and_is_restarted(system):
    user = User(system)
    user.create("before the hang")
    (pod,) = pods("redis")
    name, before = pod["metadata"]["name"], restarts(pod)
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    # SIGSTOP from the node's pid namespace (a container's init ignores it from inside)
    subprocess.run(["docker", "exec", NODE, "ctr", "--namespace", "k8s.io", "task", "kill",
                    "--signal", "SIGSTOP", cid], check=True, capture_output=True, timeout=60)
    try:
        wait_until("redis-0 unready", lambda: not ready(kget("pod", name)), timeout=60, interval=1)
        # the API keeps working without its read model
        t = user.create("while Redis hangs")
        r = user.call("GET", "/api/tasks")
        assert r.status_code == 200 and r.headers["X-Read-Source"] == "postgres", (r.status_code, r.headers)
        assert t["id"] in [x["id"] for x in r.json()["tasks"]]
        # the liveness probe fails until the kubelet kills and restarts the container
        wait_until("the kubelet to restart redis", lambda: restarts(kget("pod", name)) > before,
                   timeout=240, interval=2)
    finally:
        # (a no-op once restarted; a stopped process must not outlive a failed test)
        subprocess.run(["docker", "exec", NODE, "ctr", "--namespace", "k8s.io", "task", "kill",
                        "--signal", "SIGCONT", cid], capture_output=True, timeout=60)
    assert unhealthy(name, "Liveness") > 0 and unhealthy(name, "Readiness") > 0, events_of(name)
    status = kget("pod", name)["status"]["containerStatuses"][0]
    assert status["lastState"].get("terminated"), status
    kubectl("rollout", "status", "statefulset/redis", "--timeout=120s", timeout=140)
    wait_until("reads from Redis again",
               lambda: user.call("GET", "/api/tasks").headers.get("X-Read-Source") == "redis",
               timeout=120, interval=1)
