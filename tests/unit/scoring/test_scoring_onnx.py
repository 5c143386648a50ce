"""Compiled inference on real fitted models: ONNX Runtime is used only where it gives
scikit-learn's answers, with the reason reported when it is not."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from modelserve_scoring.errors import ArtifactError
from modelserve_scoring.runtime import CompileOptions, SklearnRuntime, compile_estimator
from modelserve_scoring.runtime.compile import compile_runtime
from modelserve_scoring.runtime.exactness import (
    PROBA_ATOL,
    REGRESSION_RTOL,
    Agreement,
    tree_edge_rows,
)
from modelserve_scoring.runtime.introspect import trees_of
from modelserve_scoring.runtime.onnx import OnnxRuntime, convert, input_layout, open_session
from modelserve_scoring.runtime.onnx_cache import cache_key, read_cached, write_cached
from modelserve_scoring.train.baseline import build_baseline
from scoring_helpers import sha256_of
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris, make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# smaller than the server's default (100,000) so the suite stays quick on two cores;
# bench/onnx_exactness.py measures at 100,000 and more
ROWS = 20_000

X_CLS, Y_CLS = make_classification(1500, 12, n_informative=6, random_state=7)
X_REG, Y_REG = make_regression(1500, 12, noise=3.0, random_state=7)


def _held_out(X):
    rng = np.random.default_rng(11)
    return X[:300] + rng.normal(0, 0.05, size=X[:300].shape)


def _assert_same_answers(runtime, model, rows):
    expected = model.predict(rows)
    got = runtime.predict(rows)
    if getattr(model, "classes_", None) is not None:
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_allclose(
            runtime.predict_proba(rows), model.predict_proba(rows), atol=PROBA_ATOL, rtol=0
        )
    else:
        scale = np.maximum(np.abs(expected), np.abs(expected).mean())
        assert np.all(np.abs(got - expected) <= REGRESSION_RTOL * scale)


CASES = {
    "logistic-regression-binary": (LogisticRegression(max_iter=1000), X_CLS, Y_CLS, "double"),
    "logistic-regression-iris": (LogisticRegression(max_iter=1000), *load_iris(return_X_y=True),
                                 "double"),
    "linear-regression": (LinearRegression(), X_REG, Y_REG, "double"),
    "ridge-diabetes": (Ridge(alpha=0.5), *load_diabetes(return_X_y=True), "double"),
    "random-forest-classifier": (RandomForestClassifier(60, random_state=0), X_CLS, Y_CLS,
                                 "float"),
    "random-forest-regressor": (RandomForestRegressor(30, max_depth=10, random_state=0), X_REG,
                                Y_REG, "float"),
    "gradient-boosting-classifier": (GradientBoostingClassifier(random_state=0), X_CLS, Y_CLS,
                                     "float"),
    "gradient-boosting-regressor": (GradientBoostingRegressor(random_state=0), X_REG, Y_REG,
                                    "float"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_supported_models_are_compiled_and_answer_like_sklearn(case):
    estimator, X, y, precision = CASES[case]
    model = estimator.fit(X, y)
    runtime = compile_estimator(model, validation_rows=ROWS)
    check = runtime.selection["onnx_check"]
    assert runtime.kind == "onnx", runtime.selection["runtime_fallback_reason"]
    assert runtime.precision == precision
    assert runtime.selection["runtime_fallback"] is None
    report = check["candidates"][precision]
    assert report["result"] == "exact" and report["label_mismatches"] == 0
    assert report["rows"] >= ROWS  # every random row plus the edge rows
    _assert_same_answers(runtime, model, _held_out(X))
    _assert_same_answers(runtime, model, X[:200])


@pytest.mark.parametrize(
    "estimator", [HistGradientBoostingClassifier, HistGradientBoostingRegressor]
)
def test_histogram_gradient_boosting_is_served_with_sklearns_answers(estimator):
    """skl2onnx 1.20 cannot build these graphs with scikit-learn 1.9: the fallback must say so."""
    classifier = estimator is HistGradientBoostingClassifier
    X, y = (X_CLS, Y_CLS) if classifier else (X_REG, Y_REG)
    model = estimator(max_iter=30, random_state=0).fit(X, y)
    runtime = compile_estimator(model, validation_rows=ROWS)
    if runtime.kind == "sklearn":
        assert runtime.selection["runtime_fallback"] == "unsupported"
        assert estimator.__name__ in runtime.selection["runtime_fallback_reason"]
    _assert_same_answers(runtime, model, _held_out(X))


def _customer_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 12, rows).round(1),
            "income": rng.lognormal(10.5, 0.4, rows).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
        }
    )


@pytest.fixture(scope="module")
def customer_pipeline():
    """StandardScaler + OneHotEncoder (in a ColumnTransformer) + LogisticRegression."""
    frame = _customer_frame(1200, 3)
    churn = ((frame.age < 35) ^ (frame.plan == "basic") ^ (frame.income > 40_000)).astype(int)
    prep = ColumnTransformer(
        [
            ("numbers", StandardScaler(), ["age", "income"]),
            ("categories", OneHotEncoder(handle_unknown="error"), ["plan", "region"]),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=1000))]).fit(
        frame, churn
    )


def _object_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows as the server hands them over for a model fit on a DataFrame."""
    return frame.to_numpy(dtype=object)


def test_pipeline_with_scaler_and_one_hot_encoder_is_compiled(customer_pipeline):
    runtime = compile_estimator(customer_pipeline, validation_rows=ROWS)
    assert runtime.kind == "onnx", runtime.selection["runtime_fallback_reason"]
    sources = runtime.selection["onnx_check"]["sample"]["sources"]
    assert "encoder categories" in sources and "StandardScaler" in sources
    frame = _customer_frame(300, 99)
    rows = _object_rows(frame)
    np.testing.assert_array_equal(runtime.predict(rows), customer_pipeline.predict(frame))
    np.testing.assert_allclose(
        runtime.predict_proba(rows), customer_pipeline.predict_proba(frame), atol=PROBA_ATOL
    )
    assert runtime.delegated_rows == 0


def test_unknown_category_gets_sklearns_own_error(customer_pipeline):
    runtime = compile_estimator(customer_pipeline, validation_rows=ROWS)
    rows = _object_rows(_customer_frame(2, 5))
    rows[1, 2] = "platinum"
    before = runtime.delegated_rows
    with pytest.raises(ValueError, match="platinum"):
        runtime.predict(rows)
    assert runtime.delegated_rows - before == 2


def test_unsupported_estimator_falls_back_with_the_reason():
    model = KernelRidge(alpha=1.0).fit(X_REG[:300], Y_REG[:300])
    runtime = compile_estimator(model, validation_rows=ROWS)
    assert runtime.kind == "sklearn"
    selection = runtime.selection
    assert selection["runtime_requested"] == "auto"
    assert selection["runtime_fallback"] == "unsupported"
    assert "KernelRidge" in selection["runtime_fallback_reason"]
    assert "skl2onnx" in selection["runtime_fallback_reason"]
    np.testing.assert_array_equal(runtime.predict(X_REG[:50]), model.predict(X_REG[:50]))


def test_runtime_onnx_refuses_a_model_it_cannot_serve():
    model = KernelRidge().fit(X_REG[:200], Y_REG[:200])
    with pytest.raises(ArtifactError, match=r"runtime onnx: .*KernelRidge.*refusing to start"):
        compile_estimator(model, mode="onnx", validation_rows=ROWS)


def test_runtime_onnx_serves_a_model_that_passes():
    model = LogisticRegression(max_iter=1000).fit(X_CLS, Y_CLS)
    runtime = compile_estimator(model, mode="onnx", validation_rows=ROWS)
    assert runtime.kind == "onnx" and runtime.selection["runtime_requested"] == "onnx"


def test_runtime_sklearn_never_converts(tmp_path):
    artifact = tmp_path / "model.joblib"
    joblib.dump(RandomForestClassifier(10, random_state=0).fit(X_CLS, Y_CLS), artifact)
    reference = SklearnRuntime(artifact, sha256_of(artifact))
    reference.load()
    runtime = compile_runtime(reference, CompileOptions(mode="sklearn"), artifact)
    assert runtime is reference and runtime.kind == "sklearn"
    assert "onnx_check" not in runtime.metadata()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.joblib"]


def test_missing_values_are_answered_by_sklearn():
    """A forest routes NaN itself; a logistic regression refuses it. Both stay sklearn's."""
    forest = RandomForestClassifier(20, random_state=0).fit(X_CLS, Y_CLS)
    compiled = compile_estimator(forest, validation_rows=ROWS)
    rows = X_CLS[:4].copy()
    rows[1, 3] = np.nan
    before = compiled.delegated_rows
    np.testing.assert_array_equal(compiled.predict(rows), forest.predict(rows))
    assert compiled.delegated_rows - before == 4
    linear = compile_estimator(
        LogisticRegression(max_iter=1000).fit(X_CLS, Y_CLS), validation_rows=ROWS
    )
    with pytest.raises(ValueError, match="NaN"):
        linear.predict(rows)


def test_float64_forest_graph_flips_decisions_the_validation_finds():
    """Why forests are compiled in float32: the float64 graph keeps float32 thresholds but no
    longer rounds x as scikit-learn does, and rows at the split edges expose it."""
    forest = RandomForestClassifier(40, random_state=0).fit(X_CLS, Y_CLS)
    runtime = compile_estimator(forest, validation_rows=ROWS)
    layout = input_layout(forest, X_CLS.shape[1], None)
    reference = runtime.reference
    rows = tree_edge_rows(trees_of(forest), X_CLS[:64], 40_000, np.random.default_rng(0))
    verdicts = {}
    for precision in ("double", "float"):
        compiled = OnnxRuntime(
            reference, open_session(convert(forest, layout, precision)), layout, precision
        )
        expected = forest.predict(rows)
        compiled.match_reference(expected)
        got = compiled.run(rows)
        agreement = Agreement()
        agreement.add((expected, None), (got[0], None), classifier=True)
        verdicts[precision] = agreement.label_mismatches
    assert verdicts["float"] == 0
    assert verdicts["double"] > 0


def test_agreement_tolerance_and_ties():
    classes = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.6, 0.4]])
    agreement = Agreement()
    agreement.add((classes, proba), (classes, proba + 5e-6), classifier=True)
    assert agreement.exact and agreement.rows == 4
    agreement.add((classes, proba), (classes, proba + 5e-5), classifier=True, offset=4)
    assert not agreement.exact and "probabilities differ" in agreement.problem()
    ties = Agreement()
    margin = np.array([0.8, 0.6, 1e-15, 0.2])
    ties.add((classes, None), (np.array([0, 1, 0, 0]), None), True, margin=margin)
    assert ties.exact and ties.near_ties == 1
    ties.add((classes, None), (np.array([1, 1, 1, 0]), None), True, offset=4, margin=margin)
    assert ties.label_mismatches == 1 and "row 4" in ties.problem()
    values = Agreement()
    values.add((np.array([100.0, -0.0001]), None), (np.array([100.0001, 0.0]), None), False)
    assert values.exact  # the near-zero output is judged against the outputs' usual size
    values.add((np.array([100.0, 1.0]), None), (np.array([100.1, 1.0]), None), False)
    assert not values.exact


def _save(directory, model):
    directory.mkdir()
    artifact = directory / "model.joblib"
    joblib.dump(model, artifact)
    return artifact


def _load(artifact, **options):
    reference = SklearnRuntime(artifact, sha256_of(artifact))
    reference.load()
    return compile_runtime(reference, CompileOptions(validation_rows=ROWS, **options), artifact)


def _cache_report(runtime) -> dict:
    return runtime.selection["onnx_check"]["candidates"]["float"]


def test_a_cached_graph_is_reused_only_when_its_digest_is_trusted(tmp_path):
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X_CLS, Y_CLS)
    artifact = _save(tmp_path / "m", model)
    first = _load(artifact)
    assert _cache_report(first)["cache"] == "miss"
    [graph] = artifact.parent.glob("model.joblib.*.onnx")
    digest = _cache_report(first)["onnx_sha256"]
    assert sha256_of(graph) == digest
    manifest = json.loads(graph.with_name(graph.name + ".json").read_text())
    assert manifest["key"]["artifact_sha256"] == sha256_of(artifact)
    assert {"scikit-learn", "skl2onnx", "onnxruntime"} <= set(manifest["key"]["libraries"])
    # the file and its manifest are not evidence: without a trusted digest it is converted again
    # (and written again: conversions need not be byte-identical, so take the new digest)
    untrusted = _load(artifact)
    assert _cache_report(untrusted)["cache"] == "untrusted"
    digest = _cache_report(untrusted)["onnx_sha256"]
    assert sha256_of(graph) == digest
    second = _load(artifact, trusted_graphs=frozenset({digest}))
    assert _cache_report(second)["cache"] == "hit"
    assert _cache_report(second)["onnx_sha256"] == digest
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    third = _load(artifact, trusted_graphs=frozenset({digest}))
    assert third.kind == "onnx"
    assert _cache_report(third)["cache"] == "untrusted"
    assert graph.read_bytes() != bytes(data)
    _assert_same_answers(third, model, X_CLS[:100])


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path):
    key = cache_key("ab" * 32, "double", "matrix:3")
    gone = tmp_path / "no-such-directory" / "model.joblib"
    assert write_cached(gone, key, b"graph") is False
    assert read_cached(gone, key, frozenset()) == (None, "miss")


def test_training_baseline_next_to_the_artifact_is_used(tmp_path):
    frame = pd.DataFrame(X_CLS, columns=[f"f{i}" for i in range(X_CLS.shape[1])])
    model = RandomForestClassifier(20, random_state=0).fit(frame, Y_CLS)
    artifact = _save(tmp_path / "trained", model)
    baseline = build_baseline("classification", frame, pd.Series(Y_CLS, name="y"), seed=1)
    (artifact.parent / "baseline.json").write_text(json.dumps(baseline))
    runtime = _load(artifact, cache=False)
    sample = runtime.selection["onnx_check"]["sample"]
    assert sample["sources"] == ["baseline.json"]
    assert sample["baseline_rows"] == len(baseline["sample"]["rows"])
    assert runtime.kind == "onnx"


def test_unreadable_baseline_is_named_and_the_models_statistics_are_used(tmp_path):
    artifact = _save(tmp_path / "bad", LogisticRegression(max_iter=500).fit(X_CLS, Y_CLS))
    (artifact.parent / "baseline.json").write_text("{not json")
    runtime = _load(artifact, cache=False)
    notes = runtime.selection["onnx_check"]["notes"]
    assert any("baseline.json" in note and "unreadable" in note for note in notes)
    assert runtime.kind == "onnx"
