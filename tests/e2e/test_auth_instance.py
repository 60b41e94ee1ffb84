"""auth-service settings the shared stack does not exercise, on private instances of the same
binary (free ports, the stack's PostgreSQL): argon2 rehash on login, token expiry, the key
file and the key from the environment, bad configuration, graceful stop, database down."""
import os
import stat
import threading

import jwt as pyjwt
import psycopg2
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth_support import (Instance, grpc_channel, grpc_validate, jwk_thumbprint, jwt_parts, login,
                          new_account, register, strong_password, unique_email, validate)
from conftest import wait_until


def stored_hash(env, email):
    with psycopg2.connect(env["AUTH_DATABASE_URL"], connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT password_hash FROM users WHERE email = %s", (email,))
        return cur.fetchone()[0]


@pytest.fixture
def instances():
    """Instances a test started: each must end with status 0 and no sanitizer report."""
    started = []
    yield started
    for i in started:
        i.stop_clean()


def test_hash_upgraded_at_login_when_cost_changes(env, tmp_path, instances):
    email, pw = unique_email("rehash"), strong_password()
    cheap = Instance(env, tmp_path, AUTH_ARGON2_OPSLIMIT=1, AUTH_ARGON2_MEMLIMIT_KIB=8192).start()
    instances.append(cheap)
    assert register(cheap.url, email, pw).status_code == 201
    assert "$m=8192,t=1," in stored_hash(env, email)
    cheap.stop_clean(0)

    dear = Instance(env, tmp_path, AUTH_ARGON2_OPSLIMIT=2, AUTH_ARGON2_MEMLIMIT_KIB=16384).start()
    instances.append(dear)
    assert login(dear.url, email, pw).status_code == 200
    assert "$m=16384,t=2," in stored_hash(env, email)
    assert login(dear.url, email, pw).status_code == 200  # the new hash verifies
    assert login(dear.url, email, pw + "x").status_code == 401
    assert "password hash upgraded" in dear.log_text()


def test_access_token_expires(env, tmp_path, instances):
    inst = Instance(env, tmp_path, AUTH_ACCESS_TTL="2s", AUTH_CLOCK_SKEW="0").start()
    instances.append(inst)
    _, _, t = new_account(inst.url)
    assert t["expires_in"] == 2
    assert validate(inst.url, t["access_token"]).status_code == 200

    def rejected():
        r = validate(inst.url, t["access_token"])
        return r.status_code == 401 and "expired" in r.json()["error"]["message"]

    wait_until("the access token to expire", rejected, timeout=10, interval=0.2)
    with grpc_channel(inst.grpc_addr) as ch:
        r = grpc_validate(ch, t["access_token"])
    assert not r.valid and r.reason == "expired"
    # the refresh token still works and gives a fresh access token
    r = requests.post(inst.url + "/api/auth/refresh", json={"refresh_token": t["refresh_token"]},
                      timeout=30)
    assert r.status_code == 200
    assert validate(inst.url, r.json()["access_token"]).status_code == 200


def test_key_created_once_and_kept(env, tmp_path, instances):
    inst = Instance(env, tmp_path).start()
    instances.append(inst)
    key_file = inst.state_dir / "jwt-es256.pem"
    assert stat.S_IMODE(os.stat(inst.state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    kid1 = requests.get(inst.url + "/api/auth/.well-known/jwks.json", timeout=5).json()["keys"][0]["kid"]
    _, _, t = new_account(inst.url)
    inst.stop_clean(0)

    again = Instance(env, tmp_path)
    again.state_dir = inst.state_dir
    again.env["AUTH_STATE_DIR"] = str(inst.state_dir)
    again.start()
    instances.append(again)
    kid2 = requests.get(again.url + "/api/auth/.well-known/jwks.json", timeout=5).json()["keys"][0]["kid"]
    assert kid1 == kid2
    assert validate(again.url, t["access_token"]).status_code == 200  # survives a restart


def test_key_from_environment(env, tmp_path, instances):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    inst = Instance(env, tmp_path, AUTH_JWT_PRIVATE_KEY=pem, AUTH_ISSUER="test-issuer",
                    AUTH_AUDIENCE="test-audience").start()
    instances.append(inst)
    assert not (inst.state_dir / "jwt-es256.pem").exists()
    jwk = requests.get(inst.url + "/api/auth/.well-known/jwks.json", timeout=5).json()["keys"][0]
    assert jwk["kid"] == jwk_thumbprint(jwk)
    _, _, t = new_account(inst.url)
    claims = pyjwt.decode(t["access_token"], key.public_key(), algorithms=["ES256"],
                          audience="test-audience", issuer="test-issuer")
    assert jwt_parts(t["access_token"])[0]["kid"] == jwk["kid"]
    assert claims["iss"] == "test-issuer"
    # the stack's tokens (other key, other issuer) mean nothing here
    _, _, stack_t = new_account(env["AUTH_HTTP_URL"])
    r = validate(inst.url, stack_t["access_token"])
    assert r.status_code == 401
    # and the private key is not in the log
    assert "PRIVATE KEY" not in inst.log_text()
    assert pem.splitlines()[1] not in inst.log_text()


@pytest.mark.parametrize("settings,exit_code,named", [
    ({"AUTH_ACCESS_TTL": "fifteen"}, 2, "AUTH_ACCESS_TTL"),
    ({"AUTH_DATABASE_URL": ""}, 2, "AUTH_DATABASE_URL"),
    ({"AUTH_GRPC_LISTEN": "nowhere"}, 2, "AUTH_GRPC_LISTEN"),
    ({"AUTH_LOGIN_MAX_FAILURES": "-3"}, 2, "AUTH_LOGIN_MAX_FAILURES"),
    ({"LOG_LEVEL": "chatty"}, 2, "LOG_LEVEL"),
    ({"AUTH_JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}, 1,
     "AUTH_JWT_PRIVATE_KEY"),
])
def test_bad_configuration_refused(env, tmp_path, settings, exit_code, named):
    inst = Instance(env, tmp_path, **settings)
    inst.start(wait=False)
    inst.proc.wait(30)
    inst.stop_clean(exit_code)
    assert named in inst.log_text()


def test_key_file_readable_by_others_refused(env, tmp_path):
    inst = Instance(env, tmp_path)
    inst.state_dir.mkdir(mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    kf = inst.state_dir / "jwt-es256.pem"
    kf.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    kf.chmod(0o644)
    inst.start(wait=False)
    inst.proc.wait(30)
    inst.stop_clean(1)
    assert "chmod 600" in inst.log_text()


def test_graceful_stop_finishes_requests_in_progress(env, tmp_path):
    # expensive hashing so the login is still running when SIGTERM arrives
    inst = Instance(env, tmp_path, AUTH_ARGON2_OPSLIMIT=4, AUTH_ARGON2_MEMLIMIT_KIB=262144).start()
    email, pw = unique_email("drain"), strong_password()
    try:
        assert register(inst.url, email, pw).status_code == 201
        result = {}

        def do_login():
            result["r"] = login(inst.url, email, pw)

        th = threading.Thread(target=do_login)
        th.start()
        wait_until("the login to be hashing",
                   lambda: "\nauth_password_hash_inflight 1\n" in
                   requests.get(inst.url + "/metrics", timeout=5).text, timeout=10, interval=0.02)
        inst.stop_clean(0)
        th.join(60)
        assert result["r"].status_code == 200, result["r"].text
    finally:
        inst.stop()
    log = inst.log_text()
    assert '"msg":"stopping"' in log and '"msg":"stopped"' in log


def test_database_down_not_ready_but_alive(env, tmp_path, instances):
    from auth_support import free_port
    inst = Instance(env, tmp_path, AUTH_DATABASE_URL=f"postgres://auth:x@127.0.0.1:{free_port()}/auth")
    inst.start(wait=False)
    instances.append(inst)
    wait_until("/health", lambda: requests.get(inst.url + "/health", timeout=2).status_code == 200,
               timeout=30)
    r = requests.get(inst.url + "/ready", timeout=10)
    assert r.status_code == 503
    assert "postgres" in r.text
    # stateful routes say so in the contract's shape; token checks need no database
    r = register(inst.url, unique_email(), strong_password())
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
    with grpc_channel(inst.grpc_addr) as ch:
        assert grpc_validate(ch, "garbage").reason == "malformed"
    assert inst.proc.poll() is None
