"""Integration tests run against the real local control plane: mark them all `cluster`."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import pytest
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
