"""Names on the wire: the API group and version, resource plurals, labels and Secret types."""

from __future__ import annotations

API_GROUP = "vas.io"
API_VERSION = "v1alpha1"
CATEGORY = "vas"
CAMERAS = "cameras"
CAMERA_GROUPS = "cameragroups"
DISCOVERY_SCANS = "discoveryscans"

# A Secret a Camera or DiscoveryScan may read opts in with this type: any other Secret in the
# namespace is out of reach, so writing a Camera never discloses an unrelated Secret.
CREDENTIALS_SECRET_TYPE = f"{API_GROUP}/rtsp-credentials"
# The operator's Secret watch selects on this type (a field selector), so it never receives
# other Secrets.
USERNAME_KEY = "username"
PASSWORD_KEY = "password"  # noqa: S105  (a key name, not a password)
