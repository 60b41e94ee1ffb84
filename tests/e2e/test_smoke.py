"""Smoke: every real part of the stack answers, checked with independent clients."""
import json
import secrets
import time
import uuid

import psycopg2
import pytest
import redis
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import wait_until


@pytest.mark.parametrize("var,db", [("AUTH_DATABASE_URL", "auth"),
                                    ("TASKS_DATABASE_URL", "tasks"),
                                    ("NOTIFY_DATABASE_URL", "notifications")])
def test_postgres_each_service_database(env, var, db):
    with psycopg2.connect(env[var], connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_user, 6 * 7")
        assert cur.fetchone() == (db, db, 42)
        # the role owns its database: it can create and drop its own tables
        cur.execute("CREATE TEMP TABLE smoke (x int)")
        cur.execute("INSERT INTO smoke VALUES (1) RETURNING x")
        assert cur.fetchone() == (1,)


def test_postgres_roles_cannot_reach_another_services_database(env):
    # auth's credentials against the tasks database: the server refuses.
    url = env["AUTH_DATABASE_URL"].rsplit("/", 1)[0] + "/tasks"
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        psycopg2.connect(url, connect_timeout=5)


def test_redis_ping_and_roundtrip(env):
    r = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    assert r.ping() is True
    key = f"smoke:{uuid.uuid4()}"
    r.set(key, "v", ex=60)
    assert r.get(key) == b"v"
    r.delete(key)


def kafka_roundtrip(brokers, topic="task-events"):
    """Produce one message with a unique value and read it back from its partition."""
    value = json.dumps({"smoke": str(uuid.uuid4())}).encode()
    delivered = {}

    def on_delivery(err, msg):
        delivered["err"], delivered["msg"] = err, msg

    p = Producer({"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True})
    p.produce(topic, key=b"smoke", value=value, headers=[("event_id", b"smoke")], on_delivery=on_delivery)
    assert p.flush(30) == 0, "message not delivered within 30s"
    assert delivered["err"] is None, delivered["err"]
    msg = delivered["msg"]

    c = Consumer({"bootstrap.servers": brokers, "group.id": f"smoke-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, msg.partition(), msg.offset())])
        got = wait_until("the produced message", lambda: c.poll(1.0), timeout=30)
        assert got.error() is None, got.error()
        assert got.value() == value
        assert got.key() == b"smoke"
        assert dict(got.headers())["event_id"] == b"smoke"
    finally:
        c.close()


def test_kafka_produce_and_consume(env):
    kafka_roundtrip(env["KAFKA_BROKERS"])


def test_kafka_topics_exist(env):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": env["KAFKA_BROKERS"]}).list_topics(timeout=10)
    assert "task-events" in md.topics and "task-events.dlq" in md.topics
    assert len(md.topics["task-events"].partitions) >= 1


def test_jaeger_accepts_otlp_and_serves_the_trace(env):
    trace_id = secrets.token_hex(16)
    span_id = secrets.token_hex(8)
    now = time.time_ns()
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "smoke-test"}}]},
        "scopeSpans": [{"scope": {"name": "smoke"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "smoke-span", "kind": 2,
            "startTimeUnixNano": str(now - 5_000_000), "endTimeUnixNano": str(now),
            "attributes": [{"key": "smoke.id", "value": {"stringValue": trace_id}}]}]}]}]}
    r = requests.post(env["OTLP_ENDPOINT"] + "/v1/traces", json=body, timeout=5)
    assert r.status_code == 200, r.text

    def fetch():
        q = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=5)
        return q.json() if q.status_code == 200 else None

    data = wait_until("the span in Jaeger", fetch, timeout=30)
    spans = data["data"][0]["spans"]
    assert [s["spanID"] for s in spans] == [span_id]
    assert spans[0]["operationName"] == "smoke-span"


def test_prometheus_ready_and_scraping_services(env):
    assert requests.get(env["PROMETHEUS_URL"] + "/-/ready", timeout=5).status_code == 200
    want = {"auth-service", "tasks-service", "notification-service"}

    def jobs():
        targets = requests.get(env["PROMETHEUS_URL"] + "/api/v1/targets", timeout=5).json()
        have = {t["labels"]["job"] for t in targets["data"]["activeTargets"]}
        return want <= have

    # target discovery runs shortly after start-up: poll for it
    wait_until("Prometheus to list every service as a scrape target", jobs, timeout=30)


def test_gateway_answers_with_contract_errors(env):
    gw = env["GATEWAY_URL"]
    assert requests.get(gw + "/gateway/health", timeout=5).json() == {"status": "ok"}
    r = requests.get(gw + "/no/such/route", timeout=5)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert "X-Request-Id" in r.headers
    # a body over the gateway's limit never reaches a service
    r = requests.post(gw + "/api/tasks", data=b"x" * (2 << 20), timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
