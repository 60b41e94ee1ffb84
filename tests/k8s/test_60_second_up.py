"""Stage 6: a second `cluster up` (what a second `make k8s-up` runs after a rebuild) brings a
changed image into the running system. The tag stays the same, so the pod template does not
change and `kubectl apply` alone would leave the pods on the old image: the cluster imports
only the image whose id changed and restarts only the workloads that run it. Here the gateway
image is replaced under its tag by one with an extra label (a new image id, as a rebuild
makes); afterwards the gateway runs that id, every other workload keeps its pods, and the API
answers through the new gateway pod."""
import os
import subprocess

from conftest import TAG, cluster, kget
from k8s_support import User, pods, ready

IMAGE = f"todo-system/gateway:{TAG}"


def docker(*args, input=None):
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300, input=input)
    assert p.returncode == 0, f"docker {' '.join(args)} failed: {p.stderr[-2000:]}"
    return p.stdout.strip()


def image_id(name):
    return docker("image", "inspect", "-f", "{{.Id}}", name)


def pod_uids(apps):
    return {p["metadata"]["name"]: p["metadata"]["uid"] for app in apps for p in pods(app)}


def running_images(app):
    """{pod name: image id} of APP's ready pods that are not going away."""
    return {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["imageID"]
            for p in pods(app) if ready(p) and not p["metadata"].get("deletionTimestamp")}


def test_a_second_up_rolls_out_a_changed_image(system):
    original = image_id(IMAGE)
    before = running_images("gateway")
    assert list(before.values()) == [original], (before, original)
    services = ("auth-service", "tasks-service", "notification-service")
    others = pod_uids(services)
    # a new image id under the same tag (the classic builder: no build context is needed)
    subprocess.run(["docker", "build", "-q", "-t", IMAGE, "-"], check=True, capture_output=True, timeout=300,
                   text=True, input=f"FROM {IMAGE}\nLABEL org.todo-system.k8s-test-rev={original[7:19]}\n",
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})
    changed = image_id(IMAGE)
    try:
        assert changed != original
        up = cluster("up", env={"K8S_BUILD_IMAGES": "0"})
        out = up.stdout + up.stderr
        assert "loading 1 images" in out, out
        assert "restarting Deployment/gateway (its image" in out, out
        assert out.count("restarting ") == 1, out
        # `up` returns once every rollout is complete: the gateway's pods run the new image
        after = running_images("gateway")
        assert after and set(after.values()) == {changed} and not set(after) & set(before), (before, after)
        assert pod_uids(services) == others, "a workload whose image did not change was restarted"
        user = User(system)
        assert user.create("through the new gateway pod")["version"] == 1
    finally:
        # the tag back on the image the compose build made; the test's image removed
        docker("tag", original, IMAGE)
        if changed != original:
            subprocess.run(["docker", "rmi", changed], capture_output=True, timeout=120)
