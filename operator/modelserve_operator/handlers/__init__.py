"""Thin Kopf glue: importing this package registers every handler."""

from . import batch_deployments, indexes, lifecycle, models, online_endpoints  # noqa: F401
