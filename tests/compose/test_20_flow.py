"""Stage 3: one user's way through the system in containers, from the host: register, log
in, create and complete a task through the published gateway; the events reach Kafka; the
notification appears; the request's trace is in the containerised Jaeger; Prometheus
scrapes every service."""
import requests

from compose_support import User, end_offsets, notifications_of_task, prometheus, read_events
from conftest import need_notify, notify_present, wait_until


def test_register_login_create_complete_through_the_gateway(system, flow):
    user, task, done, _ = flow
    assert task["version"] == 1 and not task["done"]
    assert done["done"] is True and done["completed_at"] and done["version"] == 2
    r = user.call("GET", "/api/tasks")
    assert r.status_code == 200 and r.headers["X-Read-Source"] == "redis", (r.status_code, r.headers)
    assert [t["id"] for t in r.json()["tasks"]] == [task["id"]]
    assert r.json()["tasks"][0]["done"] is True


def test_the_events_reach_kafka(system, flow):
    _, task, _, events = flow
    mine = [(v["type"], v["version"]) for _, k, _, v in events if k == str(task["id"])]
    assert mine == [("task.created", 1), ("task.completed", 2)]


def done_event_id(flow):
    _, task, _, events = flow
    (h,) = [h for _, k, h, v in events if k == str(task["id"]) and v["type"] == "task.completed"]
    return h["event_id"]


def test_the_notification_appears(system, flow):
    need_notify()
    user, task, _, _ = flow
    found = wait_until("the task's notification", lambda: notifications_of_task(user.notifications(), task["id"]),
                       timeout=60)
    (n,) = found
    assert n["event_id"] == done_event_id(flow), n
    # every notification of the user is about this task's completion: creating it told nothing
    assert [x["kind"] for x in user.notifications()] == ["task_done"]


def trace_of(system, events, task, event_type):
    """The trace id of the request that caused TASK's EVENT_TYPE event (its traceparent)."""
    (headers,) = [h for _, k, h, v in events if k == str(task["id"]) and v["type"] == event_type]
    return headers["traceparent"].split("-")[1]


def wait_for_trace(system, trace_id, services, operation):
    """[(service, operation)] of the trace once Jaeger has spans of every one of SERVICES
    and one named OPERATION."""
    url = f"http://127.0.0.1:{system['JAEGER_QUERY_PORT']}/api/traces/{trace_id}"

    def spans():
        r = requests.get(url, timeout=10)
        if r.status_code != 200:
            return None
        (trace,) = r.json()["data"]
        got = [(trace["processes"][s["processID"]]["serviceName"], s["operationName"]) for s in trace["spans"]]
        return got if services <= {svc for svc, _ in got} and operation in {op for _, op in got} else None

    return wait_until(f"trace {trace_id} in Jaeger with {sorted(services)} and {operation!r}", spans, timeout=60)


def test_the_traces_are_in_jaeger(system, flow):
    """Each request's trace (its id from the event's traceparent header) is in the
    containerised Jaeger: the creation's holds the request in tasks-service, the token check
    in auth-service (the completion's is served from tasks-service's validation cache) and
    the relay's publish; the completion's the request, the publish and — once it exists —
    notification-service's consume."""
    _, task, _, events = flow
    wait_for_trace(system, trace_of(system, events, task, "task.created"),
                   {"tasks-service", "auth-service"}, "task-events publish")
    got = wait_for_trace(system, trace_of(system, events, task, "task.completed"),
                         {"tasks-service"} | ({"notification-service"} if notify_present() else set()),
                         "task-events publish")
    assert ("tasks-service", "POST /api/tasks/{id}/complete") in got, sorted(set(got))


def test_prometheus_scrapes_every_service(system):
    jobs = {"auth-service", "tasks-service", "tasks-relay"} | ({"notification-service"} if notify_present() else set())

    def all_up():
        up = {r["metric"]["job"]: r["value"][1] for r in prometheus(system, "up")}
        return all(up.get(j) == "1" for j in jobs) and up
    wait_until(f"Prometheus scraping {sorted(jobs)}", all_up, timeout=60)
    # and it holds the services' own series, not only `up`
    for job, series in (("tasks-service", "outbox_backlog"), ("auth-service", "http_requests_total"),
                        ("tasks-relay", "outbox_relay_shards_held")):
        assert prometheus(system, f'{series}{{job="{job}"}}'), f"no {series} from {job}"
