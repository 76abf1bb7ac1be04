"""Kopf handlers, one module per concern; importing this package registers them all."""

from vas_operator.handlers import cameras, lifecycle, scans

__all__ = ["cameras", "lifecycle", "scans"]
