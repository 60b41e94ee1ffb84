"""The transactional outbox and its relay against the real PostgreSQL and Kafka:
a Kafka outage, a relay killed with SIGKILL mid-drain, two relays sharing a backlog, the
NOTIFY wake-up, dead rows and their replay, and pruning. Kafka is read by an independent
consumer (confluent_kafka) from offsets taken before each scenario.

Tests that stop a part start it again in `finally`, so later tests find the stack whole.
The relay scenarios stop the stack's tasks-service (whose relay thread would otherwise take
part) and run `tasks-service --relay-only` processes of their own. Metrics are compared by
value, before and after each scenario, as an operator reads them."""
import concurrent.futures
import json
import signal
import time

from auth_support import free_port
from conftest import Counters, metric, ready, scrape, stack, wait_until
from tasks_support import (Api, Relay, bulk_backlog, check_delivery, cli, consume_since,
                           end_offsets, events_of, new_account, notify_relays, pending_for, sql,
                           wait_drained, wait_relay_asleep)


def published_count(env, task_ids):
    return sql(env, "SELECT count(*) FROM outbox WHERE aggregate_id = ANY(%s) AND published",
               (list(task_ids),))[0][0]


def gauge(env, name):
    return metric(scrape(env["TASKS_HTTP_URL"]), name)


def db_stats(env):
    """The outbox statistics computed here, independently of the service."""
    return dict(zip(("backlog", "dead", "published_last_minute", "oldest"), sql(env, """
        SELECT count(*) FILTER (WHERE NOT published AND NOT dead),
               count(*) FILTER (WHERE NOT published AND dead),
               count(*) FILTER (WHERE published AND published_at > now() - interval '1 minute'),
               COALESCE(extract(epoch FROM now() - min(created_at)
                                FILTER (WHERE NOT published AND NOT dead)), 0)::float8
        FROM outbox""")[0]))


def insert_rows(env, rows):
    """Inserts outbox rows for fake tasks (ids far above real ones). rows: dicts with
    aggregate_id and optionally dead, published, payload, created_ago / published_ago
    (seconds). Returns their ids in order."""
    ids = []
    for r in rows:
        ids.append(sql(env, """
            INSERT INTO outbox (event_id, event_type, aggregate_id, version, key, payload,
                                dead, dead_at, attempts, published, published_at, created_at)
            VALUES (gen_random_uuid(), 'task.updated', %(t)s, 1, %(t)s::text, %(payload)s,
                    %(dead)s, CASE WHEN %(dead)s THEN now() END, CASE WHEN %(dead)s THEN 5 ELSE 0 END,
                    %(published)s, CASE WHEN %(published)s
                                        THEN now() - %(published_ago)s * interval '1 second' END,
                    now() - %(created_ago)s * interval '1 second')
            RETURNING id""", {"t": r["aggregate_id"], "payload": json.dumps(r.get("payload", {"n": 1})),
                              "dead": r.get("dead", False), "published": r.get("published", False),
                              "published_ago": r.get("published_ago", 0),
                              "created_ago": r.get("created_ago", 0)})[0][0])
    return ids


def fake_task_base():
    return 9_100_000_000_000 + int(time.time() * 1000) % 10**9 * 64


def test_kafka_outage_writes_succeed_and_drain_in_order(env):
    token, _ = new_account(env)
    start = end_offsets(env)
    tasks = Counters(env["TASKS_HTTP_URL"])
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
        # Kafka is a degraded-mode dependency: every service stays ready
        for base in (env["TASKS_HTTP_URL"], env["AUTH_HTTP_URL"]):
            code, body = ready(base)
            assert code == 200 and body["status"] == "ready", (base, body)
        # what an operator sees: the backlog, its age, failures counted as transient
        wait_until("the backlog gauge to show the backlog",
                   lambda: gauge(env, "outbox_backlog") >= 1000, timeout=15)
        assert gauge(env, "outbox_oldest_unpublished_age_seconds") > 0
        wait_until("a failed delivery counted as transient (TASKS_RELAY_DELIVERY_TIMEOUT)",
                   lambda: tasks.delta("outbox_publish_failures_total", kind="transient") > 0,
                   timeout=60, interval=0.5)
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
    assert tasks.delta("outbox_dead_total") == 0
    assert tasks.delta("outbox_publish_failures_total", kind="permanent") == 0
    assert tasks.delta("outbox_published_total") >= 1000
    assert tasks.delta("http_requests_total", route="/api/tasks", method="POST", status="201") == 200
    assert tasks.delta("http_requests_total", route="/api/tasks/{id}", method="PATCH",
                       status="200") == 800
    # and the gauges come back down to what the database says
    wait_until("the backlog gauge to match the database",
               lambda: gauge(env, "outbox_backlog") == db_stats(env)["backlog"], timeout=15)


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


def test_a_frozen_relay_loses_its_shards_within_seconds(env):
    """Two relays share the shards; one is frozen (SIGSTOP: its process, threads and timers
    stop, and its kernel still keeps its connections open and answers TCP keepalives). Its
    database session is a lease (TASKS_RELAY_LEASE, 10 s): the server ends it once it has been
    idle that long, and the other relay takes its shards at its next rebalance, so a backlog
    written meanwhile drains whole. Before, the frozen relay kept its shards, and half of the
    tasks stopped publishing, for as long as it stayed frozen (issue 13, item 7). Once resumed,
    the frozen relay finds its session gone, reconnects and gets its share back; every task's
    events arrive in version order."""
    _, uid = new_account(env)
    stack("stop", "tasks")
    relays = []
    try:
        relays = [Relay(env, "lease-live"), Relay(env, "lease-frozen")]
        live, frozen = relays
        wait_until("the two relays to split the shards",
                   lambda: [r.shards() for r in relays] == [32, 32], timeout=60)
        start = end_offsets(env)
        frozen.p.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            expected, ids = bulk_backlog(env, uid, tasks=640, versions=3)
            notify_relays(env)
            wait_until("the live relay to take every shard", lambda: live.shards() == 64,
                       timeout=60, interval=0.1)
            took = time.monotonic() - t0
            wait_drained(env, ids, timeout=60)
            print(f"shards taken over {took:.1f} s after the freeze; backlog drained "
                  f"{time.monotonic() - t0:.1f} s after it")
        finally:
            frozen.p.send_signal(signal.SIGCONT)
        wait_until("the resumed relay to get its share back",
                   lambda: [r.shards() for r in relays] == [32, 32], timeout=60)
        dups = check_delivery(consume_since(env, start), expected)
        print(f"duplicates: {dups}")
        counts = [r.stop() for r in relays]
        assert counts[0] >= len(expected) - dups, counts
        for r in relays:
            r.assert_clean()
    finally:
        for r in relays:
            if r.p.poll() is None:
                r.p.send_signal(signal.SIGCONT)
                r.kill()
        stack("start", "tasks")


def test_relay_wakes_on_notify_not_only_on_poll(env):
    _, uid = new_account(env)
    stack("stop", "tasks")
    relay = None
    try:
        # a 60 s poll: only the NOTIFY can explain a drain within the 30 s waited below
        relay = Relay(env, "notify", TASKS_RELAY_POLL_INTERVAL="60s")
        wait_relay_asleep(env, relay)
        expected, ids = bulk_backlog(env, uid, tasks=5, versions=2)  # no NOTIFY of its own
        t0 = time.monotonic()
        notify_relays(env)
        wait_drained(env, ids, timeout=30)
        print(f"drained {time.monotonic() - t0:.2f}s after the NOTIFY")
        relay.stop()
    finally:
        if relay and relay.p.poll() is None:
            relay.kill()
        stack("start", "tasks")


def test_rejected_row_goes_dead_without_blocking_and_replay_revives_it(env):
    base = fake_task_base()
    poison, other = base, base + 1  # poison and its follower: one task
    tasks = Counters(env["TASKS_HTTP_URL"])
    stopped = False
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
        # what an operator sees
        assert tasks.delta("outbox_dead_total") == 1
        assert tasks.delta("outbox_publish_failures_total", kind="permanent") == 5
        wait_until("the dead-rows gauge to count it", lambda: gauge(env, "outbox_dead_rows") >= 1,
                   timeout=15)
        stats = json.loads(cli(env, "--outbox-stats").stdout)
        assert stats["dead"] >= 1

        # the replay, with no relay running: the row is pending again, its failures forgotten
        stack("stop", "tasks")
        stopped = True
        poison_id, poison_event = sql(env, "SELECT id, event_id::text FROM outbox "
                                           "WHERE aggregate_id = %s AND version = 1", (poison,))[0]
        out = cli(env, "--outbox-replay", str(poison_id), str(poison_id))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"replayed": 1}
        assert sql(env, "SELECT dead, dead_at, attempts, last_error, next_attempt_at, published "
                        "FROM outbox WHERE id = %s", (poison_id,)) == [(False, None, 0, None, None,
                                                                         False)]
        # the operator fixed what Kafka refused; a relay publishes it
        sql(env, "UPDATE outbox SET payload = '{\"fixed\": true}' WHERE id = %s", (poison_id,))
        start = end_offsets(env)
        stack("start", "tasks")
        stopped = False
        wait_until("the replayed row to be published", lambda: row()[0][3], timeout=60)
        got = [m for m in consume_since(env, start) if m["event_id"] == poison_event]
        assert len(got) == 1, got
        assert got[0]["key"] == str(poison) and got[0]["value"] == {"fixed": True}
        assert cli(env, "--outbox-replay", "x").returncode == 2
    finally:
        sql(env, "DELETE FROM outbox WHERE aggregate_id IN (%s, %s)", (poison, other))
        if stopped:
            stack("start", "tasks")


def test_replay_ranges_and_replay_all(env):
    """--outbox-replay FROM TO revives dead rows in the range only; published rows only with
    --outbox-replay-all (they are sent again, same event id); bad ranges are usage errors."""
    base = fake_task_base()
    stack("stop", "tasks")
    try:
        a, b, c, d = insert_rows(env, [{"aggregate_id": base + i, "dead": i < 3,
                                         "published": i == 3, "published_ago": 5}
                                        for i in range(4)])
        state = lambda: {i: r for i, *r in sql(env, "SELECT id, dead, published FROM outbox "  # noqa
                                                    "WHERE id = ANY(%s)", ([a, b, c, d],))}
        assert state() == {a: [True, False], b: [True, False], c: [True, False], d: [False, True]}

        def replay(*args):
            out = cli(env, *args)
            assert out.returncode == 0, (args, out.stderr)
            return json.loads(out.stdout)["replayed"]

        assert replay("--outbox-replay", str(b), str(b)) == 1
        assert state() == {a: [True, False], b: [False, False], c: [True, False], d: [False, True]}
        assert replay("--outbox-replay", str(a), str(d)) == 2  # a and c; d is published
        assert state() == {a: [False, False], b: [False, False], c: [False, False], d: [False, True]}
        assert replay("--outbox-replay", str(d)) == 0  # an open range; still not published rows
        assert replay("--outbox-replay-all", str(d), str(d)) == 1
        assert state() == {a: [False, False], b: [False, False], c: [False, False], d: [False, False]}
        for bad in (["--outbox-replay", str(d), str(a)], ["--outbox-replay", "0"],
                    ["--outbox-replay"], ["--outbox-replay-all", "-3"],
                    ["--outbox-replay", "1", "2", "3"]):
            p = cli(env, *bad)
            assert p.returncode == 2 and "--help" in p.stderr, (bad, p.returncode, p.stderr)
        events = dict(sql(env, "SELECT id, event_id::text FROM outbox WHERE id = ANY(%s)",
                          ([a, b, c, d],)))
        start = end_offsets(env)
        stack("start", "tasks")
        wait_drained(env, [base + i for i in range(4)], timeout=60)
        sent = [m["event_id"] for m in consume_since(env, start)]
        assert sorted(e for e in sent if e in events.values()) == sorted(events.values())
    finally:
        sql(env, "DELETE FROM outbox WHERE aggregate_id BETWEEN %s AND %s", (base, base + 3))
        stack("start", "tasks")


def test_outbox_stats_match_the_database(env):
    """--outbox-stats against the same numbers computed here from the outbox table, with no
    relay running so that nothing moves but the clock."""
    base = fake_task_base()
    stack("stop", "tasks")
    try:
        insert_rows(env, [{"aggregate_id": base + 0, "created_ago": 120},
                          {"aggregate_id": base + 1},
                          {"aggregate_id": base + 2, "dead": True, "created_ago": 600},
                          {"aggregate_id": base + 3, "published": True, "published_ago": 10},
                          {"aggregate_id": base + 4, "published": True, "published_ago": 300}])
        before = db_stats(env)
        out = cli(env, "--outbox-stats")
        after = db_stats(env)
        assert out.returncode == 0, out.stderr
        stats = json.loads(out.stdout)
        assert set(stats) == {"backlog", "oldest_unpublished_age_seconds", "dead",
                              "published_last_minute"}
        assert stats["backlog"] == before["backlog"] == after["backlog"] >= 2
        assert stats["dead"] == before["dead"] == after["dead"] >= 1
        # these two move with the clock: bracketed by the readings before and after
        assert after["published_last_minute"] <= stats["published_last_minute"] \
            <= before["published_last_minute"]
        assert stats["published_last_minute"] >= 1
        assert before["oldest"] - 0.01 <= stats["oldest_unpublished_age_seconds"] \
            <= after["oldest"] + 0.01
        assert stats["oldest_unpublished_age_seconds"] >= 120
    finally:
        sql(env, "DELETE FROM outbox WHERE aggregate_id BETWEEN %s AND %s", (base, base + 4))
        stack("start", "tasks")


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
        port = free_port()
        relay = Relay(env, "backpressure", TASKS_RELAY_QUEUE_MAX=100, TASKS_RELAY_BATCH_SIZE=2000,
                      TASKS_RELAY_HTTP_LISTEN=f"127.0.0.1:{port}")
        wait_drained(env, ids, timeout=120)
        # what the relay process exposes (TASKS_RELAY_HTTP_LISTEN) agrees with its stop line
        seen = scrape(f"http://127.0.0.1:{port}")
        waits = relay.stop("queue_full_waits")
        assert waits > 0, "the queue never filled: nothing was tested"
        assert metric(seen, "outbox_relay_queue_full_waits_total") == waits
        assert metric(seen, "outbox_published_total") == \
            relay.events("relay: stopped")[-1]["published"] >= 3000
        assert metric(seen, "outbox_relay_batches_total") >= 2  # 3000 rows, batches of 2000
        assert check_delivery(consume_since(env, start), expected) == 0
        relay.assert_clean()
    finally:
        if relay and relay.p.poll() is None:
            relay.kill()
        stack("start", "tasks")
