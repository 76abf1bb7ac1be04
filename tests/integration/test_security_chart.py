"""Security of what the Helm chart installs (issue 9, findings 3, 4 and 11): Redis behind a
generated password, NetworkPolicies that let each port be reached only by the pods that need it,
camera sources kept out of the cluster's own ranges, and dev-mode auth impossible by accident.

No CNI here enforces NetworkPolicy, so the policies are proved in two halves: the API server
accepts them (a server-side dry run here, a real install in test_helm), and an evaluator of the
NetworkPolicy rules, run over the pods the chart renders, shows which pod may reach which port.
Each test's docstring is the attack it stops, in one sentence.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.support import REPO, Cluster, free_port

pytestmark = pytest.mark.cluster
CHART = REPO / "charts" / "vas"
NS = "vas-sec"
RELEASE = "sec"
FULL = f"{RELEASE}-vas"


@pytest.fixture(scope="module")
def helm() -> Path:
    out = subprocess.run(
        [str(REPO / "hack" / "build-helm.sh")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def template(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "-n", NS, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def render(helm: Path, *args: str) -> list[dict[str, Any]]:
    out = template(helm, *args)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]
    return spec


def kubelet_env(spec: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment the kubelet gives a container: secretKeyRefs resolved and $(VAR)
    expanded from the variables defined before it, as Kubernetes does."""
    env: dict[str, str] = {}
    for item in spec.get("env", []):
        if "valueFrom" in item:
            ref = item["valueFrom"].get("secretKeyRef")
            if ref is None:
                continue
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            env[item["name"]] = expand(item["value"], env)
    return env


def expand(value: str, env: dict[str, str]) -> str:
    def one_ref(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one_ref, value)


def rendered_secrets(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in d["data"].items()}
        for d in docs
        if d["kind"] == "Secret"
    }


# ---- Redis -------------------------------------------------------------------------------


@dataclass
class ChartRedis:
    """Debian's redis-server started with exactly the arguments the chart gives the container
    (after the kubelet's $(VAR) expansion), on a free loopback port."""

    args: list[str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChartRedis:
        workdir = tempfile.mkdtemp(prefix="vas-redis-")
        self.proc = subprocess.Popen(
            ["redis-server", *self.args, "--port", str(self.port), "--bind", "127.0.0.1"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server refused the chart's arguments: {self.args}")
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return self
            except redis.AuthenticationError:
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def chart_redis(helm: Path) -> Iterator[tuple[ChartRedis, list[dict[str, Any]]]]:
    docs = render(helm)
    secrets = rendered_secrets(docs)
    spec = container(docs, "Deployment", f"{FULL}-redis")
    env = kubelet_env(spec, secrets)
    server = ChartRedis([expand(a, env) for a in spec["args"]]).start()
    try:
        yield server, docs
    finally:
        server.stop()


def client_url(docs: list[dict[str, Any]], deployment: str, variable: str, port: int) -> str:
    """The Redis URL a chart-rendered client process sees, pointed at the loopback server."""
    env = kubelet_env(container(docs, "Deployment", deployment), rendered_secrets(docs))
    url = env[variable]
    assert f"@{FULL}-redis:6379/" in url, url
    return url.replace(f"{FULL}-redis:6379", f"127.0.0.1:{port}")


def test_a_pod_without_the_password_cannot_read_or_write_redis(
    chart_redis: tuple[ChartRedis, list[dict[str, Any]]],
) -> None:
    """A pod that connects to Redis reads thumbnails and writes live figures the facade serves."""
    server, docs = chart_redis
    anonymous = redis.Redis(port=server.port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("vas:thumbnail:default:lobby")
    with pytest.raises(redis.AuthenticationError):
        anonymous.hset("vas:live:default:lobby", "fps", "99")
    guessed = redis.Redis(port=server.port, password="change-me", socket_timeout=2)  # noqa: S106
    with pytest.raises(redis.AuthenticationError):
        guessed.ping()
    # The password is generated, long, alphanumeric (it sits in a URL) and in no plain value.
    password = rendered_secrets(docs)[f"{FULL}-redis"]["password"]
    assert len(password) >= 32
    assert password.isalnum()
    assert password not in yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"])


def test_the_operator_and_the_facade_get_the_password_through_their_url(
    chart_redis: tuple[ChartRedis, list[dict[str, Any]]],
) -> None:
    """A chart that locked Redis but not its clients' URLs would only turn live figures off."""
    server, docs = chart_redis
    operator = redis.Redis.from_url(
        client_url(docs, f"{FULL}-operator", "VAS_REDIS_URL", server.port), socket_timeout=2
    )
    facade = redis.Redis.from_url(
        client_url(docs, f"{FULL}-facade", "VAS_API_REDIS_URL", server.port), socket_timeout=2
    )
    # What the operator writes and the facade reads (clients/live.py, vas_api/live.py).
    with operator.pipeline(transaction=False) as pipe:
        pipe.hset("vas:live:default:lobby", mapping={"fps": "25"})
        pipe.expire("vas:live:default:lobby", 60)
        pipe.execute()
    operator.set("vas:thumbnail:default:lobby", b"\xff\xd8jpeg", ex=60)
    assert facade.hgetall("vas:live:default:lobby") == {b"fps": b"25"}
    assert facade.get("vas:thumbnail:default:lobby") == b"\xff\xd8jpeg"
    assert facade.ping()


def test_a_client_with_the_password_cannot_reconfigure_or_rehome_redis(
    chart_redis: tuple[ChartRedis, list[dict[str, Any]]],
) -> None:
    """A compromised client turns Redis into a replica of an attacker's server or wipes it."""
    server, docs = chart_redis
    client = redis.Redis.from_url(
        client_url(docs, f"{FULL}-operator", "VAS_REDIS_URL", server.port), socket_timeout=2
    )
    for command in (
        ("CONFIG", "SET", "requirepass", ""),
        ("CONFIG", "GET", "*"),
        ("REPLICAOF", "203.0.113.9", "6379"),
        ("SLAVEOF", "203.0.113.9", "6379"),
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("DEBUG", "SLEEP", "0"),
        ("MODULE", "LOAD", "evil.so"),
        ("MONITOR",),
        ("KEYS", "*"),
    ):
        with pytest.raises(redis.ResponseError, match=r"unknown command|not allowed"):
            client.execute_command(*command)


def test_an_external_redis_gets_the_password_from_an_existing_secret(helm: Path) -> None:
    """A platform team that brings its own Redis has to write its password into values."""
    docs = render(
        helm,
        "--set",
        "redis.enabled=false",
        "--set",
        "redis.existingSecret=team-redis",
        "--set",
        "redis.url=redis://:$(REDIS_PASSWORD)@redis.shared:6379/3",
    )
    assert not [d for d in docs if d["metadata"]["name"] == f"{FULL}-redis"]
    secrets = {"team-redis": {"password": "s3cret"}, f"{FULL}-secrets": _janus_keys()}
    env = kubelet_env(container(docs, "Deployment", f"{FULL}-operator"), secrets)
    assert env["VAS_REDIS_URL"] == "redis://:s3cret@redis.shared:6379/3"


def _janus_keys() -> dict[str, str]:
    names = (
        "janus-admin-secret",
        "janus-streaming-admin-key",
        "janus-api-secret",
        "mountpoint-key",
    )
    return dict.fromkeys(names, "x" * 32)


# ---- NetworkPolicy ------------------------------------------------------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector, as the API server evaluates it."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Source:
    """Who opens the connection: a pod (namespace, labels) or an address outside the cluster."""

    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    ip: str | None = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    ports: list[dict[str, Any]]

    def as_source(self) -> Source:
        return Source(self.name, self.namespace, tuple(sorted(self.labels.items())))


def rendered_pods(docs: list[dict[str, Any]]) -> dict[str, Pod]:
    pods: dict[str, Pod] = {}
    for d in docs:
        if d["kind"] not in {"Deployment", "StatefulSet"}:
            continue
        template = d["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert selects(d["spec"]["selector"], labels)
        ports = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
        pods[labels["app.kubernetes.io/component"]] = Pod(d["metadata"]["name"], NS, labels, ports)
    return pods


def peer_admits(peer: dict[str, Any], source: Source, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        if source.ip is None:
            return False  # pod IPs are not what ipBlock is for; assume the strict reading
        address = ipaddress.ip_address(source.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if source.namespace is None:
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": source.namespace}
        if not selects(peer["namespaceSelector"], ns_labels):
            return False
    elif source.namespace != policy_ns:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], source.label_map)


def port_admits(rule_port: dict[str, Any], pod: Pod, port: int, protocol: str) -> bool:
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    number = rule_port.get("port")
    if number is None:
        return True
    if isinstance(number, str):
        named = [p for p in pod.ports if p.get("name") == number]
        return any(p["containerPort"] == port for p in named)
    return bool(number <= port <= rule_port.get("endPort", number))


def reachable(
    policies: list[dict[str, Any]], pod: Pod, port: int, source: Source, protocol: str = "TCP"
) -> bool:
    """Whether NetworkPolicy lets ``source`` open ``port`` on ``pod`` (ingress side)."""
    isolating = [
        p
        for p in policies
        if p["metadata"].get("namespace", NS) == pod.namespace
        and selects(p["spec"]["podSelector"], pod.labels)
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not isolating:
        return True
    for policy in isolating:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from") or []
            ports = rule.get("ports") or []
            if ports and not any(port_admits(p, pod, port, protocol) for p in ports):
                continue
            if not peers or any(peer_admits(p, source, pod.namespace) for p in peers):
                return True
    return False


def policies_of(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "NetworkPolicy"]


def attackers(pods: dict[str, Pod]) -> list[Source]:
    """Pods that are not the intended client: a tenant's pod in its own namespace wearing the
    operator's and the facade's labels, a stray pod in the release namespace, the gateway and
    Redis themselves, and a host outside the cluster."""
    forged = pods["facade"].labels | {"app.kubernetes.io/component": "operator"}
    return [
        Source("tenant-as-facade", "site-a", tuple(sorted(pods["facade"].labels.items()))),
        Source("tenant-as-operator", "site-a", tuple(sorted(forged.items()))),
        Source("stray", NS, (("app", "debug"),)),
        pods["gateway"].as_source(),
        pods["redis"].as_source(),
        Source("internet", ip="203.0.113.7"),
    ]


def test_only_the_operator_and_the_facade_reach_redis(helm: Path) -> None:
    """A tenant's pod, or the gateway a camera URL steers, connects to Redis."""
    docs = render(helm)
    pods, policies = rendered_pods(docs), policies_of(docs)
    redis_pod = pods["redis"]
    assert {p["containerPort"] for p in redis_pod.ports} == {6379}
    for client in ("operator", "facade"):
        assert reachable(policies, redis_pod, 6379, pods[client].as_source()), client
    for attacker in attackers(pods):
        assert not reachable(policies, redis_pod, 6379, attacker), attacker.name


def test_only_the_operator_reaches_the_janus_admin_api(helm: Path) -> None:
    """A pod other than the operator creates, lists or destroys mountpoints on the gateway."""
    docs = render(helm)
    pods, policies = rendered_pods(docs), policies_of(docs)
    gateway = pods["gateway"]
    assert 7088 in {p["containerPort"] for p in gateway.ports}
    assert reachable(policies, gateway, 7088, pods["operator"].as_source())
    for source in [pods["facade"].as_source(), *attackers(pods)]:
        assert not reachable(policies, gateway, 7088, source), source.name


def test_only_the_facade_reaches_the_janus_http_api(helm: Path) -> None:
    """A viewer or pod talks to Janus directly and skips the facade's per-camera authorisation."""
    docs = render(helm)
    pods, policies = rendered_pods(docs), policies_of(docs)
    gateway = pods["gateway"]
    assert 8088 in {p["containerPort"] for p in gateway.ports}
    assert reachable(policies, gateway, 8088, pods["facade"].as_source())
    for source in [pods["operator"].as_source(), *attackers(pods)]:
        assert not reachable(policies, gateway, 8088, source), source.name


def test_viewers_keep_media_and_the_facade_while_everything_else_is_closed(helm: Path) -> None:
    """Default-deny that also cut WebRTC media or the viewer page would make VAS useless, and
    one that missed a port would leave it open."""
    docs = render(helm)
    pods, policies = rendered_pods(docs), policies_of(docs)
    viewer = Source("browser", ip="198.51.100.20")
    in_cluster = Source("prometheus", "monitoring", (("app", "prometheus"),))
    # WebRTC media to viewers and RTP from cameras: UDP, from anywhere.
    for port in (20000, 20500, 20999, 30000, 31999):
        assert reachable(policies, pods["gateway"], port, viewer, "UDP"), port
    assert not reachable(policies, pods["gateway"], 19999, viewer, "UDP")
    assert not reachable(policies, pods["gateway"], 20000, viewer, "TCP")
    # The facade's port (API, viewer page, /metrics) to whoever the Service is for.
    assert reachable(policies, pods["facade"], 8000, viewer)
    # Operator metrics to in-cluster scrapers; its health port to no pod (kubelet probes are not
    # subject to NetworkPolicy on most CNIs).
    assert reachable(policies, pods["operator"], 9090, in_cluster)
    assert not reachable(policies, pods["operator"], 9090, viewer)
    for source in (in_cluster, viewer, pods["facade"].as_source()):
        assert not reachable(policies, pods["operator"], 8080, source)
    # Every release pod is isolated, and no policy allows a port its pods do not serve.
    deny = one(docs, "NetworkPolicy", f"{FULL}-default-deny")
    assert not deny["spec"].get("ingress")
    udp = {(20000, 20999), (30000, 31999)}
    for component, pod in pods.items():
        assert selects(deny["spec"]["podSelector"], pod.labels), component
        served = {p["containerPort"] for p in pod.ports}
        for policy in policies:
            if policy is deny or not selects(policy["spec"]["podSelector"], pod.labels):
                continue
            for rule in policy["spec"]["ingress"]:
                for p in rule["ports"]:
                    if p.get("protocol") == "UDP":
                        assert (p["port"], p["endPort"]) in udp
                    else:
                        assert p["port"] in served, (policy["metadata"]["name"], p)
    # Each component's policy selects exactly that component's pods.
    for component in pods:
        policy = one(docs, "NetworkPolicy", f"{FULL}-{component}")
        chosen = [c for c, q in pods.items() if selects(policy["spec"]["podSelector"], q.labels)]
        assert chosen == [component]


def test_narrowed_facade_and_metrics_peers_are_honoured(
    helm: Path, crds_installed: Cluster
) -> None:
    """A platform team that lets only its ingress controller reach the facade is bypassed."""
    values = {
        "networkPolicy": {
            "facadeFrom": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                }
            ],
            "metricsFrom": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ],
        }
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(values, f)
        f.flush()
        docs = render(helm, "-f", f.name)
    pods, policies = rendered_pods(docs), policies_of(docs)
    ingress = Source("ingress", "ingress-nginx", (("app.kubernetes.io/name", "ingress-nginx"),))
    prometheus = Source("prometheus", "monitoring", (("app", "prometheus"),))
    assert reachable(policies, pods["facade"], 8000, ingress)
    assert reachable(policies, pods["facade"], 8000, prometheus)
    assert reachable(policies, pods["operator"], 9090, prometheus)
    for source in (*attackers(pods), Source("tenant", "site-a", (("app", "x"),))):
        assert not reachable(policies, pods["facade"], 8000, source), source.name
        assert not reachable(policies, pods["operator"], 9090, source), source.name
    # And the API server accepts these policies as written.
    kube = crds_installed
    kube.kubectl("create", "namespace", NS, check=False)
    text = yaml.safe_dump_all([d for d in docs if d["kind"] != "CustomResourceDefinition"])
    out = kube.kubectl("apply", "--dry-run=server", "-n", NS, "-f", "-", stdin=text)
    assert out.stdout.count("networkpolicy.networking.k8s.io/") == 5


def test_networkpolicies_can_be_turned_off(helm: Path) -> None:
    """(Not an attack) A cluster whose CNI ignores NetworkPolicy can leave them out."""
    assert not policies_of(render(helm, "--set", "networkPolicy.enabled=false"))


# ---- Camera sources ------------------------------------------------------------------------


def test_camera_sources_in_the_cluster_ranges_are_refused(
    helm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Camera URL pointed at a Service or Pod address port-scans the cluster from the operator."""
    from vas_operator.settings import OperatorSettings
    from vas_operator.sourcepolicy import DEFAULT_DENIED, SourcePolicy

    docs = render(
        helm,
        "--set",
        "cluster.serviceCIDR=10.43.0.0/16\\,fd00:43::/108",
        "--set",
        "cluster.podCIDR=10.42.0.0/16",
    )
    secrets = rendered_secrets(docs)
    env = kubelet_env(container(docs, "Deployment", f"{FULL}-operator"), secrets)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings()  # what the operator reads at startup
    assert settings.source_allowed_cidrs == ["0.0.0.0/0", "::/0"]
    assert set(DEFAULT_DENIED) | {"10.43.0.0/16", "fd00:43::/108", "10.42.0.0/16"} == set(
        settings.source_denied_cidrs
    )
    policy = SourcePolicy.build(settings.source_allowed_cidrs, settings.source_denied_cidrs)
    for address in ("10.43.0.1", "10.42.3.7", "fd00:43::a", "169.254.169.254", "127.0.0.1"):
        assert policy.refusal(ipaddress.ip_address(address)) is not None, address
    assert policy.refusal(ipaddress.ip_address("192.168.1.20")) is None
    # Defaults: the common kubeadm ranges.
    default_env = kubelet_env(container(render(helm), "Deployment", f"{FULL}-operator"), secrets)
    assert {"10.96.0.0/12", "10.244.0.0/16"} <= set(
        yaml.safe_load(default_env["VAS_SOURCE_DENIED_CIDRS"])
    )


def test_the_operator_liveness_probe_spares_a_slow_first_listing(helm: Path) -> None:
    """(Not an attack) A large cluster's first listing must not get the operator killed in a
    restart loop, while a stalled operator is still restarted."""
    spec = container(render(helm), "Deployment", f"{FULL}-operator")
    live, ready = spec["livenessProbe"], spec["readinessProbe"]
    assert live["httpGet"] == {"path": "/healthz", "port": "health"} == ready["httpGet"]
    assert {"name": "health", "containerPort": 8080} in spec["ports"]
    grace = live["initialDelaySeconds"] + live["periodSeconds"] * live["failureThreshold"]
    assert grace >= 120
    stall = next(e["value"] for e in spec["env"] if e["name"] == "VAS_STALL_SECONDS")
    assert float(stall) == 120


# ---- facade.auth=none ----------------------------------------------------------------------


def test_dev_mode_auth_cannot_be_enabled_by_accident(helm: Path) -> None:
    """A values file with facade.auth=none publishes every camera of every namespace."""
    refused = template(helm, "--set", "facade.auth=none")
    assert refused.returncode != 0
    assert "iUnderstandAuthNoneExposesEveryCamera" in refused.stderr
    # The template refuses it too, with words, when schema validation is skipped.
    skipped = template(helm, "--skip-schema-validation", "--set", "facade.auth=none")
    assert skipped.returncode != 0
    assert "development only" in skipped.stderr
    assert "iUnderstandAuthNoneExposesEveryCamera=true" in skipped.stderr


@pytest.mark.parametrize("service", ["LoadBalancer", "NodePort"])
def test_dev_mode_auth_is_never_published_outside_the_cluster(helm: Path, service: str) -> None:
    """facade.auth=none behind a LoadBalancer or NodePort hands every camera to the network."""
    flag = [
        "--set",
        "facade.auth=none",
        "--set",
        "facade.iUnderstandAuthNoneExposesEveryCamera=true",
    ]
    refused = template(helm, *flag, "--set", f"facade.service.type={service}")
    assert refused.returncode != 0
    assert "ClusterIP" in refused.stderr
    skipped = template(
        helm, "--skip-schema-validation", *flag, "--set", f"facade.service.type={service}"
    )
    assert skipped.returncode != 0
    assert f"facade.service.type={service}" in skipped.stderr
    assert "only allowed with a ClusterIP Service" in skipped.stderr


def test_dev_mode_auth_renders_with_the_flag_on_a_cluster_ip(helm: Path) -> None:
    """(Not an attack) The explicit opt-in on a ClusterIP Service is still possible."""
    docs = render(
        helm,
        "--set",
        "facade.auth=none",
        "--set",
        "facade.iUnderstandAuthNoneExposesEveryCamera=true",
    )
    env = {
        e["name"]: e.get("value") for e in container(docs, "Deployment", f"{FULL}-facade")["env"]
    }
    assert env["VAS_API_AUTH"] == "none"
    assert one(docs, "Service", f"{FULL}-facade")["spec"]["type"] == "ClusterIP"


# ---- RBAC ------------------------------------------------------------------------------------


def test_the_facade_can_read_no_secret(helm: Path) -> None:
    """A compromised facade reads every camera's credentials (and every other Secret)."""
    docs = render(helm)
    facade = one(docs, "ClusterRole", f"{FULL}-facade")["rules"]
    operator = one(docs, "ClusterRole", f"{FULL}-operator")["rules"]
    assert not [r for r in facade if "secrets" in r["resources"] or "*" in r["resources"]]
    secret_rules = [r for r in operator if "secrets" in r["resources"]]
    assert [sorted(r["verbs"]) for r in secret_rules] == [["get", "list", "watch"]]
    roles = [r for d in docs if d["kind"] == "Role" for r in d["rules"]]
    for rule in facade + operator + roles:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
    # The gateway and Redis pods carry no Kubernetes credentials at all.
    for kind, name in (("StatefulSet", f"{FULL}-gateway"), ("Deployment", f"{FULL}-redis")):
        assert (
            one(docs, kind, name)["spec"]["template"]["spec"]["automountServiceAccountToken"]
            is False
        )


def test_an_operator_confined_to_namespaces_reads_secrets_only_there(helm: Path) -> None:
    """An operator told to watch two namespaces can still read every Secret in the cluster."""
    docs = render(helm, "--set", "operator.watchNamespaces={site-a,site-b}")
    cluster_rules = one(docs, "ClusterRole", f"{FULL}-operator")["rules"]
    assert not [r for r in cluster_rules if "secrets" in r["resources"]]
    credentials = f"{FULL}-operator-credentials"
    roles = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == credentials]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["site-a", "site-b"]
    for role in roles:
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}
        ]
    # The only other Roles are the gateway pool's, in the release namespace.
    others = {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"} - {
        "site-a",
        "site-b",
    }
    assert others == {NS}
    bindings = [
        d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == credentials
    ]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["site-a", "site-b"]
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{FULL}-operator", "namespace": NS}
        ]
    args = container(docs, "Deployment", f"{FULL}-operator")["args"]
    assert args == ["--namespace", "site-a", "--namespace", "site-b"]


def test_gateway_pool_rights_stay_in_the_release_namespace(helm: Path) -> None:
    """An operator that may patch pods or scale workloads cluster-wide rewrites any tenant's
    pods; a facade that may list pods everywhere maps the whole cluster."""
    docs = render(helm)
    for role in (d for d in docs if d["kind"] == "ClusterRole"):
        granted = {res for rule in role["rules"] for res in rule["resources"]}
        assert not granted & {"pods", "statefulsets", "statefulsets/scale"}, role["metadata"]
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Role"}
    assert set(roles) == {f"{FULL}-operator-gateways", f"{FULL}-facade-gateways"}
    assert {r["metadata"]["namespace"] for r in roles.values()} == {NS}
    # The operator watches the gateway pods, annotates the one it drains, and scales the
    # gateway StatefulSet (that one only) through its scale subresource; Events come from its
    # ClusterRole. It may not rewrite the StatefulSet itself.
    assert roles[f"{FULL}-operator-gateways"]["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["apps"],
            "resources": ["statefulsets/scale"],
            "resourceNames": [f"{FULL}-gateway"],
            "verbs": ["get", "patch", "update"],
        },
    ]
    # The facade only finds the gateway pods.
    assert roles[f"{FULL}-facade-gateways"]["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    for component in ("operator", "facade"):
        binding = one(docs, "RoleBinding", f"{FULL}-{component}-gateways")
        assert binding["metadata"]["namespace"] == NS
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": f"{FULL}-{component}-gateways",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{FULL}-{component}", "namespace": NS}
        ]
    # Without autoscaling the operator may not touch the StatefulSet at all; without the
    # facade, its Role goes too.
    fixed = render(helm, "--set", "gateway.autoscaling.enabled=false")
    assert one(fixed, "Role", f"{FULL}-operator-gateways")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]}
    ]
    without = render(helm, "--set", "facade.enabled=false")
    assert [d["metadata"]["name"] for d in without if d["kind"] in {"Role", "RoleBinding"}] == [
        f"{FULL}-operator-gateways",
        f"{FULL}-operator-gateways",
    ]


def test_every_pool_pod_is_guarded_like_the_first(helm: Path) -> None:
    """A gateway pod the autoscaler adds is found by the operator but left open to every pod,
    or the pool selector takes in a pod the gateway policy does not guard."""
    docs = render(helm)
    pods, policies = rendered_pods(docs), policies_of(docs)
    secrets = rendered_secrets(docs)
    operator_env = kubelet_env(container(docs, "Deployment", f"{FULL}-operator"), secrets)
    facade_env = kubelet_env(container(docs, "Deployment", f"{FULL}-facade"), secrets)
    selector = operator_env["VAS_GATEWAY_SELECTOR"]
    assert facade_env["VAS_API_GATEWAY_SELECTOR"] == selector
    assert operator_env["VAS_GATEWAY_NAMESPACE"] == facade_env["VAS_API_GATEWAY_NAMESPACE"] == NS
    wanted = dict(term.split("=", 1) for term in selector.split(","))
    # The pool is this release's gateway pods: no other component's, no other release's.
    chosen = [c for c, pod in pods.items() if wanted.items() <= pod.labels.items()]
    assert chosen == ["gateway"]
    other = pods["gateway"].labels | {"app.kubernetes.io/instance": "other"}
    assert not wanted.items() <= other.items()
    # Any pod the selector finds (whatever its ordinal, with no label beyond the selector's)
    # is under the gateway policy: the Admin API port (named admin, as the operator finds it)
    # from the operator only, the HTTP API port (named http) from the facade only.
    member = Pod(f"{FULL}-gateway-7", NS, wanted, pods["gateway"].ports)
    port = {p["name"]: p["containerPort"] for p in member.ports}
    operator, facade = pods["operator"].as_source(), pods["facade"].as_source()
    assert reachable(policies, member, port["admin"], operator)
    assert reachable(policies, member, port["http"], facade)
    assert not reachable(policies, member, port["admin"], facade)
    assert not reachable(policies, member, port["http"], operator)
    for source in attackers(pods):
        for name in ("admin", "http"):
            assert not reachable(policies, member, port[name], source), (source.name, name)
