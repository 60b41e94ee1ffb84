"""trace-view: against Jaeger JSON fixtures made here (tests/e2e/trace_fixtures.py: four
services with a Kafka hop, a missing parent, clock skew, 5,000 spans), hostile files, and the
real stack (a request made in the test, its trace read back from Jaeger and compared with
what Jaeger's own API returns, read with requests)."""
import json
import re
import shutil
import subprocess

import pytest
import requests

import trace_fixtures as fx
from conftest import ROOT, wait_until
from console_support import Console, account
from tasks_support import sql
from tools_support import Tool

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def tv(tmp_path):
    return Tool("trace-view", tmp_path)


def by_name(layout, name, service=None):
    got = [s for s in layout["spans"] if s["name"] == name and (service is None or s["service"] == service)]
    assert len(got) == 1, (name, [s["name"] for s in layout["spans"]])
    return got[0]


def depths(trace):
    """{span id: depth} computed here from the parent links (every parent present)."""
    parent = {s["spanID"]: (s["references"][0]["spanID"] if s["references"] else None)
              for s in trace["spans"]}
    out = {}
    for sid in parent:
        d, p = 0, parent[sid]
        while p is not None and p in parent:
            d, p = d + 1, parent[p]
        out[sid] = d
    return out


# ---- fixtures made here ----------------------------------------------------------------------

def test_four_services_with_a_kafka_hop(tv, tmp_path):
    t, ids = fx.four_services()
    f = t.write(tmp_path / "four.json")
    lay = tv.json("--file", f, "--width", "120")
    assert lay["trace_id"] == fx.TRACE_ID and lay["duration_us"] == 52000
    assert lay["services"] == 4 and lay["orphans"] == 0 and lay["skewed"] == 0
    assert lay["legend"] == ["todo-console", "tasks-service", "auth-service", "notification-service"]
    assert lay["shown"] == 9 and lay["hidden"] == 0 and lay["width"] == 120
    # every span: depth and offset as built, in display order (depth first, by start)
    assert [s["span_id"] for s in lay["spans"]] == [ids[k] for k in (
        "root", "client", "server", "vt", "auth", "insert", "commit", "publish", "consume")]
    src = {x["spanID"]: x for x in t.spans}
    for s in lay["spans"]:  # the root starts at T0: offsets are start times minus T0
        assert s["offset_us"] == src[s["span_id"]]["startTime"] - fx.T0
        assert s["duration_us"] == src[s["span_id"]]["duration"]
    assert [s["depth"] for s in lay["spans"]] == [0, 1, 2, 3, 4, 3, 3, 3, 4]
    # the async hops: 18 ms in the outbox after the COMMIT, 10 ms on the broker
    pub, con = by_name(lay, "task-events publish"), by_name(lay, "task-events process")
    assert (pub["hop"], pub["hop_offset_us"], pub["hop_duration_us"]) == ("outbox", 12000, 18000)
    assert (con["hop"], con["hop_offset_us"], con["hop_duration_us"]) == ("broker", 35000, 10000)
    # the trace ends with the consumer: it and everything leading to it is on the critical path
    assert all(by_name(lay, n)["critical"] for n in ("todo-console tasks add", "task-events publish",
                                                     "task-events process"))
    assert lay["slowest_span"] == ids["consume"] == lay["marked_span"] and con["marked"]
    # the bars are where the times put them
    w = lay["bar"]["width"]
    assert pub["hop_bar"]["col"] == 12000 * w // 52000 and pub["bar"]["col"] == 30000 * w // 52000
    assert con["bar"]["col"] + con["bar"]["len"] == w
    assert lay["spans"][0]["hop_bar"] is None
    # the drawing says the same
    out = tv.run("--file", f, "--width", "120", check=0, env={"LC_ALL": "C"}).stdout
    assert f"trace {fx.TRACE_ID}  52.00ms  9 spans  4 services" in out
    assert "(outbox 18.00ms)" in out and "(broker 10.00ms)" in out
    assert "slowest span (>): task-events process (notification-service)" in out
    line = next(l for l in out.splitlines() if "task-events publish" in l)
    assert line.startswith("*") and "-=" in line  # ASCII off UTF-8: '-' outbox wait, '=' span
    assert not ANSI.search(out)  # not a terminal: no colour
    assert all(len(l) <= 120 for l in out.splitlines()[3:])


def test_missing_parent(tv, tmp_path):
    t, ids = fx.missing_parent()
    f = t.write(tmp_path / "missing.json")
    lay = tv.json("-f", f)
    assert lay["orphans"] == 1 and len(lay["spans"]) == 4
    orphan = next(s for s in lay["spans"] if s["span_id"] == ids["orphan"])
    assert orphan["orphan"] and orphan["depth"] == 0 and orphan["parent_id"] == "00000000000fffff"
    assert next(s for s in lay["spans"] if s["span_id"] == ids["child"])["depth"] == 1
    assert lay["spans"][0]["span_id"] == ids["root"]  # the real root comes first
    out = tv.run("-f", f, check=0).stdout
    assert "(incomplete: 1 span without its parent)" in out


def test_clock_skew(tv, tmp_path):
    t, ids = fx.clock_skew()
    f = t.write(tmp_path / "skew.json")
    lay = tv.json("-f", f)
    assert lay["skewed"] == 1 and lay["duration_us"] == 10000
    client = next(s for s in lay["spans"] if s["span_id"] == ids["client"])
    server = next(s for s in lay["spans"] if s["span_id"] == ids["server"])
    child = next(s for s in lay["spans"] if s["span_id"] == ids["child"])
    # auth-service's span is moved into the call that made it (centred: 500 µs each side)
    assert server["offset_us"] - client["offset_us"] == 500
    assert server["skew_us"] == 101500 - 51500 == child["skew_us"]
    assert child["offset_us"] - server["offset_us"] == 500  # its own child moved with it
    assert "(clock skew corrected in 1 span)" in tv.run("-f", f, check=0).stdout


def test_five_thousand_spans_and_the_filters(tv, tmp_path):
    t = fx.big(5000)
    f = t.write(tmp_path / "big.json")
    trace = t.trace()
    lay = tv.json("-f", f, "-w", "160")
    assert lay["shown"] == 5000 and lay["hidden"] == 0 and len(lay["spans"]) == 5000
    want = depths(trace)
    assert {s["span_id"]: s["depth"] for s in lay["spans"]} == want
    errors = {s["spanID"] for s in trace["spans"] if any(g["key"] == "error" for g in s["tags"])}
    assert {s["span_id"] for s in lay["spans"] if s["error"]} == errors and errors
    assert sum(1 for s in lay["spans"] if s["hop"] == "outbox") == \
        sum(1 for s in trace["spans"] if s["operationName"] == "task-events publish")
    # --depth 2: exactly the spans at depth 0..2
    d2 = tv.json("-f", f, "--depth", "2")
    assert {s["span_id"] for s in d2["spans"]} == {k for k, d in want.items() if d <= 2}
    assert d2["hidden"] == 5000 - d2["shown"]
    # --min-duration 2ms: a span is shown when it or a span below it is that long, an error,
    # or the slowest span (computed here from the fixture)
    parent = {s["spanID"]: (s["references"][0]["spanID"] if s["references"] else None) for s in trace["spans"]}
    keep = {s["spanID"] for s in trace["spans"] if s["duration"] >= 2000 or s["spanID"] in errors
            or s["spanID"] == lay["slowest_span"]}
    for sid in list(keep):
        p = parent[sid]
        while p:
            keep.add(p)
            p = parent[p]
    m = tv.json("-f", f, "--min-duration", "2ms")
    assert {s["span_id"] for s in m["spans"]} == keep and m["hidden"] == 5000 - len(keep) > 0
    assert tv.json("-f", f, "-m", "2000us")["shown"] == m["shown"]
    # the drawing: a heading, the ruler, one line per span, every line within the width
    out = tv.run("-f", f, "-w", "100", check=0).stdout.splitlines()
    assert len(out) == 3 + 1 + 2 + 5000 + 1 + 1
    names = [x["operationName"] for x in trace["spans"]]
    for line, s in zip(out[6:5006], lay["spans"]):  # in display order, names after the marks
        assert line[4:].lstrip().startswith(s["name"]) and len(line) <= 100
    assert sorted(s["name"] for s in lay["spans"]) == sorted(names)
    assert out[-2] == "" and out[-1].startswith("slowest span (>): ")


def test_standard_input_and_a_saved_file_agree(tv, tmp_path):
    t, _ = fx.four_services()
    f = t.write(tmp_path / "four.json")
    by_file = tv.run("-o", "json", "-f", f, check=0).stdout
    by_stdin = tv.run("-o", "json", "-f", "-", input=f.read_text(), check=0).stdout
    assert by_file == by_stdin
    # one trace object (not wrapped in {"data": [...]}) is accepted too
    (tmp_path / "one.json").write_text(json.dumps(t.trace()))
    assert tv.run("-o", "json", "-f", tmp_path / "one.json", check=0).stdout == by_file


# ---- hostile input ---------------------------------------------------------------------------

def test_hostile_files_give_clear_errors(tv, tmp_path):
    big = fx.big(5000).write(tmp_path / "big.json").read_text()
    cases = {
        "truncated.json": (big[: len(big) // 2], "invalid JSON near byte"),
        "wrong-types.json": (json.dumps({"data": [{"traceID": "ab", "spans": [
            {"spanID": "01", "startTime": "yesterday", "duration": 5}]}]}), "startTime"),
        "spans-not-array.json": ('{"data":[{"spans":{"a":1}}]}', '"spans" is not an array'),
        "no-trace.json": ('{"data":[]}', "holds no trace"),
        "not-json.bin": (bytes(range(256)).decode("latin-1") * 100, "invalid JSON"),
        "nested.json": ("[" * 100000 + "]" * 100000, "invalid JSON"),
        "empty.json": ("", "empty"),
        "negative.json": (json.dumps({"spans": [{"spanID": "1", "startTime": 1, "duration": -5}]}),
                          "duration"),
    }
    for name, (text, needle) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="latin-1" if name.endswith(".bin") else "utf-8")
        p = tv.run("-f", path, check=1)
        assert p.stdout == "" and needle in p.stderr and p.stderr.startswith("trace-view: error: "), \
            (name, p.stderr)
        assert str(path) in p.stderr  # names what failed
    fx.cycle().write(tmp_path / "cycle.json")
    p = tv.run("-f", tmp_path / "cycle.json", check=1)
    assert "a cycle in the parent links" in p.stderr
    # a 50 MB file: refused before it is parsed
    with open(tmp_path / "huge.json", "w") as h:
        h.write('{"data":[{"spans":[')
        h.write(",".join([json.dumps(fx.big(1).spans[0])] * 1) + " " * (50 * 1024 * 1024))
        h.write("]}]}")
    p = tv.run("-f", tmp_path / "huge.json", check=1, timeout=60)
    assert "more than 32 MB" in p.stderr
    p = tv.run("-f", "-", input=(tmp_path / "huge.json").read_text(), check=1, timeout=60)
    assert "standard input: more than 32 MB" in p.stderr
    for path, needle in ((tmp_path / "nope.json", "No such file"), (tmp_path, "Is a directory")):
        p = tv.run("-f", path, check=1)
        assert needle in p.stderr and str(path) in p.stderr


def test_hostile_names_and_ids_never_reach_the_terminal(tv, tmp_path):
    t = fx.Trace(trace_id="\u001b]0;owned\u0007")
    root = t.span(None, "svc\u001b[2J", "\u001b[31mred\r\nfake", "server", 0, 100)
    t.span(root, "svc", "child", "client", 10, 50)
    f = t.write(tmp_path / "evil.json")
    code, out = tv.on_pty(["-f", f])
    assert code == 0
    assert "\x07" not in out and "\x1b]" not in out and "\x1b[2J" not in out and "\x1b[31mred" not in out
    assert "?[31mred??fake" in out and "?]0;owned?" in out


# ---- the terminal: colour, glyphs, width ------------------------------------------------------

def test_colour_only_on_a_terminal_without_no_color(tv, tmp_path):
    f = fx.four_services()[0].write(tmp_path / "four.json")
    code, out = tv.on_pty(["-f", f])
    assert code == 0 and "\x1b[36m" in out and "█" in out and "░" in out and "▒" in out
    assert max(len(ANSI.sub("", l)) for l in out.replace("\r", "").splitlines()) <= 120  # COLUMNS
    code, out = tv.on_pty(["-f", f], extra_env={"NO_COLOR": "1"})
    assert code == 0 and not ANSI.search(out) and "█" in out
    code, out = tv.on_pty(["-f", f], extra_env={"NO_COLOR": "1", "LANG": "C", "LC_ALL": "C"})
    assert code == 0 and "█" not in out and "=" in out


# ---- usage -----------------------------------------------------------------------------------

def test_usage_errors(tv, tmp_path):
    f = fx.four_services()[0].write(tmp_path / "four.json")
    for args, needle in (
            ([], "give one of TRACE_ID"),
            (["--file", f, "0af7651916cd43dd8448eb211c80319c"], "give one of"),
            (["--last", "--slowest"], "give one of"),
            (["--file", f, "--service", "x"], "--service goes with --last or --slowest"),
            (["--file", f, "--depth", "-1"], "--depth"),
            (["--file", f, "--width", "10"], "--width"),
            (["--file", f, "--min-duration", "soon"], "not a duration"),
            (["--last", "0"], "--last"),
            (["--last", "99999999999"], "(given: TRACE_ID '99999999999', --last)"),
            (["--file", ""], "--file: an empty path"),
            (["--file", f, "--min-duration", "99999999999d"], "is longer than 36500d"),
            (["--slowest", "--lookback", "99999999999d"], "--lookback: '99999999999d' is longer"),
            (["--slowest", "--limit", "0"], "--limit"),
            (["--bogus"], "unknown option '--bogus'"),
            (["-o", "yaml", "--file", f], "not json or table"),
            (["not-hex"], "is not a trace id")):
        p = tv.run(*args, check=2)
        assert needle in p.stderr and "(try 'trace-view --help')" in p.stderr, (args, p.stderr)
        assert p.stdout == ""


def test_help_version_and_man_page(tv):
    h = tv.run("--help", check=0).stdout
    assert h.startswith("usage: trace-view [OPTIONS] [TRACE_ID]")
    codes = {int(l.split()[0]) for l in h.split("Exit status:")[1].strip().splitlines()}
    assert codes == {0, 1, 2, 3, 4}
    assert tv.run("--version", check=0).stdout.startswith("trace-view ")
    man = (ROOT / "tools" / "trace-view" / "trace-view.1").read_text().replace("\\-", "-")
    for opt in re.findall(r"--([a-z-]+)", h.split("Options:")[1].split("Exit status:")[0]):
        assert f"--{opt}" in man, f"--{opt} is not in the man page"
    for n in range(5):
        assert f".IP {n}" in man
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(ROOT / "tools" / "trace-view" / "trace-view.1")],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and not p.stderr, p.stderr


# ---- the real stack --------------------------------------------------------------------------

def jaeger_trace(env, trace_id):
    r = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=30)
    return r.json()["data"][0] if r.status_code == 200 and r.json().get("data") else None


def services_of(trace):
    return {trace["processes"][s["processID"]]["serviceName"] for s in trace["spans"]}


def test_a_request_made_here_read_back_from_jaeger(env, tmp_path, tv):
    c = Console(tmp_path / "console")
    email, pw, _ = account(env["GATEWAY_URL"])
    c.login(email, pw)
    task = c.json("tasks", "add", "trace-view me")
    tp = sql(env, "SELECT traceparent FROM outbox WHERE aggregate_id = %s", (task["id"],))[0][0]
    trace_id = tp.split("-")[1]
    want = {"todo-console", "tasks-service", "auth-service", "notification-service"}

    def complete():  # the consumer's span arrives last: wait for all four services
        t = jaeger_trace(env, trace_id)
        return t if t and want <= services_of(t) else None

    theirs = wait_until("the trace with notification-service's span in Jaeger", complete,
                        timeout=90, interval=0.5)
    lay = tv.json(trace_id)
    assert lay["trace_id"] == trace_id and len(lay["spans"]) == len(theirs["spans"])
    assert set(lay["legend"]) == services_of(theirs) and lay["legend"][0] == "todo-console"
    src = {s["spanID"]: s for s in theirs["spans"]}
    start = min(s["startTime"] for s in theirs["spans"])
    for s in lay["spans"]:
        j = src[s["span_id"]]
        assert s["name"] == j["operationName"] and s["duration_us"] == j["duration"]
        assert s["service"] == theirs["processes"][j["processID"]]["serviceName"]
        if s["skew_us"] == 0:
            assert s["offset_us"] == j["startTime"] - start
    root = lay["spans"][0]
    assert (root["name"], root["depth"], root["critical"]) == ("todo-console tasks add", 0, True)
    pub = next(s for s in lay["spans"] if s["name"].endswith("publish"))
    con = next(s for s in lay["spans"] if s["service"] == "notification-service" and s["kind"] == "consumer")
    assert pub["hop"] == "outbox" and pub["hop_duration_us"] >= 0
    assert con["hop"] == "broker" and con["parent_id"] == pub["span_id"]
    # the same trace saved as Jaeger returns it, read from a file: the same layout
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"data": [jaeger_trace(env, trace_id)]}))
    by_file = tv.json("--file", saved)
    if len(by_file["spans"]) == len(lay["spans"]):  # no late span arrived in between
        assert by_file == lay
    text = tv.run(trace_id, check=0).stdout
    assert f"trace {trace_id}" in text and "4 services" in text and "(outbox" in text and "(broker" in text


def test_last_and_slowest_of_a_service(env, tmp_path, tv):
    c = Console(tmp_path / "console")
    email, pw, _ = account(env["GATEWAY_URL"])
    c.login(email, pw)
    for i in range(3):
        c.json("tasks", "add", f"last {i}")

    def two():
        ls = tv.lines("--service", "todo-console", "--last", "2")
        return ls if len(ls) == 2 else None

    last = wait_until("two recent traces of todo-console", two, timeout=60, interval=0.5)
    assert last[0]["start_us"] >= last[1]["start_us"]  # most recent first
    for lay in last:
        theirs = jaeger_trace(env, lay["trace_id"])
        assert theirs and "todo-console" in services_of(theirs)
    assert len(tv.lines("-s", "todo-console", "-l")) == 1
    slow = tv.json("--slowest", "--service", "todo-console", "--limit", "20")
    assert slow["trace_id"] in slow["compared_traces"] and len(slow["compared_traces"]) <= 20

    def duration(tid):
        spans = jaeger_trace(env, tid)["spans"]
        return max(s["startTime"] + s["duration"] for s in spans) - min(s["startTime"] for s in spans)

    assert all(duration(t) <= slow["duration_us"] for t in slow["compared_traces"])
    marked = [s for s in slow["spans"] if s["marked"]]
    assert len(marked) == 1 and marked[0]["span_id"] == slow["slowest_span"]
    assert marked[0]["self_us"] == max(s["self_us"] for s in slow["spans"])
    text = tv.run("--slowest", "-s", "todo-console", check=0).stdout
    assert text.startswith("the slowest of the ") and "slowest span (>):" in text


def test_jaeger_errors_name_the_address(env, tv):
    p = tv.run("0123456789abcdef0123456789abcdef", check=1)
    assert "not found in jaeger" in p.stderr and env["JAEGER_QUERY_URL"] in p.stderr
    p = tv.run("--service", "no-such-service", "--last", check=1)
    assert "no traces of no-such-service" in p.stderr and env["JAEGER_QUERY_URL"] in p.stderr
    p = tv.run("0123456789abcdef0123456789abcdef", env={"JAEGER_QUERY_URL": "http://viewer:s3cret@127.0.0.1:1"},
               check=4)
    assert "jaeger (http://viewer:***@127.0.0.1:1)" in p.stderr and "s3cret" not in p.stderr
    p = tv.run("--slowest", env={"JAEGER_QUERY_URL": "http://127.0.0.1:1"}, check=4)
    assert "127.0.0.1:1" in p.stderr
