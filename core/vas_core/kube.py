"""The Kubernetes client both processes start from."""

from __future__ import annotations

from kubernetes_asyncio import client, config


async def api_client() -> client.ApiClient:
    """In a pod: the service account; elsewhere: $KUBECONFIG or ~/.kube/config."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()
    return client.ApiClient()
