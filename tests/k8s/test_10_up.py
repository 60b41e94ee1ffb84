"""Stage 1: the cluster, built from source, runs infra/k8s as it is: every Deployment and
StatefulSet ready, the topics Job complete, only our images (nothing pulled), the versions
make deps built, and the HorizontalPodAutoscaler already acting (tasks-service has no replica
count of its own: its HPA's minimum of two is what runs)."""
from conftest import KUBERNETES_VERSION, NODE, TAG, kget, kubectl
from k8s_support import pods, ready


def test_every_deployment_and_statefulset_is_ready(system):
    deployments = kget("deployments")["items"]
    statefulsets = kget("statefulsets")["items"]
    names = {d["metadata"]["name"] for d in deployments + statefulsets}
    assert names == {"auth-service", "tasks-service", "tasks-relay", "notification-service", "gateway",
                     "jaeger", "prometheus", "postgres", "redis", "kafka"}, names
    for w in deployments + statefulsets:
        want = w["spec"]["replicas"]
        st = w["status"]
        assert want >= 1 and st.get("readyReplicas") == want, (w["metadata"]["name"], want, st)
        if w["kind"] == "Deployment":
            assert st.get("availableReplicas") == want and st.get("updatedReplicas") == want, st
    job = kget("job", "kafka-topics")
    assert job["status"].get("succeeded") == 1, job["status"]
    # every claim of the StatefulSets is bound to one of the node's local volumes
    claims = kget("pvc")["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-kafka-0", "data-postgres-0", "data-redis-0"]
    assert all(c["status"]["phase"] == "Bound" and c["spec"]["storageClassName"] == "local" for c in claims)


def test_only_our_images_run_and_none_was_pulled(system):
    images = set()
    for pod in kget("pods", "-A", namespace=None)["items"]:
        for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            images.add(c["image"])
    apps = {i for i in images if not i.startswith("todo-system/coredns:")}
    assert apps == {f"todo-system/{n}:{TAG}" for n in
                    ("postgres", "redis", "kafka", "jaeger", "prometheus", "gateway", "auth-service",
                     "tasks-service", "notification-service")}, images
    assert any(i.startswith("todo-system/coredns:") for i in images), images
    pulled = [e for e in kget("events", "-A", namespace=None)["items"] if e["reason"] in ("Pulling", "Failed")
              and "pull" in e["message"].lower()]
    assert not pulled, [e["message"] for e in pulled]


def test_the_cluster_runs_the_versions_built_from_source(system):
    node = kget("node", NODE, namespace=None)
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == f"v{KUBERNETES_VERSION}", info
    assert info["kubeProxyVersion"] in ("", f"v{KUBERNETES_VERSION}"), info
    assert info["containerRuntimeVersion"].startswith("containerd://1."), info
    server = kubectl("version", "-o", "json", namespace=None)
    assert f'"gitVersion": "v{KUBERNETES_VERSION}"' in server, server
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def test_the_autoscaler_keeps_two_tasks_service_replicas(system):
    deploy = kget("deployment", "tasks-service")
    assert deploy["spec"]["replicas"] == 2
    hpa = kget("hpa", "tasks-service")
    assert hpa["spec"]["minReplicas"] == 2 and hpa["status"]["desiredReplicas"] == 2, hpa["status"]
    running = [p for p in pods("tasks-service") if ready(p)]
    assert len(running) == 2
