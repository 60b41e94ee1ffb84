"""libtodo's tracing and logging against the real Jaeger: the OTLP exporter's spans
arrive with their service, parent link, attributes and status, and the log line written
inside a span carries that span's trace and span ids."""
import json
import os
import subprocess

import requests

from conftest import ROOT, wait_until

PROBE = ROOT / os.environ.get("TODO_BIN_DIR", "build/asan/bin") / "trace-probe"


def test_exported_spans_reach_jaeger_with_parent_and_attributes(env):
    p = subprocess.run([str(PROBE), env["OTLP_ENDPOINT"]], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    _, trace_id, root_span_id, flags = p.stdout.strip().split("-")
    assert flags == "01"

    def fetch():
        r = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=5)
        if r.status_code != 200:
            return None
        spans = r.json()["data"][0]["spans"]
        return spans if len(spans) == 2 else None

    spans = {s["operationName"]: s for s in wait_until("both probe spans in Jaeger", fetch, timeout=30)}
    root, child = spans["probe GET /thing"], spans["probe SELECT"]
    assert root["spanID"] == root_span_id
    assert child["references"] == [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": root_span_id}]
    tags = {t["key"]: t["value"] for t in root["tags"]}
    assert tags["http.request.method"] == "GET"
    assert tags["http.response.status_code"] == 200
    assert tags["span.kind"] == "server"
    ctags = {t["key"]: t["value"] for t in child["tags"]}
    assert ctags["span.kind"] == "client"
    assert ctags["otel.status_code"] == "ERROR"
    assert ctags["otel.status_description"] == "probe error status"
    trace = requests.get(f"{env['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=5).json()["data"][0]
    assert {p["serviceName"] for p in trace["processes"].values()} == {"trace-probe"}

    # the JSON log line written inside the child span carries its ids
    line = json.loads(p.stderr.strip().splitlines()[-1])
    assert line["msg"] == "inside the child span"
    assert line["service"] == "trace-probe"
    assert line["trace_id"] == trace_id
    assert line["span_id"] == child["spanID"]
