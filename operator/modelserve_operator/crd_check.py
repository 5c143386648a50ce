"""Whether the installed CRDs are the ones this operator was built with (checked at start)."""

from __future__ import annotations

import logging

from modelserve_api import constants as c
from modelserve_api.crdgen import KINDS, crd_name, schema_digest
from modelserve_api.kube import Forbidden

from .kube import Kube

log = logging.getLogger(__name__)

# The command in the message: Helm installs a chart's crds/ once and never upgrades them.
UPGRADE_COMMAND = "kubectl apply --server-side -f charts/modelserve/crds/"


def crd_problems(kube: Kube) -> dict[str, str]:
    """Kind -> why its CRD is not this release's, for each modelserve CRD that is not."""
    problems: dict[str, str] = {}
    for kind in KINDS:
        name = crd_name(kind)
        try:
            live = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, name)
        except Forbidden as error:
            log.warning("cannot read CRD %s to compare it with this operator's: %s", name, error)
            continue
        if live is None:
            continue  # Kopf reports a kind it cannot watch; nothing stored can be pruned
        annotations = live["metadata"].get("annotations") or {}
        found = annotations.get(c.ANNOTATION_SCHEMA_DIGEST)
        expected = schema_digest(kind)
        if found != expected:
            problems[kind.__name__] = (
                f"CRD {name} is not the one this operator was built with (schema digest "
                f"{found or 'absent'}, this operator's {expected}): the API server drops "
                f"fields it does not know. Apply this release's CRDs: {UPGRADE_COMMAND}"
            )
    return problems


def report(problems: dict[str, str]) -> None:
    """Say in the operator's log which CRDs need upgrading, or that none does."""
    for message in problems.values():
        log.error("%s", message)
    if not problems:
        log.info("CRDs match this operator (%d kinds)", len(KINDS))
