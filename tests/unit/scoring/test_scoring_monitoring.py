"""Monitoring in the scoring server: the live window against the trainer's baseline.json,
x-request-id on every prediction, POST /feedback, GET /monitoring and the exported metrics.
Servers run for real on loopback; expected figures are computed with numpy on the same rows."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import numpy as np
import pandas as pd
import pytest
import requests
from modelserve_api.monitoring_report import MonitoringReport
from modelserve_scoring.monitoring import Monitoring, load_baseline
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime
from modelserve_scoring.settings import ScoringSettings
from modelserve_scoring.train.baseline import build_baseline
from prometheus_client.parser import text_string_to_metric_families
from scoring_helpers import SCORING_CLI, sha256_of
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge

if TYPE_CHECKING:
    from conftest import ScoringServer

IRIS_WINDOW = 40
IRIS_FEEDBACK_WINDOW = 6


# --- fixtures -------------------------------------------------------------------------------


def _model_dir(root: Path, estimator: object, baseline: dict | None) -> tuple[Path, str]:
    root.mkdir(parents=True)
    artifact = root / "model.joblib"
    joblib.dump(estimator, artifact)
    if baseline is not None:
        (root / "baseline.json").write_text(json.dumps(baseline))
    return root, sha256_of(artifact)


@pytest.fixture(scope="module")
def iris_data():
    frame, target = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=1000).fit(frame.to_numpy(), target.to_numpy())
    return frame, target, model


@pytest.fixture(scope="module")
def iris_baseline(iris_data) -> dict:
    frame, target, _ = iris_data
    return build_baseline("classification", frame, target, seed=7)


def _start(start_module_server, directory: Path, sha: str, **settings) -> ScoringServer:
    # the scikit-learn runtime starts fastest; monitoring sits after any runtime's predict
    return start_module_server(
        model_dir=directory, artifact_sha256=sha, runtime="sklearn", **settings
    )


@pytest.fixture(scope="module")
def iris_monitored(
    start_module_server, tmp_path_factory, iris_data, iris_baseline
) -> ScoringServer:
    """A classifier with its baseline next to it (positional columns: fit on an array)."""
    directory, sha = _model_dir(
        tmp_path_factory.mktemp("iris-mon") / "model", iris_data[2], iris_baseline
    )
    return _start(
        start_module_server,
        directory,
        sha,
        model_name="iris",
        model_version="4",
        deployment_name="blue",
        monitor_window_rows=IRIS_WINDOW,
        feedback_window=IRIS_FEEDBACK_WINDOW,
    )


@pytest.fixture(scope="module")
def diabetes_data():
    frame, target = load_diabetes(return_X_y=True, as_frame=True)
    return frame, target, Ridge(alpha=0.5).fit(frame, target)


@pytest.fixture(scope="module")
def diabetes_monitored(start_module_server, tmp_path_factory, diabetes_data) -> ScoringServer:
    """A regressor fit on a DataFrame; its baseline lists the features in reverse order, so
    they must be matched to the model's columns by name."""
    frame, target, model = diabetes_data
    baseline = build_baseline("regression", frame[frame.columns[::-1]], target, seed=3)
    directory, sha = _model_dir(tmp_path_factory.mktemp("diabetes-mon") / "model", model, baseline)
    return _start(
        start_module_server, directory, sha, model_name="diabetes", deployment_name="green"
    )


@pytest.fixture(scope="module")
def iris_unmonitored(start_module_server, tmp_path_factory, iris_data) -> ScoringServer:
    """No baseline.json, and only half of the rows sampled into the window."""
    directory, sha = _model_dir(tmp_path_factory.mktemp("iris-plain") / "model", iris_data[2], None)
    return _start(
        start_module_server,
        directory,
        sha,
        model_name="iris",
        deployment_name="canary",
        monitor_sample_rate=0.5,
        monitor_window_rows=100_000,
    )


# --- helpers --------------------------------------------------------------------------------


def score(server: ScoringServer, rows, headers=None) -> requests.Response:
    response = requests.post(
        server.url + "/score", json={"data": np.asarray(rows).tolist()}, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    return response


def v2_infer(server: ScoringServer, model: str, rows, headers=None, **extra) -> requests.Response:
    rows = np.asarray(rows, dtype=np.float64)
    body = {
        "inputs": [
            {"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": rows.tolist()}
        ],
        **extra,
    }
    response = requests.post(
        f"{server.url}/v2/models/{model}/infer", json=body, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    return response


def v1_predict(server: ScoringServer, model: str, rows, headers=None) -> requests.Response:
    response = requests.post(
        f"{server.url}/v1/models/{model}:predict",
        json={"instances": np.asarray(rows).tolist()},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def monitoring(server: ScoringServer) -> dict:
    """GET /monitoring, checked against the contract the operator reads it with."""
    response = requests.get(server.url + "/monitoring", timeout=10)
    assert response.status_code == 200, response.text
    MonitoringReport.model_validate(response.json())
    return response.json()


def feedback(server: ScoringServer, body) -> requests.Response:
    if isinstance(body, bytes):
        return requests.post(server.url + "/feedback", data=body, timeout=10)
    return requests.post(server.url + "/feedback", json=body, timeout=10)


def metric_samples(server: ScoringServer) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics keyed by (name, sorted labels)."""
    text = requests.get(server.metrics_url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: dict, name: str, **labels: str) -> float | None:
    found = [
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and labels.items() <= dict(sample_labels).items()
    ]
    assert len(found) <= 1, f"{name}{labels} is ambiguous: {found}"
    return found[0] if found else None


def expected_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    bins = np.searchsorted(np.asarray(edges[1:-1]), values, side="right")
    return np.bincount(bins, minlength=len(edges) - 1).tolist()


def psi(expected, actual) -> float:
    e = np.maximum(np.asarray(expected) / np.sum(expected), 1e-4)
    a = np.maximum(np.asarray(actual) / np.sum(actual), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def shifted_iris_rows(frame: pd.DataFrame, count: int, seed: int) -> np.ndarray:
    """Iris rows, some pushed outside the training range so the outer bins and the
    under/overflow counts are exercised."""
    rng = np.random.default_rng(seed)
    rows = frame.to_numpy()[rng.choice(len(frame), count)]
    rows[::3, 2] *= 3.0  # petal length far above the training maximum
    rows[1::4, 0] -= 10.0  # sepal length below the training minimum
    return rows


# --- the live window --------------------------------------------------------------------------


def test_window_holds_the_last_rows_scored_binned_as_numpy_bins_them(
    iris_monitored, iris_data, iris_baseline
):
    frame = iris_data[0]
    rows = shifted_iris_rows(frame, 55, seed=1)
    # all three protocols feed the window; 55 rows > the 40-row window: the oldest drop out
    score(iris_monitored, rows[:20])
    v2_infer(iris_monitored, "iris", rows[20:35])
    v1_predict(iris_monitored, "iris", rows[35:])
    window = rows[-IRIS_WINDOW:]

    doc = monitoring(iris_monitored)
    assert doc["deployment"] == "blue"
    assert doc["model"] == {"name": "iris", "version": "4"}
    assert doc["rows"] == IRIS_WINDOW
    assert doc["baseline"] is True
    assert [f["name"] for f in doc["features"]] == list(frame.columns)
    for column, (feature, base) in enumerate(
        zip(doc["features"], iris_baseline["features"], strict=True)
    ):
        values = window[:, column]
        edges = base["histogram"]["edges"]
        assert feature["edges"] == edges
        assert feature["baselineCounts"] == base["histogram"]["counts"]
        assert feature["liveCounts"] == expected_counts(values, edges), feature["name"]
        assert feature["underflow"] == int((values < edges[0]).sum())
        assert feature["overflow"] == int((values > edges[-1]).sum())
        # fewer rows than the sample bound: the live sample is the whole window
        assert sorted(feature["liveSample"]) == sorted(values.tolist())
        sample = iris_baseline["sample"]
        assert feature["baselineSample"] == [row[column] for row in sample["rows"]]
    shifted = doc["features"][2]
    assert shifted["overflow"] > 0 and doc["features"][0]["underflow"] > 0


def test_metrics_export_window_rows_and_psi_against_the_baseline(iris_monitored, iris_data):
    score(iris_monitored, shifted_iris_rows(iris_data[0], IRIS_WINDOW, seed=2))
    doc = monitoring(iris_monitored)
    samples = metric_samples(iris_monitored)
    ids = {"model": "iris", "version": "4", "deployment": "blue"}
    assert metric(samples, "modelserve_monitor_window_rows", **ids) == IRIS_WINDOW
    for feature in doc["features"]:
        exported = metric(samples, "modelserve_feature_psi", feature=feature["name"], **ids)
        expected = psi(feature["baselineCounts"], feature["liveCounts"])
        assert exported == pytest.approx(expected, rel=1e-9), feature["name"]
        assert feature["psi"] == pytest.approx(expected, rel=1e-9)
    # petal length tripled on a third of the rows is a large shift; an untouched feature is not
    by_name = {f["name"]: f["psi"] for f in doc["features"]}
    assert by_name["petal length (cm)"] > 0.25
    assert by_name["sepal width (cm)"] < by_name["petal length (cm)"]
    assert "monitoring could not record" not in iris_monitored.log()


def test_features_are_matched_to_columns_by_name(diabetes_monitored, diabetes_data):
    frame, _, _ = diabetes_data
    rows = frame.to_numpy()[:60]
    score(diabetes_monitored, rows)
    doc = monitoring(diabetes_monitored)
    assert doc["baseline"] is True and doc["rows"] == 60
    assert [f["name"] for f in doc["features"]] == list(frame.columns[::-1])
    for feature in doc["features"]:
        values = frame[feature["name"]].to_numpy()[:60]
        assert feature["liveCounts"] == expected_counts(values, feature["edges"]), feature["name"]


def test_without_a_baseline_only_rows_are_counted_and_sampled(iris_unmonitored, iris_data):
    rows = iris_data[0].to_numpy()
    for start in range(0, 400, 20):
        score(iris_unmonitored, rows[start % 140 : start % 140 + 20])
    doc = monitoring(iris_unmonitored)
    assert doc["baseline"] is False and doc["features"] == []
    assert doc["sampleRate"] == 0.5
    # 400 rows sampled at 0.5: binomial, mean 200 and standard deviation 10
    assert 120 <= doc["rows"] <= 280
    samples = metric_samples(iris_unmonitored)
    assert metric(samples, "modelserve_monitor_window_rows", deployment="canary") == doc["rows"]
    assert metric(samples, "modelserve_feature_psi", deployment="canary") is None
    # no feedback yet: no accuracy series rather than a made-up value
    assert metric(samples, "modelserve_rolling_accuracy", deployment="canary") is None
    assert doc["performance"] == {
        "task": "classification",
        "feedbackRows": 0,
        "accuracy": None,
        "mae": None,
        "rmse": None,
    }


def test_sample_rate_zero_keeps_nothing_and_one_keeps_everything(iris_data):
    _, _, model = iris_data
    rows = iris_data[0].to_numpy()[:30]
    runtime = SklearnRuntime.from_estimator(model)
    for rate, expected in ((0.0, 0), (1.0, 30)):
        mon = Monitoring(ScoringSettings(monitor_sample_rate=rate))
        mon.attach(runtime, None)
        for start in range(0, 30, 3):
            mon.record(f"r{start}", rows[start : start + 3], model.predict(rows[:3]), None, None)
        assert mon.document()["rows"] == expected
        # feedback does not depend on sampling: every prediction is remembered
        assert len(mon.memory) == 10


def test_ring_window_equals_the_last_rows_for_any_batch_sizes(iris_data, iris_baseline, tmp_path):
    """Many batch sizes wrapping around the ring: the window is always the newest rows."""
    model = iris_data[2]
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(iris_baseline))
    mon = Monitoring(ScoringSettings(monitor_window_rows=37, baseline_path=path))
    mon.attach(SklearnRuntime.from_estimator(model), None)
    rng = np.random.default_rng(5)
    seen = []
    for size in rng.integers(1, 50, size=40):
        batch = rng.normal(5, 2, size=(size, 4))
        mon.record(uuid.uuid4().hex, batch, np.zeros(size), None, None)
        seen.append(batch)
        window = np.concatenate(seen)[-37:]
        doc = mon.document()
        assert doc["rows"] == len(window)
        for column, feature in enumerate(doc["features"]):
            assert feature["liveCounts"] == expected_counts(window[:, column], feature["edges"])


def test_a_baseline_for_another_model_is_refused_by_name(iris_data, iris_baseline, tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({**iris_baseline, "features": iris_baseline["features"][:3]}))
    mon = Monitoring(ScoringSettings(baseline_path=path))
    mon.attach(SklearnRuntime.from_estimator(iris_data[2]), None)
    doc = mon.document()
    assert doc["baseline"] is False
    assert "describes 3 features but the model takes 4" in doc["baselineProblem"]
    with pytest.raises(ValueError, match="not valid JSON"):
        path.write_text("{")
        load_baseline(path, 4, None)


# --- x-request-id -------------------------------------------------------------------------------


def _is_generated_id(value: str) -> bool:
    """128 random bits in 32 lower-case hexadecimal characters, as nginx's $request_id."""
    return re.fullmatch("[0-9a-f]{32}", value) is not None


def test_every_prediction_route_echoes_or_generates_a_request_id(iris_monitored, iris_data):
    row = iris_data[0].to_numpy()[:1]
    calls = [
        lambda h: score(iris_monitored, row, h),
        lambda h: v2_infer(iris_monitored, "iris", row, h),
        lambda h: v1_predict(iris_monitored, "iris", row, h),
    ]
    generated = set()
    for call in calls:
        assert call({"x-request-id": "client-42"}).headers["x-request-id"] == "client-42"
        new = call(None).headers["x-request-id"]
        assert _is_generated_id(new)
        generated.add(new)
    assert len(generated) == 3
    # v2's own "id" names the request when there is no header
    answer = v2_infer(iris_monitored, "iris", row, None, id="v2-body-id")
    assert answer.headers["x-request-id"] == "v2-body-id" and answer.json()["id"] == "v2-body-id"
    # errors carry one too, and an unusable id is refused by name
    bad = requests.post(iris_monitored.url + "/score", data=b"{", timeout=10)
    assert bad.status_code == 400 and _is_generated_id(bad.headers["x-request-id"])
    too_long = requests.post(
        iris_monitored.url + "/score",
        json={"data": row.tolist()},
        headers={"x-request-id": "x" * 200},
        timeout=10,
    )
    assert too_long.status_code == 400 and "x-request-id" in too_long.json()["error"]


# --- feedback -----------------------------------------------------------------------------------


def test_feedback_gives_a_rolling_accuracy(iris_monitored, iris_data):
    frame, _, model = iris_data
    rows = frame.to_numpy()[[0, 60, 120, 10, 70, 130, 20, 80]]
    predicted = model.predict(rows)
    outcomes: list[int] = []
    before = metric_samples(iris_monitored)
    total_before = metric(before, "modelserve_feedback_total", deployment="blue") or 0

    # four rows, one labelled differently from the prediction
    first = score(iris_monitored, rows[:4]).headers["x-request-id"]
    labels = predicted[:4].tolist()
    labels[2] = (labels[2] + 1) % 3
    answer = feedback(iris_monitored, {"requestId": first, "labels": labels})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"matched": 4}
    outcomes += [1, 1, 0, 1]
    assert monitoring(iris_monitored)["performance"]["accuracy"] == pytest.approx(0.75)

    # one row whose caller asked only for probabilities; feedback in the one-row form
    second = v2_infer(
        iris_monitored, "iris", rows[4:5], {"x-request-id": "one-row"},
        outputs=[{"name": "predict_proba"}],
    )  # fmt: skip
    assert [o["name"] for o in second.json()["outputs"]] == ["predict_proba"]
    answer = feedback(iris_monitored, {"requestId": "one-row", "label": int(predicted[4])})
    assert answer.json() == {"matched": 1}
    outcomes += [1]

    # three rows all wrong: the 6-row window now holds only the newest outcomes
    third = v1_predict(iris_monitored, "iris", rows[5:]).headers["x-request-id"]
    wrong = [(int(p) + 1) % 3 for p in predicted[5:]]
    assert feedback(iris_monitored, {"requestId": third, "labels": wrong}).json() == {"matched": 3}
    outcomes += [0, 0, 0]

    expected = np.mean(outcomes[-IRIS_FEEDBACK_WINDOW:])
    performance = monitoring(iris_monitored)["performance"]
    assert performance == {
        "task": "classification",
        "feedbackRows": IRIS_FEEDBACK_WINDOW,
        "accuracy": pytest.approx(expected),
        "mae": None,
        "rmse": None,
    }
    samples = metric_samples(iris_monitored)
    assert metric(samples, "modelserve_rolling_accuracy", deployment="blue") == pytest.approx(
        expected
    )
    assert metric(samples, "modelserve_feedback_total", deployment="blue") == total_before + 8
    assert metric(samples, "modelserve_rolling_error", deployment="blue") is None


def test_feedback_for_a_regressor_gives_mae_and_rmse(diabetes_monitored, diabetes_data):
    frame, target, model = diabetes_data
    rows = frame.iloc[100:130]
    request_id = score(diabetes_monitored, rows.to_numpy()).headers["x-request-id"]
    labels = target.iloc[100:130].tolist()
    answer = feedback(diabetes_monitored, {"requestId": request_id, "labels": labels})
    assert answer.json() == {"matched": 30}
    errors = np.asarray(labels) - model.predict(rows)
    performance = monitoring(diabetes_monitored)["performance"]
    assert performance["task"] == "regression" and performance["accuracy"] is None
    assert performance["feedbackRows"] == 30
    assert performance["mae"] == pytest.approx(np.abs(errors).mean(), rel=1e-9)
    assert performance["rmse"] == pytest.approx(np.sqrt(np.square(errors).mean()), rel=1e-9)
    samples = metric_samples(diabetes_monitored)
    assert metric(samples, "modelserve_rolling_error", kind="mae") == pytest.approx(
        performance["mae"]
    )
    assert metric(samples, "modelserve_rolling_error", kind="rmse") == pytest.approx(
        performance["rmse"]
    )
    assert metric(samples, "modelserve_rolling_accuracy") is None
    assert "monitoring could not record" not in diabetes_monitored.log()
    # a regressor's labels are numbers
    other = score(diabetes_monitored, rows.to_numpy()[:2]).headers["x-request-id"]
    refused = feedback(diabetes_monitored, {"requestId": other, "labels": [100.0, "high"]})
    assert refused.status_code == 422 and "labels[1]" in refused.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"labels": [1]}, 422, ["requestId", "missing"]),
        ({"requestId": 7, "labels": [1]}, 422, ["requestId", "string"]),
        ({"requestId": "{known}"}, 422, ["labels", "missing"]),
        ({"requestId": "{known}", "labels": []}, 422, ["labels", "non-empty list"]),
        ({"requestId": "{known}", "labels": [0, 1]}, 422, ["labels has 2 values", "3 rows"]),
        ({"requestId": "{known}", "labels": [0, None, 1]}, 422, ["labels[1] is null"]),
        ({"requestId": "{known}", "labels": [0, [1], 1]}, 422, ["labels[1]"]),
        ({"requestId": "{known}", "label": 0}, 422, ["label gives one row", "3 rows"]),
        ({"requestId": "{known}", "label": 0, "labels": [0]}, 422, ['"label"', "not both"]),
        ({"requestId": "never-seen", "labels": [0]}, 404, ["'never-seen'", "unknown"]),
        (b"[1, 2]", 400, ["JSON object"]),
        (b"{nope", 400, ["malformed JSON"]),
    ],
)
def test_bad_feedback_is_refused_naming_the_field(iris_monitored, iris_data, body, status, words):
    rows = iris_data[0].to_numpy()[:3]
    known = score(iris_monitored, rows).headers["x-request-id"]
    if isinstance(body, dict) and body.get("requestId") == "{known}":
        body = {**body, "requestId": known}
    answer = feedback(iris_monitored, body)
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    for word in words:
        assert word in message
    # a refused feedback is not recorded: correct labels for the request still match once
    good = {"requestId": known, "labels": iris_data[2].predict(rows).tolist()}
    assert feedback(iris_monitored, good).json() == {"matched": 3}
    again = feedback(iris_monitored, good)
    assert again.status_code == 409 and known in again.json()["error"]


# --- baseline.json reaches the pod ------------------------------------------------------------


def test_fetch_copies_the_baseline_next_to_the_artifact(tmp_path, iris_baseline, iris_data):
    source, sha = _model_dir(tmp_path / "claim" / "iris" / "4", iris_data[2], iris_baseline)
    without, sha_without = _model_dir(tmp_path / "claim" / "iris" / "5", iris_data[2], None)
    for directory, digest, dest in ((source, sha, "a"), (without, sha_without, "b")):
        result = subprocess.run(
            [
                str(SCORING_CLI), "fetch", "--uri", str(directory / "model.joblib"),
                "--sha256", digest, "--dest", str(tmp_path / dest),
                "--optional-file", "baseline.json",
            ],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "a" / "baseline.json").read_text()) == iris_baseline
    assert (tmp_path / "a" / "model.joblib").is_file()
    assert not (tmp_path / "b" / "baseline.json").exists()
    assert (tmp_path / "b" / "model.joblib").is_file()
