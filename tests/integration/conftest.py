"""Integration tests run against the real local control plane: mark them all `cluster`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
import yaml
from cluster_objects import MODELS_CLAIM, get, volume_and_claim
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture
def operator(operator_factory, namespace, monkeypatch):
    """The operator in-process for this test's namespace, its pods on the simulated nodes."""
    # Only the simulated nodes: a real node may be joined to the same cluster (e2e tier).
    running = operator_factory(namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": "type=kwok"})
    running.start()
    yield running
    running.delete_objects_and_stop()


@pytest.fixture(scope="session")
def iris_artifact() -> bytes:
    """A joblib LogisticRegression fitted on iris: the model the integration tests register."""
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    return buffer.getvalue()


@pytest.fixture
def bound_claim(cluster, namespace) -> Iterator[str]:
    """Claim `models` bound to a PersistentVolume of its own, so a training pod can be scheduled.

    KWOK mounts nothing, so the volume's host path is never used.
    """
    volume = f"{namespace}-{MODELS_CLAIM}"
    manifests = volume_and_claim(namespace, volume, Path(f"/tmp/{volume}"))
    cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(manifests))
    try:
        cluster.wait_for(
            lambda: (
                (get(cluster, namespace, "pvc", MODELS_CLAIM) or {}).get("status", {}).get("phase")
                == "Bound"
            ),
            f"claim '{MODELS_CLAIM}' bound",
        )
        yield MODELS_CLAIM
    finally:
        cluster.kubectl("delete", "pv", volume, "--wait=false", "--ignore-not-found")


@pytest.fixture
def batch_claims(cluster, namespace) -> Iterator[None]:
    """Claims "raw" and "scored", each pre-bound to a hostPath PersistentVolume of its own."""
    names = []
    for claim in ("raw", "scored"):
        pv = f"{namespace}-{claim}"
        names.append(pv)
        persistent_volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "hostPath": {"path": f"/tmp/modelserve-batch/{pv}"},
                "claimRef": {"namespace": namespace, "name": claim},
            },
        }
        claim_body = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": pv,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        documents = yaml.safe_dump_all([persistent_volume, claim_body])
        cluster.kubectl("apply", "-f", "-", input_text=documents)
    # Bound before a test starts: until then the scheduler's only word on a run's pods is
    # "unbound immediate PersistentVolumeClaims", whatever else keeps them from a node.
    for claim in ("raw", "scored"):
        cluster.wait_for(
            lambda claim=claim: (
                (get(cluster, namespace, "pvc", claim) or {}).get("status", {}).get("phase")
                == "Bound"
            ),
            f"claim '{claim}' bound",
        )
    yield
    for pv in names:
        cluster.kubectl("delete", "pv", pv, "--wait=false", "--ignore-not-found")
