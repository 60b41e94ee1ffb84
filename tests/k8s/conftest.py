"""The Kubernetes suite: infra/k8s deployed for real to a single-node cluster built from source
(infra/kube/cluster: a node container running etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kubelet on containerd and kube-proxy; CoreDNS; our images), and tested from the
host with independent clients: kubectl (Kubernetes' own client, built by make deps), requests
through the gateway Service (a NodePort the node container publishes on 127.0.0.1), psql and
Apache Kafka's console consumer run inside the cluster, and the API server's proxy to reach a
pod's /metrics.

  make test-k8s              (make test runs it when the cluster can run here)
  /usr/bin/python3 -m pytest -q -s tests/k8s

The suite has its own node container (todo-k8s-test-<offset>), image tag (k8s-test-<offset>),
kubeconfig and generated secrets (.run/k8s-test/), and host ports docker picks (any free
one), so it runs beside a local stack, compose and `make k8s-up`. It removes its node (and
with it every pod and volume) before and after the run. For work on the suite: K8S_TEST_KEEP=1
leaves the node up afterwards (`TODO_RUN_DIR=.run/k8s-test K8S_NODE_NAME=todo-k8s-test-<offset>
infra/kube/cluster status`), and K8S_TEST_REUSE=1 starts from the node left up (a second
`cluster up` only re-applies) instead of a new one.

The files run in name order, as stages of one cluster's life: up (10), one user's flow (20),
a tasks-service pod deleted under load (30), relays scaled to three (40), dependencies
stopped and the probes failing (50), a changed image rolled out by a second `up` (60).
"""
import json
import os
import pathlib
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "infra" / "kube" / "cluster"
RUN = pathlib.Path(os.environ.get("TODO_RUN_DIR", ROOT / ".run")).resolve()
OFFSET = int(os.environ.get("STACK_PORT_OFFSET", "0") or 0)
NODE = f"todo-k8s-test-{OFFSET}"
TAG = f"k8s-test-{OFFSET}"
WORK = RUN / "k8s-test"
NS = "todo-system"
VERSIONS = dict(line.split("=", 1) for line in (ROOT / "infra" / "versions.env").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
KUBERNETES_VERSION = VERSIONS["KUBERNETES_VERSION"]
# the settings infra/kube/cluster reads are the suite's own, never the caller's
OWN_VARS = ["K8S_API_PORT", "GATEWAY_PORT", "K8S_NODE_NAME", "TODO_IMAGE_TAG", "TODO_RUN_DIR",
            "KUBECONFIG", "K8S_BUILD_IMAGES"]


def cluster_env():
    env = {k: v for k, v in os.environ.items() if k not in OWN_VARS}
    env.update(K8S_NODE_NAME=NODE, K8S_API_PORT="0", GATEWAY_PORT="0", TODO_IMAGE_TAG=TAG,
               TODO_RUN_DIR=str(WORK))
    return env


def cluster(*args, check=True, timeout=600, env=None):
    """infra/kube/cluster ARGS for the suite's node (ENV: settings of its own on top); returns
    the CompletedProcess."""
    p = subprocess.run([str(CLUSTER), *args], capture_output=True, text=True,
                       env={**cluster_env(), **(env or {})}, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"cluster {' '.join(args)} failed ({p.returncode}):\n"
                             f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def kubectl(*args, check=True, timeout=120, input=None, namespace=NS):
    """kubectl ARGS (in the todo-system namespace unless NAMESPACE is None); its stdout."""
    ns = ["-n", namespace] if namespace else []
    p = subprocess.run([str(CLUSTER), "kubectl", *ns, *args], capture_output=True, text=True,
                       env=cluster_env(), timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p.stdout


def kget(*args, namespace=NS):
    """kubectl get ARGS -o json, parsed."""
    return json.loads(kubectl("get", *args, "-o", "json", namespace=namespace))


def wait_until(what, fn, timeout=60.0, interval=0.5):
    """Poll FN until it returns a truthy value; fail naming WHAT after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the condition may raise while not yet true
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last!r}")


def can_run():
    """(True, "") when a cluster node can run on this machine, else (False, the reason)."""
    p = subprocess.run([str(CLUSTER), "check"], capture_output=True, text=True, env=cluster_env(),
                       timeout=300)
    lines = (p.stdout + p.stderr).strip().splitlines()
    return p.returncode == 0, (lines[-1] if lines else f"cluster check exited {p.returncode}")


@pytest.fixture(scope="session")
def system():
    """The cluster, up with the system deployed and ready: cluster env as a dict."""
    ok, why = can_run()
    if not ok:
        if os.environ.get("TODO_REQUIRE_K8S") == "1":
            pytest.fail(f"TODO_REQUIRE_K8S=1 and the cluster cannot run here: {why}")
        pytest.skip(f"no Kubernetes node can run here: {why}")
    if os.environ.get("K8S_TEST_REUSE") != "1":
        cluster("down", timeout=300)
    t0 = time.monotonic()
    try:
        up = cluster("up", timeout=2400)
    except BaseException:
        # a failed start leaves no node behind either (unless kept for a look)
        if os.environ.get("K8S_TEST_KEEP") != "1":
            cluster("down", check=False, timeout=300)
        raise
    print(f"\nk8s suite: cluster up and the system ready in {time.monotonic() - t0:.0f}s (node {NODE})")
    env = {}
    for line in cluster("env").stdout.splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    env["up_output"] = up.stdout + up.stderr
    yield env
    if os.environ.get("K8S_TEST_KEEP") == "1":
        print(f"\nK8S_TEST_KEEP=1: node {NODE} left running (KUBECONFIG={env['KUBECONFIG']})")
        return
    cluster("down", check=False, timeout=300)
