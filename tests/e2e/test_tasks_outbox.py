"""The transactional outbox and its relay against the real PostgreSQL and Kafka:
a Kafka outage, a relay killed with SIGKILL mid-drain, two relays sharing a backlog, the
NOTIFY wake-up, dead rows and their replay, and pruning. Kafka is read by an independent
consumer (confluent_kafka) from offsets taken before each scenario.

Tests that stop a part start it again in `finally`, so later tests find the stack whole.
The relay scenarios stop the stack's tasks-service (whose relay thread would otherwise take
part) and run `tasks-service --relay-only` processes of their own."""
import concurrent.futures
import json
import subprocess
import time

import requests

from conftest import stack, wait_until
from tasks_support import (Api, Relay, bin_dir, bulk_backlog, check_delivery, consume_since,
                           end_offsets, new_account, notify_relays, pending_for, sql,
                           wait_drained)


def published_count(env, task_ids):
    return sql(env, "SELECT count(*) FROM outbox WHERE aggregate_id = ANY(%s) AND published",
               (list(task_ids),))[0][0]


def events_of(env, task_ids):
    rows = sql(env, "SELECT event_id::text, aggregate_id, version FROM outbox "
                    "WHERE aggregate_id = ANY(%s)", (list(task_ids),))
    return {r[0]: (r[1], r[2]) for r in rows}


def cli(env, *args):
    e = {**env, "LOG_LEVEL": "warn"}
    return subprocess.run([str(bin_dir() / "tasks-service"), *args], env=e, capture_output=True,
                          text=True, timeout=120)


def test_kafka_outage_writes_succeed_and_drain_in_order(env):
    token, _ = new_account(env)
    start = end_offsets(env)
    stack("stop", "kafka")
    try:
        def one_task(i):
            api = Api(env, token)
            t = api.create(f"outage {i}", tags=["outage"])
            for k in range(4):
                r = api.req("PATCH", f"/api/tasks/{t['id']}", {"priority": 1 + k})
                assert r.status_code == 200, r.text
            return t["id"]

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            ids = list(ex.map(one_task, range(200)))  # 200 creates + 800 updates
        print(f"1,000 changes with Kafka down in {time.monotonic() - t0:.1f}s")
        assert pending_for(env, ids) == 1000
        m = requests.get(env["TASKS_HTTP_URL"] + "/metrics", timeout=5).text
        wait_until("the backlog gauge to show the backlog", lambda: float(
            [l for l in requests.get(env["TASKS_HTTP_URL"] + "/metrics", timeout=5).text
             .splitlines() if l.startswith("outbox_backlog ")][0].split()[1]) >= 1000,
            timeout=15)
        assert "outbox_publish_failures_total" in m
    finally:
        stack("start", "kafka")
    t0 = time.monotonic()
    wait_drained(env, ids, timeout=180)
    print(f"backlog of 1,000 drained {time.monotonic() - t0:.1f}s after Kafka was ready")
    expected = events_of(env, ids)
    assert len(expected) == 1000
    dups = check_delivery(consume_since(env, start), expected)
    print(f"duplicates: {dups}")
    # the failures while Kafka was down were recorded on the rows, not turned into dead rows
    assert sql(env, "SELECT count(*) FROM outbox WHERE aggregate_id = ANY(%s) AND dead",
               (ids,))[0][0] == 0


def test_relay_killed_mid_drain_loses_nothing(env):
    _, uid = new_account(env)
    stack("stop", "tasks")
    relays = []
    try:
        start = end_offsets(env)
        expected, ids = bulk_backlog(env, uid, tasks=2000, versions=5)  # 10,000 rows
        first = Relay(env, "killed", TASKS_RELAY_BATCH_SIZE=50)
        relays.append(first)
        notify_relays(env)
        wait_until("the relay to be part way", lambda: published_count(env, ids) >= 1000,
                   timeout=120, interval=0.05)
        first.kill()
        left = pending_for(env, ids)
        print(f"SIGKILL with {10000 - left} published and {left} pending")
        assert left > 0, "the relay finished before it could be killed"
        second = Relay(env, "after-kill")
        relays.append(second)
        wait_drained(env, ids, timeout=180)
        second.stop()
        dups = check_delivery(consume_since(env, start), expected)
        print(f"duplicates after the SIGKILL: {dups} (at-least-once allows them)")
        for r in relays:
            r.assert_clean()
    finally:
        for r in relays:
            if r.p.poll() is None:
                r.kill()
        stack("start", "tasks")


def test_two_relays_share_one_backlog(env):
    _, uid = new_account(env)
    stack("stop", "tasks")
    relays = []
    try:
        relays = [Relay(env, "pair-a"), Relay(env, "pair-b")]
        wait_until("the two relays to split the shards",
                   lambda: [r.shards() for r in relays] == [32, 32], timeout=60)
        start = end_offsets(env)
        expected, ids = bulk_backlog(env, uid, tasks=2000, versions=5)
        notify_relays(env)
        wait_drained(env, ids, timeout=180)
        counts = [r.stop() for r in relays]
        print(f"published per relay: {counts}")
        assert all(c > 1000 for c in counts), counts
        dups = check_delivery(consume_since(env, start), expected)
        assert dups == 0, "a row was published by both relays"
        for r in relays:
            r.assert_clean()
    finally:
        for r in relays:
            if r.p.poll() is None:
                r.kill()
        stack("start", "tasks")


def test_relay_wakes_on_notify_not_only_on_poll(env):
    _, uid = new_account(env)
    stack("stop", "tasks")
    relay = None
    try:
        # a 60 s poll: only the NOTIFY can explain a drain within seconds
        relay = Relay(env, "notify", TASKS_RELAY_POLL_INTERVAL="60s")
        wait_until("the relay to hold every shard", lambda: relay.shards() == 64, timeout=30)
        time.sleep(0.5)  # let its first round finish and the relay go to sleep
        expected, ids = bulk_backlog(env, uid, tasks=5, versions=2)
        t0 = time.monotonic()
        notify_relays(env)
        wait_drained(env, ids, timeout=20)
        took = time.monotonic() - t0
        print(f"drained {took:.2f}s after the NOTIFY")
        assert took < 10
        relay.stop()
        relay.assert_clean()
    finally:
        if relay and relay.p.poll() is None:
            relay.kill()
        stack("start", "tasks")


def test_rejected_row_goes_dead_without_blocking_and_can_be_replayed(env):
    base = 9_000_000_000_000 + int(time.time() * 1000) % 10**9
    poison, follower, other = base * 64, base * 64 + 64, base * 64 + 1  # poison, follower: one task
    try:
        sql(env, """INSERT INTO outbox (event_id, event_type, aggregate_id, version, key, payload)
                    VALUES (gen_random_uuid(), 'task.updated', %(t)s, 1, %(t)s::text,
                            jsonb_build_object('pad', repeat('x', 1100000))),
                           (gen_random_uuid(), 'task.updated', %(t)s, 2, %(t)s::text, '{"n":2}'),
                           (gen_random_uuid(), 'task.updated', %(o)s, 1, %(o)s::text, '{"n":1}')""",
            {"t": poison, "o": other})
        notify_relays(env)
        wait_until("another task's row to pass", lambda: pending_for(env, [other]) == 0,
                   timeout=60)
        row = lambda: sql(env, "SELECT dead, attempts, last_error, published FROM outbox "  # noqa
                               "WHERE aggregate_id = %s ORDER BY id", (poison,))
        wait_until("the first attempt", lambda: row()[0][1] >= 1, timeout=30)
        first, second = row()
        assert "MSG_SIZE_TOO_LARGE" in first[2]
        if not first[0]:
            assert second[3] is False, "a later event of the task overtook the failing one"
        wait_until("the row to become dead", lambda: row()[0][0], timeout=90)
        dead = row()[0]
        assert dead[1] == 5  # TASKS_RELAY_MAX_ATTEMPTS
        wait_until("the task's next row, no longer blocked", lambda: row()[1][3], timeout=30)

        stats = json.loads(cli(env, "--outbox-stats").stdout)
        assert stats["dead"] >= 1 and {"backlog", "oldest_unpublished_age_seconds",
                                        "published_last_minute"} <= set(stats)
        poison_id = sql(env, "SELECT id FROM outbox WHERE aggregate_id = %s AND version = 1",
                        (poison,))[0][0]
        out = cli(env, "--outbox-replay", str(poison_id), str(poison_id))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"replayed": 1}
        assert row()[0][:2] == (False, 0) or row()[0][1] >= 1  # pending again (or retried already)
        wait_until("the replayed row to fail again and die", lambda: row()[0][0] and
                   row()[0][1] == 5, timeout=90)
        assert cli(env, "--outbox-replay", "x").returncode == 2
    finally:
        sql(env, "DELETE FROM outbox WHERE aggregate_id IN (%s, %s)", (poison, other))
        _ = follower


def test_published_rows_are_pruned_after_the_retention(env):
    _, uid = new_account(env)
    expected, ids = bulk_backlog(env, uid, tasks=3, versions=1)
    notify_relays(env)
    wait_drained(env, ids, timeout=60)
    sql(env, "UPDATE outbox SET published_at = now() - interval '2 days' "
             "WHERE aggregate_id = ANY(%s)", (ids[:2],))
    relay = Relay(env, "prune", TASKS_OUTBOX_RETENTION="1d")
    try:
        wait_until("old published rows to be pruned",
                   lambda: sql(env, "SELECT count(*) FROM outbox WHERE aggregate_id = ANY(%s)",
                               (ids[:2],))[0][0] == 0, timeout=30)
        assert sql(env, "SELECT count(*) FROM outbox WHERE aggregate_id = %s", (ids[2],))[0][0] == 1
        relay.stop()
        relay.assert_clean()
    finally:
        if relay.p.poll() is None:
            relay.kill()


def test_full_producer_queue_makes_the_relay_wait_not_fail(env):
    """A producer queue far smaller than a batch: the relay serves delivery reports until there
    is room (backpressure) and every row still goes out exactly once."""
    _, uid = new_account(env)
    stack("stop", "tasks")
    relay = None
    try:
        start = end_offsets(env)
        expected, ids = bulk_backlog(env, uid, tasks=3000, versions=1)
        relay = Relay(env, "backpressure", TASKS_RELAY_QUEUE_MAX=100, TASKS_RELAY_BATCH_SIZE=2000)
        wait_drained(env, ids, timeout=120)
        assert relay.stop("queue_full_waits") > 0, "the queue never filled: nothing was tested"
        assert relay.events("relay: stopped")[-1]["published"] >= 3000
        assert check_delivery(consume_since(env, start), expected) == 0
        relay.assert_clean()
    finally:
        if relay and relay.p.poll() is None:
            relay.kill()
        stack("start", "tasks")
