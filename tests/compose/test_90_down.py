"""Stage 6: `docker compose down -v` leaves no container, network or volume of the project."""
from conftest import compose, project_objects


def test_down_removes_everything_of_the_project(system):
    assert all(project_objects().values()), "the project has containers, a network and volumes while up"
    compose("down", "-v", timeout=300)
    left = project_objects()
    assert left == {"containers": [], "networks": [], "volumes": []}, left
