"""Facts a reconciler resolves before building children (a model reference made concrete)."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve_api import Model
from modelserve_api.model import S3Access


@dataclass(frozen=True)
class ResolvedModel:
    """The Model a deployment's reference ({name, version|latest}) resolved to."""

    model_name: str
    version: str
    framework: str
    runtime: str
    artifact_uri: str
    artifact_sha256: str
    # strict | warn: what a scoring or batch pod does with library-version skew at load
    library_version_policy: str = "warn"
    # endpoint, region and credentials of an s3:// artifact
    artifact_s3: S3Access | None = None

    @classmethod
    def from_model(cls, model: Model) -> ResolvedModel:
        """Take the facts from a parsed Model object."""
        spec = model.spec
        # A trained Model's digest is only known once its training Job reported it.
        sha256 = spec.artifact.sha256 or model.status.trained_sha256
        if sha256 is None:
            raise ValueError(
                f"Model {model.metadata.name!r} has no artifact digest yet (training not done)"
            )
        return cls(
            model_name=spec.model_name,
            version=spec.version,
            framework=spec.framework,
            runtime=spec.runtime,
            artifact_uri=spec.artifact.uri,
            artifact_sha256=sha256.lower(),
            library_version_policy=spec.library_version_policy,
            artifact_s3=spec.artifact.s3,
        )
