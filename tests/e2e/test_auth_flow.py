"""auth-service: the whole session life cycle over HTTP, through the gateway and directly,
checked with independent clients (requests, PyJWT, psycopg2)."""
import re

import jwt as pyjwt
import psycopg2
import pytest
import requests

from auth_support import (assert_contract_error, jwk_thumbprint, jwt_parts, login, new_account,
                          post, register, strong_password, unique_email, validate)


@pytest.fixture(params=["gateway", "direct"])
def base(env, request):
    return env["GATEWAY_URL"] if request.param == "gateway" else env["AUTH_HTTP_URL"]


def test_register_login_validate_refresh_reuse_logout(base):
    email, password = unique_email("flow"), strong_password()

    r = register(base, email, password)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == email and isinstance(body["id"], int) and body["id"] > 0
    user_id = body["id"]

    r = login(base, email, password)
    assert r.status_code == 200, r.text
    t1 = r.json()
    assert t1["token_type"] == "Bearer"
    assert t1["expires_in"] == 900
    assert r.headers.get("Cache-Control") == "no-store"

    r = validate(base, t1["access_token"])
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["user_id"] == user_id and v["email"] == email
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v["expires_at"]), v

    # refresh: a new pair; the old refresh token is spent
    r = post(base, "/api/auth/refresh", {"refresh_token": t1["refresh_token"]})
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert t2["refresh_token"] != t1["refresh_token"]
    assert t2["access_token"] != t1["access_token"]
    assert validate(base, t2["access_token"]).status_code == 200

    # the spent token again: 401, and the whole family is revoked ...
    r = post(base, "/api/auth/refresh", {"refresh_token": t1["refresh_token"]})
    assert assert_contract_error(r, 401) == "refresh_token_reused"
    # ... so the legitimate newest token is dead too (theft detection)
    r = post(base, "/api/auth/refresh", {"refresh_token": t2["refresh_token"]})
    assert assert_contract_error(r, 401) == "invalid_refresh_token"

    # a new login starts a new family; logout revokes it
    t3 = login(base, email, password).json()
    r = post(base, "/api/auth/logout", {"refresh_token": t3["refresh_token"]})
    assert r.status_code == 204 and r.content == b""
    r = post(base, "/api/auth/refresh", {"refresh_token": t3["refresh_token"]})
    assert assert_contract_error(r, 401) == "invalid_refresh_token"
    # logout is idempotent and says nothing about unknown tokens
    assert post(base, "/api/auth/logout", {"refresh_token": t3["refresh_token"]}).status_code == 204
    assert post(base, "/api/auth/logout", {"refresh_token": "x" * 43}).status_code == 204


def test_rotation_chain_keeps_working(base):
    _, _, t = new_account(base)
    rt = t["refresh_token"]
    seen = {rt}
    for _ in range(5):
        r = post(base, "/api/auth/refresh", {"refresh_token": rt})
        assert r.status_code == 200, r.text
        rt = r.json()["refresh_token"]
        assert rt not in seen
        seen.add(rt)
        assert validate(base, r.json()["access_token"]).status_code == 200


def test_wrong_password_unknown_email_and_duplicate(base):
    email, password = unique_email("dup"), strong_password()
    assert register(base, email, password).status_code == 201
    r = register(base, email, strong_password())
    assert assert_contract_error(r, 409) == "email_taken"
    # the normal form of the email is the account key: case and blanks do not make a new one
    r = register(base, "  " + email.upper() + " ", strong_password())
    assert assert_contract_error(r, 409) == "email_taken"
    assert login(base, email.upper(), password).status_code == 200

    r = login(base, email, password + "x")
    assert assert_contract_error(r, 401) == "invalid_credentials"
    r2 = login(base, unique_email("nobody"), password)
    assert assert_contract_error(r2, 401) == "invalid_credentials"
    assert r.json() == r2.json()  # no hint which of the two was wrong


def test_register_validation(base):
    r = register(base, "not-an-email", strong_password())
    assert assert_contract_error(r, 400) == "invalid_email"
    r = register(base, unique_email(), "short")
    assert assert_contract_error(r, 400) == "invalid_password"
    r = register(base, unique_email(), "x" * 1025)
    assert assert_contract_error(r, 400) == "invalid_password"
    assert register(base, unique_email(), "x" * 1024).status_code == 201
    assert register(base, unique_email(), "12345678").status_code == 201
    # the bounds count characters: 8 bytes of 4 characters is too short, 1024 emoji is fine
    r = register(base, unique_email(), "\u00e4\u00f6\u00fc\u00df")
    assert assert_contract_error(r, 400) == "invalid_password"
    assert register(base, unique_email(), "\U0001F511" * 1024).status_code == 201
    # an apostrophe is a legal email character, stored and matched literally
    email = f"o'brien-{unique_email()}"
    assert register(base, email, "password-1").status_code == 201
    assert login(base, email, "password-1").status_code == 200


def test_access_token_verifies_with_jwks_independently(env, base):
    email, _, t = new_account(base)
    jwks = requests.get(base + "/api/auth/.well-known/jwks.json", timeout=10)
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    assert len(keys) >= 1
    header, payload, sig = jwt_parts(t["access_token"])
    assert header["alg"] == "ES256" and len(sig) == 64
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["alg"] == "ES256"
    assert jwk["kid"] == jwk_thumbprint(jwk)  # RFC 7638, computed here
    key = pyjwt.PyJWK(jwk).key
    claims = pyjwt.decode(t["access_token"], key, algorithms=["ES256"], audience=payload["aud"],
                          issuer=payload["iss"])
    assert claims["email"] == email
    assert claims["exp"] - claims["iat"] == 900
    assert {"sub", "email", "iss", "aud", "iat", "exp", "jti"} <= claims.keys()
    assert claims["sub"].isdigit()


def test_database_holds_only_hashes(env, base):
    email, password, t = new_account(base)
    with psycopg2.connect(env["AUTH_DATABASE_URL"], connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, password_hash FROM users WHERE email = %s", (email,))
        uid, pw_hash = cur.fetchone()
        assert pw_hash.startswith("$argon2id$") and password not in pw_hash
        cur.execute("SELECT token_hash FROM refresh_tokens t JOIN refresh_families f "
                    "ON f.id = t.family_id WHERE f.user_id = %s", (uid,))
        hashes = [row[0] for row in cur.fetchall()]
        assert len(hashes) == 1 and t["refresh_token"] not in hashes[0]
        import hashlib
        assert hashes[0] == hashlib.sha256(t["refresh_token"].encode()).hexdigest()


def test_validate_requires_bearer(base):
    r = requests.get(base + "/api/auth/validate", timeout=10)
    assert assert_contract_error(r, 401) == "invalid_token"
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    _, _, t = new_account(base)
    r = requests.get(base + "/api/auth/validate", timeout=10,
                     headers={"Authorization": "Basic " + t["access_token"]})
    assert assert_contract_error(r, 401) == "invalid_token"
    r = requests.get(base + "/api/auth/validate", timeout=10,
                     headers={"Authorization": "bearer " + t["access_token"]})
    assert r.status_code == 200


def test_service_endpoints(env):
    direct = env["AUTH_HTTP_URL"]
    assert requests.get(direct + "/health", timeout=5).status_code == 200
    r = requests.get(direct + "/ready", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"postgres": "ok", "schema": "ok", "grpc": "ok"}
    m = requests.get(direct + "/metrics", timeout=5)
    assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain")
    for name in ("auth_logins_total", "auth_tokens_issued_total", "auth_token_validations_total",
                 "grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
                 "http_requests_total"):
        assert name in m.text, name
    # /health etc. are not served through the gateway
    assert requests.get(env["GATEWAY_URL"] + "/metrics", timeout=5).status_code == 404
