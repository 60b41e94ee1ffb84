"""Stage 2: one user's way through the system on Kubernetes, from the host, through the
gateway Service: register, log in, create and complete a task; the completion's event
reaches Kafka (read by Kafka's own consumer), the notification appears once; Prometheus
finds every replica through the headless Services' DNS."""
import requests

from conftest import wait_until
from k8s_support import User, backlog, notifications_of_task, read_events, service_get


def test_register_login_create_complete_and_the_notification(system):
    user = User(system)
    task = user.create("deploy to a real cluster")
    assert task["version"] == 1 and not task["done"]
    done = user.complete(task["id"])
    assert done["done"] is True and done["completed_at"] and done["version"] == 2
    r = user.call("GET", "/api/tasks")
    assert r.status_code == 200, r.text
    assert [(t["id"], t["done"]) for t in r.json()["tasks"]] == [(task["id"], True)]
    assert r.headers["X-Read-Source"] in ("redis", "postgres")

    found = wait_until("the task's notification",
                       lambda: notifications_of_task(user.notifications(), task["id"]), timeout=120)
    assert len(found) == 1, found
    assert [n["kind"] for n in user.notifications()] == ["task_done"]

    wait_until("the outbox to drain", lambda: backlog() == 0, timeout=60)
    mine = [v for _, _, key, v in read_events() if key == str(task["id"])]
    assert [(v["type"], v["version"]) for v in mine] == [("task.created", 1), ("task.completed", 2)], mine
    assert found[0]["event_id"] == mine[1]["id"], "the notification is the completion event's"


def test_the_gateway_service_answers_contract_errors(system):
    r = requests.get(system["GATEWAY_URL"] + "/api/tasks", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"], r.text


def test_prometheus_scrapes_every_replica(system):
    def targets():
        active = service_get("prometheus", 9090, "/api/v1/targets?state=active")["data"]["activeTargets"]
        jobs = {}
        for t in active:
            jobs.setdefault(t["labels"]["job"], []).append(t["health"])
        return jobs
    want = {"auth-service": 1, "tasks-service": 2, "tasks-relay": 1, "notification-service": 1}
    jobs = wait_until("every replica scraped and up", lambda: (lambda j: all(
        j.get(k) == ["up"] * n for k, n in want.items()) and j)(targets()), timeout=120, interval=2)
    print(f"\nPrometheus targets: { {k: len(v) for k, v in jobs.items()} }")
