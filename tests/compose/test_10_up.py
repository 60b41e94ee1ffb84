"""Stage 1: `make compose-up`'s path (infra/docker/compose up) built every image from the
Debian base and brought every container up healthy, in dependency order."""
import json
import subprocess

import yaml

from conftest import ROOT, TAG, compose, notify_present, ps

# the long-running containers and the one-shot
SERVICES = {"postgres", "redis", "kafka", "jaeger", "prometheus", "gateway", "auth-service",
            "tasks-service", "tasks-relay"}
IMAGES = ["postgres", "redis", "kafka", "jaeger", "prometheus", "gateway", "auth-service",
          "tasks-service"]


def expected_services():
    return SERVICES | ({"notification-service"} if notify_present() else set())


def test_every_container_is_healthy_and_the_topics_job_succeeded(system):
    rows = ps()
    by_service = {}
    for r in rows:
        by_service.setdefault(r["Service"], []).append(r)
    assert set(by_service) == expected_services() | {"kafka-init"}, sorted(by_service)
    for name in expected_services():
        for c in by_service[name]:
            assert c["State"] == "running" and c["Health"] == "healthy", (name, c["State"], c["Health"])
    (init,) = by_service["kafka-init"]
    assert init["State"] == "exited" and init["ExitCode"] == 0, init


def test_every_image_is_built_from_the_debian_base(system):
    """No image came from a registry: each is ours, on debian:bookworm-slim's layers."""
    base = json.loads(subprocess.run(["docker", "image", "inspect", "debian:bookworm-slim"],
                                     capture_output=True, text=True, check=True).stdout)[0]
    base_layers = base["RootFS"]["Layers"]
    for name in IMAGES + (["notification-service"] if notify_present() else []):
        ref = f"todo-system/{name}:{TAG}"
        img = json.loads(subprocess.run(["docker", "image", "inspect", ref], capture_output=True,
                                        text=True, check=True).stdout)[0]
        assert img["RootFS"]["Layers"][:len(base_layers)] == base_layers, f"{ref} is not built on debian:bookworm-slim"
        assert img["Config"]["Labels"].get("org.todo-system.image") == name, ref


def test_services_run_unprivileged(system):
    for name in sorted(expected_services() - {"postgres"}):  # (postgres: root drops to uid 999)
        uid = compose("exec", "-T", name, "id", "-u").stdout.strip()
        assert uid.isdigit() and uid != "0", f"{name} runs as uid {uid!r}"


def test_published_ports_are_on_loopback_only(system):
    published = 0
    for r in ps():
        for pub in r.get("Publishers") or []:
            if pub.get("PublishedPort"):
                assert pub["URL"] == "127.0.0.1", (r["Service"], pub)
                published += 1
    assert published >= 12


def test_every_data_directory_is_a_named_volume_of_the_project(system):
    """Data lives only in the project's named volumes (removed by `down -v`): no container
    has an anonymous volume, which `down -v` could leave behind."""
    ids = compose("ps", "-aq").stdout.split()
    assert ids
    for info in json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True,
                                          check=True).stdout):
        for m in info["Mounts"]:
            if m["Type"] == "volume":
                assert m["Name"].startswith(system["COMPOSE_PROJECT_NAME"] + "_"), \
                    f"{info['Name']}: anonymous volume at {m['Destination']}"


def test_every_image_kubernetes_runs_was_built(system):
    """infra/k8s/ runs the compose build's images (`minikube image load` of them): each one a
    manifest names exists after the build (here under the suite's tag)."""
    names = set()
    for f in (ROOT / "infra" / "k8s").glob("*.yaml"):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") in ("Deployment", "StatefulSet", "Job"):
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    names.add(c["image"].rsplit(":", 1)[0])
    assert names, "no image found in infra/k8s"
    for name in sorted(names):
        p = subprocess.run(["docker", "image", "inspect", f"{name}:{TAG}"], capture_output=True, text=True)
        assert p.returncode == 0, f"{name} (infra/k8s) was not built by the compose build"
