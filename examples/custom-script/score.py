"""A scoring script for an iris classifier: species names and confidence instead of class ids.

init() runs once when the pod starts (readiness waits for it); run() runs once per
POST /score with the request body as a string, and its return value is sent as JSON.
"""

import glob
import json
import os

import joblib
import numpy as np

SPECIES = ("setosa", "versicolor", "virginica")
model = None


def init() -> None:
    global model
    # The operator has fetched the artifact here and checked its sha256 before init().
    model_dir = os.environ["MODELSERVE_MODEL_DIR"]
    (path,) = glob.glob(os.path.join(model_dir, "*.joblib"))
    model = joblib.load(path)


def run(raw_data: str) -> dict:
    rows = np.asarray(json.loads(raw_data)["data"], dtype=np.float64)
    probabilities = model.predict_proba(rows)
    best = probabilities.argmax(axis=1)
    return {
        "predictions": [
            {"species": SPECIES[int(model.classes_[i])], "confidence": round(float(p[i]), 4)}
            for i, p in zip(best, probabilities, strict=True)
        ]
    }
