"""Stage 2: images are cached — building again with nothing changed rebuilds nothing (the
same image ids) — and the base image can be made from Debian's packages where no registry
serves it (the path a fresh machine takes; here the image already exists, so it is made
under another name and removed)."""
import json
import os
import subprocess

import pytest

from conftest import ROOT, TAG, compose, notify_present

IMAGES = ["postgres", "redis", "kafka", "jaeger", "prometheus", "gateway", "auth-service",
          "tasks-service"]


def image_ids():
    out = {}
    for name in IMAGES + (["notification-service"] if notify_present() else []):
        p = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", f"todo-system/{name}:{TAG}"],
                           capture_output=True, text=True, check=True)
        out[name] = p.stdout.strip()
    return out


def test_a_second_build_rebuilds_nothing(system):
    before = image_ids()
    compose("build", timeout=900)
    assert image_ids() == before


def test_base_image_from_debootstrap(system):
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root")
    name = f"todo-system/base-test:{TAG}"
    env = dict(os.environ, BASE_IMAGE=name, BASE_PULL="0")
    try:
        p = subprocess.run([str(ROOT / "infra/docker/base-image.sh")], capture_output=True, text=True,
                           env=env, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        img = json.loads(subprocess.run(["docker", "image", "inspect", name], capture_output=True,
                                        text=True, check=True).stdout)[0]
        assert img["Config"]["Labels"]["org.todo-system.base"] == "debootstrap"
        assert img["Size"] < 100e6, f"the base image is {img['Size'] / 1e6:.0f} MB"
        run = subprocess.run(["docker", "run", "--rm", name, "bash", "-c",
                              ". /etc/os-release && echo $VERSION_CODENAME && apt-get --version | head -1 "
                              "&& grep -h '^Suites' /etc/apt/sources.list.d/debian.sources"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0] == "bookworm" and lines[1].startswith("apt ")
        assert "Suites: bookworm bookworm-updates" in lines and "Suites: bookworm-security" in lines
    finally:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True)
