"""Which runtime serves a model, as a scoring pod reports it in its v2 model metadata.

The scoring server puts these keys into the ``parameters`` of ``GET /v2/models/<name>``
(snake_case, as v2 parameters are); the operator copies them into ``Model.status.runtime``.
A pod that refuses a model (library version skew under policy strict, or an artifact its
fetch init container could not get or verify) prints one ``REFUSAL_PREFIX`` line before it
exits, which the operator finds in its termination message.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

#: Prefix of the one log line a scoring pod prints when it refuses to load a model.
REFUSAL_PREFIX = "modelserve-load-refused: "


class RuntimeParameters(BaseModel):
    """The runtime keys of the v2 model metadata ``parameters`` (other keys are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    runtime: str | None = None
    runtime_requested: str | None = None
    runtime_fallback: str | None = None
    runtime_fallback_reason: str | None = None
    #: true while scikit-learn serves and ONNX Runtime is still being compiled and checked in
    #: the background (runtime auto): the choice is not made yet, `runtime` may still change
    runtime_pending: bool = False
    library_versions: dict[str, str] | None = None
    serving_library_versions: dict[str, str] | None = None
    library_version_mismatch: str | None = None

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> RuntimeParameters:
        """The runtime keys of a v2 model metadata body."""
        return cls.model_validate(metadata.get("parameters") or {})

    def selection(self) -> dict[str, str | bool | None]:
        """The keys a runtime adds next to ``runtime`` (the choice, or that it is pending)."""
        return self.model_dump(
            include={
                "runtime_requested",
                "runtime_fallback",
                "runtime_fallback_reason",
                "runtime_pending",
            }
        )


class LoadRefusal(BaseModel):
    """Why a scoring pod refused to load a model, as its refusal line carries it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    reason: str
    message: str
    library_versions: dict[str, str] | None = None
    serving_library_versions: dict[str, str] | None = None

    def line(self) -> str:
        """The one line the scoring server prints before it exits."""
        return REFUSAL_PREFIX + self.model_dump_json()

    @classmethod
    def from_termination_message(cls, text: str | None) -> LoadRefusal | None:
        """The refusal in a container's termination message (its last log lines), if any."""
        for raw in reversed((text or "").splitlines()):
            at = raw.find(REFUSAL_PREFIX)
            if at < 0:
                continue
            try:
                return cls.model_validate(json.loads(raw[at + len(REFUSAL_PREFIX) :]))
            except (ValueError, ValidationError):
                # the kubelet keeps only the message's tail: a cut line is no refusal
                continue
        return None
