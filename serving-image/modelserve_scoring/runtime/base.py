"""The small interface every tensor runtime implements (scikit-learn, ONNX Runtime)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class ModelRuntime(ABC):
    """Loads one model and predicts on 2-D batches; subclasses keep per-call work minimal."""

    #: short name reported in metadata ("sklearn" or "onnx")
    kind: str = "base"
    #: number of input columns, or None when the model does not say
    n_features: int | None = None
    #: column names the model was fit with, or None
    feature_names: list[str] | None = None
    #: class labels of a classifier, or None for a regressor
    classes: list[Any] | None = None
    #: numpy type of predict()'s output, learnt during warm-up
    predict_dtype: np.dtype | None = None
    #: how the runtime was chosen (requested mode, fallback reason, check figures), if it was
    selection: dict[str, Any] | None = None

    @abstractmethod
    def load(self) -> None:
        """Load the model (after verifying its digest) and learn what it can tell."""

    @abstractmethod
    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Predictions for a 2-D batch, one per row."""

    @property
    def has_proba(self) -> bool:
        """Whether predict_proba is available."""
        return False

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities for a 2-D batch, shape (rows, classes)."""
        raise NotImplementedError(f"the {self.kind} runtime has no predict_proba")

    def warm_up(self, row: np.ndarray | None = None) -> None:
        """One prediction (on `row`, else zeros) so the first request pays no first-call cost."""
        if row is None:
            if self.n_features is None:
                return
            row = np.zeros((1, self.n_features), dtype=np.float64)
        self.predict_dtype = self.predict(row).dtype
        if self.has_proba:
            self.predict_proba(row)

    def metadata(self) -> dict[str, Any]:
        """What loading taught us, for the v2 metadata `parameters`."""
        meta = {
            "runtime": self.kind,
            "n_features": self.n_features,
            "feature_names": self.feature_names,
            "classes": self.classes,
            "predict_proba": self.has_proba,
        }
        if self.selection is not None:
            meta.update(self.selection)
        return meta
