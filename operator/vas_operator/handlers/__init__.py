"""Kopf handlers, one module per concern; importing this package registers them all."""

from vas_operator.handlers import cameras, groups, lifecycle

__all__ = ["cameras", "groups", "lifecycle"]
