"""Shadow comparison on real processes: nginx mirrors live traffic to a candidate, every scoring
server ships its answers to a real `modelserve-scoring collect`, feedback goes to the collector."""

from __future__ import annotations

import hashlib
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from dataplane_harness import (
    SCORING_CLI,
    ScoringServer,
    backends,
    http_ok,
    launch_scoring_server,
    port_free_on,
    stop_process,
    stop_processes,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.nginx

ROWS = 100
ROWS_PER_REQUEST = 10
REQUESTS = 100


def _dataset() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(17)
    features = rng.normal(size=(ROWS, 4)).round(4)
    return features, (features[:, 0] + features[:, 1] > 0).astype(int)


def _save_tree(directory: Path, features: np.ndarray, labels: np.ndarray) -> tuple[Path, str]:
    """A fully grown tree: it answers every training row with its own label."""
    import joblib
    from sklearn.tree import DecisionTreeClassifier

    directory.mkdir(parents=True, exist_ok=True)
    artifact = directory / "model.joblib"
    joblib.dump(DecisionTreeClassifier(random_state=0).fit(features, labels), artifact)
    return artifact, hashlib.sha256(artifact.read_bytes()).hexdigest()


def _settings(artifact: Path, sha256: str, collector: str) -> dict[str, str]:
    return {
        "MODELSERVE_MODEL_NAME": "shadowed",
        "MODELSERVE_MODEL_DIR": str(artifact.parent),
        "MODELSERVE_ARTIFACT_PATH": str(artifact),
        "MODELSERVE_ARTIFACT_SHA256": sha256,
        "MODELSERVE_COLLECTOR_URL": collector,
    }


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `modelserve-scoring collect` on loopback; yields its base URL."""
    port = port_free_on(["127.0.0.1"])
    log = open(tmp_path_factory.mktemp("collector") / "collector.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(SCORING_CLI), "collect", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{url}/healthz"), "the collector to listen", timeout=60)
        yield url
    finally:
        stop_process(process)
        log.close()


@pytest.fixture(scope="module")
def shadowed_servers(
    collector: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ScoringServer]]:
    """Two live replicas of one tree and a candidate trained with every 10th label flipped."""
    features, labels = _dataset()
    flipped = labels.copy()
    flipped[::10] = 1 - flipped[::10]
    root = tmp_path_factory.mktemp("shadow-models")
    live = _settings(*_save_tree(root / "live", features, labels), collector)
    candidate = _settings(*_save_tree(root / "candidate", features, flipped), collector)
    logs = tmp_path_factory.mktemp("shadow-logs")
    hosts = {"live-a": "127.0.0.21", "live-b": "127.0.0.22", "candidate": "127.0.0.23"}
    grpc_port = port_free_on(list(hosts.values()))
    servers: dict[str, ScoringServer] = {}
    try:
        for name, host in hosts.items():
            settings = candidate if name == "candidate" else live
            servers[name] = launch_scoring_server(name, host, grpc_port, settings, logs)
        wait_ready(servers.values())
        yield servers
    finally:
        stop_processes(server.process for server in servers.values())


def test_mirrored_candidate_flipping_one_row_in_ten_measures_agreement_0_9(
    collector, shadowed_servers, start_router
):
    features, labels = _dataset()
    router = start_router(
        backends(shadowed_servers, **{"live-a": 50, "live-b": 50, "candidate": 0}),
        mirror=("candidate", 50),
        feedback_collector=collector.removeprefix("http://"),
    )
    served: Counter[str] = Counter()
    session = requests.Session()
    ids = []
    for index in range(REQUESTS):
        start = (index * ROWS_PER_REQUEST) % ROWS
        rows = features[start : start + ROWS_PER_REQUEST].tolist()
        request_id = f"order-{index}"
        response = session.post(
            f"{router.url}/score",
            json={"data": rows, "probabilities": True},
            headers={"x-request-id": request_id},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == request_id
        # what the caller gets is the live model's answer, never the candidate's
        assert response.headers["x-modelserve-deployment"] in ("live-a", "live-b")
        assert response.json()["predictions"] == labels[start : start + ROWS_PER_REQUEST].tolist()
        served[response.headers["x-modelserve-deployment"]] += 1
        ids.append((request_id, labels[start : start + ROWS_PER_REQUEST].tolist()))
    assert served["live-a"] > 0 and served["live-b"] > 0

    candidate = shadowed_servers["candidate"]

    def all_mirrored_paired() -> bool:
        doc = requests.get(f"{collector}/shadow", timeout=5).json()
        mirrored = candidate.scored_requests()
        return mirrored >= 20 and doc["candidates"]["candidate"]["pairedRequests"] == mirrored

    wait_until(all_mirrored_paired, "every mirrored request paired at the collector")

    # Feedback sent to the endpoint reaches the collector, whichever live replica answered:
    # all of it matches.
    for request_id, truth in ids:
        answer = session.post(
            f"{router.url}/feedback", json={"requestId": request_id, "labels": truth}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"matched": ROWS_PER_REQUEST}

    doc = requests.get(f"{collector}/shadow", timeout=5).json()
    figures = doc["candidates"]["candidate"]
    assert figures["agreement"] == pytest.approx(0.9)
    # a fully grown tree answers 0/1 probabilities: a flipped row differs by 1 in each class
    assert figures["meanAbsProbabilityDiff"] == pytest.approx(0.1)
    assert figures["accuracy"] == pytest.approx(0.9)
    assert doc["feedback"]["matched"] == REQUESTS
    assert doc["feedback"]["unmatched"] == 0
    assert doc["feedback"]["liveAccuracy"] == 1.0
    assert doc["shipperDropped"] == {}
    metrics = requests.get(f"{collector}/metrics", timeout=5).text
    assert 'modelserve_shadow_agreement{candidate="candidate"} 0.9' in metrics

    # Unknown ids are refused, as a scoring server refuses them.
    unknown = session.post(
        f"{router.url}/feedback", json={"requestId": "never-seen", "label": 1}, timeout=5
    )
    assert unknown.status_code == 404
