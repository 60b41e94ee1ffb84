"""auth-service: forged and broken access tokens, every one rejected by REST validate (through
the gateway and directly) and by gRPC ValidateToken. The tokens are made here with PyJWT's
building blocks and `cryptography`; the ones that must fail on a claim are signed with the
service's real key, so only the claim check can catch them."""
import hashlib
import json
import hmac
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth_support import (assert_contract_error, b64url, es256_sign, grpc_channel, grpc_validate,
                          jwt_parts, new_account, service_private_key, validate)


@pytest.fixture(scope="module")
def genuine(env):
    """A real login: its token, decoded header and claims, and the service's key."""
    _, _, t = new_account(env["AUTH_HTTP_URL"])
    header, claims, _ = jwt_parts(t["access_token"])
    return {"token": t["access_token"], "header": header, "claims": claims,
            "key": service_private_key(env)}


def claims_with(g, **changes):
    now = int(time.time())
    c = {**g["claims"], "iat": now, "exp": now + 600}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


def hs256(header, claims, secret):
    si = b64url(json.dumps(header).encode()) + "." + \
        b64url(json.dumps(claims).encode())
    return si + "." + b64url(hmac.new(secret, si.encode(), hashlib.sha256).digest())


def forge(name, g):
    h, key = g["header"], g["key"]
    if name == "alg_none":
        return (b64url(b'{"alg":"none","typ":"JWT"}') + "." +
                b64url(json.dumps(claims_with(g)).encode()) + ".")
    if name == "alg_none_with_sig":
        return (b64url(b'{"alg":"none","typ":"JWT"}') + "." +
                b64url(json.dumps(claims_with(g)).encode()) + ".c2ln")
    if name == "hs256_public_key":
        pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return hs256({"alg": "HS256", "typ": "JWT", "kid": h["kid"]}, claims_with(g), pub)
    if name == "other_key":
        return es256_sign(ec.generate_private_key(ec.SECP256R1()), h, claims_with(g))
    if name == "expired":
        now = int(time.time())
        return es256_sign(key, h, claims_with(g, iat=now - 7200, exp=now - 3600))
    if name == "not_yet_valid":
        now = int(time.time())
        return es256_sign(key, h, claims_with(g, nbf=now + 3600, exp=now + 7200))
    if name == "wrong_iss":
        return es256_sign(key, h, claims_with(g, iss="https://evil.example"))
    if name == "wrong_aud":
        return es256_sign(key, h, claims_with(g, aud="some-other-system"))
    if name == "payload_altered":
        head, _, sig = g["token"].split(".")
        c = dict(g["claims"], sub="1", email="admin@example.com")
        return head + "." + b64url(json.dumps(c).encode()) + "." + sig
    if name == "signature_truncated":
        return g["token"][:-20]
    if name == "signature_stripped":
        return g["token"].rsplit(".", 1)[0] + "."
    if name == "not_a_jwt":
        return "this is not a token"
    if name == "token_100kb":
        return "eyJhbGciOiJFUzI1NiJ9." + "A" * (100 * 1024) + ".sig"
    raise KeyError(name)


# forgery -> the reason gRPC must give
FORGERIES = {
    "alg_none": "malformed",              # empty signature segment
    "alg_none_with_sig": "unsupported_alg",
    "hs256_public_key": "unsupported_alg",
    "other_key": "bad_signature",
    "expired": "expired",
    "not_yet_valid": "not_yet_valid",
    "wrong_iss": "wrong_issuer",
    "wrong_aud": "wrong_audience",
    "payload_altered": "bad_signature",
    "signature_truncated": "bad_signature",
    "signature_stripped": "malformed",
    "not_a_jwt": "malformed",
    "token_100kb": "too_large",
}


def test_control_hand_signed_token_is_accepted(env, genuine):
    """The forging helpers make tokens the service accepts when nothing is wrong with them,
    so each rejection below is caused by its one flaw."""
    tok = es256_sign(genuine["key"], genuine["header"], claims_with(genuine))
    assert validate(env["AUTH_HTTP_URL"], tok).status_code == 200
    with grpc_channel(env["AUTH_GRPC_ADDR"]) as ch:
        assert grpc_validate(ch, tok).valid


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forgery_rejected_by_grpc(env, genuine, name):
    with grpc_channel(env["AUTH_GRPC_ADDR"]) as ch:
        r = grpc_validate(ch, forge(name, genuine))
    assert not r.valid
    assert r.reason == FORGERIES[name]
    assert r.user_id == 0 and r.email == ""


@pytest.mark.parametrize("via", ["gateway", "direct"])
@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forgery_rejected_by_rest(env, genuine, name, via):
    base = env["GATEWAY_URL"] if via == "gateway" else env["AUTH_HTTP_URL"]
    r = validate(base, forge(name, genuine))
    if name == "token_100kb":
        # refused before it reaches a handler: by the gateway with the contract's error
        # body, or directly by the HTTP server's header limit (431); the service stays up
        if via == "gateway":
            assert assert_contract_error(r, 400) == "header_too_large"
        else:
            assert r.status_code == 431, r.status_code
        assert requests.get(env["AUTH_HTTP_URL"] + "/health", timeout=5).status_code == 200
        return
    assert assert_contract_error(r, 401) == "invalid_token"
    assert FORGERIES[name] in r.json()["error"]["message"]


def test_large_but_acceptable_header_gets_contract_answer(env):
    r = validate(env["AUTH_HTTP_URL"], "A" * 6000)
    assert assert_contract_error(r, 401) == "invalid_token"
    assert "too_large" in r.json()["error"]["message"]
