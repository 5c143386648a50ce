"""How often does a compiled (ONNX Runtime) model disagree with scikit-learn, and how fast is it?

For each benchmark model and each graph precision (float64, float32) it prints, over
--rows random inputs (default 200,000; the server checks 100,000 at every load) and
separately over the edge rows the server's check adds (split thresholds, decision
boundaries, column extremes): how many classes differ, the largest probability or relative
prediction difference, and how many rows the compiled runtime handed back to scikit-learn
(missing values, ties it cannot resolve). XGBoost and LightGBM models (trained on data with a
tenth of the cells missing, so their trees learn where NaN goes) are also measured on rows with
missing values, which the server lets their graph answer only where they agree. Then predict
latency for 1 and 64 rows.

Run:  .venv/bin/python bench/onnx_exactness.py [--rows 200000] [--models logreg,rf100,...]
"""

from __future__ import annotations

import argparse
import sys
import time

import lightgbm as lgb
import numpy as np
import xgboost as xgb
from models import MODEL_TRAINERS, N_FEATURES, SEED
from modelserve_scoring.runtime import SklearnRuntime
from modelserve_scoring.runtime.boosters import is_booster, load_native
from modelserve_scoring.runtime.exactness import Agreement, ValidationSample, tie_margin
from modelserve_scoring.runtime.introspect import final_estimator
from modelserve_scoring.runtime.onnx import OnnxRuntime, convert, input_layout, open_session
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def _forest_depth8(X, y):
    return RandomForestClassifier(100, max_depth=8, random_state=SEED).fit(X, y)


def _boosting(X, y):
    return GradientBoostingClassifier(random_state=SEED).fit(X, y)


# besides bench/models.py's: the forest (depth 8), boosting, and a regressor
EXTRA_TRAINERS = {"rf100-depth8": _forest_depth8, "gb100": _boosting, "rf-regressor": None}

# XGBoost and LightGBM (issue #20): name -> (trainer(X, y), classifier?, features)
BOOSTERS = {
    "xgb-clf": (lambda X, y: xgb.XGBClassifier(random_state=SEED).fit(X, y), True, N_FEATURES),
    "xgb-500x6": (
        lambda X, y: xgb.XGBClassifier(n_estimators=500, max_depth=6, random_state=SEED).fit(X, y),
        True,
        30,
    ),
    "xgb-reg": (lambda X, y: xgb.XGBRegressor(random_state=SEED).fit(X, y), False, N_FEATURES),
    "xgb-native-json": (None, True, N_FEATURES),  # xgb-clf saved as .json, loaded as served
    "xgb-pipeline": (
        lambda X, y: make_pipeline(StandardScaler(), xgb.XGBClassifier(random_state=SEED)).fit(
            X, y
        ),
        True,
        N_FEATURES,
    ),
    "lgbm-clf": (
        lambda X, y: lgb.LGBMClassifier(random_state=SEED, verbose=-1).fit(X, y),
        True,
        N_FEATURES,
    ),
    "lgbm-500x6": (
        lambda X, y: lgb.LGBMClassifier(
            n_estimators=500, max_depth=6, num_leaves=64, random_state=SEED, verbose=-1
        ).fit(X, y),
        True,
        30,
    ),
    "lgbm-multiclass": (
        lambda X, y: lgb.LGBMClassifier(random_state=SEED, verbose=-1).fit(X, y),
        True,
        N_FEATURES,
    ),
    "lgbm-native-txt": (None, True, N_FEATURES),  # lgbm-clf saved as .txt, loaded as served
    "lgbm-reg": (
        lambda X, y: lgb.LGBMRegressor(random_state=SEED, verbose=-1).fit(X, y),
        False,
        N_FEATURES,
    ),
}


def build_booster(kind: str):
    """An XGBoost / LightGBM model trained on data with missing cells (none for the Pipeline:
    StandardScaler would pass NaN through, but the point there is the scaling)."""
    trainer, classifier, width = BOOSTERS[kind]
    if classifier:
        classes = 3 if kind == "lgbm-multiclass" else 2
        X, y = make_classification(
            2000, width, n_informative=10, n_classes=classes, random_state=SEED
        )
    else:
        X, y = make_regression(2000, width, noise=5.0, random_state=SEED)
    if kind != "xgb-pipeline":
        X[np.random.default_rng(SEED).random(X.shape) < 0.1] = np.nan
    if kind == "xgb-native-json":  # the native file, loaded from its bytes as the server does
        booster = BOOSTERS["xgb-clf"][0](X, y).get_booster()
        return load_native(bytes(booster.save_raw("json")), ".json", kind)
    if kind == "lgbm-native-txt":
        text = BOOSTERS["lgbm-clf"][0](X, y).booster_.model_to_string()
        return load_native(text.encode(), ".txt", kind)
    return trainer(X, y)


def build(kind: str):
    """The model `kind`, trained from the benchmark's seed."""
    if kind in BOOSTERS:
        return build_booster(kind)
    if kind == "rf-regressor":
        X, y = make_regression(2000, N_FEATURES, noise=5.0, random_state=SEED)
        return RandomForestRegressor(100, random_state=SEED).fit(X, y)
    trainer = MODEL_TRAINERS.get(kind) or EXTRA_TRAINERS.get(kind)
    if trainer is None:
        known = sorted(MODEL_TRAINERS) + sorted(EXTRA_TRAINERS) + sorted(BOOSTERS)
        raise SystemExit(f"unknown model {kind!r}; choose from {known}")
    X, y = make_classification(
        n_samples=2000, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )
    return trainer(X, y)


CHUNK = 10_000


def _chunks(rows: np.ndarray) -> list[np.ndarray]:
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


def measure(reference: SklearnRuntime, compiled: OnnxRuntime, chunks) -> Agreement:
    agreement = Agreement()
    classifier = reference.classes is not None
    offset = 0
    for rows in chunks:
        expected = np.asarray(reference.predict(rows))
        proba = np.asarray(reference.predict_proba(rows)) if reference.has_proba else None
        margin = tie_margin(reference.decision_function(rows), proba) if classifier else None
        compiled.match_reference(expected)
        got = compiled.run(rows)
        if got is not None:
            answers = (got[0], got[1] if proba is not None else None)
            agreement.add((expected, proba), answers, classifier, offset, margin)
        offset += len(rows)
    return agreement


def latency_us(predict, rows, seconds: float = 1.0) -> float:
    """Mean time of one predict call; a fresh copy each call, as each request brings one."""
    predict(rows.copy())
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predict(rows.copy())
        calls += 1
    return (time.perf_counter() - started) / calls * 1e6


def describe(agreement: Agreement, classifier: bool) -> str:
    if classifier:
        rate = agreement.label_mismatches / max(agreement.rows, 1)
        return (
            f"{agreement.rows:>7} rows  classes differ {agreement.label_mismatches:>5} "
            f"({rate:.2e})  ties accepted {agreement.near_ties:>4}  "
            f"max |dP| {agreement.max_proba_diff:.2e}"
        )
    return f"{agreement.rows:>7} rows  max relative difference {agreement.max_value_diff:.2e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="random rows per model")
    parser.add_argument(
        "--models",
        default="logreg,rf100,pipeline,rf100-depth8,gb100,rf-regressor," + ",".join(BOOSTERS),
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="per latency figure")
    args = parser.parse_args(argv)
    if args.rows < 100_000:
        print("note: fewer than 100,000 random rows", file=sys.stderr)
    for kind in [k.strip() for k in args.models.split(",") if k.strip()]:
        model = build(kind)
        reference = SklearnRuntime.from_estimator(model)
        classifier = reference.classes is not None
        width = reference.n_features
        layout = input_layout(model, width, None)
        print(f"\n## {kind} ({type(model).__name__}, {width} features)")
        for precision in ("double", "float"):
            try:
                session = open_session(convert(model, layout, precision))
            except Exception as exc:  # the converter or the runtime refuses it
                print(f"  {precision:6}: cannot compile: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            compiled = OnnxRuntime(reference, session, layout, precision)
            sample = ValidationSample(model, width, None, args.rows, seed=SEED)
            edges = sample.edge_rows(10**9)  # every split edge, not the server's budget
            edge_agreement = measure(reference, compiled, _chunks(edges))
            before = compiled.delegated_rows
            randoms = (sample.random(min(CHUNK, args.rows - i)) for i in range(0, args.rows, CHUNK))
            random_agreement = measure(reference, compiled, randoms)
            settled = compiled.delegated_rows - before
            print(
                f"  {precision:6} random: {describe(random_agreement, classifier)}  "
                f"answered by sklearn {settled}"
            )
            print(f"  {precision:6} edges : {describe(edge_agreement, classifier)}")
            if is_booster(final_estimator(model)):
                compiled.answers_missing = True  # what the server allows only if they agree
                nan_agreement = measure(reference, compiled, [sample.missing_rows(20_000)])
                compiled.answers_missing = False
                print(f"  {precision:6} NaN   : {describe(nan_agreement, classifier)}")
            timings = []
            for rows in (sample.random(1), sample.random(64)):
                ours = latency_us(compiled.predict, rows, args.seconds)
                theirs = latency_us(reference.predict, rows, args.seconds)
                timings.append(f"{len(rows)} row(s) {ours:,.0f} us vs sklearn {theirs:,.0f} us")
            print(f"  {precision:6} predict: " + "; ".join(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
