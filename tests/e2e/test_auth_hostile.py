"""auth-service: hostile input on every route, through the gateway and directly. Every answer
is a 4xx with the contract's error body (never a 5xx), and the service keeps answering."""
import json

import pytest
import requests

from auth_support import JSON, assert_contract_error, new_account, unique_email
from conftest import new_server_errors, scrape

POST_ROUTES = ["/api/auth/register", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"]

BODIES = {
    "invalid_json": b'{"email": "a@example.com", "password": ',
    "trailing_garbage": b'{"email": "a@example.com", "password": "12345678"} xyz',
    "array": b"[]",
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "empty_object": b"{}",
    "wrong_types": json.dumps({"email": 123, "password": ["x"], "refresh_token": {"a": 1}}).encode(),
    "null_fields": json.dumps({"email": None, "password": None, "refresh_token": None}).encode(),
    "bool_fields": json.dumps({"email": True, "password": False, "refresh_token": True}).encode(),
    "missing_password": json.dumps({"email": "a@example.com"}).encode(),
    "invalid_utf8": b'{"email":"\xff\xfe@example.com","password":"pass\xc3word1","refresh_token":"\xff"}',
    "raw_nul": b'{"email":"a\x00@example.com","password":"12345678\x00x","refresh_token":"a\x00b"}',
    "escaped_nul": b'{"email":"a@example.com\\u0000x","password":"12345678\\u0000","refresh_token":"\\u0000"}',
    "lone_surrogate": b'{"email":"\\ud800@example.com","password":"\\udfff2345678","refresh_token":"\\ud800"}',
    "deep_nesting": b"[" * 7000 + b"]" * 7000,  # under the 16 KiB body limit
    "huge_number": b'{"email":1e999999,"password":-1e999999,"refresh_token":1e999999}',
}

# emails that are SQL in disguise: refused as invalid addresses (register) or as credentials
# that match nothing (login); never a 5xx, never a login
SQL_EMAILS = ["' OR '1'='1", "' OR 1=1 --", "admin@example.com' --", "x'; DROP TABLE users; --@example.com",
              "a@example.com\"; SELECT pg_sleep(10); --", "%' OR email LIKE '%", "a@b.c) OR (1=1"]


@pytest.fixture(autouse=True)
def never_a_5xx(env):
    """Whatever a test sends, auth-service answers none of it with a 5xx (its own count)."""
    before = scrape(env["AUTH_HTTP_URL"])
    yield
    assert new_server_errors(env["AUTH_HTTP_URL"], before, "/api/auth") == {}


@pytest.fixture(params=["gateway", "direct"])
def base(env, request):
    return env["GATEWAY_URL"] if request.param == "gateway" else env["AUTH_HTTP_URL"]


def alive(env):
    return requests.get(env["AUTH_HTTP_URL"] + "/health", timeout=5).status_code == 200


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("body", sorted(BODIES))
def test_bad_bodies(env, base, route, body):
    r = requests.post(base + route, data=BODIES[body], headers=JSON, timeout=30)
    code = assert_contract_error(r, 400)
    assert code in ("invalid_request", "invalid_json"), code


@pytest.mark.parametrize("route", POST_ROUTES)
def test_one_megabyte_body(env, base, route):
    big = json.dumps({"email": "a" * (1 << 20) + "@example.com", "password": "x" * 10,
                      "refresh_token": "y"}).encode()
    r = requests.post(base + route, data=big, headers=JSON, timeout=30)
    assert assert_contract_error(r, 413) == "payload_too_large"
    assert alive(env)


@pytest.mark.parametrize("route", POST_ROUTES)
def test_wrong_content_type(base, route):
    r = requests.post(base + route, data="email=a@example.com&password=12345678", timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert assert_contract_error(r, 415) == "unsupported_media_type"


@pytest.mark.parametrize("route", POST_ROUTES)
def test_no_body(base, route):
    r = requests.post(base + route, timeout=10, headers=JSON)
    assert assert_contract_error(r, 400) == "invalid_request"


FIELDS = {"/api/auth/register": ("email", "password"), "/api/auth/login": ("email", "password"),
          "/api/auth/refresh": ("refresh_token",), "/api/auth/logout": ("refresh_token",)}


@pytest.mark.parametrize("route", POST_ROUTES)
def test_unknown_and_repeated_fields(base, route):
    """Only the route's own members, each once: an extra member is named in a 400 (a typo is
    not silently ignored), and a repeated one is refused instead of one copy winning."""
    good = {f: (unique_email("extra") if f == "email" else "pw-" + "x" * 20) for f in FIELDS[route]}
    r = requests.post(base + route, json={**good, "remember_me": True}, timeout=30)
    assert assert_contract_error(r, 400) == "invalid_request"
    assert "remember_me" in r.json()["error"]["message"]
    first = FIELDS[route][0]
    body = json.dumps(good)[:-1] + ", " + json.dumps(first) + ": " + json.dumps(good[first]) + "}"
    r = requests.post(base + route, data=body, headers=JSON, timeout=30)
    assert assert_contract_error(r, 400) == "invalid_request"
    assert "twice" in r.json()["error"]["message"]


@pytest.mark.parametrize("email", SQL_EMAILS)
def test_sql_metacharacters_in_email(env, base, email):
    r = requests.post(base + "/api/auth/register", json={"email": email, "password": "12345678"},
                      timeout=30)
    assert assert_contract_error(r, 400) == "invalid_email"
    r = requests.post(base + "/api/auth/login", json={"email": email, "password": "12345678"},
                      timeout=30)
    assert assert_contract_error(r, 401) == "invalid_credentials"
    # the tables are still there and working
    _, _, t = new_account(base)
    assert t["access_token"]


def test_sql_metacharacters_in_password_and_token(base):
    email = unique_email("sqlpw")
    pw = "'; DROP TABLE users; --"
    assert requests.post(base + "/api/auth/register", json={"email": email, "password": pw},
                         timeout=30).status_code == 201
    assert requests.post(base + "/api/auth/login", json={"email": email, "password": pw},
                         timeout=30).status_code == 200
    assert requests.post(base + "/api/auth/login", json={"email": email, "password": "' OR '1'='1"},
                         timeout=30).status_code == 401
    for tok in ["' OR '1'='1", "x' OR token_hash LIKE '%", "A" * 43, "A" * 42 + "'"]:
        r = requests.post(base + "/api/auth/refresh", json={"refresh_token": tok}, timeout=30)
        assert assert_contract_error(r, 401) == "invalid_refresh_token"


def test_unicode_password_round_trip(base):
    email, pw = unique_email("uni"), "pässwörd-日本語-🔑"
    assert requests.post(base + "/api/auth/register", json={"email": email, "password": pw},
                         timeout=30).status_code == 201
    assert requests.post(base + "/api/auth/login", json={"email": email, "password": pw},
                         timeout=30).status_code == 200
    # NFC vs NFD are different bytes: no silent normalisation of secrets
    assert requests.post(base + "/api/auth/login",
                         json={"email": email, "password": "pa\u0308sswo\u0308rd-日本語-🔑"},
                         timeout=30).status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic abc", "Bearer a b c",
                                    "Bearer \u00e9\u00e9", "Bearer " + "x" * 5000,
                                    "Bearer eyJ.eyJ.", "Bearer ..."])
def test_hostile_authorization_headers(base, header):
    h = {"Authorization": header.encode("utf-8")} if header else {}
    r = requests.get(base + "/api/auth/validate", headers=h, timeout=10)
    assert assert_contract_error(r, 401) == "invalid_token"


@pytest.mark.parametrize("method,path", [("GET", "/api/auth/login"), ("PUT", "/api/auth/register"),
                                         ("DELETE", "/api/auth/logout"), ("POST", "/api/auth/validate"),
                                         ("POST", "/api/auth/.well-known/jwks.json")])
def test_wrong_method(base, method, path):
    # (with a token: the gateway refuses a protected path without one before any method check)
    r = requests.request(method, base + path, json={}, timeout=10,
                         headers={"Authorization": "Bearer not.a.jwt"})
    assert assert_contract_error(r, 405) == "method_not_allowed"


@pytest.mark.parametrize("path", ["/api/auth/", "/api/auth/nope", "/api/auth/login/extra",
                                  "/api/auth/..%2f..%2fetc%2fpasswd", "/api/auth/%00"])
def test_unknown_paths(env, base, path):
    r = requests.get(base + path, timeout=10)
    assert 400 <= r.status_code < 500
    # (a NUL in the path is refused by nginx itself, with the contract's body too)
    assert_contract_error(r)


def test_query_strings_are_ignored_safely(base):
    r = requests.get(base + "/api/auth/.well-known/jwks.json?x=%00&y=%ff", timeout=10)
    assert r.status_code in (200, 400)
    if r.status_code == 400:
        assert_contract_error(r, 400)


def test_service_still_up_and_ready(env):
    assert alive(env)
    r = requests.get(env["AUTH_HTTP_URL"] + "/ready", timeout=5)
    assert r.status_code == 200
