"""Redis in Kubernetes requires a generated password (infra/k8s, issue 13 item 12), checked
without a cluster: the manifests wire the Secret todo-secrets into the server (a mounted
configuration file, not a command-line argument), the probes (REDISCLI_AUTH) and tasks-service
(REDIS_URL); make-secrets.sh fills those keys from one generated password; and redis-server, run
here with the generated file, refuses clients without it.
"""
import base64
import os
import shutil
import subprocess
import time

import pytest
import redis
import yaml

from test_manifests import K8S, free_port, k8s_find, pod_spec


def secret_key_ref(container, name):
    for e in container.get("env", []):
        if e["name"] == name:
            return ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("key")
    return None


def test_redis_server_reads_its_password_from_the_secret():
    ss = k8s_find("StatefulSet", "redis")
    spec = pod_spec(ss)
    c = spec["containers"][0]
    args = c["args"]
    assert args[0] == "redis-server" and args[1] == "/etc/redis-auth/auth.conf", args
    assert not any("requirepass" in a for a in args), "the password must not be an argument"
    mount = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/redis-auth"]
    assert mount and mount[0].get("readOnly") is True
    vol = [v for v in spec["volumes"] if v["name"] == mount[0]["name"]][0]
    assert vol["secret"]["secretName"] == "todo-secrets"
    assert vol["secret"]["items"] == [{"key": "REDIS_AUTH_CONF", "path": "auth.conf"}]
    assert vol["secret"]["defaultMode"] & 0o007 == 0, "the file must not be world-readable"
    # the probes authenticate through redis-cli's environment variable
    assert secret_key_ref(c, "REDISCLI_AUTH") == "REDIS_PASSWORD"
    template = k8s_find("Secret", "todo-secrets")["data"]
    assert {"REDIS_PASSWORD", "REDIS_AUTH_CONF", "REDIS_URL"} <= set(template)


def test_tasks_service_takes_redis_url_from_the_secret():
    c = pod_spec(k8s_find("Deployment", "tasks-service"))["containers"][0]
    assert secret_key_ref(c, "REDIS_URL") == "REDIS_URL"
    settings = k8s_find("ConfigMap", "tasks-service-settings")["data"]
    assert "REDIS_URL" not in settings, "REDIS_URL (with the password) belongs in the Secret"


def test_generated_redis_secret_locks_a_real_redis(tmp_path):
    if not shutil.which("openssl") or not shutil.which("redis-server"):
        pytest.skip("needs openssl and redis-server (make deps)")
    p = subprocess.run([str(K8S / "make-secrets.sh")], capture_output=True, text=True, check=True,
                       env=dict(os.environ, TODO_RUN_DIR=str(tmp_path)))
    secret = [d for d in yaml.safe_load_all(p.stdout) if d and d["kind"] == "Secret"][0]
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    pw = values["REDIS_PASSWORD"]
    assert len(pw) >= 20
    assert values["REDIS_AUTH_CONF"] == f"requirepass {pw}\n"
    assert values["REDIS_URL"] == f"redis://:{pw}@redis:6379/0"

    conf = tmp_path / "auth.conf"
    conf.write_text(values["REDIS_AUTH_CONF"])
    conf.chmod(0o600)
    port = free_port()
    proc = subprocess.Popen(["redis-server", str(conf), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        anonymous = redis.Redis(port=port, socket_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            try:
                with pytest.raises(redis.AuthenticationError):
                    anonymous.get("x")
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        url = values["REDIS_URL"].replace("@redis:6379", f"@127.0.0.1:{port}")
        assert redis.Redis.from_url(url, socket_timeout=2).ping()
        # the probe's command, with the variable the manifest sets
        probe = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,
                               env=dict(os.environ, REDISCLI_AUTH=pw), timeout=10)
        assert probe.stdout.strip() == "PONG", probe.stdout + probe.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
