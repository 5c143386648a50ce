"""Thin Kopf glue: importing this package registers every handler."""

from . import batch_deployments, lifecycle, models, online_endpoints  # noqa: F401
