"""Stage 4: three outbox relays. tasks-relay is scaled by its HorizontalPodAutoscaler, so it
is scaled the way an HPA-managed Deployment is: its minimum goes to 3 and the autoscaler
scales the Deployment (a plain `kubectl scale` would be undone by the autoscaler). The 64
shards spread over every relay — the three pods and the relay thread of each tasks-service
replica — and a workload's events all reach Kafka once, each task's in version order (read
by Kafka's own consumer)."""
import collections
import concurrent.futures

from conftest import kget, kubectl, wait_until
from k8s_support import User, backlog, metric, pod_metrics, pods, read_events, ready

RELAYS = 3
SHARDS = 64
USERS, TASKS_PER_USER = 4, 25          # 100 tasks, 3 events each


def relay_pods():
    return [p["metadata"]["name"] for p in pods("tasks-relay")
            if ready(p) and not p["metadata"].get("deletionTimestamp")]


def shards_held():
    held = {name: metric(pod_metrics(name, 28084), "outbox_relay_shards_held") for name in relay_pods()}
    for p in pods("tasks-service"):
        if ready(p) and not p["metadata"].get("deletionTimestamp"):
            name = p["metadata"]["name"]
            held[name] = metric(pod_metrics(name, 28082), "outbox_relay_shards_held")
    return held


def test_scale_the_relays_to_three(system):
    kubectl("patch", "hpa", "tasks-relay", "--type=merge", "-p", f'{{"spec":{{"minReplicas":{RELAYS}}}}}')
    wait_until(f"{RELAYS} ready relay pods",
               lambda: kget("deployment", "tasks-relay")["spec"]["replicas"] == RELAYS
               and len(relay_pods()) == RELAYS, timeout=180, interval=1)

    def balanced():
        held = shards_held()
        return len(held) == RELAYS + 2 and sum(held.values()) == SHARDS and all(v > 0 for v in held.values()) and held
    held = wait_until("the 64 shards spread over every relay", balanced, timeout=120, interval=1)
    print(f"\nshards held: {held}")

    wait_until("an empty outbox before the workload", lambda: backlog() == 0, timeout=60)
    before = {name: metric(pod_metrics(name, 28084), "outbox_published_total") for name in relay_pods()}

    def work(_):
        user = User(system)
        tasks = []
        for n in range(TASKS_PER_USER):
            t = user.create(f"scaled #{n}")
            user.rename(t["id"], f"scaled #{n}, renamed")
            user.complete(t["id"])
            tasks.append(t["id"])
        return tasks

    with concurrent.futures.ThreadPoolExecutor(USERS) as pool:
        tasks = [t for ts in pool.map(work, range(USERS)) for t in ts]
    wait_until("the outbox to drain", lambda: backlog() == 0, timeout=120, interval=1)

    mine = set(tasks)
    events = [(key, v) for _, _, key, v in read_events() if int(key) in mine]
    ids = collections.Counter(v["id"] for _, v in events)
    doubled = [e for e, n in ids.items() if n > 1]
    assert not doubled, f"{len(doubled)} events were delivered more than once"
    per_task = collections.defaultdict(list)
    for key, v in events:
        assert int(key) == v["task_id"], (key, v)
        per_task[v["task_id"]].append(v["version"])
    assert set(per_task) == mine, f"tasks without events: {sorted(mine - set(per_task))[:10]}"
    assert all(vs == [1, 2, 3] for vs in per_task.values()), \
        {t: vs for t, vs in per_task.items() if vs != [1, 2, 3]}

    after = {name: metric(pod_metrics(name, 28084), "outbox_published_total") for name in relay_pods()}
    print(f"published by each tasks-relay pod: { {n: after[n] - before.get(n, 0) for n in after} }")
    assert all(after[n] > before.get(n, 0) for n in after), "every relay pod published part of the workload"
