"""auth-service brute-force protection: repeated failed logins for one email lock it (429 with
Retry-After), whether or not the account exists, through the gateway and directly. Each test
also checks what auth_logins_total says about exactly the attempts it made."""
import collections
import concurrent.futures
import threading

import pytest
import requests

from auth_support import assert_contract_error, login, register, strong_password, unique_email
from conftest import Counters

MAX_FAILURES = 5  # AUTH_LOGIN_MAX_FAILURES default
LOCKOUT_S = 900   # AUTH_LOGIN_LOCKOUT default (15m)


@pytest.fixture(params=["gateway", "direct"])
def base(env, request):
    return env["GATEWAY_URL"] if request.param == "gateway" else env["AUTH_HTTP_URL"]


@pytest.fixture
def logins(env):
    """auth_logins_total deltas over the test: logins(outcome) -> how many since it began."""
    c = Counters(env["AUTH_HTTP_URL"])
    return lambda outcome: c.delta("auth_logins_total", outcome=outcome)


def test_lockout_after_repeated_failures(base, logins):
    email, pw = unique_email("bf"), strong_password()
    other_email, other_pw = unique_email("bf-other"), strong_password()
    assert register(base, email, pw).status_code == 201
    assert register(base, other_email, other_pw).status_code == 201

    for i in range(MAX_FAILURES):
        r = login(base, email, f"wrong-{i}-password")
        assert assert_contract_error(r, 401) == "invalid_credentials"

    r = login(base, email, "wrong-again-password")
    assert assert_contract_error(r, 429) == "too_many_attempts"
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= LOCKOUT_S
    # while locked, even the right password is refused: the lock is not an oracle
    r = login(base, email, pw)
    assert assert_contract_error(r, 429) == "too_many_attempts"
    # other accounts are not affected
    assert login(base, other_email, other_pw).status_code == 200
    assert (logins("invalid_credentials"), logins("locked"), logins("success")) == (MAX_FAILURES, 2, 1)


def test_success_resets_the_counter(base, logins):
    email, pw = unique_email("bf-reset"), strong_password()
    assert register(base, email, pw).status_code == 201
    for _ in range(MAX_FAILURES - 1):
        assert login(base, email, "nope-nope-nope").status_code == 401
    assert login(base, email, pw).status_code == 200
    for _ in range(MAX_FAILURES - 1):
        assert login(base, email, "nope-nope-nope").status_code == 401
    assert login(base, email, pw).status_code == 200
    assert (logins("invalid_credentials"), logins("locked"), logins("success")) == \
        (2 * (MAX_FAILURES - 1), 0, 2)


def test_unknown_email_locks_the_same_way(base, logins):
    """No difference between an account that exists and one that does not."""
    email = unique_email("bf-ghost")
    for _ in range(MAX_FAILURES):
        assert login(base, email, "whatever-pw").status_code == 401
    r = login(base, email, "whatever-pw")
    assert assert_contract_error(r, 429) == "too_many_attempts"
    assert int(r.headers["Retry-After"]) > 0
    assert (logins("invalid_credentials"), logins("locked"), logins("success")) == (MAX_FAILURES, 1, 0)


def test_parallel_guesses_reach_the_password_check_at_most_max_failures_times(env, logins):
    """400 wrong guesses for one account sent at once (directly: the gateway's per-address
    limit is not what is tested): each attempt is counted before its password is checked, so
    at most MAX_FAILURES of them cost an argon2 verify; the rest are 429. Before the attempt
    was reserved first, every guess that arrived before the first failure was recorded went
    through to argon2 (about all 400)."""
    base = env["AUTH_HTTP_URL"]
    email, pw = unique_email("bf-par"), strong_password()
    assert register(base, email, pw).status_code == 201
    hashes = Counters(base)  # auth_password_hash_seconds counts every argon2 hash and verify
    barrier = threading.Barrier(400)

    def guess(i):
        barrier.wait(timeout=60)
        with requests.Session() as s:
            return s.post(base + "/api/auth/login", json={"email": email, "password": f"guess-{i}-wrong"},
                          timeout=120)

    with concurrent.futures.ThreadPoolExecutor(400) as pool:
        answers = list(pool.map(guess, range(400)))
    codes = collections.Counter(r.status_code for r in answers)
    assert set(codes) <= {401, 429}, codes
    checked = hashes.delta("auth_password_hash_seconds_count")
    print(f"400 parallel guesses: {dict(codes)}; password checks: {checked:.0f}")
    assert checked <= MAX_FAILURES, (checked, codes)
    assert codes[401] == checked and codes[429] == 400 - checked, (checked, codes)
    assert logins("invalid_credentials") == checked and logins("locked") == 400 - checked
    # the account is locked now, for the right password too
    assert assert_contract_error(login(base, email, pw), 429) == "too_many_attempts"
