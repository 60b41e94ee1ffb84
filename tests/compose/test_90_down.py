"""Stage 6: `docker compose down -v` leaves no container, network or volume of the project."""
import json
import subprocess

from conftest import compose, project_objects


def test_down_removes_everything_of_the_project(system):
    before = project_objects()
    assert all(before.values()), "the project has containers, a network and volumes while up"
    mounted = {m["Name"] for c in json.loads(subprocess.run(["docker", "inspect", *before["containers"]],
                                                            capture_output=True, text=True, check=True).stdout)
               for m in c["Mounts"] if m["Type"] == "volume"}
    compose("down", "-v", timeout=300)
    left = project_objects()
    assert left == {"containers": [], "networks": [], "volumes": []}, left
    existing = set(subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert not mounted & existing, f"volumes the containers used are left: {mounted & existing}"
