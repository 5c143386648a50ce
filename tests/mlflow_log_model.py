"""Run by MLflow's venv python: log, register and alias a small scikit-learn classifier.

Usage: python mlflow_log_model.py NAME ALIAS SEED   (ALIAS may be empty); prints {"version"}.
"""

import json
import sys

import mlflow
import numpy as np
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

name, alias, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(seed)
features = rng.normal(size=(200, 4))
labels = (features[:, 0] + features[:, 1] > 0).astype(int)
model = LogisticRegression().fit(features, labels)
with mlflow.start_run():
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(features, model.predict(features)),
        registered_model_name=name,
        serialization_format="pickle",
    )
version = str(info.registered_model_version)
if alias:
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
print(json.dumps({"version": version}))
