"""Library-version skew caught at load: strict refuses, warn serves and reports."""

from __future__ import annotations

import json
import re

import joblib
import lightgbm
import numpy as np
import pytest
import requests
import sklearn
import xgboost
from modelserve_api.runtime_report import LoadRefusal, RuntimeParameters
from modelserve_scoring.runtime import versions
from scoring_helpers import sha256_of, wait_until
from sklearn.linear_model import LogisticRegression

OLD_SKLEARN = "1.4.2"


@pytest.fixture(scope="module")
def skewed_model(tmp_path_factory):
    """A real estimator pickled as if an older scikit-learn had saved it."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("skewed") / "model.joblib"
    own_getstate = LogisticRegression.__getstate__

    def saved_by_old_sklearn(self):
        state = own_getstate(self)
        state["_sklearn_version"] = OLD_SKLEARN
        return state

    # the pickle names the class by reference, so the server unpickles a plain
    # LogisticRegression that recorded OLD_SKLEARN, and scikit-learn warns as it would
    LogisticRegression.__getstate__ = saved_by_old_sklearn
    try:
        joblib.dump(model, path)
    finally:
        LogisticRegression.__getstate__ = own_getstate
    return path


def test_patch_level_differences_are_not_a_mismatch():
    assert versions.mismatch({"scikit-learn": "1.9.0"}, {"scikit-learn": "1.9.1"}) == ""
    assert "minor-version" in versions.mismatch({"xgboost": "3.1.0"}, {"xgboost": "3.2.0"})
    assert "major-version" in versions.mismatch({"lightgbm": "3.3.5"}, {"lightgbm": "4.7.0"})
    # a library the image lacks, or an unparseable version, is no claim either way
    assert versions.mismatch({"xgboost": "2.0.0"}, {}) == ""
    assert versions.mismatch({"scikit-learn": "pre-0.18"}, {"scikit-learn": "1.9.1"}) == ""


def test_xgboost_native_files_name_their_version(tmp_path):
    booster = xgboost.train(
        {}, xgboost.DMatrix(np.arange(20.0).reshape(10, 2), label=np.arange(10) % 2), 1
    )
    for suffix in ("json", "ubj"):
        path = tmp_path / f"model.{suffix}"
        booster.save_model(path)
        assert versions.recorded_xgboost_version(path.read_bytes()) == xgboost.__version__
    assert versions.recorded_xgboost_version(b'{"learner": {}}') is None
    assert versions.recorded_xgboost_version(b"\x00garbage") is None


def test_refusal_line_survives_a_termination_message():
    error = versions.LibraryVersionError(
        "the artifact was saved with scikit-learn 1.4.2 but this image has 1.9.1",
        {"scikit-learn": "1.4.2"},
        {"scikit-learn": "1.9.1"},
    )
    text = "some log line\n" + versions.refusal_line(error) + "\n"
    refusal = LoadRefusal.from_termination_message(text)
    assert refusal is not None and refusal.library_versions == {"scikit-learn": "1.4.2"}
    assert "1.4.2" in refusal.message and "1.9.1" in refusal.message
    # the kubelet keeps the message's tail: a cut line is not taken for a refusal
    assert LoadRefusal.from_termination_message(versions.refusal_line(error)[:-5]) is None
    assert LoadRefusal.from_termination_message(None) is None


def test_strict_refuses_naming_both_versions(start_server, skewed_model):
    server = start_server(
        wait_ready=False,
        artifact_path=skewed_model,
        artifact_sha256=sha256_of(skewed_model),
        library_version_policy="strict",
    )
    wait_until(lambda: server.process.poll() is not None, 60, "the server to exit")
    assert server.process.returncode == 1
    log = server.log()
    assert f"scikit-learn {OLD_SKLEARN} but this image has {sklearn.__version__}" in log
    assert "libraryVersionPolicy strict" in log
    refusal = LoadRefusal.from_termination_message(log)
    assert refusal is not None and refusal.reason == "LibraryVersionMismatch"
    assert refusal.serving_library_versions["scikit-learn"] == sklearn.__version__


def test_warn_serves_and_reports(start_server, skewed_model):
    server = start_server(
        artifact_path=skewed_model, artifact_sha256=sha256_of(skewed_model), runtime="sklearn"
    )
    answer = requests.post(server.url + "/score", json={"data": [[1.0, 0.0, 0.0]]}, timeout=10)
    assert answer.status_code == 200, answer.text
    metadata = requests.get(server.url + "/v2/models/model", timeout=10).json()
    parameters = RuntimeParameters.from_metadata(metadata)
    assert parameters.library_versions == {"scikit-learn": OLD_SKLEARN}
    assert parameters.serving_library_versions["scikit-learn"] == sklearn.__version__
    assert OLD_SKLEARN in parameters.library_version_mismatch
    assert "serving it anyway" in server.log()


def test_a_model_saved_here_has_no_mismatch(start_server, iris_classifier):
    server = start_server(
        artifact_path=iris_classifier.artifact,
        artifact_sha256=iris_classifier.sha256,
        runtime="sklearn",
        library_version_policy="strict",
    )
    parameters = requests.get(server.url + "/v2/models/model", timeout=10).json()["parameters"]
    assert parameters["library_versions"] == {"scikit-learn": sklearn.__version__}
    assert parameters["library_version_mismatch"] == ""
    json.dumps(parameters)  # serialisable as the operator reads it


def test_a_native_xgboost_file_from_another_version_is_refused_before_loading(tmp_path):
    from modelserve_scoring.artifact import sha256_hex
    from modelserve_scoring.errors import ArtifactError
    from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime

    booster = xgboost.train(
        {"objective": "binary:logistic"},
        xgboost.DMatrix(np.arange(20.0).reshape(10, 2), label=np.arange(10) % 2),
        1,
    )
    document = json.loads(booster.save_raw("json"))
    document["version"] = [1, 7, 6]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    digest = sha256_hex(path.read_bytes())
    expected = rf"xgboost 1\.7\.6 but this image has {re.escape(xgboost.__version__)}"
    with pytest.raises(ArtifactError, match=expected):
        SklearnRuntime(path, digest, library_version_policy="strict").load()
    served = SklearnRuntime(path, digest, library_version_policy="warn")
    served.load()
    assert served.metadata()["library_versions"] == {"xgboost": "1.7.6"}
    assert "major-version" in served.metadata()["library_version_mismatch"]


def test_no_version_is_claimed_for_a_boosting_wrapper():
    X = np.random.default_rng(1).normal(size=(40, 3))
    wrapper = lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, X[:, 0] > 0)
    # it pickles no _sklearn_version, so "no warning" says nothing about its saving version
    assert "_sklearn_version" not in wrapper.__getstate__()
    assert versions.recorded_for_estimator(wrapper, {}) == {}
    assert versions.recorded_for_estimator(LogisticRegression(), {}) == {
        "scikit-learn": sklearn.__version__
    }
