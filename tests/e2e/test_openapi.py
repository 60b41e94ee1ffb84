"""api/openapi.yaml, the API as the gateway serves it, checked two ways.

1. schemathesis (PyPI; installed by `make deps` into a virtualenv in the project's cache, at the
   versions infra/schemathesis/requirements.txt pins) generates requests from the spec, valid
   and invalid, sends them to the running gateway with a real user's bearer token, and checks
   every answer against the spec: status codes and error codes listed for the route, bodies and
   headers matching their schemas, valid input accepted, invalid input refused with a 4xx,
   never a 5xx, 405 with Allow for methods a path does not have, a deleted task gone, a
   created one readable, protected routes refusing a missing or bad token. Settings (seed,
   examples, checks) are in api/schemathesis.toml, so a run is the same run every time and
   takes about a minute and a half. It runs in its own process from its own virtualenv; this suite stays
   on Debian's python3.
2. The spec and the code agree on what exists: every route in the services' route tables is in
   the spec and nothing else is; every error code the services, lib/ and the gateway can answer
   is listed in the spec and the spec lists no code nothing answers.
"""
import json
import os
import pathlib
import re
import secrets
import subprocess
import time

import pytest
import requests
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = ROOT / "api" / "openapi.yaml"
CONFIG = ROOT / "api" / "schemathesis.toml"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def load_spec():
    return yaml.safe_load(SPEC.read_text())


def spec_operations(spec):
    return {(m.upper(), path) for path, item in spec["paths"].items() for m in item if m in METHODS}


def schemathesis_bin():
    """The schemathesis that `make deps` installed (infra/deps.sh, step 4)."""
    version = re.search(r"^SCHEMATHESIS_VERSION=(\S+)$", (ROOT / "infra" / "versions.env").read_text(),
                        re.M).group(1)
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    exe = cache / "todo-system" / f"schemathesis-{version}" / "bin" / "schemathesis"
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is missing: `make deps` installs schemathesis {version}")
    return exe


def post_json(url, body, timeout=60.0):
    """POSTs body; a 429 from the gateway's rate limit (credential routes, shared by the whole
    suite) is waited out as its Retry-After says, until a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        r = requests.post(url, json=body, timeout=30)
        if r.status_code != 429 or time.monotonic() > deadline:
            return r
        time.sleep(min(float(r.headers.get("Retry-After", "1")), 5.0))


@pytest.fixture(scope="module")
def token(env):
    """A fresh user's access token (15 minutes, far longer than the run)."""
    gw = env["GATEWAY_URL"]
    creds = {"email": f"openapi-{secrets.token_hex(6)}@example.com",
             "password": "pw-" + secrets.token_urlsafe(18)}
    r = post_json(gw + "/api/auth/register", creds)
    assert r.status_code == 201, r.text
    r = post_json(gw + "/api/auth/login", creds)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


# ---- 1. schemathesis against the gateway ---------------------------------------------------

# schemathesis runs a spec that breaks the OpenAPI rules without a word (a missing info.title,
# say); its bundled OpenAPI 3.1 meta-schema (an internal module of the pinned version) does not.
VALIDATE = """
import sys, yaml
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
spec = yaml.safe_load(open(sys.argv[1]))
errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in OPENAPI_31_VALIDATOR.iter_errors(spec)]
print("\\n".join(errors[:20]))
sys.exit(1 if errors else 0)
"""


def test_spec_is_valid_openapi_3_1():
    python = schemathesis_bin().parent / "python3"
    p = subprocess.run([str(python), "-c", VALIDATE, str(SPEC)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, f"api/openapi.yaml breaks the OpenAPI 3.1 schema:\n{p.stdout}{p.stderr}"
    assert load_spec()["openapi"].startswith("3.1.")


def test_schemathesis_finds_no_difference_between_spec_and_gateway(env, token, tmp_path):
    report = tmp_path / "report.json"
    cmd = [str(schemathesis_bin()), "--config-file", str(CONFIG), "--no-color", "run", str(SPEC),
           "--report", "json", "--report-json-path", str(report)]
    # cwd: anything schemathesis writes stays out of the checkout
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "GATEWAY_URL": env["GATEWAY_URL"], "TODO_API_TOKEN": token})
    out = p.stdout + p.stderr
    # the summary and the failures with their curl reproductions are at the end
    assert p.returncode == 0, f"schemathesis exited {p.returncode}:\n{out[-15000:]}"
    r = json.loads(report.read_text())
    ops = len(spec_operations(load_spec()))
    # it really ran: every operation tested, in every phase, with many cases each
    assert r["complete"] and r["stop_reason"] == "completed", r["stop_reason"]
    assert r["operations"]["total"] == r["operations"]["tested"] == ops, r["operations"]
    assert {ph: v["status"] for ph, v in r["phases"].items() if ph != "examples"} == \
        {"coverage": "success", "fuzzing": "success", "stateful": "success"}, r["phases"]
    assert r["test_cases"]["generated"] >= 20 * ops, r["test_cases"]
    assert r["failures"] == [] and r["errors"] == [], out[-15000:]


@pytest.mark.parametrize("path,allow", [("/api/tasks", "GET, POST, HEAD"),
                                        ("/api/tasks/1", "GET, PATCH, DELETE, HEAD"),
                                        ("/api/tasks/1/complete", "POST"),
                                        ("/api/notifications", "GET, HEAD"),
                                        ("/api/notifications/1/read", "POST"),
                                        ("/api/auth/login", "POST")])
def test_trace_is_refused_like_any_other_method(env, token, path, allow):
    """A method a path does not have is answered 405 with Allow and the contract's JSON —
    TRACE too, which nginx answers itself before any location (the gateway gives that 405
    the route's Allow and the contract's body)."""
    r = requests.request("TRACE", env["GATEWAY_URL"] + path, timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 405, r.status_code
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert r.headers.get("Allow") == allow
    assert r.json()["error"]["code"] == "method_not_allowed"
    # the same Allow as the service gives for any other method it does not take
    s = requests.put(env["GATEWAY_URL"] + path, timeout=10,
                     headers={"Authorization": f"Bearer {token}"})
    assert s.status_code == 405 and s.headers.get("Allow") == allow


# ---- 2. the spec and the code list the same routes and error codes -----------------------

ROUTE_ROW = re.compile(r'\{\s*"([A-Z]+)",\s*"(/api/[^"]*)",')


def code_routes():
    routes = set()
    for f in ROOT.glob("services/*/*_routes.c"):
        routes |= {(m, p) for m, p in ROUTE_ROW.findall(f.read_text())}
    return routes


def test_spec_lists_exactly_the_routes_the_services_serve():
    served, described = code_routes(), spec_operations(load_spec())
    assert len(served) >= 14, served  # the tables were found and read
    assert served - described == set(), "routes the spec does not describe"
    assert described - served == set(), "routes the spec describes that no service serves"


# An error code: the third argument of http_error/http_errorf, a stable code a handler picks
# into a variable (`*code = "…"`, tasks_model), or a gateway body's "code".
CODE_IN_C = re.compile(r'http_errorf?\(\s*\w+,\s*\d{3},\s*"([a-z_]+)"|\*code = "([a-z_]+)"')
CODE_IN_NGINX = re.compile(r'"code":"([a-z_]+)"')


def code_error_codes():
    codes = set()
    for f in [*ROOT.glob("services/*/*.c"), *ROOT.glob("lib/*.c")]:
        for a, b in CODE_IN_C.findall(f.read_text()):
            codes.add(a or b)
    codes |= set(CODE_IN_NGINX.findall((ROOT / "infra/local/conf/nginx.conf.in").read_text()))
    return codes


def spec_error_codes(node):
    """Every code named by an error schema's `code` enum or const."""
    found = set()
    if isinstance(node, dict):
        code = node.get("properties", {}).get("error", {}).get("properties", {}).get("code")
        if isinstance(code, dict):
            found |= set(code.get("enum", [])) | ({code["const"]} if "const" in code else set())
        for v in node.values():
            found |= spec_error_codes(v)
    elif isinstance(node, list):
        for v in node:
            found |= spec_error_codes(v)
    return found


def test_spec_lists_every_error_code_the_code_answers():
    answered, listed = code_error_codes(), spec_error_codes(load_spec())
    assert {"invalid_json", "validation_failed", "rate_limited"} <= answered  # the scan works
    assert answered - listed == set(), "error codes the code answers that the spec does not list"
    assert listed - answered == set(), "error codes the spec lists that nothing answers"
