"""Clients for the Kubernetes suite, independent of the services' code: requests through the
gateway Service, psql in the PostgreSQL pod, Apache Kafka's own console consumer in a pod of
its own, and the API server's proxy for a pod's /metrics."""
import json
import secrets
import uuid

import requests

from conftest import NS, TAG, kget, kubectl, wait_until

TOPIC = "task-events"


# ---- the API through the gateway Service -------------------------------------------------

class User:
    """A freshly registered and logged-in user, talking to the gateway."""

    def __init__(self, env):
        self.base = env["GATEWAY_URL"]
        self.email = f"k8s-{secrets.token_hex(6)}@example.com"
        password = "pw-" + secrets.token_urlsafe(18)
        r = requests.post(self.base + "/api/auth/register",
                          json={"email": self.email, "password": password}, timeout=60)
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        r = requests.post(self.base + "/api/auth/login",
                          json={"email": self.email, "password": password}, timeout=60)
        assert r.status_code == 200, r.text
        self.token = r.json()["access_token"]
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method, path, **kw):
        return self.s.request(method, self.base + path, timeout=30, **kw)

    def create(self, title, **fields):
        r = self.call("POST", "/api/tasks", json={"title": title, "priority": 3, "tags": [], **fields})
        assert r.status_code == 201, r.text
        return r.json()

    def complete(self, task_id):
        r = self.call("POST", f"/api/tasks/{task_id}/complete")
        assert r.status_code == 200, r.text
        return r.json()

    def rename(self, task_id, title):
        r = self.call("PATCH", f"/api/tasks/{task_id}", json={"title": title})
        assert r.status_code == 200, r.text
        return r.json()

    def notifications(self):
        """Every notification of the user (all pages), newest first."""
        out, cursor = [], None
        while True:
            r = self.call("GET", "/api/notifications",
                          params={"limit": 100, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            body = r.json()
            out += body["notifications"]
            cursor = body.get("next_cursor")
            if not cursor:
                return out


def notifications_of_task(items, task_id, kind="task_done"):
    return [n for n in items if n.get("task_id") == task_id and n.get("kind") == kind]


# ---- PostgreSQL (psql in the postgres pod; local connections are trusted there) ------------

def psql(db, sql):
    """Rows of SQL run in database DB, as lists of text fields."""
    out = kubectl("exec", "-i", "postgres-0", "-c", "postgres", "--", "psql", "-U", "postgres",
                  "-d", db, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-f", "-",
                  input=sql, timeout=60)
    return [line.split("\t") for line in out.splitlines() if line]


def backlog():
    """Outbox rows not yet published (nor dead)."""
    return int(psql("tasks", "SELECT count(*) FROM outbox WHERE NOT published AND NOT dead;")[0][0])


# ---- Kafka: Apache Kafka's console consumer, in a pod of its own ---------------------------

def read_events(timeout_ms=15000):
    """Every message of task-events from the beginning, read by Kafka's own console consumer
    (org.apache.kafka.tools.consumer.ConsoleConsumer, from the kafka image) in a one-shot pod:
    [(partition, offset, key, value dict)] in the order printed (each partition's in offset
    order). The consumer stops after TIMEOUT_MS without a new message."""
    name = f"events-{uuid.uuid4().hex[:8]}"
    overrides = {"spec": {"containers": [{
        "name": name, "image": f"todo-system/kafka:{TAG}", "imagePullPolicy": "Never",
        "command": ["java", "-Xmx192m", "-cp", "/opt/kafka/libs/*",
                    "-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties",
                    "org.apache.kafka.tools.consumer.ConsoleConsumer",
                    "--bootstrap-server", "kafka:9092", "--topic", TOPIC, "--from-beginning",
                    "--timeout-ms", str(timeout_ms),
                    "--property", "print.partition=true",
                    "--property", "print.offset=true",
                    "--property", "print.key=true"],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000}}]}}
    kubectl("run", name, f"--image=todo-system/kafka:{TAG}", "--restart=Never",
            "--image-pull-policy=Never", f"--overrides={json.dumps(overrides)}")
    try:
        wait_until(f"the consumer pod {name} to finish",
                   lambda: kget("pod", name)["status"]["phase"] in ("Succeeded", "Failed"),
                   timeout=180, interval=1)
        phase = kget("pod", name)["status"]["phase"]
        out = kubectl("logs", name, timeout=60)
        assert phase == "Succeeded", f"the console consumer failed:\n{out[-3000:]}"
    finally:
        kubectl("delete", "pod", name, "--wait=false", check=False)
    events = []
    for line in out.splitlines():
        if not line.startswith("Partition:"):
            continue          # its own log lines (e.g. the processed-messages summary)
        part, off, key, value = line.split("\t", 3)
        events.append((int(part.split(":")[1]), int(off.split(":")[1]), key, json.loads(value)))
    return events


# ---- pods and their metrics ---------------------------------------------------------------

def pods(app):
    """The pods of app.kubernetes.io/name=APP (parsed), oldest first."""
    items = kget("pods", "-l", f"app.kubernetes.io/name={app}")["items"]
    return sorted(items, key=lambda p: p["metadata"]["creationTimestamp"])


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def restarts(pod):
    return sum(c.get("restartCount", 0) for c in pod["status"].get("containerStatuses", []))


def pod_metrics(pod_name, port):
    """GET /metrics of one pod, through the API server's proxy (no port published)."""
    return kubectl("get", "--raw", f"/api/v1/namespaces/{NS}/pods/{pod_name}:{port}/proxy/metrics",
                   namespace=None, timeout=30)


def metric(text, name):
    """Sum of every sample of NAME (any labels) in a Prometheus text exposition."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"no {name} in the metrics"
    return total


def service_get(service, port, path):
    """GET PATH of a Service through the API server's proxy; the parsed JSON."""
    return json.loads(kubectl("get", "--raw", f"/api/v1/namespaces/{NS}/services/{service}:{port}/proxy{path}",
                              namespace=None, timeout=30))


def events_of(name, reason=None):
    """Events about the object NAME (optionally only REASON), as (reason, message)."""
    sel = f"involvedObject.name={name}" + (f",reason={reason}" if reason else "")
    return [(e["reason"], e["message"]) for e in kget("events", "--field-selector", sel)["items"]]
