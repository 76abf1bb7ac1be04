"""What the operator and the facade both use: API names, the Kubernetes client factory, Redis
key names, label selectors, mountpoint identity and a list+watch store.

The arrows go operator -> core <- api; this package imports neither of them.
"""
