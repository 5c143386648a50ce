"""What the walk-through (hack/walkthrough.py) prints, checked the same way for every cluster."""

from __future__ import annotations

import json

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

# The rows hack/walkthrough.py sends to the sample endpoint.
SAMPLE_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def assert_prints_the_models_prediction(output: str) -> None:
    """The last `POST /score -> 200` line is followed by scikit-learn's own answer."""
    lines = output.splitlines()
    served = [i for i, line in enumerate(lines) if line.startswith("--> POST /score -> 200")]
    assert served, output
    x, y = load_iris(return_X_y=True)
    expected = LogisticRegression(max_iter=500).fit(x, y).predict(SAMPLE_ROWS).tolist()
    assert json.loads(lines[served[-1] + 1]) == expected
