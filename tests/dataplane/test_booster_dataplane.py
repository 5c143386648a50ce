"""XGBoost and LightGBM deployments as the operator configures them, behind a real nginx router:
each answers /score and v2 infer as its own library does and reports the runtime it chose."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pytest
import requests
import tritonclient.http as triton
import xgboost as xgb
from dataplane_harness import (
    ScoringServer,
    backends,
    launch_scoring_server,
    pod_env,
    stop_processes,
    wait_ready,
)
from modelserve_operator.builders.router_config import PIN_HEADER
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytestmark = pytest.mark.nginx
ROWS = 60


@dataclass
class Deployment:
    """One booster model, as its Model object names it, and the estimator that trained it."""

    model_name: str
    version: str
    framework: str
    file_name: str
    estimator: Any
    #: what the runtime check decides (see docs/scoring-server.md#xgboost-and-lightgbm)
    runtime: str

    @property
    def classifier(self) -> bool:
        return hasattr(self.estimator, "predict_proba")


def _training_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 4))
    three = np.digitize(x[:, 0] - x[:, 2], [-0.5, 0.5])
    target = x @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(size=400)
    x[rng.random(x.shape) < 0.1] = np.nan  # the trees learn where missing values go
    return x, three, target


def _deployments() -> dict[str, Deployment]:
    x, three, target = _training_data()
    small = {"n_estimators": 12}
    return {
        # a canary: the same Model name, version 2 trained with the other library
        "xgb": Deployment(
            "churn", "1", "xgboost", "model.json",
            xgb.XGBClassifier(max_depth=3, **small).fit(x, three), "onnx",
        ),
        "lgbm": Deployment(
            "churn", "2", "lightgbm", "model.txt",
            lgb.LGBMClassifier(num_leaves=8, verbose=-1, **small).fit(x, three), "onnx",
        ),
        "xgb-pipe": Deployment(
            "price", "1", "xgboost", "model.joblib",
            make_pipeline(StandardScaler(), xgb.XGBRegressor(max_depth=3, **small)).fit(x, target),
            "onnx",
        ),
        "lgbm-pipe": Deployment(
            "price", "2", "lightgbm", "model.joblib",
            make_pipeline(StandardScaler(), lgb.LGBMRegressor(verbose=-1, **small)).fit(x, target),
            "onnx",
        ),
    }  # fmt: skip


def _save(deployment: Deployment, directory: Path) -> Path:
    """Write the model as a user would: the library's own file, or the estimator joblib'd."""
    directory.mkdir(parents=True)
    artifact = directory / deployment.file_name
    if deployment.file_name == "model.json":
        deployment.estimator.save_model(artifact)
    elif deployment.file_name == "model.txt":
        deployment.estimator.booster_.save_model(artifact)
    else:
        joblib.dump(deployment.estimator, artifact)
    return artifact


def _model_object(deployment: Deployment, artifact: Path) -> dict[str, Any]:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": f"{deployment.model_name}-{deployment.version}", "uid": "m-uid"},
        "spec": {
            "modelName": deployment.model_name,
            "version": deployment.version,
            "framework": deployment.framework,
            "artifact": {
                "uri": f"pvc://models/{deployment.model_name}/{artifact.name}",
                "sha256": hashlib.sha256(artifact.read_bytes()).hexdigest(),
            },
        },
    }


@pytest.fixture(scope="module")
def deployments() -> dict[str, Deployment]:
    return _deployments()


@pytest.fixture(scope="module")
def booster_servers(
    deployments: dict[str, Deployment], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ScoringServer]]:
    """One scoring server per deployment, started with the env the operator gives its pod."""
    root = tmp_path_factory.mktemp("boosters")
    servers: dict[str, ScoringServer] = {}
    try:
        for index, (name, deployment) in enumerate(deployments.items()):
            artifact = _save(deployment, root / name)
            env = pod_env(_model_object(deployment, artifact), name, artifact.parent)
            # pods check 100,000 random rows; the fewest allowed keeps the start quick here
            env["MODELSERVE_ONNX_VALIDATION_ROWS"] = "1000"
            host = f"127.0.0.{21 + index}"
            servers[name] = launch_scoring_server(name, host, 0, env, root)
        wait_ready(servers.values())
        yield servers
    finally:
        stop_processes(server.process for server in servers.values())


def query_rows(seed: int, missing: bool = False) -> np.ndarray:
    """Rows to score; with `missing`, a tenth of the cells are NaN."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(ROWS, 4))
    if missing:
        rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows


def expect_library_answers(
    deployment: Deployment,
    tolerance: dict[str, float],
    rows: np.ndarray,
    predictions: Any,
    probabilities: Any = None,
) -> None:
    """The answers are the library's own on the same rows, within the server's tolerance."""
    model = deployment.estimator
    if deployment.classifier:
        np.testing.assert_array_equal(np.asarray(predictions), model.predict(rows))
        np.testing.assert_allclose(
            np.asarray(probabilities), model.predict_proba(rows), rtol=0,
            atol=tolerance["proba_atol"],
        )  # fmt: skip
        return
    expected = model.predict(rows)
    got = np.asarray(predictions, dtype=np.float64)
    # relative to the larger of each value and the mean magnitude, as the check measures it
    scale = np.maximum(np.abs(expected), np.abs(expected).mean())
    worst = float(np.max(np.abs(got - expected) / scale))
    assert worst <= tolerance["regression_rtol"], worst


def settled(server: ScoringServer, deployment: Deployment) -> dict[str, Any]:
    """The model's v2 metadata parameters once its runtime is chosen."""
    return server.settled_metadata(deployment.model_name)["parameters"]


@pytest.mark.parametrize("name", ["xgb", "lgbm", "xgb-pipe", "lgbm-pipe"])
def test_each_booster_reports_its_runtime_and_answers_as_its_library(
    booster_servers, deployments, name
):
    server, deployment = booster_servers[name], deployments[name]
    meta = settled(server, deployment)
    library = deployment.framework
    assert meta[f"{library}_version"] == {"xgboost": xgb, "lightgbm": lgb}[library].__version__
    assert meta["runtime"] == deployment.runtime, meta.get("runtime_fallback_reason")
    # XGBoost's float32 graph and LightGBM's float64 one both route NaN as their library does
    assert meta["onnx_check"]["missing_values"]["result"] == "exact"
    tolerance = meta["onnx_check"]["tolerance"]
    rows = query_rows(seed=1)

    body: dict[str, Any] = {"data": rows.tolist()}
    if deployment.classifier:
        body["probabilities"] = True
    response = requests.post(f"{server.url}/score", json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    if deployment.classifier:
        assert answer["classes"] == [0, 1, 2]
        expect_library_answers(
            deployment, tolerance, rows, answer["predictions"], answer["probabilities"]
        )
    else:
        assert all(isinstance(value, float) for value in answer)  # a number per row, no class
        expect_library_answers(deployment, tolerance, rows, answer)

    v2 = {
        "inputs": [{"name": "x", "shape": [ROWS, 4], "datatype": "FP64", "data": rows.tolist()}],
        "parameters": {"probabilities": deployment.classifier},
    }
    url = f"{server.url}/v2/models/{deployment.model_name}/infer"
    response = requests.post(url, json=v2, timeout=30)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    if deployment.classifier:
        assert set(outputs) == {"predict", "predict_proba"}
        proba = np.reshape(outputs["predict_proba"]["data"], outputs["predict_proba"]["shape"])
        expect_library_answers(deployment, tolerance, rows, outputs["predict"]["data"], proba)
    else:
        assert set(outputs) == {"predict"}
        # a number per row, of the library's own type (XGBoost regresses in float32)
        library_type = {"float32": "FP32", "float64": "FP64"}[
            str(deployment.estimator.predict(rows).dtype)
        ]
        assert outputs["predict"]["datatype"] == library_type
        assert meta["predict_proba"] is False
        expect_library_answers(deployment, tolerance, rows, outputs["predict"]["data"])


def _triton_infer(
    target: str, deployment: Deployment, name: str, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """v2 infer from tritonclient with binary FP64 tensors (NaN travels as it is), pinned to
    one deployment of the router."""
    client = triton.InferenceServerClient(url=target)
    try:
        tensor = triton.InferInput("x", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows)
        wanted = ["predict", "predict_proba"] if deployment.classifier else ["predict"]
        result = client.infer(
            deployment.model_name,
            [tensor],
            outputs=[triton.InferRequestedOutput(output) for output in wanted],
            headers={PIN_HEADER: name},
        )
    finally:
        client.close()
    proba = result.as_numpy("predict_proba") if deployment.classifier else None
    return result.as_numpy("predict"), proba


def test_a_split_between_an_xgboost_and_a_lightgbm_deployment_answers_each_as_its_library(
    booster_servers, deployments, start_router
):
    for name in ("xgb", "lgbm"):
        settled(booster_servers[name], deployments[name])  # both serve with their final runtime
    router = start_router(backends(booster_servers, xgb=50, lgbm=50))
    rows = query_rows(seed=2)
    answers: dict[str, list[dict]] = {"xgb": [], "lgbm": []}
    with requests.Session() as session:
        for _ in range(40):
            response = session.post(
                f"{router.url}/score?probabilities=true", json={"data": rows.tolist()}, timeout=30
            )
            assert response.status_code == 200, response.text
            answers[response.headers[PIN_HEADER]].append(response.json())
    # 40 calls at 50/50: each deployment takes some (all to one side: 1 chance in 2**39)
    assert all(answers.values()), {name: len(bodies) for name, bodies in answers.items()}
    for name, bodies in answers.items():
        tolerance = settled(booster_servers[name], deployments[name])["onnx_check"]["tolerance"]
        for body in bodies:
            expect_library_answers(
                deployments[name], tolerance, rows, body["predictions"], body["probabilities"]
            )
    # Missing values reach the trees through the router as binary FP64 NaN.
    with_nan = query_rows(seed=3, missing=True)
    target = router.url.removeprefix("http://")
    for name in ("xgb", "lgbm"):
        tolerance = settled(booster_servers[name], deployments[name])["onnx_check"]["tolerance"]
        predictions, proba = _triton_infer(target, deployments[name], name, with_nan)
        expect_library_answers(deployments[name], tolerance, with_nan, predictions, proba)
