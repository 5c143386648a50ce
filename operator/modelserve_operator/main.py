"""The module `kopf run -m modelserve_operator.main` loads: it only registers handlers."""

from . import handlers  # noqa: F401
