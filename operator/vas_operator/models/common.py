"""Building blocks shared by the three kinds: naming rules, Secret references, conditions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from vas_core.names import API_GROUP, API_VERSION, CATEGORY

__all__ = ["API_GROUP", "API_VERSION", "CATEGORY"]

# The same rule as Kubernetes' IsDNS1123Subdomain, which every Secret name satisfies.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def cel(rule: str, message: str, **extra: str) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry; ``message`` is what a person reads on rejection."""
    return {"rule": rule, "message": message, **extra}


class ApiModel(BaseModel):
    """Base for everything a user writes: camelCase on the wire, unknown fields refused.

    Refusing unknown fields and wrong types here (strict mode: "yes" is not a boolean) mirrors
    what the API server does with a structural schema and ``kubectl``'s strict field
    validation, so a manifest the models accept is one the cluster stores unchanged.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        validate_default=True,
    )


class StatusModel(BaseModel):
    """Base for what the operator writes. Extra keys are ignored so an older operator can read a
    status written by a newer one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class SecretReference(ApiModel):
    """A Secret in the same namespace as the resource that names it."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of the Secret, in the same namespace as this resource.",
    )


class CredentialsSecretReference(SecretReference):
    """A Secret of type ``vas.io/rtsp-credentials`` with the keys ``username`` and
    ``password``, read by the operator on demand and never copied into status, events or
    logs. Secrets of any other type are refused: naming one cannot disclose it."""


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """One aspect of the resource's state, in the shape of metav1.Condition, so that kubectl,
    ``kubectl wait --for=condition=Ready`` and generic tooling understand it."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Type of condition in CamelCase, for example Ready.",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The .metadata.generation that the condition was set based upon.",
    )
    last_transition_time: datetime = Field(
        description="Last time the condition went from one status to another.",
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Programmatic identifier for the last transition, one CamelCase word.",
    )
    message: str = Field(
        max_length=32768,
        description="Human-readable details about the last transition.",
    )


CONDITIONS_SCHEMA_EXTRA: dict[str, Any] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


def conditions_field(description: str) -> Any:
    """A ``status.conditions`` list keyed by type, as Kubernetes API conventions want."""
    return Field(
        default_factory=list,
        max_length=16,
        description=description,
        json_schema_extra=CONDITIONS_SCHEMA_EXTRA,
    )


class KopfProgress(StatusModel):
    """One handler's retry state, as Kopf writes it."""

    started: str | None = Field(default=None, max_length=64)
    stopped: str | None = Field(default=None, max_length=64)
    delayed: str | None = Field(default=None, max_length=64)
    purpose: str | None = Field(default=None, max_length=64)
    retries: int | None = Field(default=None, ge=0)
    success: bool | None = None
    failure: bool | None = None
    message: str | None = Field(default=None, max_length=65536)
    subrefs: list[str] | None = Field(default=None, max_length=64)
    seal: str | None = Field(
        default=None, max_length=64, description="The operator's HMAC over this record."
    )


class KopfState(StatusModel):
    """Kopf's bookkeeping (the framework the operator runs on): the configuration it last
    handled and each handler's retries. In status rather than in annotations, so that handling
    a change is one status write, not a status write and an object write. Not for clients."""

    last_handled_configuration: str | None = Field(
        default=None,
        alias="last-handled-configuration",
        max_length=262144,
        description="The spec, labels and annotations last handled, as JSON.",
    )
    configuration_seal: str | None = Field(
        default=None,
        alias="configurationSeal",
        max_length=64,
        description="The operator's HMAC over the last handled configuration.",
    )
    progress: dict[str, KopfProgress] | None = Field(
        default=None, max_length=16, description="Retry state per handler."
    )
    dummy: str | None = Field(
        default=None, max_length=64, description="Touched to wake a sleeping handler."
    )


def kopf_field() -> Any:
    return Field(default=None, description="Kopf's own bookkeeping; not for clients.")


class ObjectMeta(BaseModel):
    """The part of metadata the operator reads; the API server owns the rest."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    name: str | None = None
    namespace: str | None = None
    generation: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


@dataclass(frozen=True)
class PrinterColumn:
    """A ``kubectl get`` column; ``priority=1`` shows it only with ``-o wide``."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


def condition_column(name: str, field: str, condition: str = "Ready") -> PrinterColumn:
    return PrinterColumn(
        name,
        f'.status.conditions[?(@.type=="{condition}")].{field}',
        description=f"The {field} of the {condition} condition.",
    )


AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


class Resource(BaseModel):
    """A whole object as stored by the API server: apiVersion, kind, metadata, spec, status."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    kind_name: ClassVar[str]
    plural: ClassVar[str]
    short_names: ClassVar[tuple[str, ...]]
    printer_columns: ClassVar[tuple[PrinterColumn, ...]]
    api_version: Literal["vas.io/v1alpha1"] = Field(
        default="vas.io/v1alpha1",
        description="APIVersion defines the versioned schema of this representation of an object.",
    )
    kind: str = Field(description="Kind is the REST resource this object represents.")
    metadata: ObjectMeta = Field(
        default_factory=ObjectMeta, description="Standard object metadata."
    )
