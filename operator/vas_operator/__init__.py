"""VAS operator: reconciles Camera, CameraGroup and DiscoveryScan resources with Kopf."""
