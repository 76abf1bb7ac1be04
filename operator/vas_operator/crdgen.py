"""Render the CustomResourceDefinitions in ``crds/`` from the pydantic models.

The models are the source of truth; this turns their JSON Schema into a Kubernetes structural
schema (no ``$ref``, no ``anyOf`` for optional fields, no ``additionalProperties: false``), adds
printer columns and the status subresource, and writes one file per kind.

    python -m vas_operator.crdgen              # rewrite crds/
    python -m vas_operator.crdgen --check      # exit 1 when crds/ is stale
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from vas_operator.models import Camera, CameraGroup, DiscoveryScan
from vas_operator.models.common import API_GROUP, API_VERSION, CATEGORY, Resource

RESOURCES: tuple[type[Resource], ...] = (Camera, CameraGroup, DiscoveryScan)

# Keys of a JSON Schema that mean the same in a Kubernetes structural schema.
_KEPT = {
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
}
# Emit keys in this order so the YAML reads top-down like documentation.
_ORDER = ["description", "type", "format", "enum", "default"]


def _prose(text: str) -> str:
    """Docstrings are wrapped for code; ``kubectl explain`` wraps on its own."""
    return " ".join(text.replace("``", "").split())


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a ``$ref`` or the non-null branch of ``Optional[...]``; siblings win."""
    siblings = {k: v for k, v in schema.items() if k not in ("$ref", "anyOf", "allOf")}
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
    elif "allOf" in schema and len(schema["allOf"]) == 1:
        target = schema["allOf"][0]
    elif "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"union types have no structural form: {schema}")
        target = branches[0]
    else:
        return schema
    merged = {**_resolve(target, defs), **siblings}
    if "description" in target and "description" not in siblings:
        merged["description"] = target["description"]
    return merged


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Convert one pydantic JSON Schema node into a structural OpenAPI v3 node."""
    schema = _resolve(schema, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _KEPT or key.startswith("x-kubernetes-"):
            out[key] = copy.deepcopy(value)  # a model used twice must not render as a YAML alias
        elif key == "properties":
            out[key] = {name: structural(prop, defs) for name, prop in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = structural(value, defs)
    if "description" in out:
        out["description"] = _prose(out["description"])
    if out.get("default", ...) is None:
        del out["default"]
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    ordered = {k: out.pop(k) for k in _ORDER if k in out}
    return {**ordered, **out}


_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values."
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. In CamelCase."
)


def openapi_schema(resource: type[Resource]) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of one kind: standard envelope, spec and status from the model."""
    full = resource.model_json_schema(by_alias=True, mode="validation")
    defs = full.get("$defs", {})
    props = full["properties"]
    return {
        "description": _prose(resource.__doc__ or resource.kind_name),
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"description": _API_VERSION_DOC, "type": "string"},
            "kind": {"description": _KIND_DOC, "type": "string"},
            "metadata": {"type": "object"},
            "spec": structural(props["spec"], defs),
            "status": structural(props["status"], defs),
        },
    }


def crd(resource: type[Resource]) -> dict[str, Any]:
    """The whole CustomResourceDefinition object for one kind."""
    columns = []
    for column in resource.printer_columns:
        entry: dict[str, Any] = {"name": column.name, "type": column.type}
        if column.description:
            entry["description"] = column.description
        entry["jsonPath"] = column.json_path
        if column.priority:
            entry["priority"] = column.priority
        columns.append(entry)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{resource.plural}.{API_GROUP}",
            "labels": {"app.kubernetes.io/name": "vas", "app.kubernetes.io/part-of": "vas"},
        },
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": resource.kind_name,
                "listKind": f"{resource.kind_name}List",
                "plural": resource.plural,
                "singular": resource.kind_name.lower(),
                "shortNames": list(resource.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": openapi_schema(resource)},
                }
            ],
        },
    }


HEADER = "# Generated by `python -m vas_operator.crdgen` from vas_operator.models; do not edit.\n"


def render(resource: type[Resource]) -> str:
    return HEADER + yaml.safe_dump(crd(resource), sort_keys=False, width=100)


def filename(resource: type[Resource]) -> str:
    return f"{API_GROUP}_{resource.plural}.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vas_operator.crdgen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output-dir", type=Path, default=Path("crds"))
    parser.add_argument("--check", action="store_true", help="fail when a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for resource in RESOURCES:
        path = args.output_dir / filename(resource)
        text = render(resource)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
