"""KServe peer for gradient-boosted trees: a model class shaped like KServe's xgbserver/lgbserver.

KServe's own boosting servers are not on PyPI, so this loads the booster's native file the way
they do (`xgboost.Booster`, `lightgbm.Booster`) and answers what the booster's `predict` gives:
for a binary model, P(class 1) per row. Runs inside the KServe venv (bench/setup_peers.sh).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import lightgbm
import xgboost
from kserve import InferRequest, Model, ModelServer, model_server
from kserve.utils.utils import get_predict_input, get_predict_response


class BoosterModel(Model):
    """Loads one native booster file after checking its digest and predicts per request."""

    def __init__(self, name: str, library: str, artifact: Path, sha256: str) -> None:
        super().__init__(name)
        self.library = library
        self.artifact = artifact
        self.sha256 = sha256
        self.booster = None

    def load(self) -> bool:
        actual = hashlib.sha256(self.artifact.read_bytes()).hexdigest()
        if actual != self.sha256:
            raise ValueError(f"{self.artifact}: sha256 {actual} != expected {self.sha256}")
        if self.library == "xgboost":
            self.booster = xgboost.Booster(model_file=str(self.artifact))
        else:
            self.booster = lightgbm.Booster(model_file=str(self.artifact))
        self.ready = True
        return self.ready

    def predict(self, payload: dict | InferRequest, headers: dict | None = None) -> object:
        # Synchronous, on the event loop thread, as KServe's boosting servers run.
        instances = get_predict_input(payload)
        if self.library == "xgboost":
            # xgbserver's path: a DMatrix per request, then Booster.predict.
            result = self.booster.predict(xgboost.DMatrix(instances))
        else:
            result = self.booster.predict(instances)
        return get_predict_response(payload, result, self.name)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--library", choices=("xgboost", "lightgbm"), required=True)
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--sha256", required=True)
    args, _ = parser.parse_known_args()
    model = BoosterModel(args.model_name, args.library, args.artifact, args.sha256)
    model.load()
    ModelServer().start([model])


if __name__ == "__main__":
    main()
