"""Helpers for the auth-service end-to-end tests (tests/e2e/test_auth_*.py).

Independent clients only: `requests` for HTTP, grpcio with stubs generated at import time
from proto/ by Debian's grpc_tools, PyJWT/cryptography to check and forge tokens, psycopg2
to look at what the service stored. Nothing here shares code with the service.
"""
import base64
import hashlib
import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]

# ---- gRPC stubs, generated once per test session into a temporary directory -------------
_STUBS = pathlib.Path(tempfile.mkdtemp(prefix="auth-e2e-stubs-"))
for include, proto in (("proto", "proto/auth/v1/auth.proto"),
                       # the health proto is generated flat: a "grpc" package would shadow grpcio
                       ("proto/grpc/health/v1", "proto/grpc/health/v1/health.proto")):
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / include}",
                    f"--python_out={_STUBS}", f"--grpc_python_out={_STUBS}", str(ROOT / proto)],
                   check=True, capture_output=True)
sys.path.insert(0, str(_STUBS))

import grpc  # noqa: E402
from auth.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402,F401
import health_pb2, health_pb2_grpc  # noqa: E402,F401

JSON = {"Content-Type": "application/json"}


def unique_email(tag="user"):
    return f"{tag}-{secrets.token_hex(6)}@example.com"


def strong_password():
    return "pw-" + secrets.token_urlsafe(18)


def post(base, path, body, timeout=60, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(base + path, data=data, headers={**JSON, **kw.pop("headers", {})},
                         timeout=timeout, **kw)


def register(base, email, password):
    return post(base, "/api/auth/register", {"email": email, "password": password})


def login(base, email, password):
    return post(base, "/api/auth/login", {"email": email, "password": password})


def validate(base, token, timeout=30):
    return requests.get(base + "/api/auth/validate", timeout=timeout,
                        headers={"Authorization": f"Bearer {token}"})


def new_account(base):
    """Registers a fresh account and logs it in; returns (email, password, login json)."""
    email, password = unique_email(), strong_password()
    r = register(base, email, password)
    assert r.status_code == 201, r.text
    r = login(base, email, password)
    assert r.status_code == 200, r.text
    return email, password, r.json()


def assert_contract_error(r, status=None):
    """A 4xx answer with the contract's body {"error":{"code","message"}}."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if status is not None:
        assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    err = r.json()["error"]
    assert isinstance(err["code"], str) and err["code"] and err["code"].replace("_", "").isalnum()
    assert err["code"] == err["code"].lower()
    assert isinstance(err["message"], str) and err["message"]
    return err["code"]


# ---- gRPC --------------------------------------------------------------------------------

def grpc_channel(addr):
    return grpc.insecure_channel(addr)


def grpc_validate(channel, token, timeout=5, metadata=None):
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    return stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token), timeout=timeout,
                              metadata=metadata)


# ---- tokens: decoding, the service's key, forging -----------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


def service_private_key(env):
    """The stack's signing key: AUTH_JWT_PRIVATE_KEY, or the key file the service created in
    AUTH_STATE_DIR on first start (the tests run as the same user as the stack)."""
    from cryptography.hazmat.primitives import serialization
    pem = env.get("AUTH_JWT_PRIVATE_KEY") or (
        pathlib.Path(env["AUTH_STATE_DIR"]) / "jwt-es256.pem").read_text()
    return serialization.load_pem_private_key(pem.encode(), None)


def es256_sign(key, header, payload):
    """A JWS compact token signed by KEY, built by hand (R || S signature, RFC 7518)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(payload).encode()))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def jwk_thumbprint(jwk):
    """RFC 7638 thumbprint of an EC JWK, computed here independently of the service."""
    canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                       sort_keys=True)
    return b64url(hashlib.sha256(canon.encode()).digest())


# ---- logs ---------------------------------------------------------------------------------

def auth_log_path():
    """The stack's auth-service log (.run/, or TODO_RUN_DIR for a second stack)."""
    from conftest import RUN
    return RUN / "logs" / "auth.log"


# ---- a private auth-service instance, for settings the shared stack does not use ----------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_binary():
    from conftest import bin_dir
    return bin_dir() / "auth-service"


class Instance:
    """The auth-service binary under test, started by the test on free ports against the
    stack's database, with extra settings. It logs into the stack's log directory
    (.run/logs/auth-instance-PORT.log), where the suite's sanitizer gate reads it too; the test
    (or the `instances` fixture) checks its exit status with stop_clean()."""

    def __init__(self, env, tmp_path, **settings):
        from conftest import RUN
        self.http_port, self.grpc_port = free_port(), free_port()
        self.log_path = RUN / "logs" / f"auth-instance-{self.http_port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.state_dir = tmp_path / "state"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AUTH_DATABASE_URL": env["AUTH_DATABASE_URL"],
            "AUTH_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "AUTH_GRPC_LISTEN": f"127.0.0.1:{self.grpc_port}",
            "AUTH_STATE_DIR": str(self.state_dir),
            "OTLP_ENDPOINT": env.get("OTLP_ENDPOINT", ""),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
            **{k: str(v) for k, v in settings.items()},
        }
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_addr(self):
        return f"127.0.0.1:{self.grpc_port}"

    def log_text(self):
        """What this instance logged (not earlier runs on the same port)."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_from)
            return f.read().decode("utf-8", "replace")

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(service_binary())], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        if wait:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"auth-service exited {self.proc.returncode}:\n"
                                         + self.log_text())
                try:
                    if requests.get(self.url + "/ready", timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            raise AssertionError("private auth-service not ready in 30s:\n" + self.log_text())
        return self

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status (negative: killed by that signal)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and not self.log.closed:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def stop_clean(self, expected=0):
        """Stops the instance (if running) and asserts it exited with EXPECTED and logged no
        sanitizer report (a leak aborts the process: ASAN_OPTIONS above)."""
        rc = self.stop()
        from conftest import SANITIZER
        text = self.log_text() if self.proc else ""
        assert not SANITIZER.search(text), f"sanitizer report in {self.log_path}:\n{text[-6000:]}"
        assert rc == expected, f"auth-service exited {rc}, expected {expected}:\n{text[-3000:]}"
