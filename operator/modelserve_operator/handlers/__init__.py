"""Thin Kopf glue: importing this package registers every handler."""

from . import lifecycle, models, online_endpoints  # noqa: F401
