"""Static and local checks of the other two ways of running: infra/docker-compose.yml with
infra/docker/, and infra/k8s/ — without starting a container or a cluster.

  /usr/bin/python3 -m pytest -q tests/infra

What runs here: `docker compose config` (the v2 plugin `make deps` installs; it needs no
engine) validates the compose file; PyYAML parses every manifest; the services' own
`--help` tables decide which environment variable names are allowed and which are
required; nginx -t / a short nginx run, Debian's promtool (the Prometheus the image runs),
kustomize (built by `make deps` into the cache; missing tools fail the test, they never skip
it), a throw-away PostgreSQL cluster for initdb.sh, and auth-service itself for the
generated signing key. Building the images and running them is tests/compose's part.
"""
import base64
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE = INFRA / "docker-compose.yml"
DOCKER = INFRA / "docker"
K8S = INFRA / "k8s"
BIN = ROOT / "bin"

# service (and binary) name → its directory under services/
SERVICES = {
    "auth-service": "auth",
    "tasks-service": "tasks",
    "notification-service": "notify",
}
COMPOSE_PASSWORDS = ["POSTGRES_PASSWORD", "PG_AUTH_PASSWORD", "PG_TASKS_PASSWORD",
                     "PG_NOTIFICATIONS_PASSWORD", "REDIS_PASSWORD"]
# every image of the compose system: built here (infra/docker/<dir>/Dockerfile, or the
# services' infra/docker/Dockerfile), named todo-system/<name>
INFRA_IMAGES = {"postgres", "redis", "kafka", "jaeger", "prometheus", "gateway"}


# ---- helpers -------------------------------------------------------------------------------

def versions():
    out = {}
    for line in (INFRA / "versions.env").read_text().splitlines():
        m = re.match(r"^([A-Z_]+)=(\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def cached_tool(name, version_key):
    """A test tool `make deps` builds into ${XDG_CACHE_HOME:-~/.cache}/todo-system."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    exe = cache / "todo-system" / f"{name}-{versions()[version_key]}" / name
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is missing: run `make deps` (infra/deps.sh builds it)")
    return str(exe)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_table(service):
    """{NAME: required?} from `bin/<service> --help`; skips when the binary is not built."""
    binary = BIN / service
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{service}: {binary.relative_to(ROOT)} does not exist yet (not built / not in the tree)")
    p = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    text = p.stdout + p.stderr
    assert "Environment variables:" in text, f"{service} --help has no settings table:\n{text}"
    table = {}
    for line in text.split("Environment variables:", 1)[1].splitlines():
        m = re.match(r"^\s+([A-Z][A-Z0-9_]+)\s+(string|int|bool|duration|host:port|enum)\s+(.*)$", line)
        if m:
            table[m.group(1)] = m.group(3).startswith("(required)")
    assert table, f"no settings parsed from {service} --help:\n{text}"
    return table


def local_stack_env_names():
    """The names infra/local/stack writes into .run/stack.env (write_env's here-document)."""
    text = (INFRA / "local" / "stack").read_text()
    body = re.search(r'write_env\(\).*?<<EOF\n(.*?)\nEOF', text, re.S)
    assert body, "write_env's here-document not found in infra/local/stack"
    return {m.group(1) for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=", body.group(1), re.M)}


@pytest.fixture(scope="session")
def compose_env(tmp_path_factory):
    """An environment with generated passwords (infra/docker/make-env.sh into a temp file)."""
    f = tmp_path_factory.mktemp("compose") / "compose.env"
    subprocess.run([str(DOCKER / "make-env.sh"), str(f)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_PASSWORDS}
    for line in f.read_text().splitlines():
        k, v = line.split("=", 1)
        env[k] = v
    return env


def compose_cmd():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.fail("docker compose v2 is not installed: run `make deps` (infra/deps.sh builds it)")
    return [docker, "compose", "--project-directory", str(INFRA), "-f", str(COMPOSE)]


@pytest.fixture(scope="session")
def compose(compose_env):
    """The compose file as docker-compose resolves it (interpolated, merged)."""
    # the file's own defaults: no port, tag or project from the caller's environment
    env = {k: v for k, v in compose_env.items()
           if not (k.startswith("COMPOSE_") or k.endswith(("_PORT", "_PORT_LAST")) or k == "TODO_IMAGE_TAG")}
    p = subprocess.run(compose_cmd() + ["config"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return yaml.safe_load(p.stdout)


def compose_raw():
    return yaml.safe_load(COMPOSE.read_text())


def k8s_files():
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_docs(include_template=False):
    docs = []
    for f in k8s_files():
        if f.name == "secret.template.yaml" and not include_template:
            continue
        for d in yaml.safe_load_all(f.read_text()):
            if d is not None:
                docs.append((f, d))
    return docs


def kustomization():
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def k8s_find(kind, name):
    for _, d in k8s_docs(include_template=True):
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} {name} in infra/k8s")


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def dockerfile_targets():
    """{target: [ENV names]} of infra/docker/Dockerfile."""
    targets, current = {}, None
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        m = re.match(r"^FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if m:
            current = m.group(1)
            targets[current] = []
            continue
        m = re.match(r"^ENV\s+(.*)$", line)
        if m and current:
            targets[current] += re.findall(r"([A-Z][A-Z0-9_]*)=", m.group(1))
    return targets


# ---- docker compose ------------------------------------------------------------------------

def test_compose_config_is_valid(compose_env):
    p = subprocess.run(compose_cmd() + ["config", "-q"], capture_output=True, text=True,
                       env=compose_env, timeout=120)
    assert p.returncode == 0, p.stderr


def test_compose_refuses_to_run_without_passwords():
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_PASSWORDS}
    p = subprocess.run(compose_cmd() + ["config", "-q"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode != 0
    assert "make-env.sh" in p.stderr, p.stderr


def test_compose_builds_every_image_itself(compose):
    """No image is pulled: each service's image is todo-system/<name>, built from a
    Dockerfile of infra/docker/ whose every stage starts from debian:bookworm-slim."""
    svcs = compose["services"]
    assert set(svcs) == INFRA_IMAGES | set(SERVICES) | {"kafka-init", "tasks-relay"}
    for name, s in svcs.items():
        image = {"kafka-init": "kafka", "tasks-relay": "tasks-service"}.get(name, name)
        assert s["image"] == f"todo-system/{image}:dev", (name, s["image"])
        assert s.get("build"), f"{name} has no build section: its image would be pulled"
        dockerfile = pathlib.Path(s["build"]["context"], s["build"]["dockerfile"])
        assert pathlib.Path(s["build"]["context"]) == ROOT
        if image in SERVICES:
            assert dockerfile == DOCKER / "Dockerfile" and s["build"]["target"] == image
        else:
            assert dockerfile == DOCKER / image / "Dockerfile"
        froms = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), re.M)
        stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile.read_text(), re.M)
        assert froms and all(f == "debian:bookworm-slim" or f in stages for f in froms), (dockerfile, froms)
        ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
        assert ignore.is_file(), f"{ignore} is missing: the whole checkout (.run/ too) would be sent"
    assert svcs["tasks-relay"]["command"] == ["--relay-only"]


def test_compose_publishes_the_local_stack_ports():
    """The same host port variables, with the same defaults, as infra/local/stack."""
    local = dict(re.findall(r'\$\{([A-Z_]+_PORT):=\$\(\((\d+) \+ OFF\)\)\}',
                            (INFRA / "local" / "stack").read_text()))
    text = COMPOSE.read_text()
    published = dict(re.findall(r'"127\.0\.0\.1:\$\{([A-Z_]+_PORT):-(\d+)\}', text))
    assert published, "no published port found"
    for var, default in published.items():
        assert local.get(var) == default, f"{var}: compose {default}, local stack {local.get(var)}"
    assert set(local) - set(published) == {"KAFKA_CONTROLLER_PORT"}, set(local) - set(published)
    wrapper = dict(re.findall(r"([A-Z_]+_PORT):(\d+)", (DOCKER / "compose").read_text()))
    assert wrapper == published, "infra/docker/compose's PORTS differ from the compose file's defaults"


def test_compose_published_ports_are_loopback_only(compose):
    for name, s in compose["services"].items():
        for port in s.get("ports", []):
            spec = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            assert spec.startswith("127.0.0.1:"), f"{name} publishes {spec} beyond 127.0.0.1"
    # replicas of a scaled service cannot share one host port
    assert not compose["services"]["tasks-relay"].get("ports")


def test_compose_health_checks_and_start_order(compose):
    svcs = compose["services"]
    for name, s in svcs.items():
        if name != "kafka-init":
            assert "healthcheck" in s, f"{name} has no health check"
    for svc in (*SERVICES, "tasks-relay"):
        test = " ".join(svcs[svc]["healthcheck"]["test"])
        assert "/ready" in test, f"{svc}'s health check does not ask /ready"
        deps = svcs[svc]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
    for svc in ("tasks-service", "tasks-relay", "notification-service"):
        assert svcs[svc]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert svcs["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert svcs["gateway"]["depends_on"]["auth-service"]["condition"] == "service_healthy"


def topic_script_ok(script):
    assert "task-events:6" in script and "task-events.dlq:1" in script, script
    assert "--if-not-exists" in script and "--replication-factor 1" in script, script


def test_kafka_topics_are_created_once():
    raw = compose_raw()
    topic_script_ok(" ".join(raw["services"]["kafka-init"]["command"]))
    job = k8s_find("Job", "kafka-topics")
    topic_script_ok(" ".join(pod_spec(job)["containers"][0]["args"]))


def local_kafka_properties():
    props = {}
    for line in (INFRA / "local" / "conf" / "kafka.properties.in").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            props[k] = v
    return props


# properties that name addresses or paths, which necessarily differ per way of running
KAFKA_ADDRESS_KEYS = {"controller.quorum.voters", "listeners", "advertised.listeners",
                      "listener.security.protocol.map", "log.dirs"}


@pytest.mark.parametrize("where", ["compose", "k8s"])
def test_kafka_settings_mirror_the_local_stack(where):
    if where == "compose":
        env = {k: str(v) for k, v in compose_raw()["services"]["kafka"]["environment"].items()}
    else:
        c = pod_spec(k8s_find("StatefulSet", "kafka"))["containers"][0]
        env = {e["name"]: e["value"] for e in c["env"]}
    for key, value in local_kafka_properties().items():
        if key in KAFKA_ADDRESS_KEYS:
            continue
        var = "KAFKA_" + key.upper().replace(".", "_")
        assert env.get(var) == value, f"{where}: {var} should be {value!r} as in kafka.properties.in"


# ---- Kubernetes manifests ------------------------------------------------------------------

def test_k8s_every_document_parses_and_is_named():
    files = k8s_files()
    assert files, "no manifests in infra/k8s"
    for f, d in k8s_docs(include_template=True):
        assert isinstance(d, dict), f"{f.name}: a document is not a mapping"
        for field in ("apiVersion", "kind"):
            assert d.get(field), f"{f.name}: a document has no {field}"
        assert (d.get("metadata") or {}).get("name"), f"{f.name}: a {d['kind']} has no metadata.name"


def test_kustomization_lists_every_manifest():
    k = kustomization()
    assert k["namespace"] == "todo-system"
    listed = set(k["resources"])
    manifests = {f.name for f in k8s_files()} - {"secret.template.yaml"}
    assert listed == manifests, f"not listed: {manifests - listed}; listed but absent: {listed - manifests}"
    assert "secret.template.yaml" not in listed, "the template must not be applied as it is"
    generated = set()
    for g in k.get("configMapGenerator", []):
        for spec in g["files"]:
            path = spec.split("=", 1)[-1]
            assert (K8S / path).is_file(), f"configMapGenerator {g['name']}: {path} does not exist"
            generated.add(path)
    conf = {str(p.relative_to(K8S)) for p in (K8S / "conf").iterdir() if p.is_file()}
    assert conf == generated, f"conf/ files not in a configMapGenerator: {conf - generated}"
    other = {p.name for p in K8S.iterdir() if p.is_file()} - manifests - {
        "kustomization.yaml", "secret.template.yaml", "make-secrets.sh"}
    assert not other, f"unexpected files in infra/k8s: {other}"


def test_k8s_references_resolve():
    """Every ConfigMap, Secret key and ServiceAccount a pod names exists."""
    k = kustomization()
    configmaps = {g["name"] for g in k.get("configMapGenerator", [])}
    configmaps |= {d["metadata"]["name"] for _, d in k8s_docs() if d["kind"] == "ConfigMap"}
    secret = k8s_find("Secret", "todo-secrets")
    accounts = {d["metadata"]["name"] for _, d in k8s_docs() if d["kind"] == "ServiceAccount"}
    for f, d in k8s_docs():
        if d["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        spec = pod_spec(d)
        if "serviceAccountName" in spec:
            assert spec["serviceAccountName"] in accounts
        for vol in spec.get("volumes", []):
            if "configMap" in vol:
                assert vol["configMap"]["name"] in configmaps, f"{f.name}: ConfigMap {vol['configMap']['name']}"
        for c in spec["containers"]:
            for ef in c.get("envFrom", []):
                assert ef["configMapRef"]["name"] in configmaps, f"{f.name}: {ef}"
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "todo-secrets" and ref["key"] in secret["data"], \
                        f"{f.name}: secret key {ref} is not in secret.template.yaml"


def test_k8s_workloads():
    kinds = {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_docs()}
    for name in ("postgres", "kafka", "redis"):
        ss = kinds[("StatefulSet", name)]
        assert ss["spec"]["volumeClaimTemplates"], f"{name} has no persistent volume"
        assert ("Service", ss["spec"]["serviceName"]) in kinds
    for name in ("jaeger", "prometheus", "gateway", "tasks-relay", *SERVICES):
        assert ("Deployment", name) in kinds, f"no Deployment {name}"
        assert ("Service", name) in kinds, f"no Service {name}"
    for (kind, name), d in kinds.items():
        if kind not in ("Deployment", "StatefulSet", "Job"):
            continue
        for c in pod_spec(d)["containers"]:
            res = c.get("resources", {})
            assert res.get("requests") and res.get("limits"), f"{kind} {name}: no requests/limits"
    for svc in (*SERVICES, "tasks-relay"):
        d = kinds[("Deployment", svc)]
        c = pod_spec(d)["containers"][0]
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"
        assert c["image"] == f"todo-system/{'tasks-service' if svc == 'tasks-relay' else svc}:dev"
        ann = d["spec"]["template"]["metadata"]["annotations"]
        port = [p for p in c["ports"] if p["name"] == "http"][0]["containerPort"]
        assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == str(port)
        assert pod_spec(d)["securityContext"]["runAsNonRoot"] is True


def test_kustomize_builds():
    cmd = [cached_tool("kustomize", "KUSTOMIZE_VERSION"), "build", str(K8S)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    assert all(d["metadata"].get("namespace") == "todo-system" for d in docs if d["kind"] != "Namespace")
    assert {d["kind"] for d in docs} >= {"Namespace", "ConfigMap", "StatefulSet", "Deployment",
                                         "Service", "Job"}


def k8s_containers():
    for f, d in k8s_docs():
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            for c in pod_spec(d)["containers"] + pod_spec(d).get("initContainers", []):
                yield f, d, c


def test_k8s_runs_the_images_compose_builds(compose):
    """Kubernetes runs exactly the images of the compose build (`minikube image load` them,
    README): every image a manifest names is one compose builds, and none is pulled."""
    built = {s["image"] for s in compose["services"].values() if s.get("build")}
    for f, d, c in k8s_containers():
        assert c["image"] in built, f"{f.name}: {d['kind']} {d['metadata']['name']} runs {c['image']}, " \
                                    f"which the compose build does not make ({sorted(built)})"
        assert c.get("imagePullPolicy") == "IfNotPresent", f"{f.name}: {c['name']} would pull {c['image']}"


def test_k8s_autoscales_the_services_that_scale():
    """tasks-service, the relays and notification-service carry an HPA on CPU; the
    Deployment leaves its replica count to it."""
    bounds = {"tasks-service": (2, None), "tasks-relay": (1, 64), "notification-service": (1, 6)}
    hpas = {d["metadata"]["name"]: d for _, d in k8s_docs() if d["kind"] == "HorizontalPodAutoscaler"}
    assert set(hpas) == set(bounds)
    for name, (least, most) in bounds.items():
        h = hpas[name]
        assert h["apiVersion"] == "autoscaling/v2"
        assert h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert h["spec"]["minReplicas"] == least
        # more relays than shards, or consumers than partitions, would idle
        assert h["spec"]["maxReplicas"] >= least and (most is None or h["spec"]["maxReplicas"] <= most)
        assert [m["resource"]["name"] for m in h["spec"]["metrics"]] == ["cpu"]
        d = k8s_find("Deployment", name)
        assert "replicas" not in d["spec"], f"{name}: replicas in the Deployment fights its HPA"
        for c in pod_spec(d)["containers"]:
            assert c["resources"]["requests"].get("cpu"), f"{name}: an HPA on CPU needs a CPU request"


def test_redis_requires_a_password_in_compose(compose):
    """(issue 13) REDIS_PASSWORD from the generated env file, REDIS_URL carries it, and the
    image refuses to start without one (Kubernetes: tests/infra/test_k8s_redis_auth.py)."""
    assert compose["services"]["redis"]["environment"]["REDIS_PASSWORD"]
    raw = compose_raw()["services"]
    assert raw["redis"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert raw["tasks-service"]["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    assert "refusing to run Redis without" in (DOCKER / "redis" / "entrypoint.sh").read_text()


# ---- the services' environment: the same names everywhere ------------------------------------

def compose_service_env(compose, svc):
    return set((compose["services"][svc].get("environment") or {}).keys())


def k8s_service_env(svc):
    d = k8s_find("Deployment", svc)
    c = pod_spec(d)["containers"][0]
    names = {e["name"] for e in c.get("env", [])}
    for ef in c.get("envFrom", []):
        names |= set(k8s_find("ConfigMap", ef["configMapRef"]["name"])["data"].keys())
    return names


# what runs which binary: the relay containers are tasks-service --relay-only
BINARY = {**{s: s for s in SERVICES}, "tasks-relay": "tasks-service"}


@pytest.mark.parametrize("svc", list(BINARY))
def test_compose_and_k8s_give_the_same_core_names(compose, svc):
    """Both ways give a service the same names (k8s adds only the signing key and tuning)."""
    c, k = compose_service_env(compose, svc), k8s_service_env(svc)
    extra_k8s = {"AUTH_JWT_PRIVATE_KEY", "AUTH_HASH_CONCURRENCY"}
    extra_compose = {"AUTH_STATE_DIR"}
    assert c - extra_compose == k - extra_k8s


@pytest.mark.parametrize("svc", list(BINARY))
def test_service_env_names_are_its_settings(compose, svc):
    table = settings_table(BINARY[svc])  # skips when the binary does not exist yet
    image_env = set(dockerfile_targets()[BINARY[svc]])
    # (a relay-only process needs none of the HTTP service's settings the local stack gives)
    local = local_stack_env_names() & set(table) if svc == BINARY[svc] else set()
    for where, names in (("compose", compose_service_env(compose, svc)), ("k8s", k8s_service_env(svc)),
                         ("Dockerfile ENV", image_env)):
        unknown = names - set(table)
        assert not unknown, f"{where} gives {svc} variables its settings table does not know: {unknown}"
    for where, names in (("compose", compose_service_env(compose, svc)), ("k8s", k8s_service_env(svc))):
        provided = names | image_env
        missing = {n for n, required in table.items() if required} - provided
        assert not missing, f"{where} does not give {svc} its required settings {missing}"
        # what the local stack configures (.run/stack.env), the others configure too
        assert local <= provided, f"{where}: {svc} lacks the local stack's {local - provided}"


# ---- the Dockerfile ------------------------------------------------------------------------

def test_dockerfile_stages():
    text = (DOCKER / "Dockerfile").read_text()
    targets = dockerfile_targets()
    assert "build" in targets and set(SERVICES) <= set(targets)
    assert re.search(r"^FROM debian:bookworm-slim AS build$", text, re.M)
    assert "make -j" in text and " build" in text
    # every runtime target runs as a numeric non-root user (Kubernetes can verify runAsNonRoot)
    for svc in SERVICES:
        block = text.split(f"AS {svc}\n", 1)[1].split("\nFROM ", 1)[0]
        m = re.search(r"^USER (\d+)(:\d+)?$", block, re.M)
        assert m and int(m.group(1)) != 0, f"{svc} does not run as a numeric non-root USER"
        assert f"/out/{svc}/app /app" in block
        assert re.search(rf'ENTRYPOINT \["/app/bin/{svc}"\]', block)
    # the migrations land where the binary looks for them: /app/bin/../services/<dir>/migrations
    for svc, env in targets.items():
        for name in env:
            if name.endswith("_MIGRATIONS_DIR"):
                m = re.search(rf"{name}=(\S+)", text)
                assert m.group(1) == f"/app/services/{SERVICES[svc]}/migrations"
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[[i for i, l in enumerate(ignore) if not l.startswith("#")][0]] == "*", \
        "Dockerfile.dockerignore should start by excluding everything"
    assert not any(l.strip("!/") in (".run", "bin", "build") for l in ignore if l.startswith("!"))


def test_dockerfile_installs_the_dev_packages_of_deps_sh():
    deps = (INFRA / "deps.sh").read_text()
    block = deps.split("DEB_PACKAGES=(", 1)[1].split("\n)", 1)[0]
    section = block.split("# C libraries", 1)[1].split("\n    #", 1)[0]
    wanted = set(re.findall(r"\b(\S+-dev|protobuf-c-compiler)\b", section))
    assert wanted, "no -dev packages found in infra/deps.sh"
    build = (DOCKER / "Dockerfile").read_text().split("AS build", 1)[1].split("\nFROM ", 1)[0]
    missing = {p for p in wanted if not re.search(rf"(?<![\w.-]){re.escape(p)}(?![\w.-])", build)}
    assert not missing, f"the Dockerfile's build stage lacks {missing} (infra/deps.sh has them)"


def test_runtime_deps_finds_only_runtime_libraries():
    bins = [BIN / s for s in SERVICES if os.access(BIN / s, os.X_OK)]
    if not bins:
        pytest.skip("no service binary built yet")
    for b in bins:
        p = subprocess.run([str(DOCKER / "runtime-deps.sh"), str(b)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        pkgs = p.stdout.split()
        assert "libc6" in pkgs and "libpq5" in pkgs, pkgs
        assert not [x for x in pkgs if x.endswith("-dev")], pkgs


# ---- configuration files -------------------------------------------------------------------

def test_k8s_conf_copies_are_equal():
    for name in ("jaeger.yaml", "initdb.sh"):
        assert (DOCKER / name).read_bytes() == (K8S / "conf" / name).read_bytes(), \
            f"infra/docker/{name} and infra/k8s/conf/{name} differ"


def test_jaeger_config_mirrors_the_local_one():
    local = (INFRA / "local" / "conf" / "jaeger.yaml.in").read_text()
    local = yaml.safe_load(re.sub(r'"@HOST@:@[A-Z_]+@"', '"ENDPOINT"', local))
    ours = yaml.safe_load(re.sub(r'"0\.0\.0\.0:\d+"', '"ENDPOINT"', (DOCKER / "jaeger.yaml").read_text()))
    assert ours == local


@pytest.mark.parametrize("conf", [DOCKER / "prometheus.yml", K8S / "conf" / "prometheus.yml"],
                         ids=["compose", "k8s"])
def test_prometheus_configs(conf):
    """The local stack's jobs plus the extra relays, each finding every replica by DNS
    (Debian's Prometheus, the image's, has no Kubernetes discovery); promtool accepts it."""
    local = yaml.safe_load((INFRA / "local" / "conf" / "prometheus.yml.in").read_text())
    cfg = yaml.safe_load(conf.read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {j["job_name"] for j in local["scrape_configs"]} | {"tasks-relay"}
    ports = {"auth-service": 28081, "tasks-service": 28082, "notification-service": 28083, "tasks-relay": 28084}
    for job, port in ports.items():
        (sd,) = jobs[job]["dns_sd_configs"]
        assert sd["type"] == "A" and sd["port"] == port, (job, sd)
        if conf.parent.name == "conf":  # k8s: a headless Service of that name selects the job's pods
            (name,) = sd["names"]
            svc = k8s_find("Service", name)
            assert svc["spec"]["clusterIP"] == "None", f"{name} is not headless: DNS gives one address"
            assert svc["spec"]["selector"] == {"app.kubernetes.io/name": job}
            assert any(p["port"] == port for p in svc["spec"]["ports"])
        else:
            assert sd["names"] == [job]
    # Debian's promtool: the release the image runs (todo-system/prometheus is Debian's)
    assert shutil.which("promtool"), "promtool is not installed: run `make deps` (Debian's prometheus)"
    p = subprocess.run(["promtool", "check", "config", "--syntax-only", str(conf)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def nginx_shape(text):
    """The routes and the bodies the gateway answers itself."""
    locations = sorted(re.findall(r"^\s*location\s+([^{]+?)\s*\{", text, re.M))
    returns = sorted(re.findall(r"return\s+(\d+\s+'[^']*')", text))
    error_pages = sorted(re.findall(r"^\s*error_page\s+[^;]+;", text, re.M))
    limits = sorted(re.findall(r"^\s*limit_req[^;]*;", text, re.M))
    return locations, returns, error_pages, limits


@pytest.mark.parametrize("conf", [DOCKER / "nginx.conf", K8S / "conf" / "nginx.conf"],
                         ids=["compose", "k8s"])
def test_gateway_routes_and_errors_match_the_local_gateway(conf):
    local = nginx_shape((INFRA / "local" / "conf" / "nginx.conf.in").read_text())
    ours = nginx_shape(conf.read_text())
    for what, a, b in zip(("locations", "returned bodies", "error_page lines", "rate limits"), ours, local):
        assert a == b, f"{conf.relative_to(ROOT)}: {what} differ from nginx.conf.in: " \
                       f"extra {sorted(set(a) - set(b))}, missing {sorted(set(b) - set(a))}"


def nginx_for_here(conf, tmp, port, resolver_port):
    """CONF rewritten to run here: loopback port, files under TMP, upstreams on loopback."""
    text = conf.read_text()
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    text = text.replace(" /tmp/", f" {tmp}/")
    # no DNS server there: a lookup fails (after the timeout, shortened for the test)
    text = text.replace("resolver 127.0.0.11", f"resolver 127.0.0.1:{resolver_port}")
    text = text.replace("resolver_timeout 2s;", "resolver_timeout 300ms;")
    text = re.sub(r"server (auth|tasks|notification)-service:", "server 127.0.0.1:", text)
    if os.geteuid() == 0:  # workers drop to an unprivileged user; Debian has no group nobody
        text = "user nobody nogroup;\n" + text
    path = tmp / "nginx.conf"
    path.write_text(text)
    return path


@pytest.mark.parametrize("conf", [DOCKER / "nginx.conf", K8S / "conf" / "nginx.conf"],
                         ids=["compose", "k8s"])
def test_gateway_config_is_accepted_by_nginx(conf, tmp_path):
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed")
    tmp_path.chmod(0o755)
    path = nginx_for_here(conf, tmp_path, free_port(), free_port())
    p = subprocess.run(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(path), "-e", str(tmp_path / "err.log")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr + (tmp_path / "err.log").read_text()


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_compose_gateway_answers_json_errors(tmp_path):
    """The compose gateway, run here: its own errors have the contract's JSON shape, and a
    service it cannot resolve (not started, or notification-service not built) is a 503."""
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed")
    tmp_path.chmod(0o755)
    port = free_port()
    path = nginx_for_here(DOCKER / "nginx.conf", tmp_path, port, free_port())
    with open(tmp_path / "out.log", "w") as out:
        proc = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(path), "-e", str(tmp_path / "err.log"),
                                 "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                status, body = http("GET", base + "/gateway/health")
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "out.log").read_text()
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.05)
        assert status == 200 and body == '{"status":"ok"}'
        status, body = http("GET", base + "/no/such/route")
        assert status == 404 and '"code":"not_found"' in body
        bearer = {"Authorization": "Bearer x.y.z"}
        for route in ("/api/tasks", "/api/notifications", "/api/auth/validate"):
            status, body = http("GET", base + route, headers=bearer)
            assert status == 503 and '"code":"service_unavailable"' in body, (route, status, body)
            # no bearer token: refused by the gateway itself (tests/e2e/test_gateway.py)
            status, body = http("GET", base + route)
            assert status == 401 and '"error":{"code":' in body, (route, status, body)
        status, body = http("POST", base + "/api/tasks", data=b"x" * (2 << 20), headers=bearer)
        assert status == 413 and '"code":"payload_too_large"' in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- secrets -------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|_KEY$", re.I)
PLACEHOLDER = re.compile(r"^(\$\{[A-Z_]+(:?\?[^}]*)?\}|@[A-Z_]+@)$")


def committed_files():
    files = [COMPOSE] + sorted(p for p in DOCKER.rglob("*") if p.is_file()) \
        + sorted(p for p in K8S.rglob("*") if p.is_file())
    return files


def test_no_secret_values_are_committed():
    for f in committed_files():
        text = f.read_text()
        rel = f.relative_to(ROOT)
        assert "PRIVATE KEY-----" not in text, f"{rel} holds a private key"
        # credentials inside URLs: only variables (${VAR…} in compose, $var in scripts)
        for m in re.finditer(r"[a-z]+://([^:/@\s\"']*):([^@\s\"']+)@", text):
            # (the word "password" itself is how comments show the URL's shape)
            assert m.group(2).startswith("$") or m.group(2).lower() == "password", \
                f"{rel}: a URL with a literal password ({m.group(1)}:…)"
        if f.suffix not in (".yaml", ".yml"):
            continue
        for doc in yaml.safe_load_all(text):
            for key, value in walk(doc):
                # (secretName names a Secret, as in a secret volume; it holds nothing secret)
                if isinstance(value, (str, int)) and SECRET_NAME.search(str(key)) and key != "secretName":
                    assert PLACEHOLDER.match(str(value)), f"{rel}: {key} has a literal value"
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                for section in ("data", "stringData"):
                    for key, value in (doc.get(section) or {}).items():
                        assert PLACEHOLDER.match(str(value)), f"{rel}: Secret {key} has a committed value"


def walk(node):
    """(key, value) of every mapping entry and of every {name:, value:} env entry."""
    if isinstance(node, dict):
        if "name" in node and "value" in node:
            yield node["name"], node["value"]
        for k, v in node.items():
            yield k, v
            yield from walk(v)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and "=" in item:  # "VAR=value" list entries
                k, v = item.split("=", 1)
                yield k, v
            yield from walk(item)


def test_generated_secrets_stay_out_of_git():
    for path in (".run/compose.env", ".run/k8s/secret.yaml", ".run/k8s/jwt-es256.pem"):
        p = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", path])
        assert p.returncode == 0, f"{path} would not be ignored by git"


def test_make_env_generates_once(tmp_path):
    f = tmp_path / "sub" / "compose.env"
    subprocess.run([str(DOCKER / "make-env.sh"), str(f)], check=True, capture_output=True)
    first = f.read_text()
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    values = dict(line.split("=", 1) for line in first.splitlines())
    assert set(values) == set(COMPOSE_PASSWORDS)
    assert all(re.fullmatch(r"[A-Za-z0-9]{24}", v) for v in values.values()), "not URL-safe"
    assert len(set(values.values())) == len(values)
    subprocess.run([str(DOCKER / "make-env.sh"), str(f)], check=True, capture_output=True)
    assert f.read_text() == first, "a second run must keep the passwords"


@pytest.fixture
def secrets_out(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    env = dict(os.environ, TODO_RUN_DIR=str(tmp_path))
    p = subprocess.run([str(K8S / "make-secrets.sh")], capture_output=True, text=True, env=env, check=True)
    again = subprocess.run([str(K8S / "make-secrets.sh")], capture_output=True, text=True, env=env, check=True)
    assert again.stdout == p.stdout, "a second run must print the same Secret"
    assert oct((tmp_path / "k8s").stat().st_mode & 0o777) == "0o700"
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    return docs


def test_make_secrets_fills_the_template(secrets_out):
    assert [d["kind"] for d in secrets_out] == ["Namespace", "Secret"]
    secret = secrets_out[1]
    template = k8s_find("Secret", "todo-secrets")
    assert set(secret["data"]) == set(template["data"])
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert all(values.values())
    assert values["AUTH_DATABASE_URL"] == f"postgres://auth:{values['PG_AUTH_PASSWORD']}@postgres:5432/auth"
    assert values["TASKS_DATABASE_URL"] == f"postgres://tasks:{values['PG_TASKS_PASSWORD']}@postgres:5432/tasks"
    assert values["NOTIFY_DATABASE_URL"] == \
        f"postgres://notifications:{values['PG_NOTIFICATIONS_PASSWORD']}@postgres:5432/notifications"
    assert values["REDIS_URL"] == f"redis://:{values['REDIS_PASSWORD']}@redis:6379/0"


def test_generated_signing_key_is_accepted_by_auth_service(secrets_out, tmp_path):
    if not os.access(BIN / "auth-service", os.X_OK):
        pytest.skip("auth-service: bin/auth-service does not exist yet")
    pem = base64.b64decode(secrets_out[1]["data"]["AUTH_JWT_PRIVATE_KEY"]).decode()
    env = dict(os.environ, AUTH_JWT_PRIVATE_KEY=pem, AUTH_DATABASE_URL="postgres://x:y@127.0.0.1:1/x",
               AUTH_HTTP_LISTEN=f"127.0.0.1:{free_port()}", AUTH_GRPC_LISTEN=f"127.0.0.1:{free_port()}",
               AUTH_STATE_DIR=str(tmp_path / "unused"), OTLP_ENDPOINT="", LOG_LEVEL="info")
    log = tmp_path / "auth.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "auth-service")], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while '"signing key ready"' not in log.read_text():
            assert proc.poll() is None, f"auth-service exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        line = [l for l in log.read_text().splitlines() if '"signing key ready"' in l][0]
        assert '"source":"AUTH_JWT_PRIVATE_KEY"' in line, line
        assert not (tmp_path / "unused").exists(), "with the key given, AUTH_STATE_DIR is not touched"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---- PostgreSQL's first-start script -------------------------------------------------------

def test_initdb_script_creates_the_databases(tmp_path):
    """initdb.sh against a throw-away cluster: roles with the given passwords, each owning its
    database, CONNECT revoked from PUBLIC, idempotent, refuses a missing password."""
    pg_bins = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not pg_bins or os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root and PostgreSQL's server binaries (make deps)")
    pg = pg_bins[-1]
    work = pathlib.Path(tempfile.mkdtemp(prefix="todo-initdb-", dir="/tmp"))
    shutil.chown(work, "postgres")
    shutil.copy(DOCKER / "initdb.sh", work / "initdb.sh")
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    passwords = {"PG_AUTH_PASSWORD": "a'b\"c$d\\e", "PG_TASKS_PASSWORD": "t" * 24,
                 "PG_NOTIFICATIONS_PASSWORD": "n" * 24}
    env = dict(os.environ, PGHOST=str(work), PGPORT=str(port), **passwords)
    started = False
    try:
        subprocess.run(as_pg + [str(pg / "initdb"), "-D", str(work / "data"), "-U", "postgres", "-A", "trust",
                                "--auth-host=scram-sha-256"], check=True, capture_output=True)
        subprocess.run(as_pg + [str(pg / "pg_ctl"), "-D", str(work / "data"), "-l", str(work / "log"), "-w",
                                "start", "-o", f"-c listen_addresses=127.0.0.1 -p {port} "
                                               f"-c unix_socket_directories={work}"],
                       check=True, capture_output=True)
        started = True
        for _ in range(2):  # the second run changes nothing
            p = subprocess.run(as_pg + ["bash", str(work / "initdb.sh")], env=env, capture_output=True, text=True)
            assert p.returncode == 0, p.stdout + p.stderr

        def psql(user, db, password, sql):
            return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", db, "-XAtc", sql],
                                  env=dict(os.environ, PGPASSWORD=password), capture_output=True, text=True)

        for role, db, var in (("auth", "auth", "PG_AUTH_PASSWORD"), ("tasks", "tasks", "PG_TASKS_PASSWORD"),
                              ("notifications", "notifications", "PG_NOTIFICATIONS_PASSWORD")):
            p = psql(role, db, passwords[var], "SELECT current_user, pg_get_userbyid(datdba) FROM pg_database "
                                               "WHERE datname = current_database()")
            assert p.returncode == 0 and p.stdout.strip() == f"{role}|{role}", p.stderr
        p = psql("tasks", "auth", passwords["PG_TASKS_PASSWORD"], "SELECT 1")
        assert p.returncode != 0 and "CONNECT" in p.stderr, "a role must not reach another service's database"
        bad = dict(env, PG_TASKS_PASSWORD="")
        p = subprocess.run(as_pg + ["bash", str(work / "initdb.sh")], env=bad, capture_output=True, text=True)
        assert p.returncode != 0 and "PG_TASKS_PASSWORD" in p.stderr
    finally:
        if started:
            subprocess.run(as_pg + [str(pg / "pg_ctl"), "-D", str(work / "data"), "-m", "fast", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

