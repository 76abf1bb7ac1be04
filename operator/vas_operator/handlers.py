"""Kopf handlers. Each one is thin: validate the body into a model, call a plain function."""
