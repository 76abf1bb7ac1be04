"""CameraGroup: a label selector over Cameras, used for video walls and for handing out access."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from vas_operator.models import rules
from vas_operator.models.common import (
    AGE_COLUMN,
    ApiModel,
    Condition,
    PrinterColumn,
    Resource,
    StatusModel,
    condition_column,
    conditions_field,
)

LABEL_KEY_MAX = 317  # optional 253-character prefix, '/', 63-character name


class LabelSelectorRequirement(ApiModel):
    """One label test, as in metav1.LabelSelectorRequirement."""

    model_config = ConfigDict(json_schema_extra=rules.validations(rules.SELECTOR_VALUES))

    key: str = Field(min_length=1, max_length=LABEL_KEY_MAX, description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values: In, NotIn, Exists or DoesNotExist."
    )
    values: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None,
        max_length=64,
        description="Label values; required for In and NotIn, empty for Exists and DoesNotExist.",
    )

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        rules.check_selector_values(self.operator, self.values)
        return self


class LabelSelector(ApiModel):
    """Which Cameras belong, as in metav1.LabelSelector. An empty selector selects every Camera
    in the namespace."""

    match_labels: dict[str, str] | None = Field(
        default=None,
        max_length=64,
        description="Labels a Camera must carry, all of them, with these values.",
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None,
        max_length=32,
        description="Label tests a Camera must pass, all of them.",
    )


class GroupLayout(ApiModel):
    """A hint for the web viewer's video wall."""

    mode: Literal["Grid", "Focus"] = Field(
        default="Grid",
        description="Grid shows every member at the same size; Focus shows the first member large "
        "and the others beside it.",
    )
    columns: int | None = Field(
        default=None, ge=1, le=12, description="Columns of the grid; unset lets the viewer choose."
    )


class CameraGroupSpec(ApiModel):
    """Which cameras form the group and how the viewer shows them."""

    selector: LabelSelector = Field(
        description="Label selector over Cameras in this namespace; {} selects all of them."
    )
    description: str | None = Field(default=None, max_length=1024, description="Free text.")
    layout: GroupLayout | None = Field(default=None, description="Viewer layout hint.")


class CameraGroupStatus(StatusModel):
    """Membership as the operator last counted it."""

    observed_generation: int | None = Field(default=None, ge=0, description="Generation seen.")
    members: int | None = Field(default=None, ge=0, description="Cameras the selector matches.")
    ready_members: int | None = Field(
        default=None, ge=0, description="Matching Cameras whose Ready condition is True."
    )
    conditions: list[Condition] = conditions_field(
        "Ready: True when every member is Ready; False (reason Degraded) names the first few "
        "members that are not."
    )


class CameraGroup(Resource):
    """A set of Cameras chosen by labels: a video wall in the viewer, a unit of access."""

    kind_name: ClassVar[str] = "CameraGroup"
    plural: ClassVar[str] = "cameragroups"
    short_names: ClassVar[tuple[str, ...]] = ("camgrp",)
    printer_columns: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Members", ".status.members", type="integer", description="Cameras."),
        PrinterColumn("Ready", ".status.readyMembers", type="integer", description="Ready ones."),
        condition_column("Status", "reason"),
        AGE_COLUMN,
        PrinterColumn("Description", ".spec.description", priority=1, description="Free text."),
    )
    kind: Literal["CameraGroup"] = "CameraGroup"
    spec: CameraGroupSpec = Field(description="Desired state of the group.")
    status: CameraGroupStatus | None = Field(default=None, description="Observed state.")
