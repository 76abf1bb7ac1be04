"""Clients for what the operator talks to: Kubernetes Secrets and the Janus Admin API."""
