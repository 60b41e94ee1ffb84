"""auth-service under concurrent clients: registration races and a burst of logins."""
import concurrent.futures
import http.client
import json
import secrets
import threading
import urllib.parse

import psycopg2
import requests

from auth_support import JSON, post, register, strong_password, unique_email, validate


def run_at_once(n, fn):
    """Runs fn(i) in n threads released together by a barrier; returns the results."""
    barrier = threading.Barrier(n)

    def go(i):
        barrier.wait(timeout=60)
        return fn(i)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_twenty_simultaneous_registrations_of_one_email(env):
    """Through the gateway, from twenty clients (each its own loopback address: one address
    gets a few credential requests a second): exactly one 201, the other nineteen 409, one row."""
    email = unique_email("race")
    passwords = [strong_password() for _ in range(20)]
    gw = urllib.parse.urlsplit(env["GATEWAY_URL"])
    net = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(254) + 1}"

    def reg(i):
        c = http.client.HTTPConnection(gw.hostname, gw.port, timeout=120, source_address=(f"{net}.{i + 2}", 0))
        try:
            c.request("POST", "/api/auth/register", headers=JSON,
                      body=json.dumps({"email": email, "password": passwords[i]}))
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            c.close()

    results = run_at_once(20, reg)
    codes = sorted(status for status, _ in results)
    assert codes == [201] + [409] * 19, codes
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "email_taken"
    winner = next(i for i, (status, _) in enumerate(results) if status == 201)
    with psycopg2.connect(env["AUTH_DATABASE_URL"], connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE email = %s", (email,))
        assert cur.fetchone()[0] == 1
    # the password that won is the one that works
    assert post(env["GATEWAY_URL"], "/api/auth/login",
                {"email": email, "password": passwords[winner]}).status_code == 200


def test_two_hundred_simultaneous_logins(env):
    """200 logins at once (direct: the gateway's per-address limit of 5/s would otherwise be
    what is measured) all succeed; argon2id work is queued, not allowed to exhaust memory.
    Four per account: each attempt is counted before its password is checked, and an account
    takes at most five at a time (auth_limit.h; the sixth waits for a success, as a 429)."""
    base = env["AUTH_HTTP_URL"]
    accounts = []
    for i in range(50):
        email, pw = unique_email(f"burst{i}"), strong_password()
        assert register(base, email, pw).status_code == 201
        accounts.append((email, pw))

    def log_in(i):
        email, pw = accounts[i % len(accounts)]
        with requests.Session() as s:
            return s.post(base + "/api/auth/login", headers=JSON, timeout=180,
                          json={"email": email, "password": pw})

    results = run_at_once(200, log_in)
    codes = [r.status_code for r in results]
    assert codes.count(200) == 200, sorted(set(codes))
    tokens = {r.json()["access_token"] for r in results}
    refresh = {r.json()["refresh_token"] for r in results}
    assert len(tokens) == 200 and len(refresh) == 200  # every login its own session
    sample = results[123].json()["access_token"]
    assert validate(base, sample).status_code == 200


def test_concurrent_refresh_of_one_token_single_winner(env):
    """Racing refreshes with one token: one wins, the rest are reuse, the family dies."""
    base = env["AUTH_HTTP_URL"]
    email, pw = unique_email("rrace"), strong_password()
    assert register(base, email, pw).status_code == 201
    rt = post(base, "/api/auth/login", {"email": email, "password": pw}).json()["refresh_token"]

    def refresh(_):
        with requests.Session() as s:
            return s.post(base + "/api/auth/refresh", headers=JSON, timeout=60,
                          json={"refresh_token": rt})

    results = run_at_once(10, refresh)
    ok = [r for r in results if r.status_code == 200]
    assert len(ok) == 1, [r.status_code for r in results]
    assert all(r.status_code == 401 for r in results if r.status_code != 200)
    assert any(r.json()["error"]["code"] == "refresh_token_reused" for r in results
               if r.status_code == 401)
    # the winner's new token belongs to the revoked family
    r = post(base, "/api/auth/refresh", {"refresh_token": ok[0].json()["refresh_token"]})
    assert r.status_code == 401
