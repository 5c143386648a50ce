"""Resolve a deployment's `model: {name, version}` to one registered, Ready Model."""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelserve_api import Model, ModelReference
from modelserve_api.conditions import READY, is_true

from ..resolved import ResolvedModel


class ModelNotResolved(Exception):
    """No Ready Model matches the reference; the message says what is missing."""


def version_sort_key(version: str) -> tuple:
    """Order versions numerically where they are numbers ("10" > "9"), else by text."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"[.\-_+]", version)
    )


def keeps_serving(model: Model) -> bool:
    """A Model following an MLflow alias that cannot be followed now serves its last pin.

    Not when scoring pods refuse what it pins: then nothing of it can be served.
    """
    pinned = model.status.mlflow
    runtime = model.status.runtime
    return (
        model.spec.artifact.follows_alias
        and pinned is not None
        and bool(pinned.sha256)
        and not (runtime is not None and runtime.load_refused)
    )


def resolve_model(reference: ModelReference, models: Iterable[Model]) -> ResolvedModel:
    """The Model the reference names; `latest` is the highest Ready version."""
    candidates = [m for m in models if m.spec.model_name == reference.name]
    if not candidates:
        raise ModelNotResolved(f"no Model with modelName {reference.name!r} in this namespace")
    ready = [
        m
        for m in candidates
        if is_true([c.model_dump(by_alias=True) for c in m.status.conditions], READY)
        or keeps_serving(m)
    ]
    if reference.follows_latest:
        if not ready:
            raise ModelNotResolved(
                f"model {reference.name!r} has no Ready version yet "
                f"(known: {', '.join(sorted(m.spec.version for m in candidates))})"
            )
        best = max(ready, key=lambda m: version_sort_key(m.spec.version))
        return ResolvedModel.from_model(best)
    exact = [m for m in candidates if m.spec.version == reference.version]
    if not exact:
        known = ", ".join(sorted((m.spec.version for m in candidates), key=version_sort_key))
        raise ModelNotResolved(
            f"model {reference.name!r} has no version {reference.version!r} (known: {known})"
        )
    if exact[0] not in ready:
        why = next((c for c in exact[0].status.conditions if c.type == READY), None)
        detail = f" ({why.reason}: {why.message})" if why else ""
        raise ModelNotResolved(
            f"model {reference.name!r} version {reference.version!r} is not Ready{detail}"
        )
    return ResolvedModel.from_model(exact[0])
