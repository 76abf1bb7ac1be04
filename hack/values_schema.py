#!/usr/bin/env python3
"""Writes charts/vas/values.schema.json from values.yaml: every key typed, unknown keys refused,
so a typo in a values file fails `helm install` instead of being ignored.

    python hack/values_schema.py           # rewrite
    python hack/values_schema.py --check   # exit 1 when stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "vas"
CIDR = r"^[0-9a-fA-F:.]+(/[0-9]{1,3})?$"
CIDRS = r"^([0-9a-fA-F:.]+/[0-9]{1,3})?( *, *[0-9a-fA-F:.]+/[0-9]{1,3})*$"
PORT_RANGE = r"^[0-9]{1,5}(-[0-9]{1,5})?$"
# Free-form maps (Kubernetes objects passed through) and the rules the schema adds.
OPEN = {
    "resources",
    "nodeSelector",
    "affinity",
    "podSecurityContext",
    "securityContext",
    "requests",
    "limits",
    "capabilities",
    "seccompProfile",
}
EXTRA: dict[str, dict[str, Any]] = {
    "facade.auth": {"enum": ["kubernetes", "none"]},
    "gateway.replicas": {"minimum": 1},
    # minReplicas <= maxReplicas is checked by the template (templates/_helpers.tpl).
    "gateway.autoscaling.minReplicas": {"minimum": 1},
    "gateway.autoscaling.maxReplicas": {"minimum": 1},
    # `--set` hands a decimal over as a string ("0.9"), so a numeric string is accepted too.
    "gateway.autoscaling.targetUtilisation": {
        "type": ["number", "string"],
        "exclusiveMinimum": 0,
        "maximum": 1,
        "pattern": r"^(0\.[0-9]*[1-9][0-9]*|1|1\.0+)$",
    },
    "gateway.autoscaling.scaleDownDelaySeconds": {"minimum": 0},
    "gateway.capacity.mountpoints": {"minimum": 1},
    "gateway.capacity.viewers": {"minimum": 1},
    "gateway.eventLoops": {"minimum": 0},
    "facade.replicas": {"minimum": 1},
    "facade.service.type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
    # Development mode only by an explicit opt-in, and never published outside the cluster
    # (templates/_helpers.tpl fails the render too, with a message a person can act on).
    "facade": {
        "if": {"properties": {"auth": {"const": "none"}}, "required": ["auth"]},
        "then": {
            "description": "facade.auth=none shows every camera to anyone who reaches the "
            "facade: it needs facade.iUnderstandAuthNoneExposesEveryCamera=true and "
            "facade.service.type=ClusterIP.",
            "required": ["iUnderstandAuthNoneExposesEveryCamera", "service"],
            "properties": {
                "iUnderstandAuthNoneExposesEveryCamera": {"const": True},
                "service": {"properties": {"type": {"const": "ClusterIP"}}},
            },
        },
    },
    "operator.metricsPort": {"minimum": 1, "maximum": 65535},
    "operator.stallSeconds": {"minimum": 1},
    "operator.sourcePolicy.allowedCIDRs": {"items": {"type": "string", "pattern": CIDR}},
    "operator.sourcePolicy.deniedCIDRs": {"items": {"type": "string", "pattern": CIDR}},
    "operator.discovery.allowedCIDRs": {"items": {"type": "string", "pattern": CIDR}},
    "cluster.serviceCIDR": {"pattern": CIDRS},
    "cluster.podCIDR": {"pattern": CIDRS},
    "gateway.rtpPortRange": {"pattern": PORT_RANGE},
    "gateway.streamingRtpPortRange": {"pattern": PORT_RANGE},
    "networkPolicy.facadeFrom": {"items": {"type": "object"}},
    "networkPolicy.metricsFrom": {"items": {"type": "object"}},
}


def schema_of(value: Any, path: str) -> dict[str, Any]:
    key = path.rsplit(".", 1)[-1]
    if isinstance(value, dict):
        if key in OPEN:
            return {"type": "object"}
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: schema_of(v, f"{path}.{k}".lstrip(".")) for k, v in value.items()},
            **EXTRA.get(path, {}),
        }
    if isinstance(value, list):
        return {"type": "array", **EXTRA.get(path, {})}
    if isinstance(value, bool):
        out: dict[str, Any] = {"type": "boolean"}
    elif isinstance(value, int):
        out = {"type": "integer"}
    elif isinstance(value, float):
        out = {"type": "number"}
    else:
        out = {"type": "string"}
    return {**out, **EXTRA.get(path, {})}


def render() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = {"$schema": "https://json-schema.org/draft-07/schema#", **schema_of(values, "")}
    return json.dumps(schema, indent=2) + "\n"


if __name__ == "__main__":
    target = CHART / "values.schema.json"
    if "--check" in sys.argv:
        sys.exit(0 if target.exists() and target.read_text() == render() else 1)
    target.write_text(render())
