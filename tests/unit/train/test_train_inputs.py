"""Training from files on a volume: CSV and Parquet give the same model; bad data is named."""

from __future__ import annotations

import re

import pytest
from modelserve_scoring.train import DataError, parse_training_spec
from modelserve_scoring.train.trainer import train
from sklearn import metrics
from sklearn.linear_model import LogisticRegression
from train_helpers import documented_split


def churn_spec(path: str, **data) -> dict:
    return {
        "task": "classification",
        "data": {"claimName": "datasets", "path": path, "target": "churned", **data},
        "estimator": {
            "className": "sklearn.linear_model.LogisticRegression",
            "params": {"C": 2.0, "max_iter": 1000},
        },
        "split": {"seed": 21},
    }


@pytest.fixture
def data_root(tmp_path, churn_frame):
    root = tmp_path / "volume"
    (root / "churn").mkdir(parents=True)
    churn_frame.to_csv(root / "churn" / "2024-06.csv", index=False)
    churn_frame.to_parquet(root / "churn" / "2024-06.parquet", index=False)
    churn_frame.to_csv(root / "churn" / "export.txt", index=False)
    return root


def test_csv_metrics_match_scikit_learn_on_the_same_rows(data_root, churn_frame):
    run = train(parse_training_spec(churn_spec("churn/2024-06.csv")), data_root)
    x, y = churn_frame[["tenure", "monthly", "tickets"]], churn_frame["churned"]
    train_rows, _, test_rows = documented_split(len(x), y, (0.7, 0.15, 0.15), 21)
    reference = LogisticRegression(C=2.0, max_iter=1000, random_state=21)
    reference.fit(x.iloc[train_rows], y.iloc[train_rows])
    predicted = reference.predict(x.iloc[test_rows])
    assert run.report["metrics"]["f1"] == pytest.approx(
        metrics.f1_score(y.iloc[test_rows], predicted)
    )
    assert run.report["data"]["features"] == ["tenure", "monthly", "tickets"]
    assert run.report["data"]["source"] == "csv file 'churn/2024-06.csv'"


def test_parquet_and_csv_give_the_same_metrics(data_root):
    from_csv = train(parse_training_spec(churn_spec("churn/2024-06.csv")), data_root)
    from_parquet = train(parse_training_spec(churn_spec("churn/2024-06.parquet")), data_root)
    assert from_parquet.report["data"]["source"] == "parquet file 'churn/2024-06.parquet'"
    assert from_parquet.report["metrics"] == pytest.approx(from_csv.report["metrics"])


def test_format_can_be_named_when_the_suffix_does_not_tell(data_root):
    run = train(parse_training_spec(churn_spec("churn/export.txt", format="csv")), data_root)
    assert run.report["data"]["rows"] == 400


def test_only_the_listed_features_are_used(data_root):
    spec = churn_spec("churn/2024-06.csv", features=["tickets", "tenure"])
    run = train(parse_training_spec(spec), data_root)
    assert run.report["data"]["features"] == ["tickets", "tenure"]
    assert list(run.model.feature_names_in_) == ["tickets", "tenure"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (
            {"path": "churn/missing.csv"},
            "data.path: no file 'churn/missing.csv' in claim 'datasets'",
        ),
        ({"target": "left"}, "data.target: no column 'left'"),
        (
            {"features": ["tenure", "plan"]},
            "data.features: csv file 'churn/plan.csv' has no column",
        ),
        ({"target": "monthly"}, "holds continuous numbers; use task: regression"),
    ],
)
def test_bad_data_is_named(data_root, churn_frame, data, fragment):
    churn_frame.to_csv(data_root / "churn" / "plan.csv", index=False)
    spec = churn_spec("churn/plan.csv")
    spec["data"].update(data)
    with pytest.raises(DataError, match=re.escape(fragment)):
        train(parse_training_spec(spec), data_root)


def test_text_features_are_refused_by_name(data_root, churn_frame):
    frame = churn_frame.assign(plan=["basic", "premium"] * 200)
    frame.to_csv(data_root / "churn" / "with-plan.csv", index=False)
    with pytest.raises(DataError, match=r"not numeric: plan \(object\)|not numeric: plan \(str"):
        train(parse_training_spec(churn_spec("churn/with-plan.csv")), data_root)


def test_missing_values_need_an_imputer(data_root, churn_frame):
    frame = churn_frame.copy()
    frame.loc[::10, "monthly"] = None
    frame.to_csv(data_root / "churn" / "gaps.csv", index=False)
    spec = churn_spec("churn/gaps.csv")
    with pytest.raises(DataError, match=r"estimator: fitting LogisticRegression .* NaN"):
        train(parse_training_spec(spec), data_root)
    spec["preprocessing"] = [
        {"className": "sklearn.impute.SimpleImputer", "params": {"strategy": "median"}}
    ]
    run = train(parse_training_spec(spec), data_root)
    assert run.report["metrics"]["accuracy"] > 0.5


def test_a_class_too_small_to_stratify_says_how_to_go_on(data_root, churn_frame):
    frame = churn_frame.copy()
    frame.loc[0, "churned"] = 7  # a class with one member
    frame.to_csv(data_root / "churn" / "odd.csv", index=False)
    with pytest.raises(DataError, match=r"split\.stratify: false"):
        train(parse_training_spec(churn_spec("churn/odd.csv")), data_root)
