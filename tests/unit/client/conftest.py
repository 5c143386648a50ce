"""Fixtures for the client's unit tests: a kubeconfig naming a server nobody listens on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


def write_kubeconfig(path: Path, namespace: str | None = "ml") -> Path:
    """Two contexts; the current one names `namespace`. Port 1 refuses every connection."""
    context: dict = {"cluster": "nowhere", "user": "someone"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "someone", "user": {"token": "not-a-real-token"}}],
                "contexts": [
                    {"name": "main", "context": context},
                    {"name": "other", "context": {"cluster": "nowhere", "user": "someone"}},
                ],
                "current-context": "main",
            }
        )
    )
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"not really a model, but bytes with a digest\n")
    return path
