"""XGBoost and LightGBM models through a real `modelserve-scoring serve`: native files and
joblib'd wrappers answer over HTTP as the library does, and the runtime it chose is reported."""

from __future__ import annotations

import json

import joblib
import lightgbm as lgb
import numpy as np
import requests
import xgboost as xgb
from scoring_helpers import sha256_of
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# the smallest sample the setting allows: the check itself is tested in test_scoring_boosters
FAST_CHECK = {"onnx_validation_rows": 1000}


def _data(seed: int = 11):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 4))
    three = np.digitize(X[:, 0] - X[:, 2], [-0.5, 0.5])
    target = X @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(size=300)
    X[rng.random(X.shape) < 0.1] = np.nan  # the trees learn where missing values go
    return X, three, target


def _infer(
    server, rows: np.ndarray, probabilities: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """v2 infer with the rows as binary FP64, so NaN cells travel as they are."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": list(rows.shape),
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "parameters": {"probabilities": probabilities},
        }
    ).encode()
    response = requests.post(
        server.url + "/v2/models/model/infer",
        data=header + np.ascontiguousarray(rows, dtype=np.float64).tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    proba = outputs.get("predict_proba")
    if proba is not None:
        proba = np.array(proba["data"]).reshape(proba["shape"])
    return np.array(outputs["predict"]["data"]), proba


def _metadata(server) -> dict:
    return server.settled_metadata()["parameters"]


def _serve(start_server, artifact, framework: str):
    return start_server(
        model_dir=artifact.parent,
        artifact_sha256=sha256_of(artifact),
        framework=framework,
        **FAST_CHECK,
    )


def test_native_xgboost_json_is_served_by_onnx_runtime_with_xgboosts_answers(
    start_server, tmp_path
):
    X, three, _ = _data()
    model = xgb.XGBClassifier(n_estimators=15, max_depth=3).fit(X, three)
    artifact = tmp_path / "model" / "model.json"
    artifact.parent.mkdir()
    model.get_booster().save_model(artifact)
    server = _serve(start_server, artifact, "xgboost")
    meta = _metadata(server)
    assert meta["runtime"] == "onnx", meta["runtime_fallback_reason"]
    assert meta["estimator"] == "XGBClassifier" and meta["xgboost_version"] == xgb.__version__
    assert meta["classes"] == [0, 1, 2] and meta["n_features"] == 4
    assert meta["onnx_check"]["missing_values"]["result"] == "exact"
    predictions, proba = _infer(server, X)  # a tenth of the cells are NaN
    np.testing.assert_array_equal(predictions, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


def test_native_xgboost_ubj_regressor(start_server, tmp_path):
    X, _, target = _data()
    model = xgb.XGBRegressor(n_estimators=15, max_depth=3).fit(X, target)
    artifact = tmp_path / "model" / "model.ubj"
    artifact.parent.mkdir()
    model.get_booster().save_model(artifact)
    server = _serve(start_server, artifact, "xgboost")
    meta = _metadata(server)
    assert meta["runtime"] == "onnx", meta["runtime_fallback_reason"]
    assert meta["predict_proba"] is False
    predictions, _ = _infer(server, X, probabilities=False)
    np.testing.assert_allclose(predictions, model.predict(X), rtol=1e-5)


def test_native_lightgbm_txt_serves_from_onnx_runtime_with_lightgbms_answers(
    start_server, tmp_path
):
    X, three, _ = _data()
    model = lgb.LGBMClassifier(n_estimators=15, verbose=-1).fit(X, three)
    artifact = tmp_path / "model" / "model.txt"
    artifact.parent.mkdir()
    artifact.write_text(model.booster_.model_to_string())
    (tmp_path / "model" / "baseline.json").write_text("{}")  # a companion, not an artifact
    server = _serve(start_server, artifact, "lightgbm")
    meta = _metadata(server)
    # float64 input, thresholds and sums: the graph decides every split as LightGBM does
    assert meta["runtime"] == "onnx", meta.get("runtime_fallback_reason")
    assert meta["onnx_precision"] == "double"
    assert meta["onnx_check"]["candidates"]["double"]["rows"] > 0  # converted, then compared
    assert meta["onnx_check"]["missing_values"]["answered_by"] == "onnxruntime"
    assert meta["estimator"] == "LightGBMNativeClassifier"
    assert meta["lightgbm_version"] == lgb.__version__
    predictions, proba = _infer(server, X)
    np.testing.assert_array_equal(predictions, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-12)


def test_joblib_wrappers_and_a_pipeline_answer_as_their_library(start_server, tmp_path):
    X, three, target = _data()
    models = {
        "xgb": (xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, three), "onnx"),
        "lgbm": (lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, target), "onnx"),
        # scaled in float64, then rounded to float32 as XGBoost does: exact, NaN included
        "pipe": (
            make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=10, max_depth=3)).fit(
                X, three
            ),
            "onnx",
        ),
    }
    for name, (model, runtime) in models.items():
        artifact = tmp_path / name / "model.joblib"
        artifact.parent.mkdir()
        joblib.dump(model, artifact)
        framework = "lightgbm" if name == "lgbm" else "xgboost"
        server = _serve(start_server, artifact, framework)
        meta = _metadata(server)
        assert meta["runtime"] == runtime, (name, meta["runtime_fallback_reason"])
        if runtime == "sklearn":
            assert meta["runtime_fallback"] == "answers_differ", name
        classifier = hasattr(model, "predict_proba")
        predictions, proba = _infer(server, X, probabilities=classifier)
        if classifier:
            assert meta["classes"] == [0, 1, 2] and meta["predict_proba"] is True
            np.testing.assert_array_equal(predictions, model.predict(X))
            np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)
        else:
            np.testing.assert_allclose(predictions, model.predict(X), rtol=1e-5)
        server.stop()
