"""The VAS API types (group ``vas.io``, version ``v1alpha1``) as pydantic models.

These models are the single source of the CRD schemas in ``crds/``: ``python -m
vas_operator.crdgen`` renders them, and a test fails when the two disagree.
"""

from vas_operator.models.camera import Camera, CameraSpec, CameraStatus
from vas_operator.models.common import API_GROUP, API_VERSION, Condition
from vas_operator.models.group import CameraGroup, CameraGroupSpec, CameraGroupStatus
from vas_operator.models.scan import DiscoveryScan, DiscoveryScanSpec, DiscoveryScanStatus

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "Camera",
    "CameraGroup",
    "CameraGroupSpec",
    "CameraGroupStatus",
    "CameraSpec",
    "CameraStatus",
    "Condition",
    "DiscoveryScan",
    "DiscoveryScanSpec",
    "DiscoveryScanStatus",
]
