"""The runtime setting through a real `modelserve-scoring serve`: what the server reports and
that its answers over HTTP are scikit-learn's."""

from __future__ import annotations

import json
import re
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import requests
from modelserve_api.runtime_report import RuntimeParameters
from scoring_helpers import sha256_of
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

PROBA_ATOL = 1e-5


def _save(directory, model):
    directory.mkdir(parents=True)
    artifact = directory / "model.joblib"
    joblib.dump(model, artifact)
    return artifact


def _runtime_metric(server) -> dict[str, str]:
    text = requests.get(server.metrics_url, timeout=10).text
    match = re.search(r"^modelserve_model_runtime\{([^}]*)\} 1\.0$", text, re.MULTILINE)
    assert match, text
    return dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))


def _v2(server, name, rows, probabilities=True):
    body = {
        "inputs": [
            {"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.tolist()}
        ],
        "parameters": {"probabilities": probabilities},
    }
    response = requests.post(f"{server.url}/v2/models/{name}/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    proba = outputs.get("predict_proba")
    if proba is not None:
        proba = np.array(proba["data"]).reshape(proba["shape"])
    return outputs["predict"]["data"], proba


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    X, y = make_classification(2000, 20, n_informative=10, random_state=20240601)
    model = RandomForestClassifier(100, random_state=20240601).fit(X, y)
    return _save(tmp_path_factory.mktemp("forest") / "model", model), model


def test_forest_served_by_onnx_runtime_gives_sklearns_probabilities(start_server, forest):
    artifact, model = forest
    server = start_server(
        model_dir=artifact.parent, artifact_sha256=sha256_of(artifact), model_name="forest"
    )
    metadata = server.settled_metadata("forest")
    reported = RuntimeParameters.from_metadata(metadata)  # what the operator copies
    assert (reported.runtime, reported.runtime_requested) == ("onnx", "auto")
    meta = metadata["parameters"]
    assert meta["onnx_precision"] == "float" and meta["runtime_fallback"] is None
    check = meta["onnx_check"]
    assert check["sample"]["random_rows"] == 100_000  # the default
    assert check["candidates"]["float"]["label_mismatches"] == 0
    assert check["candidates"]["float"]["rows"] > 100_000
    assert _runtime_metric(server) == {
        "deployment": "",
        "fallback": "",
        "model": "forest",
        "requested": "auto",
        "runtime": "onnx",
        "version": "1",
    }
    assert "serving with ONNX Runtime (float precision)" in server.log()
    rows = np.random.default_rng(5).normal(size=(64, 20)) * 1.5
    for batch in (rows[:1], rows):
        predictions, proba = _v2(server, "forest", batch)
        assert predictions == model.predict(batch).tolist()
        np.testing.assert_allclose(proba, model.predict_proba(batch), atol=PROBA_ATOL, rtol=0)
    # the graph was cached next to the artifact for the next start
    assert list(artifact.parent.glob("model.joblib.*.onnx"))


def test_runtime_sklearn_serves_the_same_rows_identically(start_server, forest):
    artifact, model = forest
    server = start_server(
        model_dir=artifact.parent,
        artifact_sha256=sha256_of(artifact),
        model_name="forest",
        runtime="sklearn",
    )
    meta = requests.get(server.url + "/v2/models/forest", timeout=10).json()["parameters"]
    assert meta["runtime"] == "sklearn" and meta["runtime_requested"] == "sklearn"
    assert "onnx_check" not in meta
    assert _runtime_metric(server)["runtime"] == "sklearn"
    rows = np.random.default_rng(5).normal(size=(8, 20))
    predictions, proba = _v2(server, "forest", rows)
    assert predictions == model.predict(rows).tolist()
    np.testing.assert_array_equal(proba, model.predict_proba(rows))


def test_unsupported_model_falls_back_and_says_why_everywhere(start_server, tmp_path):
    X, y = make_regression(300, 5, random_state=1)
    model = KernelRidge(alpha=0.5).fit(X, y)
    artifact = _save(tmp_path / "kr", model)
    server = start_server(model_dir=artifact.parent, artifact_sha256=sha256_of(artifact))
    meta = server.settled_metadata()["parameters"]
    assert meta["runtime"] == "sklearn" and meta["runtime_requested"] == "auto"
    assert meta["runtime_fallback"] == "unsupported"
    assert "KernelRidge" in meta["runtime_fallback_reason"]
    assert _runtime_metric(server)["fallback"] == "unsupported"
    assert re.search(r"WARNING .*serving with scikit-learn, not ONNX Runtime: .*KernelRidge",
                     server.log())  # fmt: skip
    predictions, _ = _v2(server, "model", X[:4], probabilities=False)
    np.testing.assert_array_equal(predictions, model.predict(X[:4]))


def test_runtime_onnx_refuses_to_start_when_the_check_fails(start_server, tmp_path):
    X, y = make_regression(200, 4, random_state=2)
    artifact = _save(tmp_path / "kr", KernelRidge().fit(X, y))
    server = start_server(
        wait_ready=False,
        model_dir=artifact.parent,
        artifact_sha256=sha256_of(artifact),
        runtime="onnx",
    )
    assert server.process.wait(timeout=120) == 1
    assert "runtime onnx: ONNX Runtime cannot serve this model exactly" in server.log()
    assert "KernelRidge" in server.log()


def test_invalid_runtime_setting_is_named(start_server, tmp_path):
    server = start_server(wait_ready=False, model_dir=tmp_path, runtime="tensorrt")
    assert server.process.wait(timeout=60) == 2
    assert "runtime: Input should be 'auto', 'sklearn' or 'onnx'" in server.log()


def test_pipeline_with_categories_over_score_matches_sklearn(start_server, tmp_path):
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, 800).round(1),
            "plan": rng.choice(["basic", "plus", "pro"], 800),
            "visits": rng.poisson(4, 800).astype(float),
        }
    )
    target = ((frame.age > 38) ^ (frame.plan == "pro")).astype(int)
    prep = ColumnTransformer(
        [("n", StandardScaler(), ["age", "visits"]), ("c", OneHotEncoder(), ["plan"])]
    )
    model = Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=1000))])
    model.fit(frame, target)
    artifact = _save(tmp_path / "pipe", model)
    server = start_server(model_dir=artifact.parent, artifact_sha256=sha256_of(artifact))
    meta = server.settled_metadata()["parameters"]
    assert meta["runtime"] == "onnx", meta["runtime_fallback_reason"]
    sample = frame.iloc[:20]
    body = {"input_data": {"columns": list(sample.columns), "data": sample.values.tolist()}}
    answer = requests.post(server.url + "/score?probabilities=true", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    answer = answer.json()
    assert answer["predictions"] == model.predict(sample).tolist()
    np.testing.assert_allclose(
        answer["probabilities"], model.predict_proba(sample), atol=PROBA_ATOL, rtol=0
    )
    unknown = {"input_data": {"columns": ["age", "plan", "visits"], "data": [[30, "gold", 2]]}}
    refused = requests.post(server.url + "/score", json=unknown, timeout=10)
    assert refused.status_code == 400 and "gold" in refused.json()["error"]


def test_nan_is_refused_as_sklearn_refuses_it(start_server, tmp_path):
    X, y = make_classification(500, 4, n_informative=3, n_redundant=0, random_state=3)
    artifact = _save(tmp_path / "lr", LogisticRegression().fit(X, y))
    server = start_server(model_dir=artifact.parent, artifact_sha256=sha256_of(artifact))
    meta = server.settled_metadata()["parameters"]
    assert meta["runtime"] == "onnx"
    rows = np.array([[0.1, 0.2, np.nan, 0.4]])
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 4],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ]
        }
    ).encode()
    response = requests.post(
        server.url + "/v2/models/model/infer",
        data=header + rows.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
        timeout=10,
    )
    assert response.status_code == 400 and "NaN" in response.json()["error"]


def test_scoring_script_can_use_the_compiled_model(start_server, tmp_path):
    X, y = make_classification(600, 6, n_informative=4, random_state=4)
    model = RandomForestClassifier(30, random_state=0).fit(X, y)
    artifact = _save(tmp_path / "script-model", model)
    script = tmp_path / "score.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os
            from pathlib import Path

            import joblib
            import numpy as np
            from modelserve_scoring.runtime import compile_estimator

            def init():
                global compiled
                path = Path(os.environ["MODELSERVE_MODEL_DIR"]) / "model.joblib"
                compiled = compile_estimator(joblib.load(path), validation_rows=5000)

            def run(raw_data):
                rows = np.array(json.loads(raw_data)["data"], dtype=np.float64)
                return {"runtime": compiled.kind, "predictions": compiled.predict(rows).tolist()}
            """
        )
    )
    server = start_server(
        model_dir=artifact.parent, artifact_sha256=sha256_of(artifact), scoring_script=script
    )
    answer = requests.post(server.url + "/score", json={"data": X[:10].tolist()}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"runtime": "onnx", "predictions": model.predict(X[:10]).tolist()}
