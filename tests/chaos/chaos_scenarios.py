"""The fault scenarios of make chaos (issue 15). Each one brings its own load and its own
checker, injects one fault, restores the stack in `finally` whatever happened, and returns
its figures: what was measured, the goal, and whether the goal was met (None: a figure to
report, with no goal).

Every figure comes from the independent clients (chaos_checker, chaos_load) — the answers
the load received, the messages a consumer of our own read from Kafka, rows read from the
databases, probes of our own — except "duplicates suppressed" of notification-service,
which only the service itself can see (its notify_duplicates_total, scraped per process).
"""
import json
import re
import secrets
import signal
import time
import uuid

import psycopg2
import requests

from chaos_checker import (EventLog, Expected, Poller, acked_in_database, all_of, create_topic,
                           delete_topic, end_offsets, grpc_health_probe, http_ready_probe,
                           outbox_backlog, pg_probe, produce, query, verdict)
from chaos_load import Load, describe_failures, new_accounts, percentile
from chaos_stack import (LOGS, RUN, SANITIZER, Process, bin_dir, ensure_services, free_port,
                         part_pid, pause, restart_service, resume, rss_mb, service_env, stack,
                         thread_count, wait_until)

WRITES = {"create": 5, "patch": 4, "complete": 1}
DRAIN_TIMEOUT = 180      # s: after a fault, every acknowledged write's event must arrive by then


class Figure:
    __slots__ = ("name", "measured", "goal", "ok")

    def __init__(self, name, measured, goal=None, ok=None):
        self.name, self.measured, self.goal, self.ok = name, measured, goal, ok


def at_most(name, value, limit, unit="", fmt="{:.0f}", none="not measured"):
    """A figure whose goal is VALUE <= LIMIT (None: could not be measured, shown as NONE: a
    miss)."""
    shown = none if value is None else fmt.format(value) + unit
    goal = ("0" if limit == 0 else f"≤ {fmt.format(limit)}{unit}")
    return Figure(name, shown, goal, value is not None and value <= limit)


def report(name, value, unit="", fmt="{:.1f}"):
    return Figure(name, "not measured" if value is None else fmt.format(value) + unit)


def hold(seconds):
    """A phase of fixed length (the fault's duration, steady load before and after): time
    is what the scenario is about here, there is no condition to wait for."""
    time.sleep(seconds)


def event_figures(log, load, what="events"):
    """Waits (bounded) for the event of every acknowledged write; the figures of the loss,
    order and duplicate checks."""
    log.wait_all(load.expected, DRAIN_TIMEOUT)
    v = verdict(log, load.expected)
    return v, [
        at_most(f"{what} lost (of {len(load.expected)} acknowledged writes)", v["lost"], 0),
        at_most("per-task order violations", v["order"] + v["split"], 0),
        report("duplicates delivered", v["duplicates"], fmt="{:.0f}"),
    ]


def failed_writes(load, t0=0.0, t1=float("inf")):
    bad = load.failed(("create", "patch", "complete", "delete"), t0, t1)
    total = len(load.between(t0, t1, ("create", "patch", "complete", "delete")))
    f = at_most(f"failed writes (of {total})", len(bad), 0)
    if bad:
        f.measured += f" ({describe_failures(bad)})"
    return f


# The run's settings (environment variables), with their defaults: the lengths and counts
# of the issue; smaller values make a quicker run (its figures then say so in their titles).
KNOBS = {
    "CHAOS_KAFKA_OUTAGE": (60, "seconds Kafka stays stopped"),
    "CHAOS_KAFKA_HANG": (30, "seconds Kafka stays SIGSTOPped"),
    "CHAOS_RELAY_EVENTS": (100_000, "outbox rows the killed relays drain"),
    "CHAOS_RELAY_KILL_EVERY": (3.0, "seconds between relay SIGKILLs"),
    "CHAOS_FREEZE_SECONDS": (20, "seconds the second relay stays SIGSTOPped"),
    "CHAOS_NOTIFY_EVENTS": (5000, "events queued for notification-service"),
    "CHAOS_NOTIFY_KILL_EVERY": (5.0, "seconds between notification-service SIGKILLs"),
    "CHAOS_NOTIFY_MAX_KILLS": (4, "SIGKILLs of notification-service at most"),
    "CHAOS_NOTIFY_BATCH": (1, "NOTIFY_BATCH_MAX of the killed instance (small: a slow drain)"),
    "CHAOS_REDIS_HANG": (10, "seconds Redis stays SIGSTOPped"),
    "CHAOS_SOAK_SECONDS": (600, "length of the soak"),
}


class Ctx:
    """What every scenario gets: the stack's addresses and the run's settings."""

    def __init__(self, env, settings):
        self.env, self.settings = env, settings

    def get(self, name):
        default = KNOBS[name][0]
        return type(default)(self.settings.get(name, default))

    def knobs(self):
        """The lengths and counts the scenario titles show (CHAOS_* settings or defaults)."""
        soak = self.get("CHAOS_SOAK_SECONDS")
        return {"kafka_outage": self.get("CHAOS_KAFKA_OUTAGE"),
                "kafka_hang": self.get("CHAOS_KAFKA_HANG"),
                "relay_every": f"{self.get('CHAOS_RELAY_KILL_EVERY'):g}",
                "relay_events": f"{self.get('CHAOS_RELAY_EVENTS'):,}",
                "freeze": self.get("CHAOS_FREEZE_SECONDS"),
                "notify_every": f"{self.get('CHAOS_NOTIFY_KILL_EVERY'):g}",
                "notify_events": f"{self.get('CHAOS_NOTIFY_EVENTS'):,}",
                "redis_hang": self.get("CHAOS_REDIS_HANG"),
                "soak_min": f"{soak / 60:g} min" if soak >= 60 else f"{soak} s"}


# ---- Kafka ------------------------------------------------------------------------------------

def kafka_stop(ctx):
    """Kafka stopped (SIGTERM, the broker gone) for 60 s under 100 writes/s."""
    env, outage = ctx.env, ctx.get("CHAOS_KAFKA_OUTAGE")
    log = EventLog(env)
    load = Load(env, new_accounts(env, 4), 100, WRITES)
    backlog = Poller(lambda: outbox_backlog(env), interval=0.5)  # read from PostgreSQL
    try:
        hold(10)
        t_stop = time.time()
        stack("stop", "kafka")
        try:
            hold(outage)
        finally:
            stack("start", "kafka")
        t_back = time.time()
        hold(10)
    finally:
        load.stop()
        backlog.stop()
    peak = max(backlog.values() or [0])
    try:
        v, figs = event_figures(log, load)
        during = [e for e in load.expected if t_stop <= e.acked <= t_back]
        arrivals = [log.arrival(e) for e in during]
        drain = (max(arrivals) - t_back) if during and None not in arrivals else None
        return [failed_writes(load)] + figs + [
            report(f"drain time after start ({len(during)} events written while it was "
                   f"away, outbox backlog peak {peak})", drain, " s")]
    finally:
        log.stop()


def kafka_hang(ctx):
    """Kafka hung: SIGSTOP for 30 s (its sockets accept, nothing answers), then SIGCONT,
    under 100 requests/s (80 % writes)."""
    env, hang = ctx.env, ctx.get("CHAOS_KAFKA_HANG")
    log = EventLog(env)
    load = Load(env, new_accounts(env, 4), 100, {**WRITES, "read": 2.5})
    probe = Poller(lambda: requests.get(env["TASKS_HTTP_URL"] + "/ready", timeout=5).status_code
                   == 200, interval=0.5)
    tasks_pid = part_pid("tasks")
    counts = []   # tasks-service's threads before, at the end of the hang, 10 s after
    try:
        hold(5)
        counts.append(thread_count(tasks_pid))
        t_p = time.time()
        pause("kafka")
        try:
            hold(hang)
            counts.append(thread_count(tasks_pid))
        finally:
            resume("kafka")
        t_c = time.time()
        hold(10)
        counts.append(thread_count(tasks_pid))
    finally:
        load.stop()
        probe.stop()
    try:
        v, figs = event_figures(log, load)
        slow = [r for r in load.results if r.error or r.seconds > 5]
        unanswered = [t for t, ok in probe.samples if not ok]
        during = [e for e in load.expected if t_p <= e.acked <= t_c]
        arrivals = [log.arrival(e) for e in during]
        drain = (max(arrivals) - t_c) if during and None not in arrivals else None
        return [failed_writes(load),
                at_most(f"stuck: requests and /ready probes of tasks-service without an answer "
                        f"within 5 s (of {len(load.results)} + {len(probe.samples)})",
                        len(slow) + len(unanswered), 0)] + figs + [
            report(f"drain time after SIGCONT ({len(during)} events written during the hang)",
                   drain, " s"),
            Figure("threads of tasks-service: before → end of the hang → 10 s after",
                   " → ".join(str(c) for c in counts))]
    finally:
        log.stop()


# ---- the outbox relay -------------------------------------------------------------------------

CHAOS_TOPIC = "task-events.chaos"


def relay_process(env, name):
    return Process(name, [str(bin_dir() / "tasks-service"), "--relay-only"],
                   service_env(env, "tasks"))


def backlog(env, topic, tasks, versions):
    """tasks x versions outbox rows for TOPIC, written the way tasks-service writes them
    (version-major, so each task's rows are spread over the whole backlog). [Expected]."""
    base = 7_000_000_000_000 + secrets.randbelow(10**12)
    rows = query(env["TASKS_DATABASE_URL"], """
        WITH g AS (SELECT gen_random_uuid() AS eid, t, v
                   FROM generate_series(1, %(v)s) v, generate_series(1, %(n)s) t)
        INSERT INTO outbox (event_id, event_type, aggregate_id, version, topic, key, payload)
        SELECT eid, 'task.updated', %(base)s + t, v, %(topic)s, (%(base)s + t)::text,
               jsonb_build_object('id', eid, 'type', 'task.updated',
                   'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   'user_id', 1, 'task_id', %(base)s + t, 'version', v,
                   'task', jsonb_build_object('id', %(base)s + t, 'title', 'chaos ' || t,
                        'priority', 3, 'done', false, 'tags', '[]'::jsonb, 'due_at', null,
                        'created_at', '2026-01-01T00:00:00.000Z',
                        'updated_at', '2026-01-01T00:00:00.000Z', 'completed_at', null,
                        'version', v))
        FROM g ORDER BY v, t
        RETURNING aggregate_id, version""",
        {"v": versions, "n": tasks, "base": base, "topic": topic})
    now = time.time()
    return [Expected(t, v, "update", now) for t, v in rows]


def pending_on(env, topic):
    return query(env["TASKS_DATABASE_URL"],
                 "SELECT count(*) FROM outbox WHERE topic = %s AND NOT published", (topic,))[0][0]


def relay_kill(ctx):
    """SIGKILL of a relay every 3 s while two relays drain 100,000 events (20,000 tasks x 5
    versions) into a topic of their own; the killed one is started again at once.
    tasks-service's own relay thread is off meanwhile, so only killed relays publish."""
    env = ctx.env
    every, n = ctx.get("CHAOS_RELAY_KILL_EVERY"), ctx.get("CHAOS_RELAY_EVENTS")
    restart_service("tasks", TASKS_RELAY_ENABLED="false")
    relays, log = [], None
    try:
        delete_topic(env, CHAOS_TOPIC)  # a run that was interrupted may have left it
        create_topic(env, CHAOS_TOPIC)
        query(env["TASKS_DATABASE_URL"], "DELETE FROM outbox WHERE topic = %s", (CHAOS_TOPIC,))
        expected = backlog(env, CHAOS_TOPIC, n // 5, 5)
        log = EventLog(env, CHAOS_TOPIC, start={p: 0 for p in end_offsets(env, CHAOS_TOPIC)})
        t0 = time.time()
        relays = [relay_process(env, "relay-0"), relay_process(env, "relay-1")]
        kills = kills_mid = 0
        next_kill, next_check = t0 + every, t0
        deadline = t0 + 300

        def done():  # every row marked (nothing left to re-send) and every event read back
            return not pending_on(env, CHAOS_TOPIC) and not log.missing(expected)

        while time.time() < deadline:
            if time.time() >= next_check:
                if done():
                    break
                next_check = time.time() + 0.5
            if time.time() >= next_kill:
                kills_mid += pending_on(env, CHAOS_TOPIC) > 0
                i = kills % 2
                relays[i].kill()
                relays[i] = relay_process(env, f"relay-{i}")
                kills += 1
                next_kill += every
            time.sleep(max(0.0, min(next_kill, next_check) - time.time()))
        drained = time.time() - t0
        for r in relays:
            r.stop()
        ends = end_offsets(env, CHAOS_TOPIC)
        wait_until("the checker to read the whole topic", lambda: log.caught_up(ends), timeout=60)
        v = verdict(log, expected)
        return [
            at_most(f"events lost (of {len(expected)})", v["lost"], 0),
            at_most("per-task order violations", v["order"] + v["split"], 0),
            report(f"duplicates delivered (of {v['messages']} messages)", v["duplicates"],
                   fmt="{:.0f}"),
            Figure("SIGKILLs while rows were still pending", f"{kills_mid} (of {kills})",
                   "≥ 1 (else the run proved nothing)", kills_mid >= 1),
            report("drain time under the kills", drained, " s"),
        ]
    finally:
        for r in relays:
            r.stop()
        if log:
            log.stop()
        try:
            query(env["TASKS_DATABASE_URL"], "DELETE FROM outbox WHERE topic = %s", (CHAOS_TOPIC,))
            delete_topic(env, CHAOS_TOPIC)
        finally:
            restart_service("tasks")


def relay_holds_shards(env, relay):
    """RELAY holds shards: its log says so, or PostgreSQL shows advisory locks held by two
    sessions (tasks-service's relay and this one)."""
    try:
        for line in reversed(relay.log.read_text(errors="replace").splitlines()):
            if '"relay: shards rebalanced"' in line:
                m = re.search(r'"held":\s*(\d+)', line)
                if m and int(m.group(1)) > 0:
                    return True
                break
    except OSError:
        pass
    n = query(env["TASKS_DATABASE_URL"], "SELECT count(DISTINCT pid) FROM pg_locks WHERE "
              "locktype = 'advisory' AND database = (SELECT oid FROM pg_database "
              "WHERE datname = current_database())")[0][0]
    return n >= 2


def relay_freeze(ctx):
    """Two relays (tasks-service's own and a --relay-only process), 100 writes/s; the second
    is frozen with SIGSTOP for 20 s: its session and locks stay, it does nothing. How long
    until every acknowledged write's event flows again (its shards taken over)?"""
    env, frozen_for = ctx.env, ctx.get("CHAOS_FREEZE_SECONDS")
    log = EventLog(env)
    load = Load(env, new_accounts(env, 4), 100, WRITES)
    relay = relay_process(env, "relay-frozen")
    t_f = t_c = None
    try:
        wait_until("the second relay to hold shards", lambda: relay_holds_shards(env, relay),
                   timeout=60, interval=0.2)
        hold(5)
        t_f = time.time()
        relay.signal(signal.SIGSTOP)
        try:
            hold(frozen_for)
        finally:
            relay.signal(signal.SIGCONT)
        t_c = time.time()
        hold(5)
    finally:
        load.stop()
        relay.stop()
    try:
        v, figs = event_figures(log, load)
        # An event waits on the frozen relay from the freeze (or its write, if later) until
        # it arrives. Before SIGCONT: the longest such wait is the takeover time; an event of
        # a write acknowledged more than a second before SIGCONT that had still not arrived
        # by then was never taken over.
        waits, stuck = [], 0
        for e in load.expected:
            a = log.arrival(e)
            if e.acked >= t_c:
                continue
            if a is None or a >= t_c:
                if e.acked < t_c - 1.0:
                    stuck += 1
                continue
            if a > t_f:
                waits.append(a - max(e.acked, t_f))
        if stuck:
            take = Figure("time until the frozen relay's shards are taken over",
                          f"> {frozen_for:.0f} s: {stuck} events waited for the frozen relay "
                          f"until SIGCONT", "≤ 10 s", False)
        else:
            take = at_most("time until the frozen relay's shards are taken over",
                           max(waits) if waits else 0.0, 10, " s", "{:.1f}")
        return [take] + figs + [failed_writes(load)]
    finally:
        log.stop()


# ---- notification-service -----------------------------------------------------------------------

def superuser_query(env, sql):
    """sql as PostgreSQL's superuser, over the data directory's socket (trust, local only)."""
    port = env["NOTIFY_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]
    c = psycopg2.connect(host=str((RUN / "postgres" / "sock").resolve()), port=port,
                         user="postgres", dbname="postgres", connect_timeout=5)
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(sql)
    finally:
        c.close()


def completed_event(task):
    eid = str(uuid.uuid4())
    body = {"id": eid, "type": "task.completed", "occurred_at": "2026-01-01T00:00:00.000Z",
            "user_id": 1, "task_id": task, "version": 2,
            "task": {"id": task, "title": f"chaos {task}", "priority": 3, "done": True,
                     "tags": [], "due_at": None, "created_at": "2026-01-01T00:00:00.000Z",
                     "updated_at": "2026-01-01T00:00:00.000Z",
                     "completed_at": "2026-01-01T00:00:00.000Z", "version": 2}}
    return eid, (str(task).encode(), json.dumps(body).encode(),
                 [("event_id", eid), ("event_type", "task.completed"),
                  ("content-type", "application/json")])


def scrape(url, name):
    for line in requests.get(url + "/metrics", timeout=2).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def notify_kill(ctx):
    """5,000 task.completed events queued in a topic of their own; a notification-service
    instance (its own database and group) SIGKILLed every 5 s and started again at once,
    while events are left; then let it finish."""
    env = ctx.env
    n, every = ctx.get("CHAOS_NOTIFY_EVENTS"), ctx.get("CHAOS_NOTIFY_KILL_EVERY")
    max_kills = ctx.get("CHAOS_NOTIFY_MAX_KILLS")
    tag = uuid.uuid4().hex[:8]
    topic, dbname = f"task-events.chaos-{tag}", f"notify_chaos_{tag}"
    url = re.sub(r"/notifications(\?|$)", f"/{dbname}\\1", env["NOTIFY_DATABASE_URL"])
    inst = None
    try:
        create_topic(env, topic)
        superuser_query(env, f"CREATE DATABASE {dbname} OWNER notifications")
        base = 6_000_000_000_000 + secrets.randbelow(10**12)
        events = [completed_event(base + i) for i in range(n)]
        ids = [e for e, _ in events]
        produce(env, topic, [m for _, m in events])
        port = free_port()
        inst = Process(f"notify-{tag}", [str(bin_dir() / "notification-service")],
                       service_env(env, "notify", NOTIFY_TOPIC=topic, NOTIFY_DATABASE_URL=url,
                                   NOTIFY_GROUP=f"chaos-{tag}", NOTIFY_BATCH_MAX=ctx.get("CHAOS_NOTIFY_BATCH"),
                                   NOTIFY_HTTP_LISTEN=f"127.0.0.1:{port}"))
        base_url = f"http://127.0.0.1:{port}"

        def recorded():
            try:
                return query(url, "SELECT count(*) FROM processed_events")[0][0]
            except Exception:  # the schema is made by the instance at its first start
                return 0

        dups_done, dups_now = 0.0, 0.0   # duplicates of instances killed / of this one
        t0 = time.time()
        next_kill = t0 + every
        kills = kills_mid = 0
        got = got_at_start = 0           # recorded now / when this instance was started
        last_progress, stall = t0, 0.0   # the longest time with events left and none recorded

        def step():
            nonlocal got, last_progress, stall
            now_got = recorded()
            if now_got > got:
                last_progress = time.time()
            got = now_got
            stall = max(stall, time.time() - last_progress)
            return got >= n

        while not step() and kills < max_kills:
            try:
                dups_now = scrape(base_url, "notify_duplicates_total")
            except requests.RequestException:
                pass  # starting, or stopped in its round: the last value stands
            if time.time() >= next_kill:
                inst.kill()
                kills += 1
                kills_mid += got > got_at_start  # it was recording when it died
                dups_done += dups_now
                dups_now = 0.0
                got_at_start = got
                inst.start()
                next_kill += every
            time.sleep(0.1)
        wait_until("every event recorded", step, timeout=240, interval=0.1)
        drained = time.time() - t0
        dups_now = scrape(base_url, "notify_duplicates_total")
        notes = query(url, "SELECT count(*), count(DISTINCT event_id) FROM notifications "
                           "WHERE event_id = ANY(%s::uuid[])", (ids,))[0]
        total = query(url, "SELECT count(*) FROM notifications")[0][0]
        distinct = query(url, "SELECT count(*) FROM processed_events WHERE event_id = ANY(%s::uuid[])",
                         (ids,))[0][0]
        return [
            Figure("notifications = distinct events",
                   f"{total} notifications, {notes[1]} distinct events notified, "
                   f"{distinct} of {n} events recorded",
                   f"exactly {n} each", total == n and notes[0] == n and notes[1] == n
                   and distinct == n),
            report("duplicates suppressed (the service's notify_duplicates_total, summed "
                   "over its lives)", dups_done + dups_now, fmt="{:.0f}"),
            Figure("SIGKILLs while it was recording (events left)", f"{kills_mid} (of {kills})",
                   "≥ 1 (else the run proved nothing)", kills_mid >= 1),
            report("time until every event was recorded", drained, " s"),
            report("longest time with events left and none recorded (a restarted instance "
                   "gets the partitions once the killed ones have left the group)", stall, " s"),
        ]
    finally:
        if inst:
            inst.stop()
        delete_topic(env, topic)
        try:
            superuser_query(env, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        except Exception as e:  # left for a human: say so, do not hide the scenario's result
            print(f"  (could not drop {dbname}: {e})")


# ---- PostgreSQL, Redis, auth-service ---------------------------------------------------------------

RECOVERY_LIMIT = 30       # s: after a dependency is back, requests must work again by then
STILL_FAILING = f"> {RECOVERY_LIMIT} s (not back, or requests still failing, {RECOVERY_LIMIT} s on)"


def returned(poll, restarted):
    """When the dependency answered again: the first good probe after the first failed one;
    if no probe failed (an outage shorter than the probe's interval), the first good probe
    after the restart command returned (RESTARTED)."""
    down, up = poll.down_up()
    if up or down:
        return up
    return next((t for t, ok in list(poll.samples) if ok and t >= restarted), None)


def after_return(load, poll, restarted):
    """Keeps the load on until requests succeed again for 2 s after the dependency's return
    (seen by POLL), at most RECOVERY_LIMIT s, then 3 s more. Returns the time it answered
    again (None: never, within the limit)."""
    up = None
    try:
        up = wait_until("the dependency to answer again", lambda: returned(poll, restarted),
                        timeout=RECOVERY_LIMIT, interval=0.05)
        wait_until("requests to succeed again", lambda: load.recovered(up),
                   timeout=RECOVERY_LIMIT, interval=0.1)
    except TimeoutError:
        pass
    hold(3)
    return up


def outage_figures(load, poll, up, ops, what):
    """Error window, failures and recovery of a restart: the window runs from the first
    failed request to the last; recovery from the dependency's return (POLL) to the end of
    the last failed request."""
    down, _ = poll.down_up()
    bad = load.failed(ops)
    window = (max(r.end for r in bad) - min(r.start for r in bad)) if bad else 0.0
    recovery = (max(0.0, max(r.end for r in bad) - up) if bad else 0.0) if up else None
    if up and bad and not load.recovered(up):
        recovery = None
    away = f"{what} away {up - down:.1f} s by an independent probe" if down and up else \
        f"{what}'s outage not seen by the probe"
    return bad, window, recovery, away


def postgres_restart(ctx):
    """PostgreSQL restarted (fast shutdown, start) under 100 writes/s and 20 reads/s."""
    env = ctx.env
    log = EventLog(env)
    load = Load(env, new_accounts(env, 4), 120, {**WRITES, "read": 2})
    poll = Poller(pg_probe(env["TASKS_DATABASE_URL"]))
    try:
        hold(5)
        stack("restart", "postgres")
        up = after_return(load, poll, time.time())
    finally:
        load.stop()
        poll.stop()
    try:
        bad, window, recovery, away = outage_figures(load, poll, up, ("create", "patch", "complete"),
                                                     "PostgreSQL")
        v, figs = event_figures(log, load)
        lost = acked_in_database(env, load.acked)
        return [
            report(f"error window: first to last failed write ({len(bad)} failed: "
                   f"{describe_failures(bad)}; {away})", window, " s", "{:.2f}"),
            at_most(f"acknowledged writes lost (of {len(load.writes()) - len(bad)})", lost, 0),
            at_most("recovery: end of the last failed write after PostgreSQL answered again",
                    recovery, 1.0, " s", "{:.2f}", STILL_FAILING),
        ] + figs[:2]
    finally:
        log.stop()


def redis_hang(ctx):
    """Redis hung (SIGSTOP 10 s) under 100 reads/s and 30 writes/s."""
    env, hang = ctx.env, ctx.get("CHAOS_REDIS_HANG")
    accts = new_accounts(env, 4)
    load = Load(env, accts, 130, {"read": 10, "create": 1.5, "patch": 1.5})
    try:
        hold(5)
        t_p = time.time()
        pause("redis")
        try:
            hold(hang)
        finally:
            resume("redis")
        t_c = time.time()
        hold(5)
    finally:
        load.stop()
    reads = load.between(t_p, t_c, ("read",))
    ok = [r for r in reads if r.ok]
    pg = [r for r in ok if r.source == "postgres"]
    p99 = percentile([r.seconds for r in ok], 99)
    failed = [r for r in reads if not r.ok]
    after = [r for r in load.between(t_c, float("inf"), ("read",)) if r.source == "redis"]
    back = (min(r.start for r in after) - t_c) if after else None
    return [
        at_most(f"reads failed during the hang (of {len(reads)})", len(failed), 0),
        at_most(f"read p99 during the hang ({len(pg)} of {len(ok)} answered from PostgreSQL; "
                f"deadline: Redis timeout 250 ms + the PostgreSQL read)",
                None if p99 is None else p99 * 1000, 500, " ms"),
        failed_writes(load),
        report("reads from Redis again after SIGCONT", back, " s", "{:.2f}"),
    ]


def auth_restart(ctx):
    """auth-service restarted (SIGTERM, start) under 100 requests/s; tasks-service's
    validation cache is off for the run (TASKS_AUTH_CACHE_TTL=0), so every request asks
    auth-service — with the cache, tokens seen in the last 10 s would hide the restart."""
    env = ctx.env
    restart_service("tasks", TASKS_AUTH_CACHE_TTL="0")
    try:
        accts = new_accounts(env, 4)
        load = Load(env, accts, 100, {"read": 6, "create": 2, "patch": 2})
        poll = Poller(all_of(http_ready_probe(env["AUTH_HTTP_URL"]),
                             grpc_health_probe(env["AUTH_GRPC_ADDR"])))
        try:
            hold(5)
            stack("restart", "auth")
            up = after_return(load, poll, time.time())
        finally:
            load.stop()
            poll.stop()
        bad, window, recovery, away = outage_figures(load, poll, up, None, "auth-service")
        other = [r for r in bad if r.status != 503]
        return [
            report(f"503 window: first to last 503 ({len(bad) - len(other)} answers 503 of "
                   f"{len(load.results)}; {away}, ready = /ready and gRPC health)",
                   window, " s", "{:.2f}"),
            at_most("recovery: end of the last failed request after auth-service was ready",
                    recovery, 1.0, " s", "{:.2f}", STILL_FAILING),
            Figure("failures other than 503", f"{len(other)} ({describe_failures(other)})", "0",
                   not other),
        ]
    finally:
        restart_service("tasks")


# ---- soak -----------------------------------------------------------------------------------------

SOAK_MIX = {"create": 3, "patch": 3, "complete": 1, "delete": 1, "read": 4}


def sanitizer_mark():
    return {p: p.stat().st_size for p in LOGS.glob("*.log")}


def sanitizer_reports(mark):
    """{log: report lines} written since MARK."""
    out = {}
    for p in sorted(LOGS.glob("*.log")):
        with open(p, "rb") as f:
            f.seek(mark.get(p, 0))
            lines = [l for l in f.read().decode(errors="replace").splitlines() if SANITIZER.search(l)]
        if lines:
            out[p.name] = lines
    return out


def soak(ctx):
    """The services on their ASan+UBSan builds; capacity measured (closed loop, 16 clients,
    15 s); then half of it for 10 minutes, mixed reads and writes; RSS sampled every 10 s;
    then the services stopped (LeakSanitizer reports at exit) and every log checked."""
    env, seconds = ctx.env, ctx.get("CHAOS_SOAK_SECONDS")
    mark = sanitizer_mark()
    ensure_services(asan=True)
    try:
        accts = new_accounts(env, 8)
        probe = Load(env, accts, None, SOAK_MIX, closed=16)
        hold(15)
        probe.stop()
        capacity = len(probe.results) / 15.0
        probe_failed = probe.failed()
        rate = max(1.0, capacity / 2)
        log = EventLog(env)
        load = Load(env, accts, rate, SOAK_MIX)
        pids = {p: part_pid(p) for p in ("auth", "tasks", "notify")}
        rss = {p: [] for p in pids}
        try:
            t0 = time.time()
            while time.time() < t0 + seconds:
                for p, pid in pids.items():
                    rss[p].append((time.time() - t0, rss_mb(pid)))
                hold(max(0.0, min(10.0, t0 + seconds - time.time())))
            for p, pid in pids.items():
                rss[p].append((time.time() - t0, rss_mb(pid)))
        finally:
            load.stop()
        try:
            v, figs = event_figures(log, load)
            ids = log.event_ids(load.expected)
            unprocessed = None
            if ids:
                def left():
                    got = query(env["NOTIFY_DATABASE_URL"], "SELECT count(*) FROM processed_events "
                                "WHERE event_id = ANY(%s::uuid[])", (ids,))[0][0]
                    return len(ids) - got
                try:
                    wait_until("notification-service to record every event", lambda: left() == 0,
                               timeout=120, interval=0.5)
                except TimeoutError:
                    pass
                unprocessed = left()
        finally:
            log.stop()
        total = len(load.results)
        bad = load.failed()
        for part in ("auth", "tasks", "notify"):  # LeakSanitizer reports when they exit
            stack("stop", part)
        reports = sanitizer_reports(mark)
        figs_rss = []
        for p, samples in rss.items():
            vals = [(t, m) for t, m in samples if m is not None]
            if not vals:
                figs_rss.append(report(f"RSS of {p}", None))
                continue
            warm = [(t, m) for t, m in vals if t >= 30] or vals
            half = [m for t, m in vals if t >= seconds / 2] or [vals[-1][1]]
            figs_rss.append(Figure(
                f"RSS of {p} (ASan build; its quarantine holds freed memory): after "
                f"{warm[0][0]:.0f} s → at the end; growth over the second half",
                f"{warm[0][1]:.0f} → {warm[-1][1]:.0f} MB ({warm[-1][1] - warm[0][1]:+.0f} MB); "
                f"{half[-1] - half[0]:+.0f} MB"))
        return [
            report(f"capacity measured first (closed loop, 16 clients, ASan builds; "
                   f"{len(probe_failed)} failed)", capacity, " requests/s"),
            report(f"soak rate (half), for {ctx.knobs()['soak_min']}", load.achieved_rate(),
                   " requests/s"),
            at_most(f"error rate ({len(bad)} of {total}: {describe_failures(bad)})",
                    100.0 * len(bad) / max(total, 1), 0, " %", "{:.3f}"),
            Figure("sanitizer reports (services stopped first: leaks are reported at exit)",
                   "0" if not reports else "; ".join(f"{k}: {len(v)}" for k, v in reports.items()),
                   "0", not reports),
        ] + figs_rss + figs[:2] + [
            at_most("events not processed by notification-service", unprocessed, 0)]
    finally:
        ensure_services(asan=False)


# name -> (what the table calls it, filled from Ctx.knobs(); function; seconds it takes about)
SCENARIOS = [
    ("kafka_stop", "Kafka stopped {kafka_outage} s under 100 writes/s", kafka_stop, 100),
    ("kafka_hang", "Kafka hung (SIGSTOP {kafka_hang} s, then SIGCONT) under 100 requests/s",
     kafka_hang, 60),
    ("relay_kill", "relay SIGKILL every {relay_every} s while draining {relay_events} events",
     relay_kill, 90),
    ("relay_freeze", "two relays, one frozen with SIGSTOP ({freeze} s), 100 writes/s",
     relay_freeze, 50),
    ("notify_kill", "notification-service SIGKILL every {notify_every} s with {notify_events} "
     "queued", notify_kill, 90),
    ("postgres_restart", "PostgreSQL restarted under 100 writes/s + 20 reads/s",
     postgres_restart, 30),
    ("redis_hang", "Redis hung (SIGSTOP {redis_hang} s) under 100 reads/s + 30 writes/s",
     redis_hang, 30),
    ("auth_restart", "auth-service restarted under 100 requests/s (validation cache off)",
     auth_restart, 30),
    ("soak", "soak: {soak_min} at half the measured capacity, ASan builds", soak, 700),
]
