"""Stage 5: scale out for real — `docker compose up -d --scale tasks-relay=3` (and
`--scale notification-service=3` once it exists). The relays share the outbox's shards;
an independent consumer counts every event the workload caused: none lost, none doubled,
each task's in version order. The notification instances share their consumer group:
each completed task gets exactly one notification."""
import collections
import concurrent.futures

from confluent_kafka.admin import AdminClient

from compose_support import (User, backlog, container_metrics, end_offsets, kafka_conf, metric,
                             notifications_of_task, read_events)
from conftest import compose, need_notify, notify_present, ps, wait_until
import requests

RELAYS = 3
NOTIFIERS = 3
USERS, TASKS_PER_USER = 4, 25          # 100 tasks, 3 events each
SHARDS = 64


def replicas(service):
    return sorted(int(r["Name"].rsplit("-", 1)[1]) for r in ps() if r["Service"] == service)


def shards_held(system):
    """{replica: shards} of the tasks-relay containers, plus tasks-service's own relay."""
    held = {i: metric(container_metrics("tasks-relay", i, 28084), "outbox_relay_shards_held")
            for i in replicas("tasks-relay")}
    r = requests.get(f"http://127.0.0.1:{system['TASKS_HTTP_PORT']}/metrics", timeout=10)
    held["tasks-service"] = metric(r.text, "outbox_relay_shards_held")
    return held


def published(i):
    return metric(container_metrics("tasks-relay", i, 28084), "outbox_published_total")


def test_scale_out(system):
    args = ["up", "-d", "--no-build", "--wait", "--wait-timeout", "300", "--scale", f"tasks-relay={RELAYS}"]
    if notify_present():
        args += ["--scale", f"notification-service={NOTIFIERS}"]
    compose(*args, timeout=600)
    assert replicas("tasks-relay") == list(range(1, RELAYS + 1))
    for r in ps():
        if r["Service"] in ("tasks-relay", "notification-service"):
            assert r["State"] == "running" and r["Health"] == "healthy", r

    # every relay (the three containers and tasks-service's thread) takes its part of the shards
    def balanced():
        held = shards_held(system)
        return sum(held.values()) == SHARDS and all(v > 0 for v in held.values()) and held
    held = wait_until("the 64 shards spread over every relay", balanced, timeout=60, interval=0.5)
    print(f"\nshards held: {held}")

    wait_until("an empty outbox before the workload", lambda: backlog(system) == 0, timeout=60)
    start = end_offsets(system)
    before = {i: published(i) for i in replicas("tasks-relay")}

    def work(_):
        user = User(system)
        tasks = []
        for n in range(TASKS_PER_USER):
            t = user.create(f"scaled #{n}")
            user.rename(t["id"], f"scaled #{n}, renamed")
            user.complete(t["id"])
            tasks.append(t["id"])
        return user, tasks

    with concurrent.futures.ThreadPoolExecutor(USERS) as pool:
        done = list(pool.map(work, range(USERS)))
    expected = {(tid, v) for _, tasks in done for tid in tasks for v in (1, 2, 3)}

    # Once every row is marked published no relay sends again: the topic up to its end now
    # holds everything the workload caused.
    wait_until("the outbox to drain", lambda: backlog(system) == 0, timeout=120, interval=0.5)
    events = read_events(system, start, end_offsets(system))
    ids = [h["event_id"] for _, _, h, _ in events]
    doubled = [e for e, n in collections.Counter(ids).items() if n > 1]
    assert not doubled, f"{len(doubled)} events were delivered more than once"
    got = {(v["task_id"], v["version"]) for _, _, _, v in events}
    assert got == expected, f"lost: {sorted(expected - got)[:10]}, unexpected: {sorted(got - expected)[:10]}"
    per_task = collections.defaultdict(list)
    for _, key, _, v in events:
        per_task[int(key)].append(v["version"])
    assert all(vs == [1, 2, 3] for vs in per_task.values()), "a task's events arrived out of order"

    after = {i: published(i) for i in replicas("tasks-relay")}
    print(f"published by each tasks-relay during the run: { {i: after[i] - before.get(i, 0) for i in after} }")
    assert all(after[i] > before.get(i, 0) for i in after), "every relay published part of the workload"

    if notify_present():
        admin = AdminClient({"bootstrap.servers": kafka_conf(system)["bootstrap.servers"]})

        def members():   # (python3-confluent-kafka 1.7: list_groups, not describe_consumer_groups)
            (group,) = admin.list_groups("notification-service", timeout=30)
            return len(group.members) == NOTIFIERS and group
        group = wait_until(f"{NOTIFIERS} members in group notification-service", members, timeout=60)
        assert group.state == "Stable", group.state
        for user, tasks in done:
            def one_each():
                items = user.notifications()
                counts = {t: len(notifications_of_task(items, t)) for t in tasks}
                assert all(c <= 1 for c in counts.values()), f"a task was notified twice: {counts}"
                return all(c == 1 for c in counts.values())
            wait_until(f"one notification per completed task of {user.email}", one_each, timeout=120)


def test_scaled_notification_instances(system):
    """(A marker of what test_scale_out adds once notification-service exists.)"""
    need_notify()
    assert replicas("notification-service") == list(range(1, NOTIFIERS + 1))
