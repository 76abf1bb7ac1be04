"""The NetworkPolicy evaluator that tests/integration/test_security_chart.py proves the chart's
policies with: checked here against the rules the Kubernetes documentation states, so a bug in
it cannot make a leaky policy look tight."""

from __future__ import annotations

from typing import Any

from tests.integration.test_security_chart import Pod, Source, reachable, selects

NS = "vas-sec"
DB = Pod("db", NS, {"app": "db"}, [{"name": "redis", "containerPort": 6379}])
APP = Source("app", NS, (("app", "web"),))
APP_ELSEWHERE = Source("app", "other", (("app", "web"),))
OUTSIDE = Source("outside", ip="203.0.113.1")


def policy(ingress: list[dict[str, Any]] | None, types: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {"app": "db"}}}
    if ingress is not None:
        spec["ingress"] = ingress
    if types is not None:
        spec["policyTypes"] = types
    return {"metadata": {"name": "p", "namespace": NS}, "spec": spec}


def test_label_selectors() -> None:
    labels = {"a": "1", "b": "2"}
    assert selects({}, labels)
    assert selects({"matchLabels": {"a": "1"}}, labels)
    assert not selects({"matchLabels": {"a": "2"}}, labels)
    assert selects({"matchExpressions": [{"key": "b", "operator": "In", "values": ["2"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "c", "operator": "Exists"}]}, labels)
    assert selects({"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}, labels)
    assert not selects(
        {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, labels
    )


def test_unselected_pods_are_open_and_selected_pods_closed() -> None:
    assert reachable([], DB, 6379, OUTSIDE)
    assert not reachable([policy(None, ["Ingress"])], DB, 6379, APP)
    # An egress-only policy does not isolate ingress.
    assert reachable([policy(None, ["Egress"])], DB, 6379, APP)


def test_rules_union_and_empty_from_means_everyone() -> None:
    anyone = policy([{"ports": [{"port": 6379}]}])
    assert reachable([anyone], DB, 6379, OUTSIDE)
    assert not reachable([anyone], DB, 6380, APP)
    assert not reachable([anyone], DB, 6379, APP, "UDP")
    closed = policy(None, ["Ingress"])
    assert reachable([closed, anyone], DB, 6379, APP)


def test_pod_selector_alone_means_the_policys_namespace() -> None:
    same_ns = policy([{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}])
    assert reachable([same_ns], DB, 6379, APP)
    assert not reachable([same_ns], DB, 6379, APP_ELSEWHERE)
    assert not reachable([same_ns], DB, 6379, OUTSIDE)


def test_namespace_and_pod_selector_in_one_peer_are_anded() -> None:
    both = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
        "podSelector": {"matchLabels": {"app": "web"}},
    }
    anded = policy([{"from": [both]}])
    assert reachable([anded], DB, 6379, APP_ELSEWHERE)
    assert not reachable([anded], DB, 6379, APP)
    assert not reachable([anded], DB, 6379, Source("x", "other", (("app", "x"),)))
    every_ns = policy([{"from": [{"namespaceSelector": {}}]}])
    assert reachable([every_ns], DB, 6379, APP_ELSEWHERE)
    assert not reachable([every_ns], DB, 6379, OUTSIDE)


def test_port_ranges_named_ports_and_ip_blocks() -> None:
    ranged = policy([{"ports": [{"protocol": "UDP", "port": 20000, "endPort": 20999}]}])
    assert reachable([ranged], DB, 20999, OUTSIDE, "UDP")
    assert not reachable([ranged], DB, 21000, OUTSIDE, "UDP")
    named = policy([{"ports": [{"port": "redis"}]}])
    assert reachable([named], DB, 6379, APP)
    assert not reachable([named], DB, 6380, APP)
    block = {"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}}
    blocked = policy([{"from": [block]}])
    assert reachable([blocked], DB, 6379, OUTSIDE)
    assert not reachable([blocked], DB, 6379, Source("o", ip="203.0.113.200"))
    assert not reachable([blocked], DB, 6379, APP)
