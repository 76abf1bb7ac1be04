"""Export and import of Cameras and CameraGroups as multi-document YAML: the pure parts.

Export writes what a person would commit to Git and ``kubectl apply -f`` re-creates: apiVersion,
kind, name, namespace, labels, the annotations a person set, spec. Nothing the API server or
the operator sets (uid, resourceVersion, creationTimestamp, generation, managedFields, owner
references, finalizers, status, ``operator.vas.io/*`` and the ``vas.io/recheck`` /
``vas.io/credentials-revision`` stamps) and never a Secret: a Camera names its credentials
Secret (``spec.source.credentialsSecretRef``), the Secret itself stays where it is.

Import reads a browser's body, which is hostile: bounded in bytes (the route's cap), in YAML
nesting and in documents, with anchors and aliases refused (a few hundred bytes of aliases
expand to gigabytes once serialised), parsed only with ``yaml.safe_load_all`` (plain data, no
Python objects), and only ``vas.io/v1alpha1`` Camera and CameraGroup are accepted. Each object
lands in the namespace of the URL: a document naming another namespace is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from vas_core.names import API_GROUP, API_VERSION

API = f"{API_GROUP}/{API_VERSION}"
KINDS = {"Camera": "cameras", "CameraGroup": "cameragroups"}
# Stamps the facade and the operator write; an export that carried them would re-trigger
# probes or pin an old credentials revision when applied elsewhere.
RECHECK = f"{API_GROUP}/recheck"
SERVER_ANNOTATION_PREFIXES = (f"operator.{API_GROUP}/", "kopf.zalando.org/")
SERVER_ANNOTATIONS = {
    RECHECK,
    f"{API_GROUP}/credentials-revision",
    "kubectl.kubernetes.io/last-applied-configuration",
}
# What a person writes in metadata; everything else there is the server's.
KEPT_METADATA = ("name", "namespace", "labels", "annotations")
NAME = re.compile(r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
MAX_DEPTH = 32
# libyaml when PyYAML was built with it (both parsers are iterative; libyaml is ~10x faster).
SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Refused(ValueError):
    """The whole body is refused (too many documents, not YAML, aliases, too deep)."""


def clean_annotations(annotations: dict[str, Any] | None) -> dict[str, str]:
    return {
        str(k): str(v)
        for k, v in (annotations or {}).items()
        if k not in SERVER_ANNOTATIONS and not str(k).startswith(SERVER_ANNOTATION_PREFIXES)
    }


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as its author wrote it: no status, no server-set metadata, no stamps."""
    meta = obj.get("metadata") or {}
    kept: dict[str, Any] = {k: meta[k] for k in KEPT_METADATA if meta.get(k)}
    annotations = clean_annotations(kept.pop("annotations", None))
    if annotations:
        kept["annotations"] = annotations
    out: dict[str, Any] = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind")}
    out["metadata"] = kept
    if "spec" in obj:
        out["spec"] = obj["spec"]
    return out


def camera_object(summary: dict[str, Any]) -> dict[str, Any]:
    """A Camera from the facade's cache entry (``summaries.summarize_camera``)."""
    meta = {
        "name": summary["name"],
        "namespace": summary["namespace"],
        "labels": summary.get("labels"),
        "annotations": summary.get("annotations"),
    }
    return clean({"apiVersion": API, "kind": "Camera", "metadata": meta, "spec": summary["spec"]})


def group_object(summary: dict[str, Any]) -> dict[str, Any]:
    """A CameraGroup from the cache entry (its spec is selector, description and layout)."""
    spec: dict[str, Any] = {"selector": summary.get("selector") or {}}
    if summary.get("description") is not None:
        spec["description"] = summary["description"]
    if summary.get("layout"):
        spec["layout"] = summary["layout"]
    meta = {"name": summary["name"], "namespace": summary["namespace"]}
    return clean({"apiVersion": API, "kind": "CameraGroup", "metadata": meta, "spec": spec})


def dump(objects: list[dict[str, Any]]) -> str:
    """One multi-document YAML, groups first (as written by hand), in a stable order."""
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True, allow_unicode=True)


@dataclass
class Document:
    """One document of an import: the object to apply, or why it is refused."""

    index: int
    kind: str = ""
    name: str = ""
    obj: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def plural(self) -> str:
        return KINDS[self.kind]


def _check_events(text: str, max_documents: int) -> None:
    """Walk the YAML event stream (PyYAML's parser is iterative: no recursion to exhaust)
    before building anything: no anchors or aliases, bounded nesting and document count."""
    depth = documents = 0
    try:
        for event in yaml.parse(text, Loader=SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise Refused("YAML anchors and aliases are not accepted")
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > max_documents:
                    raise Refused(f"more than {max_documents} documents")
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise Refused(f"YAML nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as error:
        raise Refused(f"not valid YAML: {_short(error)}") from None


def _short(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or type(error).__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{problem}{where}"


def parse(text: str, namespace: str, max_documents: int) -> list[Document]:
    """The documents of an import, each either ready to apply in ``namespace`` or with the
    reasons it is refused. Empty documents are skipped; raises ``Refused`` when the body
    as a whole is refused."""
    _check_events(text, max_documents)
    try:
        # SafeLoader (C or Python): plain data only, no Python objects.
        loaded = [d for d in yaml.load_all(text, Loader=SafeLoader) if d is not None]
    except yaml.YAMLError as error:
        raise Refused(f"not valid YAML: {_short(error)}") from None
    if not loaded:
        raise Refused("no documents")
    return [_document(i, raw, namespace) for i, raw in enumerate(loaded)]


def _document(index: int, raw: Any, namespace: str) -> Document:
    doc = Document(index)
    if not isinstance(raw, dict):
        doc.errors.append("not a mapping (an object with apiVersion, kind, metadata, spec)")
        return doc
    kind, version = raw.get("kind"), raw.get("apiVersion")
    doc.kind = kind if isinstance(kind, str) else ""
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    doc.name = name if isinstance(name, str) else ""
    if doc.kind not in KINDS or version != API:
        what = f"{version}/{kind}" if isinstance(kind, str) and isinstance(version, str) else "?"
        doc.errors.append(
            f"{what[:120]}: only Camera and CameraGroup of {API} can be imported "
            "(never Secrets: Cameras name theirs, create them with kubectl)"
        )
        doc.kind = ""
    if not doc.name or len(doc.name) > 253 or not NAME.match(doc.name):
        doc.errors.append("metadata.name must be a Kubernetes object name")
        doc.name = doc.name[:253]
    ns = meta.get("namespace")
    if ns is not None and ns != namespace:
        doc.errors.append(
            f"metadata.namespace must be {namespace} (the namespace imported into) or absent"
        )
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            doc.errors.append(f"metadata.{key} must map strings to strings")
    if not isinstance(raw.get("spec"), dict):
        doc.errors.append("spec must be an object")
    if not doc.errors:
        obj = clean(raw)
        obj["metadata"]["namespace"] = namespace
        doc.obj = obj
    return doc
