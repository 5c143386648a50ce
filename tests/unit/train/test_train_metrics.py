"""The trainer's metrics equal scikit-learn's own, computed directly on the documented split."""

from __future__ import annotations

import numpy as np
import pytest
from modelserve_scoring.train import parse_training_spec
from modelserve_scoring.train.trainer import train
from sklearn import metrics
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from train_helpers import documented_split


def test_multiclass_metrics_match_scikit_learn(iris_spec, tmp_path):
    run = train(parse_training_spec(iris_spec), tmp_path)

    x, y = load_iris(return_X_y=True, as_frame=True)
    train_rows, validation_rows, test_rows = documented_split(len(x), y, (0.7, 0.15, 0.15), 7)
    reference = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.5, max_iter=500, random_state=7)
    ).fit(x.iloc[train_rows], y.iloc[train_rows])
    x_test, y_test = x.iloc[test_rows], y.iloc[test_rows]
    predicted = reference.predict(x_test)

    assert run.report["splitSizes"] == {
        "train": len(train_rows),
        "validation": len(validation_rows),
        "test": len(test_rows),
    }
    got = run.report["metrics"]
    assert set(got) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(y_test, predicted))
    assert got["precision"] == pytest.approx(
        metrics.precision_score(y_test, predicted, average="macro")
    )
    assert got["recall"] == pytest.approx(metrics.recall_score(y_test, predicted, average="macro"))
    assert got["f1"] == pytest.approx(metrics.f1_score(y_test, predicted, average="macro"))
    assert got["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(y_test, reference.predict_proba(x_test), multi_class="ovr")
    )
    assert run.report["classes"] == ["0", "1", "2"]


def test_binary_metrics_use_the_positive_class_and_decision_scores(tmp_path):
    # SGDClassifier with hinge loss has no probabilities: ROC-AUC comes from decision scores.
    spec = {
        "task": "classification",
        "data": {"dataset": "breast_cancer"},
        "estimator": {
            "className": "sklearn.linear_model.SGDClassifier",
            "params": {"alpha": 0.001, "learning_rate": "optimal", "penalty": "l1"},
        },
        "preprocessing": [{"className": "sklearn.preprocessing.StandardScaler"}],
        "split": {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 11},
    }
    run = train(parse_training_spec(spec), tmp_path)

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    train_rows, _, test_rows = documented_split(len(x), y, (0.6, 0.2, 0.2), 11)
    reference = make_pipeline(
        StandardScaler(),
        SGDClassifier(alpha=0.001, learning_rate="optimal", penalty="l1", random_state=11),
    ).fit(x.iloc[train_rows], y.iloc[train_rows])
    x_test, y_test = x.iloc[test_rows], y.iloc[test_rows]
    predicted = reference.predict(x_test)
    got = run.report["metrics"]
    assert got["precision"] == pytest.approx(metrics.precision_score(y_test, predicted))
    assert got["recall"] == pytest.approx(metrics.recall_score(y_test, predicted))
    assert got["f1"] == pytest.approx(metrics.f1_score(y_test, predicted))
    assert got["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(y_test, reference.decision_function(x_test))
    )


def test_regression_metrics_match_scikit_learn(tmp_path):
    spec = {
        "task": "regression",
        "data": {"dataset": "diabetes"},
        "estimator": {"className": "sklearn.linear_model.Ridge", "params": {"alpha": 0.3}},
        "split": {"seed": 5},
    }
    run = train(parse_training_spec(spec), tmp_path)

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    train_rows, validation_rows, test_rows = documented_split(len(x), None, (0.7, 0.15, 0.15), 5)
    reference = Ridge(alpha=0.3).fit(x.iloc[train_rows], y.iloc[train_rows])
    predicted = reference.predict(x.iloc[test_rows])
    y_test = y.iloc[test_rows]
    got = run.report["metrics"]
    assert got["mse"] == pytest.approx(metrics.mean_squared_error(y_test, predicted))
    assert got["mae"] == pytest.approx(metrics.mean_absolute_error(y_test, predicted))
    assert got["r2"] == pytest.approx(metrics.r2_score(y_test, predicted))
    val_predicted = reference.predict(x.iloc[validation_rows])
    assert run.report["validationMetrics"]["r2"] == pytest.approx(
        metrics.r2_score(y.iloc[validation_rows], val_predicted)
    )


def test_clustering_silhouette_matches_scikit_learn(tmp_path):
    spec = {
        "task": "clustering",
        "data": {"dataset": "iris"},
        "estimator": {"className": "sklearn.cluster.KMeans", "params": {"n_clusters": 3}},
        "preprocessing": [{"className": "sklearn.preprocessing.StandardScaler"}],
        "split": {"train": 0.8, "validation": 0.0, "test": 0.2, "seed": 3},
    }
    run = train(parse_training_spec(spec), tmp_path)

    x, _ = load_iris(return_X_y=True, as_frame=True)
    from sklearn.model_selection import train_test_split

    train_rows, test_rows = train_test_split(np.arange(len(x)), test_size=0.2, random_state=3)
    reference = make_pipeline(StandardScaler(), KMeans(n_clusters=3, random_state=3))
    reference.fit(x.iloc[train_rows])
    x_test = x.iloc[test_rows]
    expected = metrics.silhouette_score(reference[0].transform(x_test), reference.predict(x_test))
    assert run.report["splitSizes"] == {"train": 120, "validation": 0, "test": 30}
    assert run.report["metrics"] == {"silhouette": pytest.approx(expected)}
    assert "validationMetrics" not in run.report or run.report["validationMetrics"] is None


def test_cross_validation_scores_match_cross_val_score(iris_spec, tmp_path):
    iris_spec["crossValidation"] = {"folds": 4}
    run = train(parse_training_spec(iris_spec), tmp_path)

    x, y = load_iris(return_X_y=True, as_frame=True)
    train_rows, _, _ = documented_split(len(x), y, (0.7, 0.15, 0.15), 7)
    expected = cross_val_score(
        make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500, random_state=7)),
        x.iloc[train_rows],
        y.iloc[train_rows],
        cv=StratifiedKFold(n_splits=4, shuffle=True, random_state=7),
        scoring="accuracy",
    )
    cv = run.report["crossValidation"]
    assert cv["folds"] == 4 and cv["metric"] == "accuracy" and cv["strategy"] == "kfold"
    assert cv["scores"] == pytest.approx(list(expected))
    assert cv["mean"] == pytest.approx(expected.mean())


def test_leave_one_out_scores_every_training_row(tmp_path):
    spec = {
        "task": "regression",
        "data": {"dataset": "diabetes"},
        "estimator": {"className": "sklearn.linear_model.Lasso", "params": {"alpha": 0.1}},
        "split": {"train": 0.2, "validation": 0.0, "test": 0.8, "seed": 1},
        "crossValidation": {"strategy": "leaveOneOut", "metric": "mae"},
    }
    run = train(parse_training_spec(spec), tmp_path)
    cv = run.report["crossValidation"]
    train_rows = run.report["splitSizes"]["train"]
    assert cv["strategy"] == "leaveOneOut" and cv["metric"] == "mae"
    assert cv["folds"] == train_rows == len(cv["scores"])
    # Each fold's MAE is the absolute error on its one held-out row: never negative.
    assert min(cv["scores"]) >= 0


def test_grid_search_picks_what_grid_search_cv_picks_and_refits_on_train(iris_spec, tmp_path):
    iris_spec["crossValidation"] = {"folds": 3}
    iris_spec["search"] = {"parameters": {"C": [0.01, 0.1, 1.0, 10.0]}, "metric": "f1"}
    run = train(parse_training_spec(iris_spec), tmp_path)

    x, y = load_iris(return_X_y=True, as_frame=True)
    train_rows, _, test_rows = documented_split(len(x), y, (0.7, 0.15, 0.15), 7)
    searcher = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=7)),
        {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]},
        scoring="f1_macro",
        cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=7),
    ).fit(x.iloc[train_rows], y.iloc[train_rows])
    best_c = searcher.best_params_["logisticregression__C"]
    found = run.report["search"]
    assert found["bestParams"] == {"C": best_c}
    assert found["bestScore"] == pytest.approx(searcher.best_score_)
    assert found["candidates"] == 4 and found["validatedOn"] == "crossValidation"
    assert run.report["estimator"]["params"]["C"] == best_c
    # The winner is fitted on the train part alone, so the test metrics are comparable.
    refit = make_pipeline(
        StandardScaler(), LogisticRegression(C=best_c, max_iter=500, random_state=7)
    ).fit(x.iloc[train_rows], y.iloc[train_rows])
    assert run.report["metrics"]["accuracy"] == pytest.approx(
        metrics.accuracy_score(y.iloc[test_rows], refit.predict(x.iloc[test_rows]))
    )


def test_search_without_cross_validation_compares_on_the_validation_part(tmp_path):
    spec = {
        "task": "regression",
        "data": {"dataset": "diabetes"},
        "estimator": {"className": "sklearn.linear_model.Ridge"},
        "search": {
            "method": "random",
            "parameters": {"alpha": [0.01, 0.1, 1, 10, 100]},
            "iterations": 3,
        },
        "split": {"seed": 9},
    }
    run = train(parse_training_spec(spec), tmp_path)

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    train_rows, validation_rows, _ = documented_split(len(x), None, (0.7, 0.15, 0.15), 9)
    found = run.report["search"]
    assert found["validatedOn"] == "validation" and found["candidates"] == 3
    best = Ridge(alpha=found["bestParams"]["alpha"]).fit(x.iloc[train_rows], y.iloc[train_rows])
    assert found["bestScore"] == pytest.approx(
        metrics.r2_score(y.iloc[validation_rows], best.predict(x.iloc[validation_rows]))
    )


def test_a_metric_that_cannot_be_computed_is_reported_with_its_reason(tmp_path):
    # SVC without probability=True has no predict_proba: multi-class ROC-AUC is unavailable.
    spec = {
        "task": "classification",
        "data": {"dataset": "iris"},
        "estimator": {"className": "sklearn.svm.SVC"},
        "metrics": ["accuracy", "roc_auc"],
    }
    run = train(parse_training_spec(spec), tmp_path)
    assert set(run.report["metrics"]) == {"accuracy"}
    assert "predict_proba" in run.report["unavailableMetrics"]["roc_auc"]
