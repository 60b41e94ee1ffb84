"""Stage 3: a tasks-service pod deleted while users keep writing through the gateway. The
ReplicaSet replaces it; the pod leaves the Service's endpoints, kube-proxy moves the traffic to
the other replica, and after its preStop pause the kubelet sends SIGTERM and the service
drains. No request fails, and nothing acknowledged is lost:
every task the API answered 201/200 for is in the database as answered, and every such
change is in Kafka (read by Kafka's own consumer) once the outbox has drained."""
import collections
import threading
import time

import requests

from conftest import kubectl, wait_until
from k8s_support import User, backlog, pods, psql, read_events, ready

WORKERS = 4
MAX_SECONDS = 150          # the load stops by then whatever happens
MAX_REQUESTS = 4000


class Load:
    """WORKERS users, each creating and completing tasks in a loop until stopped."""

    def __init__(self, env):
        self.users = [User(env) for _ in range(WORKERS)]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.created = {}        # task id -> user id (201 answered)
        self.completed = set()   # task ids (200 answered)
        self.failures = []       # (when, method, status or exception, body)
        self.ok_times = []
        self.requests = 0

    def _note(self, ok, what):
        with self.lock:
            self.requests += 1
            if ok:
                self.ok_times.append(time.monotonic())
            else:
                self.failures.append((time.monotonic(), *what))

    def _worker(self, user):
        n = 0
        while not self.stop.is_set() and self.requests < MAX_REQUESTS:
            n += 1
            try:
                r = user.call("POST", "/api/tasks", json={"title": f"under load #{n}", "priority": 2, "tags": []})
            except requests.RequestException as e:
                self._note(False, ("POST", repr(e), ""))
                continue
            if r.status_code != 201:
                self._note(False, ("POST", r.status_code, r.text[:200]))
                continue
            tid = r.json()["id"]
            with self.lock:
                self.created[tid] = user.id
            self._note(True, None)
            try:
                r = user.call("POST", f"/api/tasks/{tid}/complete")
            except requests.RequestException as e:
                self._note(False, ("complete", repr(e), ""))
                continue
            if r.status_code == 200:
                with self.lock:
                    self.completed.add(tid)
                self._note(True, None)
            else:
                self._note(False, ("complete", r.status_code, r.text[:200]))

    def start(self):
        self.threads = [threading.Thread(target=self._worker, args=(u,), daemon=True) for u in self.users]
        self.deadline = time.monotonic() + MAX_SECONDS
        for t in self.threads:
            t.start()

    def ok_since(self, t):
        with self.lock:
            return sum(1 for x in self.ok_times if x > t)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def test_delete_a_tasks_service_pod_under_load(system):
    before = [p["metadata"]["name"] for p in pods("tasks-service") if ready(p)]
    assert len(before) == 2, before
    load = Load(system)
    load.start()
    try:
        wait_until("the load to be going", lambda: load.ok_since(0) >= 40, timeout=60)
        victim = before[0]
        t_delete = time.monotonic()
        kubectl("delete", "pod", victim, "--wait=false")
        print(f"\ndeleted {victim} after {load.requests} requests")

        def replaced():
            live = [p for p in pods("tasks-service") if not p["metadata"].get("deletionTimestamp")]
            names = {p["metadata"]["name"] for p in live if ready(p)}
            return len(names) == 2 and victim not in names and names
        names = wait_until("a replacement pod ready", replaced, timeout=120, interval=1)
        t_replaced = time.monotonic()
        # the load goes on through the new set of replicas
        wait_until("writes acknowledged after the replacement", lambda: load.ok_since(t_replaced) >= 40,
                   timeout=max(5, load.deadline - time.monotonic()))
    finally:
        load.finish()
    print(f"replicas now {sorted(names)}; {load.requests} requests, {len(load.created)} tasks created, "
          f"{len(load.completed)} completed, {len(load.failures)} failed "
          f"{collections.Counter((m, s) for _, m, s, _ in load.failures)}")
    assert load.ok_since(t_delete) > 0

    # no request failed: the pod keeps serving through its preStop pause until its removal
    # from the Service has reached kube-proxy and the gateway, then drains (without the pause,
    # a few writes in each run got the gateway's 502/503 while the pod went away)
    assert not load.failures, load.failures[:10]

    # nothing acknowledged is lost: the database holds every task as answered …
    ids = sorted(load.created)
    rows = psql("tasks", f"SELECT id, done FROM tasks WHERE id IN ({','.join(map(str, ids))});")
    in_db = {int(i): d == "t" for i, d in rows}
    assert set(in_db) == set(ids), f"lost: {sorted(set(ids) - set(in_db))[:10]}"
    assert all(in_db[t] for t in load.completed), "a completion answered 200 is not in the database"

    # … and every acknowledged change reached Kafka once the outbox drained
    wait_until("the outbox to drain", lambda: backlog() == 0, timeout=120, interval=1)
    got = collections.defaultdict(set)
    for _, _, key, v in read_events():
        got[int(key)].add(v["type"])
    missing = [t for t in ids if "task.created" not in got[t]]
    assert not missing, f"{len(missing)} created tasks have no event: {missing[:10]}"
    missing = [t for t in load.completed if "task.completed" not in got[t]]
    assert not missing, f"{len(missing)} completions have no event: {missing[:10]}"
