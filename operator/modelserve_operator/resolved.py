"""Facts a reconciler resolves before building children (a model reference made concrete)."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve_api import Model
from modelserve_api.model import MLflowAccess, S3Access


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
    # tracking server and credentials of a models:/ artifact (artifact_uri is then the
    # download URI the operator resolved, artifact_sha256 the directory digest it pinned)
    artifact_mlflow: MLflowAccess | None = None
    # the MLflow registry version the digest belongs to (status.mlflow.version)
    registry_version: str | None = None

    @classmethod
    def from_model(cls, model: Model) -> ResolvedModel:
        """Take the facts from a parsed Model object."""
        spec = model.spec
        # A trained Model's digest is only known once its training Job reported it.
        sha256 = spec.artifact.sha256 or model.status.trained_sha256
        uri = spec.artifact.uri
        registry_version = None
        if spec.artifact.scheme == "models":
            pinned = model.status.mlflow
            if pinned is None or not pinned.sha256:
                raise ValueError(
                    f"Model {model.metadata.name!r} is not resolved in MLflow yet ({uri})"
                )
            uri, sha256 = pinned.download_uri, pinned.sha256
            registry_version = pinned.version
        if sha256 is None:
            raise ValueError(
                f"Model {model.metadata.name!r} has no artifact digest yet (training not done)"
            )
        return cls(
            model_name=spec.model_name,
            version=spec.version,
            framework=spec.framework,
            runtime=spec.runtime,
            artifact_uri=uri,
            artifact_sha256=sha256.lower(),
            library_version_policy=spec.library_version_policy,
            artifact_s3=spec.artifact.s3,
            artifact_mlflow=spec.artifact.mlflow,
            registry_version=registry_version,
        )
