"""What a scoring pod says about its runtime and library versions (its v2 metadata, or the
refusal in its termination message), as written to the Model status."""

from __future__ import annotations

import datetime as dt
import time

from modelserve_api import conditions as cond
from modelserve_api import parse_model
from modelserve_api.runtime_report import LoadRefusal
from modelserve_operator.reconcilers import runtime_report as runtime_report_module
from modelserve_operator.reconcilers.model import refused_load
from modelserve_operator.reconcilers.observed import observe_deployment, pod_load_refusal
from modelserve_operator.reconcilers.runtime_report import (
    RuntimeReporter,
    refusal_report,
    runtime_report,
)
from operator_bodies import model_body

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)


def test_a_fallback_to_scikit_learn_is_reported_with_its_reason():
    metadata = {
        "name": "iris",
        "parameters": {
            "runtime": "sklearn",
            "runtime_requested": "auto",
            "runtime_fallback": "mismatch",
            "runtime_fallback_reason": "classes differ on 3 of 100000 rows",
        },
    }
    assert runtime_report(metadata, "iris/blue", NOW) == {
        "requested": "auto",
        "selected": "sklearn",
        "fallback": "mismatch",
        "reason": "classes differ on 3 of 100000 rows",
        "libraryVersionMismatch": "",
        "loadRefused": "",
        "loadRefusedReason": "",
        "reportedBy": "iris/blue",
        "observedAt": "2026-11-28T02:00:00Z",
    }


def test_onnx_in_use_has_no_fallback():
    metadata = {"parameters": {"runtime": "onnx", "runtime_requested": "auto"}}
    report = runtime_report(metadata, "iris/blue", NOW)
    assert report["selected"] == "onnx"
    assert report["fallback"] == ""
    assert report["reason"] == ""


def test_a_choice_still_pending_reports_nothing_yet():
    # runtime auto: scikit-learn serves while ONNX Runtime is checked in the background
    pending = {"parameters": {"runtime": "sklearn", "runtime_requested": "auto",
                              "runtime_pending": True}}  # fmt: skip
    assert runtime_report(pending, "iris/blue", NOW) is None
    settled = {"parameters": {"runtime": "onnx", "runtime_requested": "auto",
                              "runtime_pending": False}}  # fmt: skip
    assert runtime_report(settled, "iris/blue", NOW)["selected"] == "onnx"


def test_metadata_without_a_runtime_reports_nothing():
    # A pod still loading, or a custom scoring script, names no runtime.
    assert runtime_report({"parameters": {"ready": False}}, "iris/blue", NOW) is None
    assert runtime_report({}, "iris/blue", NOW) is None


REFUSAL = LoadRefusal(
    reason="LibraryVersionMismatch",
    message="the artifact was saved with scikit-learn 1.4.2 but this image has 1.9.1 "
    "(a minor-version difference); libraryVersionPolicy strict refuses it: /models/model.joblib",
    library_versions={"scikit-learn": "1.4.2"},
    serving_library_versions={"scikit-learn": "1.9.1"},
)


def test_library_versions_are_copied_from_the_metadata():
    metadata = {
        "parameters": {
            "runtime": "sklearn",
            "library_versions": {"scikit-learn": "1.4.2"},
            "serving_library_versions": {"scikit-learn": "1.9.1", "onnxruntime": "1.32.0"},
            "library_version_mismatch": "saved with scikit-learn 1.4.2 but this image has 1.9.1",
        }
    }
    report = runtime_report(metadata, "iris/blue", NOW)
    assert report["libraryVersions"] == {"scikit-learn": "1.4.2"}
    assert report["servingLibraryVersions"]["onnxruntime"] == "1.32.0"
    assert "1.4.2" in report["libraryVersionMismatch"]
    # a pod that loaded the model clears an earlier refusal
    assert report["loadRefused"] == ""


def _crashed_pod(message: str, exit_code: int = 1) -> dict:
    terminated = {"exitCode": exit_code, "reason": "Error", "message": message}
    return {
        "metadata": {"name": "iris-blue-abc"},
        "status": {
            "containerStatuses": [
                {
                    "name": "server",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": terminated},
                }
            ]
        },
    }


def test_a_refusal_is_read_from_a_crashed_pods_termination_message():
    tail = "2026-12-04 ERROR cannot load the model: ...\n" + REFUSAL.line() + "\n"
    assert pod_load_refusal([_crashed_pod(tail)]) == REFUSAL
    deployment = {"metadata": {"generation": 1}, "spec": {"replicas": 1}, "status": {}}
    observation = observe_deployment(deployment, [_crashed_pod(tail)])
    assert observation.load_refusal == REFUSAL
    assert observation.failure is not None  # the endpoint still shows the crash loop


def test_other_crashes_are_no_refusal():
    assert pod_load_refusal([_crashed_pod("Traceback ...\nValueError: boom")]) is None
    assert pod_load_refusal([_crashed_pod(REFUSAL.line(), exit_code=0)]) is None
    assert pod_load_refusal([{"metadata": {"name": "p"}, "status": {}}]) is None


FETCH_REFUSAL = LoadRefusal(
    reason="ArtifactNotFound",
    message="cannot fetch s3://models/iris/model.joblib (endpoint http://127.0.0.1:8333): "
    "the store answered NoSuchKey (HTTP 404): The specified key does not exist.",
)


def _pod_with_failed_fetch(message: str) -> dict:
    """A pod whose fetch init container exited with `message` and is backing off."""
    terminated = {"exitCode": 1, "reason": "Error", "message": message}
    return {
        "metadata": {"name": "iris-blue-def"},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [
                {
                    "name": "fetch-model",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": terminated},
                }
            ],
            "containerStatuses": [
                {"name": "scoring", "state": {"waiting": {"reason": "PodInitializing"}}}
            ],
        },
    }


def test_a_refusal_is_read_from_a_failed_fetch_init_container():
    tail = "modelserve-scoring fetch: cannot fetch ...\n" + FETCH_REFUSAL.line() + "\n"
    assert pod_load_refusal([_pod_with_failed_fetch(tail)]) == FETCH_REFUSAL
    deployment = {"metadata": {"generation": 1}, "spec": {"replicas": 1}, "status": {}}
    observation = observe_deployment(deployment, [_pod_with_failed_fetch(tail)])
    assert observation.load_refusal == FETCH_REFUSAL


def test_a_fetch_refusal_degrades_the_model_under_its_own_reason():
    report = refusal_report(FETCH_REFUSAL, "iris/blue", NOW)
    # the artifact is missing: no library version is in question
    assert report["libraryVersionMismatch"] == ""
    assert report["loadRefusedReason"] == "ArtifactNotFound"
    summary = refused_load(
        _model_with_runtime(report), cond.ready("ArtifactReferenced", "downloaded by each pod")
    )
    assert summary.state == "failed"
    assert summary.reason == "ArtifactNotFound"
    assert "s3://models/iris/model.joblib" in summary.message and "NoSuchKey" in summary.message


def test_a_refusal_recorded_without_a_reason_is_a_library_version_one():
    # what an operator recorded before refusals carried their reason into the status
    recorded = {"loadRefused": REFUSAL.message, "reportedBy": "iris/blue"}
    summary = refused_load(_model_with_runtime(recorded), cond.ready("ArtifactReferenced", "ok"))
    assert summary.reason == "LibraryVersionMismatch"


def _model_with_runtime(runtime: dict | None):
    body = model_body()
    if runtime is not None:
        body["status"] = {"runtime": runtime}
    return parse_model(body)


def test_a_recorded_refusal_keeps_the_model_degraded_naming_both_versions():
    model = _model_with_runtime(refusal_report(REFUSAL, "iris/blue", NOW))
    summary = refused_load(model, cond.ready("ArtifactReferenced", "claim exists"))
    assert summary.state == "failed"
    assert summary.reason == "LibraryVersionMismatch"
    assert "scikit-learn 1.4.2" in summary.message and "1.9.1" in summary.message
    assert "iris/blue" in summary.message


def test_without_a_refusal_the_artifact_check_decides():
    loaded = runtime_report({"parameters": {"runtime": "sklearn"}}, "iris/blue", NOW)
    ready = cond.ready("ArtifactReferenced", "claim exists")
    assert refused_load(_model_with_runtime(loaded), ready) == ready
    assert refused_load(_model_with_runtime(None), ready) == ready
    # a failed artifact check keeps its own, more basic, reason
    missing = cond.failed("ArtifactNotFound", "PersistentVolumeClaim 'models' not found")
    model = _model_with_runtime(refusal_report(REFUSAL, "iris/blue", NOW))
    assert refused_load(model, missing) == missing


class _RecordingKube:
    """Records status patches; the reporter needs nothing else on this path."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict]] = []

    def patch_status(self, api_version, kind, namespace, name, patch) -> None:
        self.patches.append((name, patch))


def test_a_refusal_is_patched_into_status_runtime_unless_already_there():
    kube = _RecordingKube()
    reporter = RuntimeReporter(kube, fetch=lambda *_: {})
    try:
        model = _model_with_runtime(None)
        reporter.record_refusal(model, REFUSAL, "iris/blue")
        ((name, patch),) = kube.patches
        assert name == model.metadata.name
        assert patch["runtime"]["loadRefused"] == REFUSAL.message
        assert patch["runtime"]["libraryVersions"] == {"scikit-learn": "1.4.2"}
        # every reconcile sees the crashed pod again: the status already says it
        recorded = _model_with_runtime(patch["runtime"])
        reporter.record_refusal(recorded, REFUSAL, "iris/blue")
        assert len(kube.patches) == 1
        # a different refusal of the same pods (now the fetch's) is recorded
        reporter.record_refusal(recorded, FETCH_REFUSAL, "iris/blue")
        assert kube.patches[-1][1]["runtime"]["loadRefusedReason"] == "ArtifactNotFound"
    finally:
        reporter.stop()


class _OnePodKube(_RecordingKube):
    def list(self, api_version, kind, namespace, selector) -> list[dict]:
        ready = {"type": "Ready", "status": "True"}
        return [{"metadata": {"name": "iris-blue-0"}, "status": {"conditions": [ready]}}]


def test_a_pending_choice_is_read_again_by_itself_and_recorded_once_made(monkeypatch):
    # no reconcile asks again before the resync (minutes): the reporter reads again itself
    monkeypatch.setattr(runtime_report_module, "PENDING_RETRY_S", 0.01)
    pending = {"parameters": {"runtime": "sklearn", "runtime_requested": "auto",
                              "runtime_pending": True}}  # fmt: skip
    chosen = {"parameters": {"runtime": "onnx", "runtime_requested": "auto"}}
    answers = [pending, pending, chosen]
    kube = _OnePodKube()
    reporter = RuntimeReporter(kube, fetch=lambda *_: answers.pop(0))
    model = _model_with_runtime(None)
    try:
        reporter.request(model, "auto", "selector", "iris/blue")
        deadline = time.monotonic() + 10
        while not kube.patches and time.monotonic() < deadline:
            time.sleep(0.01)
        ((_, patch),) = kube.patches
        assert patch["runtime"]["selected"] == "onnx"
        assert answers == []
        reporter.request(model, "auto", "selector", "iris/blue")  # done: not read again
        time.sleep(0.1)
        assert len(kube.patches) == 1
    finally:
        reporter.stop()
