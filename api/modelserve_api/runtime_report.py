"""Which runtime serves a model, as a scoring pod reports it in its v2 model metadata.

The scoring server puts these keys into the ``parameters`` of ``GET /v2/models/<name>``
(snake_case, as v2 parameters are); the operator copies them into ``Model.status.runtime``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class RuntimeParameters(BaseModel):
    """The runtime keys of the v2 model metadata ``parameters`` (other keys are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    runtime: str | None = None
    runtime_requested: str | None = None
    runtime_fallback: str | None = None
    runtime_fallback_reason: str | None = None

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> RuntimeParameters:
        """The runtime keys of a v2 model metadata body."""
        return cls.model_validate(metadata.get("parameters") or {})

    def selection(self) -> dict[str, str | None]:
        """The keys a runtime adds next to ``runtime`` once the choice is made."""
        return self.model_dump(exclude={"runtime"})
