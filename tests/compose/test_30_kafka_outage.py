"""Stage 4: `docker compose stop kafka` — writes keep succeeding and wait in the outbox;
`docker compose start kafka` — the backlog drains by itself and every event arrives."""
from compose_support import User, backlog, end_offsets, read_events
from conftest import compose, ps, wait_until

WRITES = 20


def kafka_state():
    (k,) = [r for r in ps() if r["Service"] == "kafka"]
    return k["State"], k["Health"]


def test_writes_succeed_while_kafka_is_stopped_and_drain_after(system):
    wait_until("an empty outbox before the outage", lambda: backlog(system) == 0, timeout=60)
    start = end_offsets(system)
    user = User(system)
    compose("stop", "kafka", timeout=120)
    assert kafka_state()[0] == "exited"
    try:
        ids = [user.create(f"written while Kafka is down #{i}")["id"] for i in range(WRITES)]
        r = user.call("GET", "/api/tasks", params={"limit": 100})
        assert r.status_code == 200 and {t["id"] for t in r.json()["tasks"]} == set(ids)
        # nothing could be published: every event waits in the outbox
        assert backlog(system) >= WRITES
    finally:
        compose("start", "kafka", timeout=300)
    wait_until("Kafka healthy again", lambda: kafka_state() == ("running", "healthy"), timeout=180)
    wait_until("the outbox backlog to drain", lambda: backlog(system) == 0, timeout=180, interval=0.5)
    events = read_events(system, start, end_offsets(system))
    got = sorted(int(k) for _, k, _, v in events if v["type"] == "task.created" and v["user_id"] == user.id)
    assert got == sorted(ids), "every write made while Kafka was down reached it exactly once"
