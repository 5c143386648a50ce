"""MLflow model directories: the digest and the recorded versions are checked before the
pickle runs; the MLmodel signature becomes the v2 metadata."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest
import sklearn
import yaml
from modelserve_api.mlflow_registry import directory_digest, manifest_digest
from modelserve_scoring.errors import ArtifactRefused
from modelserve_scoring.mlflow_model import signature_tensors
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime
from modelserve_scoring.runtime.versions import LibraryVersionError
from sklearn.linear_model import LogisticRegression


class Touch:
    """Unpickling this creates a file: the proof that a pickle ran."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def mlflow_dir(tmp_path, payload: bytes, sklearn_version: str, signature=None):
    directory = tmp_path / "model"
    directory.mkdir()
    flavor = {
        "pickled_model": "model.pkl",
        "serialization_format": "cloudpickle",
        "sklearn_version": sklearn_version,
    }
    mlmodel = {"flavors": {"sklearn": flavor, "python_function": {"loader_module": "x"}}}
    if signature is not None:
        mlmodel["signature"] = signature
    (directory / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    (directory / "model.pkl").write_bytes(payload)
    (directory / "requirements.txt").write_text(
        f"mlflow==3.17.2\nscikit-learn=={sklearn_version}\n"
    )
    return directory


def fitted() -> LogisticRegression:
    rows = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    return LogisticRegression().fit(rows, [0, 1, 0, 1])


def test_the_directory_digest_is_the_sha256_of_its_sorted_manifest(tmp_path):
    directory = mlflow_dir(tmp_path, b"pickle", sklearn.__version__)
    (directory / "extra").mkdir()
    (directory / "extra" / "notes.txt").write_bytes(b"n")
    files = ["MLmodel", "extra/notes.txt", "model.pkl", "requirements.txt"]
    lines = "".join(
        f"{name}\t{hashlib.sha256((directory / name).read_bytes()).hexdigest()}\n" for name in files
    )
    assert directory_digest(directory) == hashlib.sha256(lines.encode()).hexdigest()
    assert manifest_digest({"b": "2", "a": "1"}) == manifest_digest({"a": "1", "b": "2"})


def test_a_wrong_directory_digest_refuses_before_the_pickle_runs(tmp_path):
    marker = tmp_path / "ran"
    directory = mlflow_dir(tmp_path, pickle.dumps(Touch(marker)), sklearn.__version__)
    runtime = SklearnRuntime(directory, "0" * 64)
    with pytest.raises(ArtifactRefused, match="sha256 mismatch") as refused:
        runtime.load()
    assert refused.value.reason == "ArtifactDigestMismatch"
    assert not marker.exists()


def test_an_unverified_mlmodel_is_never_parsed(tmp_path):
    # A tampered MLmodel (here not even YAML) is refused for its digest, not read.
    directory = mlflow_dir(tmp_path, pickle.dumps(fitted()), sklearn.__version__)
    digest = directory_digest(directory)
    (directory / "MLmodel").write_text("flavors: [unclosed")
    with pytest.raises(ArtifactRefused, match="sha256 mismatch"):
        SklearnRuntime(directory, digest).load()


def test_a_recorded_version_skew_is_refused_under_strict_before_the_pickle_runs(tmp_path):
    marker = tmp_path / "ran"
    directory = mlflow_dir(tmp_path, pickle.dumps(Touch(marker)), "0.24.2")
    runtime = SklearnRuntime(
        directory, directory_digest(directory), library_version_policy="strict"
    )
    with pytest.raises(LibraryVersionError, match=r"scikit-learn 0\.24\.2 but this image has"):
        runtime.load()
    assert not marker.exists()


def test_under_warn_the_skew_is_reported_and_the_model_served(tmp_path):
    directory = mlflow_dir(
        tmp_path,
        pickle.dumps(fitted()),
        "0.24.2",
        signature={
            "inputs": json.dumps(
                [{"type": "double", "name": "tenure"}, {"type": "long", "name": "calls"}]
            ),
            "outputs": json.dumps(
                [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]
            ),
        },
    )
    runtime = SklearnRuntime(directory, directory_digest(directory))
    runtime.load()
    assert runtime.predict(np.array([[0.0, 3.0], [3.0, 0.0]])).tolist() == [0, 1]
    assert "0.24.2" in runtime.metadata()["library_version_mismatch"]
    assert runtime.signature == {
        "inputs": [
            {"name": "tenure", "datatype": "FP64", "shape": [-1]},
            {"name": "calls", "datatype": "INT64", "shape": [-1]},
        ],
        "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}],
    }


def test_a_model_without_a_signature_has_none():
    assert signature_tensors(None) is None
