"""KServe peer: a joblib scikit-learn model class shaped like KServe's own sklearn server.

Runs inside the KServe venv (bench/setup_peers.sh), never imported by the project.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import joblib
from kserve import InferRequest, Model, ModelServer, model_server
from kserve.utils.utils import get_predict_input, get_predict_response


class JoblibClassifier(Model):
    """Loads one joblib artifact after checking its digest and calls `predict` per request."""

    def __init__(self, name: str, artifact: Path, sha256: str) -> None:
        super().__init__(name)
        self.artifact = artifact
        self.sha256 = sha256
        self.estimator = None

    def load(self) -> bool:
        # Same rule as our server: a pickle runs code on load, so check it first.
        actual = hashlib.sha256(self.artifact.read_bytes()).hexdigest()
        if actual != self.sha256:
            raise ValueError(f"{self.artifact}: sha256 {actual} != expected {self.sha256}")
        self.estimator = joblib.load(self.artifact)
        self.ready = True
        return self.ready

    def predict(self, payload: dict | InferRequest, headers: dict | None = None) -> object:
        # Synchronous like KServe's SKLearnModel: it runs on the event loop thread.
        instances = get_predict_input(payload)
        result = self.estimator.predict(instances)
        return get_predict_response(payload, result, self.name)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--sha256", required=True)
    args, _ = parser.parse_known_args()
    model = JoblibClassifier(args.model_name, args.artifact, args.sha256)
    model.load()
    ModelServer().start([model])


if __name__ == "__main__":
    main()
