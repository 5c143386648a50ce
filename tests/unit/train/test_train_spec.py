"""A bad training spec is refused before any data is read, and the error names the field."""

from __future__ import annotations

import copy
import re

import pytest
from modelserve_scoring.train import TrainingSpecError, parse_training_spec

BASE = {
    "task": "classification",
    "data": {"dataset": "iris"},
    "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
}


def spec_with(**changes):
    spec = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        node = spec
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (spec_with(task="ranking"), "task: Input should be 'classification'"),
        (
            spec_with(estimator__className="os.system"),
            "estimator.className: 'os.system' is not allow-listed",
        ),
        (
            spec_with(estimator__className="sklearn.linear_model.Ridge"),
            "estimator.className: Ridge is a regression estimator but task is classification",
        ),
        (
            spec_with(estimator__params={"C": 1.0, "gamma": 2}),
            "estimator.params.gamma: LogisticRegression has no parameter 'gamma'",
        ),
        (spec_with(estimator__params={"C": -1.0}), "estimator.params: The 'C' parameter"),
        (
            spec_with(preprocessing=[{"className": "sklearn.preprocessing.FunctionTransformer"}]),
            "preprocessing[0].className: 'sklearn.preprocessing.FunctionTransformer' is not "
            "allow-listed",
        ),
        (
            spec_with(
                preprocessing=[
                    {"className": "sklearn.decomposition.PCA", "params": {"n_components": "many"}}
                ]
            ),
            "preprocessing[0].params: The 'n_components' parameter of PCA",
        ),
        (
            spec_with(split={"train": 0.8}),
            "split: train + validation + test must add up to 1, got 1.1",
        ),
        (spec_with(split={"test": 0}), "split.test: Input should be greater than 0"),
        (spec_with(data={"dataset": "iris", "path": "x.csv"}), "data: give either dataset"),
        (
            spec_with(data={"claimName": "data", "path": "../etc/passwd.csv", "target": "y"}),
            "data.path: '../etc/passwd.csv' must be a path relative inside the volume",
        ),
        (
            spec_with(data={"claimName": "data", "path": "data.bin", "target": "y"}),
            "data: cannot tell the format of 'data.bin'; set format: csv|parquet",
        ),
        (
            spec_with(data={"claimName": "data", "path": "data.csv"}),
            "data.target: a classification task needs the target column",
        ),
        (
            spec_with(data={"dataset": "iris", "target": "species"}),
            "the target of a bundled dataset is its 'target' column",
        ),
        (spec_with(metrics=["accuracy", "r2"]), "metrics[1]: 'r2' is not a classification metric"),
        (spec_with(gate="accuracy >> 0.9"), "gate: clause 1 ('accuracy >> 0.9') is not"),
        (spec_with(gate="mse < 10"), "gate: 'mse' is not a classification metric"),
        (
            spec_with(crossValidation={"folds": 1}),
            "crossValidation.folds: Input should be greater than or equal to 2",
        ),
        (
            spec_with(crossValidation={"strategy": "leaveOneOut", "metric": "f1"}),
            "crossValidation.metric: leave-one-out scores one row per fold",
        ),
        (
            spec_with(
                search={"parameters": {"C": [1, 2]}},
                split={"train": 0.85, "validation": 0, "test": 0.15},
            ),
            "search: a search needs crossValidation or a validation part",
        ),
        (
            spec_with(search={"parameters": {"C": []}}),
            "search.parameters.C: List should have at least 1 item",
        ),
        (
            spec_with(search={"parameters": {"C": list(range(1, 41)), "tol": [1e-4] * 30}}),
            "search.parameters: the grid has 1200 candidates (at most 1000)",
        ),
        (spec_with(searchh={"parameters": {}}), "searchh: Extra inputs are not permitted"),
    ],
)
def test_bad_spec_names_the_field(spec, fragment):
    with pytest.raises(TrainingSpecError, match=re.escape(fragment)):
        parse_training_spec(spec)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {
                "search": {"parameters": {"C": [1.0, -3.0]}, "method": "grid"},
                "crossValidation": {"folds": 3},
            },
            "search.parameters.C[1]: The 'C' parameter of LogisticRegression",
        ),
        (
            {"search": {"parameters": {"alpha": [1.0]}}, "crossValidation": {"folds": 3}},
            "search.parameters.alpha: LogisticRegression has no parameter 'alpha'",
        ),
    ],
)
def test_bad_search_values_are_named(changes, fragment):
    with pytest.raises(TrainingSpecError, match=re.escape(fragment)):
        parse_training_spec({**BASE, **changes})


def test_spec_may_be_json_text():
    assert parse_training_spec(
        '{"task": "clustering", "data": {"dataset": "iris"}, '
        '"estimator": {"className": "sklearn.cluster.KMeans"}}'
    ).task == ("clustering")
    with pytest.raises(TrainingSpecError, match="the spec is not valid JSON"):
        parse_training_spec("{task: classification")


def test_every_problem_is_reported_at_once():
    spec = spec_with(gate="f1 < 2 and mae < 1", metrics=["silhouette"])
    with pytest.raises(TrainingSpecError) as error:
        parse_training_spec(spec)
    paths = [path for path, _ in error.value.problems]
    assert paths == ["metrics[0]", "gate"]


def test_defaults_fill_in():
    spec = parse_training_spec(BASE)
    assert (spec.split.train, spec.split.validation, spec.split.test) == (0.7, 0.15, 0.15)
    assert spec.split.seed == 42 and spec.split.stratify
    assert spec.metric_names == ["accuracy", "precision", "recall", "f1", "roc_auc"]
    gated = parse_training_spec({**BASE, "metrics": ["accuracy"], "gate": "f1 > 0.5"})
    assert gated.metric_names == ["accuracy", "f1"]
