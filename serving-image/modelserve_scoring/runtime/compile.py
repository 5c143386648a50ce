"""Choosing the runtime at load time.

``auto``: compile to ONNX Runtime and serve with it only where it gave scikit-learn's answers
on the validation sample, else serve with scikit-learn and say why. ``onnx``: the same check,
but a model that fails it stops the server. ``sklearn``: never convert. Conversion and the
check run once per load, never per request. The server may serve an ``auto`` model with
scikit-learn first (`serve_natively_first`) and run `compile_runtime` in the background.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from modelserve_api.baseline import Baseline
from modelserve_api.runtime_report import RuntimeParameters

from modelserve_scoring.errors import ArtifactError
from modelserve_scoring.runtime.base import ModelRuntime
from modelserve_scoring.runtime.boosters import is_booster
from modelserve_scoring.runtime.exactness import (
    PROBA_ATOL,
    REGRESSION_RTOL,
    TIE_BAND,
    Agreement,
    ValidationSample,
    load_baseline,
    tie_margin,
)
from modelserve_scoring.runtime.introspect import final_estimator
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime
from modelserve_scoring.runtime.versions import Policy

log = logging.getLogger(__name__)

MODES = ("auto", "sklearn", "onnx")
DEFAULT_VALIDATION_ROWS = 100_000
# rows with missing values a booster's graph must route as the library does (edge rows included)
MISSING_VALUE_ROWS = 20_000
# how a fallback is labelled in the metric, most telling first
_FALLBACK_ORDER = ("answers_differ", "error", "session_failed", "unsupported", "unavailable")


@dataclass(frozen=True)
class CompileOptions:
    """The runtime setting and how thoroughly a compiled model is checked."""

    mode: str = "auto"
    validation_rows: int = DEFAULT_VALIDATION_ROWS
    cache: bool = True
    #: sha256 digests of compiled graphs that may be taken from the cache (onnx_cache.py)
    trusted_graphs: frozenset[str] = frozenset()
    threads: int = 1
    seed: int = 0


@dataclass
class _Candidate:
    """One compiled graph (one precision) and how it fared."""

    precision: str
    runtime: Any = None
    agreement: Agreement = field(default_factory=Agreement)
    failure: str | None = None
    reason: str | None = None
    cache: str = "off"
    #: sha256 of the compiled graph, for the operator to record as trusted
    graph_sha256: str | None = None

    def fail(self, code: str, reason: str) -> None:
        self.failure, self.reason, self.runtime = code, reason, None

    def to_json(self) -> dict[str, Any]:
        result = "exact" if self.failure is None else self.failure
        report: dict[str, Any] = {"result": result, "cache": self.cache}
        if self.graph_sha256 is not None:
            report["onnx_sha256"] = self.graph_sha256
        if self.reason:
            report["reason"] = self.reason
        if self.agreement.rows:
            report.update(self.agreement.to_json())
        return report


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _compile(
    reference: SklearnRuntime,
    layout: Any,
    precision: str,
    options: CompileOptions,
    artifact: Path | None,
) -> _Candidate:
    """Convert (or take from the cache) and open one precision's graph."""
    from modelserve_scoring.runtime.onnx import OnnxRuntime, convert, open_session
    from modelserve_scoring.runtime.onnx_cache import cache_key, read_cached, write_cached

    candidate = _Candidate(precision)
    key = None
    if options.cache and artifact is not None and reference.artifact_sha256:
        key = cache_key(reference.artifact_sha256, precision, layout.signature())
    data = None
    if key is not None and artifact is not None:
        data, candidate.cache = read_cached(artifact, key, options.trusted_graphs)
    if data is None:
        try:
            data = convert(reference.model, layout, precision)
        except Exception as exc:
            name = type(reference.model).__name__
            candidate.fail("unsupported", f"skl2onnx cannot convert {name}: {_first_line(exc)}")
            return candidate
        if key is not None and artifact is not None:
            write_cached(artifact, key, data)
    candidate.graph_sha256 = hashlib.sha256(data).hexdigest()
    try:
        session = open_session(data, options.threads)
    except Exception as exc:
        reason = f"ONNX Runtime refused the converted graph: {_first_line(exc)}"
        candidate.fail("session_failed", reason)
        return candidate
    candidate.runtime = OnnxRuntime(reference, session, layout, precision)
    if reference.has_proba and not candidate.runtime.has_proba:
        candidate.fail("unsupported", "the converted graph gives no probabilities")
    return candidate


def _validate(
    reference: SklearnRuntime, candidates: list[_Candidate], sample: ValidationSample
) -> tuple[np.ndarray | None, int, str | None]:
    """Run the sample through scikit-learn and every live candidate; returns a row for the
    warm-up, how many rows scikit-learn rejected, and its first complaint."""
    classifier = reference.classes is not None
    warm: np.ndarray | None = None
    rejected, complaint, offset = 0, None, 0
    for chunk in sample.chunks():
        live = [c for c in candidates if c.runtime is not None]
        if not live:
            break
        try:
            expected = np.asarray(reference.predict(chunk))
            proba = np.asarray(reference.predict_proba(chunk)) if reference.has_proba else None
            margin = tie_margin(reference.decision_function(chunk), proba) if classifier else None
        except Exception as exc:  # e.g. a model that refuses negative values
            rejected += len(chunk)
            complaint = complaint or _first_line(exc)
            offset += len(chunk)
            continue
        if warm is None:
            warm = chunk[:1]
        for candidate in live:
            runtime = candidate.runtime
            runtime.match_reference(expected)
            try:
                got = runtime.run(chunk)
            except Exception as exc:
                reason = f"ONNX Runtime failed on validation rows: {_first_line(exc)}"
                candidate.fail("error", reason)
                continue
            if got is None:
                continue  # answered by scikit-learn itself: nothing to compare
            answers = (got[0], got[1] if proba is not None else None)
            candidate.agreement.add((expected, proba), answers, classifier, offset, margin)
            if not candidate.agreement.exact:
                candidate.fail("answers_differ", candidate.agreement.problem())
        offset += len(chunk)
    for candidate in candidates:
        if candidate.runtime is not None and candidate.agreement.rows == 0:
            reason = "no validation row could be checked"
            if complaint:
                reason += f" (scikit-learn rejected them: {complaint})"
            candidate.fail("error", reason)
    return warm, rejected, complaint


def check_missing_values(
    reference: SklearnRuntime, runtime: Any, rows: np.ndarray
) -> dict[str, Any]:
    """Whether the graph gives the reference's answers on rows with NaN cells; if so it may
    answer such rows (runtime.answers_missing), else the reference keeps answering them."""
    classifier = reference.classes is not None
    expected = np.asarray(reference.predict(rows))
    proba = np.asarray(reference.predict_proba(rows)) if reference.has_proba else None
    margin = tie_margin(reference.decision_function(rows), proba) if classifier else None
    runtime.answers_missing = True
    runtime.match_reference(expected)
    got = runtime.run(rows)
    if got is None:  # the graph was not given these rows (nothing left to compare)
        runtime.answers_missing = False
        return {"result": "unchecked", "answered_by": "native library", "rows": 0}
    agreement = Agreement()
    agreement.add((expected, proba), (got[0], got[1] if proba is not None else None),
                  classifier, 0, margin)  # fmt: skip
    runtime.answers_missing = agreement.exact
    report: dict[str, Any] = {
        "result": "exact" if agreement.exact else "answers_differ",
        "answered_by": "onnxruntime" if agreement.exact else "native library",
        **agreement.to_json(),
    }
    if not agreement.exact:
        report["reason"] = agreement.problem()
    return report


def _sample_row(reference: SklearnRuntime) -> np.ndarray | None:
    """A plausible row for the warm-up (zeros may be an unknown category)."""
    if reference.n_features is None:
        return None
    try:
        return ValidationSample(
            reference.model, reference.n_features, reference.feature_names, 1
        ).random(1)
    except Exception:
        return None


def _warm_up(runtime: ModelRuntime, row: np.ndarray | None) -> None:
    if row is not None:
        try:
            runtime.warm_up(row)
            return
        except Exception:  # a generated row the model refuses: the plain warm-up decides
            log.debug("warm-up on a sample row failed; warming up on zeros", exc_info=True)
    runtime.warm_up()


def _try_precisions(
    reference: SklearnRuntime,
    options: CompileOptions,
    artifact: Path | None,
    baseline: Baseline | None,
) -> tuple[list[_Candidate], dict[str, Any], np.ndarray | None]:
    """Compile and check one precision at a time, the next only if the one before failed;
    returns the candidates, what the sample was made of, and a row for the warm-up."""
    from modelserve_scoring.runtime.onnx import input_layout, precision_order

    assert reference.n_features is not None
    layout = input_layout(reference.model, reference.n_features, reference.feature_names)
    candidates: list[_Candidate] = []
    report: dict[str, Any] = {}
    warm = None
    for precision in precision_order(reference.model):
        candidate = _compile(reference, layout, precision, options, artifact)
        candidates.append(candidate)
        if candidate.runtime is None:
            continue
        sample = ValidationSample(
            reference.model,
            reference.n_features,
            reference.feature_names,
            options.validation_rows,
            baseline,
            options.seed,
        )
        warm, rejected, complaint = _validate(reference, [candidate], sample)
        report = {
            "random_rows": options.validation_rows,
            "sources": sample.sources,
            "baseline_rows": 0 if sample.baseline_rows is None else len(sample.baseline_rows),
            "rows_rejected_by_sklearn": rejected,
        }
        if complaint:
            report["sklearn_complaint"] = complaint
        if candidate.runtime is not None:
            break
    return candidates, report, warm


def compile_runtime(
    reference: SklearnRuntime,
    options: CompileOptions,
    artifact: Path | None = None,
    baseline: Baseline | None = None,
) -> ModelRuntime:
    """The runtime to serve `reference`'s model with, warmed up, its `selection` filled in."""
    if options.mode not in MODES:
        raise ArtifactError(f"runtime {options.mode!r} is not one of {', '.join(MODES)}")
    if options.mode == "sklearn":
        reference.selection = RuntimeParameters(runtime_requested="sklearn").selection()
        _warm_up(reference, _sample_row(reference))
        return reference
    started = time.perf_counter()
    notes: list[str] = []
    candidates: list[_Candidate] = []
    sample_report: dict[str, Any] = {}
    warm = None
    if baseline is None and artifact is not None:
        baseline, note = load_baseline(artifact)
        if note:
            notes.append(note)
            log.warning("%s", note)
    code, reason = _precheck(reference)
    if code is None:
        candidates, sample_report, warm = _try_precisions(reference, options, artifact, baseline)
    chosen = next((c for c in candidates if c.runtime is not None), None)
    if chosen is None and code is None:
        failed = [c for c in candidates if c.failure]
        code = min((c.failure for c in failed), key=_FALLBACK_ORDER.index, default="error")
        reasons = {c.reason for c in failed}
        if len(reasons) == 1:
            reason = reasons.pop()
        else:
            reason = "; ".join(f"{c.precision} precision: {c.reason}" for c in failed)
    seconds = time.perf_counter() - started
    check = {
        "tolerance": {
            "proba_atol": PROBA_ATOL,
            "regression_rtol": REGRESSION_RTOL,
            "tie_band": TIE_BAND,
        },
        "sample": sample_report,
        "candidates": {c.precision: c.to_json() for c in candidates},
        "notes": notes,
        "seconds": round(seconds, 3),
    }
    reported = RuntimeParameters(
        runtime_requested=options.mode,
        runtime_fallback=None if chosen else code,
        runtime_fallback_reason=None if chosen else reason,
    )
    if chosen is not None and is_booster(final_estimator(reference.model)):
        # trees send NaN down each split's learned default branch: check the graph does too
        sample = ValidationSample(reference.model, reference.n_features,
                                  reference.feature_names, 1, seed=options.seed)  # fmt: skip
        rows = sample.missing_rows(min(MISSING_VALUE_ROWS, options.validation_rows))
        check["missing_values"] = check_missing_values(reference, chosen.runtime, rows)
    selection = {**reported.selection(), "onnx_check": check}
    if chosen is not None:
        runtime = chosen.runtime
        runtime.selection = selection
        agreement = chosen.agreement
        if reference.classes is not None:
            detail = f"identical classes, probabilities within {agreement.max_proba_diff:.2g}"
        else:
            detail = f"predictions within {agreement.max_value_diff:.2g} relative"
        log.info(
            "runtime %s: serving with ONNX Runtime (%s precision): it agreed with scikit-learn "
            "on %d validation rows (%s) in %.1f s",
            options.mode,
            chosen.precision,
            agreement.rows,
            detail,
            seconds,
        )
        _warm_up(runtime, warm)
        return runtime
    if options.mode == "onnx":
        raise ArtifactError(
            f"runtime onnx: ONNX Runtime cannot serve this model exactly ({reason}); refusing "
            "to start. Set runtime auto (or sklearn) to serve it with scikit-learn."
        )
    reference.selection = selection
    log.warning("runtime auto: serving with scikit-learn, not ONNX Runtime: %s", reason)
    _warm_up(reference, warm if warm is not None else _sample_row(reference))
    return reference


def serve_natively_first(reference: SklearnRuntime, options: CompileOptions) -> SklearnRuntime:
    """The loaded model, warmed up, to serve with scikit-learn while `compile_runtime` checks
    ONNX Runtime in the background; its `selection` says the choice is still pending."""
    if options.mode != "auto":
        raise ArtifactError(f"runtime {options.mode!r} is chosen before serving, not after")
    reference.selection = RuntimeParameters(
        runtime_requested=options.mode, runtime_pending=True
    ).selection()
    _warm_up(reference, _sample_row(reference))
    return reference


def _precheck(reference: SklearnRuntime) -> tuple[str | None, str | None]:
    """Why no conversion is even attempted, if so."""
    if reference.n_features is None:
        return "unsupported", "the model does not record its number of input features"
    try:
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as exc:
        return "unavailable", f"skl2onnx or onnxruntime is not installed ({exc})"
    return None, None


def load_runtime(
    artifact: Path,
    expected_sha256: str | None,
    options: CompileOptions,
    allow_unverified: bool = False,
    library_version_policy: Policy = "warn",
) -> ModelRuntime:
    """Verify and unpickle the artifact, then choose and warm up its runtime."""
    reference = SklearnRuntime(artifact, expected_sha256, allow_unverified, library_version_policy)
    reference.load()
    return compile_runtime(reference, options, artifact)


def compile_estimator(
    model: Any,
    mode: str = "auto",
    validation_rows: int = DEFAULT_VALIDATION_ROWS,
    baseline: Baseline | Mapping[str, Any] | None = None,
) -> ModelRuntime:
    """For scoring scripts: the estimator behind ONNX Runtime where it gives the same answers.

    The result has ``predict(rows)``, ``predict_proba(rows)``, ``kind`` ("onnx" or
    "sklearn") and ``selection`` (why). Rows are 2-D numpy arrays, as the server passes them.
    """
    reference = SklearnRuntime.from_estimator(model)
    options = CompileOptions(mode=mode, validation_rows=validation_rows, cache=False)
    if baseline is not None and not isinstance(baseline, Baseline):
        baseline = Baseline.model_validate(baseline)  # a baseline.json document
    return compile_runtime(reference, options, baseline=baseline)
