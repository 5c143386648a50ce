"""Runtime for scikit-learn estimators and Pipelines saved with joblib."""

from __future__ import annotations

import io
import logging
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from modelserve_scoring.artifact import read_verified, require_digest, sha256_hex
from modelserve_scoring.errors import ArtifactError
from modelserve_scoring.mlflow_model import is_mlflow_dir, read_verified_dir
from modelserve_scoring.runtime import versions
from modelserve_scoring.runtime.base import ModelRuntime
from modelserve_scoring.runtime.boosters import NATIVE_SUFFIXES, library_versions, load_native

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars so labels serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value


class SklearnRuntime(ModelRuntime):
    """Serves a joblib-saved estimator; the artifact's sha256 is checked before unpickling."""

    kind = "sklearn"

    def __init__(
        self,
        artifact_path: Path | None,
        expected_sha256: str | None,
        allow_unverified: bool = False,
        library_version_policy: versions.Policy = "warn",
    ) -> None:
        self.artifact_path = artifact_path
        self.expected_sha256 = expected_sha256
        self.allow_unverified = allow_unverified
        self.library_version_policy = library_version_policy
        #: recorded against serving library versions, once an artifact was loaded
        self.version_check: versions.VersionCheck | None = None
        self.model: Any = None
        self.artifact_bytes = 0
        #: sha256 of the bytes that were unpickled (keys the compiled-model cache)
        self.artifact_sha256: str | None = None
        self._predict = None
        self._predict_proba = None
        self._columns = None
        #: inputs and outputs an MLflow model's signature declares (v2 metadata form)
        self.signature: dict[str, list[dict[str, Any]]] | None = None

    @classmethod
    def from_estimator(cls, model: Any) -> SklearnRuntime:
        """A runtime around an estimator already in memory (a scoring script's)."""
        runtime = cls(None, None)
        runtime.adopt(model)
        return runtime

    def load(self) -> None:
        """Verify, unpickle and introspect the model (refused without a digest unless
        allow_unverified)."""
        require_digest(self.expected_sha256, self.allow_unverified, str(self.artifact_path))
        if not self.expected_sha256:
            log.warning("loading %s without a digest check (allow_unverified)", self.artifact_path)
        if self.artifact_path is None:
            raise ArtifactError("no artifact path to load the model from")
        if is_mlflow_dir(self.artifact_path):
            self._load_mlflow(self.artifact_path)
            return
        data = read_verified(self.artifact_path, self.expected_sha256)
        self.artifact_bytes = len(data)
        self.artifact_sha256 = sha256_hex(data)
        suffix = self.artifact_path.suffix.lower()
        if suffix in NATIVE_SUFFIXES:  # XGBoost / LightGBM's own format: no unpickling
            # checked before loading: a refused model is never handed to the library
            self.version_check = versions.enforce(
                versions.recorded_native(data, NATIVE_SUFFIXES[suffix]),
                self.library_version_policy,
                str(self.artifact_path),
            )
            self.adopt(load_native(data, suffix, str(self.artifact_path)))
            return
        try:
            with versions.recording_sklearn_version() as recorded:
                model = joblib.load(io.BytesIO(data))
        except Exception as exc:
            raise ArtifactError(f"cannot unpickle {self.artifact_path}: {exc}") from exc
        self.version_check = versions.enforce(
            versions.recorded_for_estimator(model, recorded),
            self.library_version_policy,
            str(self.artifact_path),
        )
        self.adopt(model)

    def _load_mlflow(self, directory: Path) -> None:
        """An MLflow sklearn directory: digest, then recorded versions, then the unpickle."""
        found = read_verified_dir(directory, self.expected_sha256)
        # checked before unpickling: a refused model's code never runs
        self.version_check = versions.enforce(
            found.recorded_versions, self.library_version_policy, f"{directory} (MLmodel)"
        )
        self.artifact_bytes = len(found.pickle_bytes)
        self.artifact_sha256 = sha256_hex(found.pickle_bytes)
        try:
            with versions.recording_sklearn_version():
                model = pickle.loads(found.pickle_bytes)  # the digest was checked above
        except Exception as exc:
            raise ArtifactError(f"cannot unpickle {directory / found.pickle_name}: {exc}") from exc
        self.signature = found.signature
        self.adopt(model)

    def adopt(self, model: Any) -> None:
        """Serve this estimator and learn what it can tell."""
        where = self.artifact_path or "the estimator"
        if not callable(getattr(model, "predict", None)):
            raise ArtifactError(f"{where} holds a {type(model).__name__}, which has no predict()")
        self.model = model
        self._predict = model.predict
        n_features = getattr(model, "n_features_in_", None)
        self.n_features = int(n_features) if n_features is not None else None
        names = getattr(model, "feature_names_in_", None)
        self.feature_names = [str(n) for n in names] if names is not None else None
        classes = getattr(model, "classes_", None)
        self.classes = [_plain(c) for c in classes] if classes is not None else None
        # hasattr on a Pipeline runs its available_if check, so this is the honest answer
        if hasattr(model, "predict_proba"):
            self._predict_proba = model.predict_proba
        if self.feature_names is not None:
            import pandas as pd

            self._columns = pd.Index(self.feature_names)

    @property
    def has_proba(self) -> bool:
        """Whether the estimator exposes predict_proba."""
        return self._predict_proba is not None

    def _frame(self, rows: np.ndarray) -> Any:
        # a model fit on a DataFrame wants its column names back (and warns without them)
        if self._columns is None:
            return rows
        import pandas as pd

        return pd.DataFrame(rows, columns=self._columns, copy=False)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """model.predict on the batch."""
        return np.asarray(self._predict(self._frame(rows)))

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """model.predict_proba on the batch."""
        if self._predict_proba is None:
            raise NotImplementedError(f"{type(self.model).__name__} has no predict_proba")
        return np.asarray(self._predict_proba(self._frame(rows)))

    def decision_function(self, rows: np.ndarray) -> np.ndarray | None:
        """model.decision_function on the batch, or None when the model has none."""
        try:
            method = self.model.decision_function
        except AttributeError:
            return None
        return np.asarray(method(self._frame(rows)))

    def metadata(self) -> dict[str, Any]:
        """Base metadata plus estimator type and library versions."""
        meta = super().metadata()
        meta.update(
            estimator=type(self.model).__name__,
            sklearn_version=sklearn.__version__,
            artifact=str(self.artifact_path) if self.artifact_path else None,
            artifact_bytes=self.artifact_bytes,
        )
        meta.update(library_versions(self.model))
        if self.version_check is not None:
            meta.update(self.version_check.metadata())
        return meta
