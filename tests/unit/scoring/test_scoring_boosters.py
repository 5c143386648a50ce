"""XGBoost and LightGBM: native files load without unpickling and answer as the library does;
the compile decision serves ONNX Runtime only where it agreed, NaN rows included."""

from __future__ import annotations

import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from modelserve_scoring.artifact import find_artifact
from modelserve_scoring.errors import ArtifactError
from modelserve_scoring.runtime.boosters import (
    LightGBMNativeClassifier,
    LightGBMNativeRegressor,
    load_native,
)
from modelserve_scoring.runtime.compile import (
    CompileOptions,
    _compile,
    _validate,
    compile_runtime,
)
from modelserve_scoring.runtime.exactness import ValidationSample
from modelserve_scoring.runtime.introspect import trees_of
from modelserve_scoring.runtime.onnx import input_layout
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROWS = 400


def _data(n_features: int = 5, seed: int = 7, missing: float = 0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(ROWS, n_features))
    binary = (X[:, 0] + X[:, 1] > 0).astype(int)
    three = np.digitize(X[:, 0] - X[:, 2], [-0.5, 0.5])
    target = X @ np.arange(1, n_features + 1) + rng.normal(size=ROWS)
    # missing cells in training, so the trees learn a default direction for them
    X[rng.random(X.shape) < missing] = np.nan
    return X, binary, three, target


def _xgb_bytes(model, suffix: str, tmp_path) -> bytes:
    path = tmp_path / f"model{suffix}"
    model.get_booster().save_model(path)
    return path.read_bytes()


def _lgb_bytes(model) -> bytes:
    return model.booster_.model_to_string().encode()


def _runtime(model, rows: int = 2_000):
    return compile_runtime(
        SklearnRuntime.from_estimator(model), CompileOptions(validation_rows=rows, cache=False)
    )


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_native_xgboost_classifier_answers_as_xgboost(tmp_path, suffix):
    X, _, three, _ = _data()
    trained = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, three)
    model = load_native(_xgb_bytes(trained, suffix, tmp_path), suffix, "model")
    assert isinstance(model, xgb.XGBClassifier)
    assert model.classes_.tolist() == [0, 1, 2] and model.n_features_in_ == 5
    np.testing.assert_array_equal(model.predict(X), trained.predict(X))
    np.testing.assert_array_equal(model.predict_proba(X), trained.predict_proba(X))


def test_native_xgboost_regressor_keeps_feature_names(tmp_path):
    X, _, _, target = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    trained = xgb.XGBRegressor(n_estimators=10, max_depth=3).fit(frame, target)
    model = load_native(_xgb_bytes(trained, ".json", tmp_path), ".json", "model")
    assert isinstance(model, xgb.XGBRegressor)
    assert list(model.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(model.predict(frame), trained.predict(frame))


@pytest.mark.parametrize("target", ["binary", "three"])
def test_native_lightgbm_classifier_answers_as_lgbmclassifier(target):
    X, binary, three, _ = _data()
    y = binary if target == "binary" else three
    trained = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    model = load_native(_lgb_bytes(trained), ".txt", "model")
    assert isinstance(model, LightGBMNativeClassifier)
    assert model.classes_.tolist() == sorted(set(y.tolist()))
    assert not hasattr(model, "feature_names_in_")  # LightGBM's Column_N are no names
    np.testing.assert_array_equal(model.predict(X), trained.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), trained.predict_proba(X), rtol=0, atol=0)


def test_native_lightgbm_regressor_with_feature_names():
    X, _, _, target = _data()
    frame = pd.DataFrame(X, columns=list("abcde"))
    trained = lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(frame, target)
    model = load_native(_lgb_bytes(trained), ".txt", "model")
    assert isinstance(model, LightGBMNativeRegressor) and not hasattr(model, "predict_proba")
    assert list(model.feature_names_in_) == list("abcde")
    np.testing.assert_array_equal(model.predict(X), trained.predict(frame))


def test_objectives_the_server_cannot_serve_are_named(tmp_path):
    X, binary, _, _ = _data()
    ranker = lgb.LGBMRanker(n_estimators=2, verbose=-1).fit(X, binary, group=[ROWS])
    with pytest.raises(ArtifactError, match="LightGBM objective 'lambdarank'"):
        load_native(_lgb_bytes(ranker), ".txt", "ranker.txt")
    hinge = xgb.XGBClassifier(n_estimators=2, objective="binary:hinge").fit(X, binary)
    with pytest.raises(ArtifactError, match="XGBoost objective 'binary:hinge'"):
        load_native(_xgb_bytes(hinge, ".json", tmp_path), ".json", "hinge.json")
    with pytest.raises(ArtifactError, match=r"cannot load garbage\.txt as a LightGBM model"):
        load_native(b"not a model", ".txt", "garbage.txt")


def test_model_dir_finds_native_files_only_for_their_framework(tmp_path):
    (tmp_path / "baseline.json").write_text("{}")
    (tmp_path / "model.ubj").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="found none"):
        find_artifact(tmp_path)  # sklearn: only joblib/pickle files are artifacts
    assert find_artifact(tmp_path, "xgboost") == tmp_path / "model.ubj"
    (tmp_path / "model.txt").write_text("x")
    assert find_artifact(tmp_path, "lightgbm") == tmp_path / "model.txt"


def test_split_thresholds_are_read_from_both_boosters():
    X, binary, _, _ = _data()
    booster = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, binary)
    trees = trees_of(booster)
    assert len(trees) == 3 and all(t.float32_inputs for t in trees)
    dumped = booster.get_booster().trees_to_dataframe()
    splits = dumped[dumped.Feature != "Leaf"]
    found = np.concatenate([t.threshold[t.feature >= 0] for t in trees])
    np.testing.assert_array_equal(np.sort(found), np.sort(splits.Split.astype(np.float32)))
    light = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1).fit(X, binary)
    trees = trees_of(light)
    assert len(trees) == 3 and not any(t.float32_inputs for t in trees)
    assert sum(int((t.feature >= 0).sum()) for t in trees) == 9  # 4 leaves: 3 splits each


def test_xgboost_is_compiled_and_checked_on_missing_values():
    X, _, three, _ = _data()
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, three)
    runtime = _runtime(model)
    assert runtime.kind == "onnx", runtime.selection["runtime_fallback_reason"]
    check = runtime.selection["onnx_check"]
    assert "split thresholds" in check["sample"]["sources"]
    assert check["missing_values"]["result"] == "exact"
    assert check["missing_values"]["answered_by"] == "onnxruntime"
    rows = X[:50].copy()
    rows[::3, 0] = np.nan
    np.testing.assert_array_equal(runtime.predict(rows), model.predict(rows))
    np.testing.assert_allclose(runtime.predict_proba(rows), model.predict_proba(rows), atol=1e-5)
    assert runtime.delegated_rows == 0  # the graph answered the NaN rows itself


def _lightgbm_edge_rows(model, X) -> np.ndarray:
    """Rows on, just above and just below every split threshold, with missing and tiny cells."""
    from modelserve_scoring.runtime.introspect import trees_of

    base = X[np.isfinite(X).all(axis=1)][0]
    rows = []
    for tree in trees_of(model):
        for feature, threshold in zip(tree.feature, tree.threshold, strict=True):
            if feature < 0:
                continue
            t = np.float64(threshold)
            for value in (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), np.float32(t)):
                row = base.copy()
                row[feature] = value
                rows.append(row)
    rows = np.array(rows)
    missing = rows.copy()
    missing[np.arange(len(rows)), np.arange(len(rows)) % X.shape[1]] = np.nan
    tiny = rows.copy()
    tiny[:, 0] = np.resize([0.0, 1e-36, -1e-36, float(np.float32(1e-35)), 1e301], len(rows))
    return np.concatenate([rows, missing, tiny, np.full((1, X.shape[1]), np.nan)])


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_lightgbm_serves_from_onnx_runtime_with_lightgbm_answers(kind):
    X, binary, three, target = _data()
    if kind == "regression":
        model = lgb.LGBMRegressor(n_estimators=20, verbose=-1).fit(X, target)
    else:
        y = binary if kind == "binary" else three
        model = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
    runtime = _runtime(model)
    assert runtime.kind == "onnx", runtime.selection["runtime_fallback_reason"]
    assert runtime.precision == "double"
    assert runtime.selection["onnx_check"]["missing_values"]["answered_by"] == "onnxruntime"
    rows = _lightgbm_edge_rows(model, X)
    finite = rows[np.abs(np.nan_to_num(rows)).max(axis=1) < 1e300]
    np.testing.assert_array_equal(runtime.predict(finite), model.predict(finite))
    if kind != "regression":
        got = runtime.predict_proba(finite)
        np.testing.assert_allclose(got, model.predict_proba(finite), rtol=1e-12, atol=1e-15)
    assert runtime.delegated_rows == 0  # the graph answered the edge and NaN rows itself


def test_lightgbm_zero_as_missing_routes_zeros_and_tiny_values_as_lightgbm():
    X, _, _, target = _data()
    X[::4, 1] = 0.0
    model = lgb.LGBMRegressor(n_estimators=20, zero_as_missing=True, verbose=-1)
    model.fit(X, target)
    runtime = _runtime(model)
    assert runtime.kind == "onnx", runtime.selection["runtime_fallback_reason"]
    rows = _lightgbm_edge_rows(model, X)
    rows = rows[np.abs(np.nan_to_num(rows)).max(axis=1) < 1e300]
    rows[::3, 1] = np.resize([0.0, -0.0, 1e-36, -1e-36], len(rows[::3]))
    np.testing.assert_allclose(runtime.predict(rows), model.predict(rows), rtol=1e-12)
    assert runtime.delegated_rows == 0


def test_a_native_lightgbm_file_is_compiled_too():
    X, binary, _, _ = _data()
    trained = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, binary)
    native = load_native(_lgb_bytes(trained), ".txt", "model.txt")
    runtime = _runtime(native)
    assert runtime.kind == "onnx", runtime.selection["runtime_fallback_reason"]
    np.testing.assert_array_equal(runtime.predict(X), trained.predict(X))
    np.testing.assert_allclose(runtime.predict_proba(X), trained.predict_proba(X), rtol=1e-12)


def test_lightgbm_categorical_splits_fall_back_with_the_reason():
    X, binary, _, _ = _data(missing=0.0)
    X[:, 0] = np.floor(np.abs(X[:, 0]) * 3)
    binary = (X[:, 0] % 2 == 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1, min_data_per_group=5)
    model.fit(X, binary, categorical_feature=[0])
    runtime = _runtime(model)
    assert runtime.kind == "sklearn" and runtime.model is model
    assert runtime.selection["runtime_fallback"] == "unsupported"
    assert "categorical splits" in runtime.selection["runtime_fallback_reason"]
    np.testing.assert_array_equal(runtime.predict(X), model.predict(X))


def test_pipeline_ending_in_xgboost_scales_in_float64_then_rounds_as_xgboost_does():
    X, binary, _, _ = _data()
    model = make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=10, max_depth=3))
    model.fit(X, binary)
    runtime = _runtime(model)
    assert runtime.kind == "onnx", runtime.selection["runtime_fallback_reason"]
    assert runtime.precision == "double"
    assert runtime.selection["onnx_check"]["missing_values"]["result"] == "exact"
    np.testing.assert_array_equal(runtime.predict(X), model.predict(X))
    np.testing.assert_allclose(runtime.predict_proba(X), model.predict_proba(X), atol=1e-5)


def test_a_float32_graph_after_a_scaler_is_caught_at_the_split_edges():
    X, binary, _, _ = _data(missing=0.0)
    model = make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=10, max_depth=3))
    model.fit(X, binary)
    reference = SklearnRuntime.from_estimator(model)
    # the float32 graph scales in float32 where scikit-learn scales in float64 before XGBoost
    # rounds to float32: rows at a split threshold land on its other side
    layout = input_layout(model, 5, None)
    candidate = _compile(reference, layout, "float", CompileOptions(cache=False), None)
    _validate(reference, [candidate], ValidationSample(model, 5, None, 2_000))
    assert candidate.failure == "answers_differ" and candidate.agreement.label_mismatches > 0
    assert "classes differ" in candidate.reason


def test_a_scikit_learn_model_compiles_without_loading_the_boosting_libraries():
    # A fresh interpreter: this test module has imported both libraries already.
    script = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from modelserve_scoring.runtime import compile_estimator
x = np.random.default_rng(0).normal(size=(200, 4))
runtime = compile_estimator(LogisticRegression().fit(x, x[:, 0] > 0), validation_rows=1000)
assert runtime.kind == "onnx", runtime.selection
print(sorted(m for m in ("xgboost", "lightgbm", "onnxmltools") if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
