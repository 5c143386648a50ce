"""runtime auto serves with scikit-learn as soon as the model is loaded, and switches to ONNX
Runtime once its check passed in the background: what the server reports before and after,
that a failed check keeps scikit-learn, and that no request fails across the switch."""

from __future__ import annotations

import asyncio
import gc
import re
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import joblib
import numpy as np
import pytest
from modelserve_scoring.batcher import MicroBatcher
from modelserve_scoring.runtime.base import ModelRuntime
from modelserve_scoring.service import ScoringService
from modelserve_scoring.settings import ScoringSettings
from prometheus_client import generate_latest
from scoring_helpers import sha256_of
from sklearn.datasets import make_regression
from sklearn.kernel_ridge import KernelRidge

PROBA_ATOL = 1e-5
SETTLE_S = 120.0


def _settings(model, **extra) -> ScoringSettings:
    return ScoringSettings(
        model_dir=model.directory,
        artifact_sha256=model.sha256,
        onnx_validation_rows=2000,
        onnx_cache=False,
        **extra,
    )


def _runtime_series(service: ScoringService) -> list[dict[str, str]]:
    text = generate_latest(service.metrics.registry).decode()
    series = re.findall(r"^modelserve_model_runtime\{([^}]*)\} 1\.0$", text, re.MULTILINE)
    return [dict(re.findall(r'(\w+)="([^"]*)"', labels)) for labels in series]


def _report(service: ScoringService) -> tuple:
    """(runtime, fallback, pending) as the v2 metadata and the metric say it."""
    meta = service.model_metadata()["parameters"]
    [series] = _runtime_series(service)
    assert series["runtime"] == meta["runtime"]
    return meta["runtime"], meta["runtime_fallback"], meta["runtime_pending"], series["fallback"]


async def _settled(service: ScoringService) -> None:
    settled = await asyncio.to_thread(service.runtime_settled.wait, SETTLE_S)
    assert settled, "the background check did not finish"
    await asyncio.sleep(0)  # the switch itself runs on the loop


def _serve(settings: ScoringSettings, scenario) -> object:
    """Start a service on a fresh loop, run `scenario(service)`, stop it."""

    async def main():
        service = ScoringService(settings)
        await service.start()
        assert service.ready, service.not_ready_reason()
        try:
            return await scenario(service)
        finally:
            await service.stop()

    return asyncio.run(main())


def test_what_loading_left_is_frozen_out_of_full_collections_and_thawed_at_the_switch(
    iris_classifier,
):
    # The p99 of a busy server was full collections walking the loaded libraries
    # (modelserve_scoring/heap.py): once ready, and again once ONNX Runtime serves, they
    # are frozen; the replaced runtime's objects are thawed so they can go.
    gc.unfreeze()

    async def scenario(service):
        frozen_ready = gc.get_freeze_count()
        native = service.runtime
        await _settled(service)
        frozen_switched = gc.get_freeze_count()
        return frozen_ready, native, frozen_switched, service.runtime

    frozen_ready, native, frozen_switched, compiled = _serve(_settings(iris_classifier), scenario)
    assert frozen_ready > 10_000, frozen_ready
    assert compiled.kind != native.kind
    assert frozen_switched > 10_000, frozen_switched
    gc.unfreeze()


def test_served_natively_first_then_by_onnx_runtime(iris_classifier):
    async def scenario(service):
        before = _report(service), service.model_metadata()["parameters"]
        kind_before = service.runtime.kind
        await _settled(service)
        return kind_before, before, service.runtime.kind, _report(service)

    kind_before, (before, meta), kind_after, after = _serve(_settings(iris_classifier), scenario)
    assert kind_before == "sklearn"
    assert before == ("sklearn", None, True, "pending")
    assert meta["runtime_requested"] == "auto" and "onnx_check" not in meta
    assert kind_after == "onnx"
    assert after == ("onnx", None, False, "")


def test_requests_across_the_switch_all_get_sklearns_answers(iris_classifier):
    model, X = iris_classifier.estimator, iris_classifier.X
    rows = [X[i : i + 1 + i % 3] for i in range(0, 120, 4)]

    async def scenario(service):
        loop = asyncio.get_running_loop()
        kinds, answers = set(), []
        while True:
            settled = service.runtime_settled.is_set()
            kinds.add(service.runtime.kind)
            deadline = loop.time() + 30
            # concurrent callers, so the batcher merges them into one predict call
            answers += zip(
                rows,
                await asyncio.gather(
                    *(service.batcher.submit(r, True, True, deadline) for r in rows)
                ),
                strict=True,
            )
            if settled:
                return kinds, answers

    kinds, answers = _serve(_settings(iris_classifier, predict_in_thread=True), scenario)
    assert kinds == {"sklearn", "onnx"}
    for sent, (predictions, proba) in answers:
        assert predictions.tolist() == model.predict(sent).tolist()
        np.testing.assert_allclose(proba, model.predict_proba(sent), atol=PROBA_ATOL, rtol=0)


def test_a_graph_that_is_not_exact_keeps_scikit_learn(iris_classifier, monkeypatch):
    from modelserve_scoring.runtime.onnx import OnnxRuntime

    exact_run = OnnxRuntime.run

    def off_by_a_little(self, rows):
        result = exact_run(self, rows)
        return None if result is None else (result[0], result[1] + 1e-3)

    monkeypatch.setattr(OnnxRuntime, "run", off_by_a_little)

    async def scenario(service):
        await _settled(service)
        return service.runtime.kind, _report(service), service.model_metadata()["parameters"]

    kind, report, meta = _serve(_settings(iris_classifier), scenario)
    assert kind == "sklearn"
    assert report == ("sklearn", "answers_differ", False, "answers_differ")
    assert "probabilit" in meta["runtime_fallback_reason"]


def test_an_unsupported_model_keeps_scikit_learn_and_says_why(tmp_path):
    X, y = make_regression(300, 5, random_state=1)
    directory = tmp_path / "kr"
    directory.mkdir()
    joblib.dump(KernelRidge(alpha=0.5).fit(X, y), directory / "model.joblib")
    # What _settings reads of a model (conftest's TrainedModel is not importable by name:
    # several test folders have a module called conftest).
    model = SimpleNamespace(directory=directory, sha256=sha256_of(directory / "model.joblib"))

    async def scenario(service):
        await _settled(service)
        return _report(service), service.model_metadata()["parameters"]

    report, meta = _serve(_settings(model), scenario)
    assert report == ("sklearn", "unsupported", False, "unsupported")
    assert "KernelRidge" in meta["runtime_fallback_reason"]


def test_a_check_that_crashes_keeps_scikit_learn(iris_classifier, monkeypatch):
    import modelserve_scoring.runtime.compile as compile_module

    def crash(*args, **kwargs) -> ModelRuntime:
        raise MemoryError("no room for the validation rows")

    monkeypatch.setattr(compile_module, "compile_runtime", crash)

    async def scenario(service):
        await _settled(service)
        return _report(service), service.model_metadata()["parameters"]

    report, meta = _serve(_settings(iris_classifier), scenario)
    assert report == ("sklearn", "error", False, "error")
    assert "no room for the validation rows" in meta["runtime_fallback_reason"]


@pytest.mark.parametrize(
    "settings", [{"runtime": "onnx"}, {"compile_before_ready": True}], ids=["onnx", "before-ready"]
)
def test_checked_before_ready_when_asked(iris_classifier, settings):
    async def scenario(service):
        # the choice is made already: the first answer comes from ONNX Runtime
        return service.runtime_settled.is_set(), service.runtime.kind, _report(service)

    settled, kind, report = _serve(_settings(iris_classifier, **settings), scenario)
    assert settled and kind == "onnx"
    assert report == ("onnx", None, False, "")


def test_a_batch_keeps_the_runtime_it_started_with():
    """A switch while a batch runs in the predict thread: its probabilities come from the
    runtime its predictions came from."""

    class Runtime(ModelRuntime):
        def __init__(self, name: str, switch_to: ModelRuntime | None = None) -> None:
            self.name, self.switch_to = name, switch_to
            self.batcher: MicroBatcher | None = None

        def load(self) -> None:
            pass

        @property
        def has_proba(self) -> bool:
            return True

        def predict(self, rows):
            if self.switch_to is not None and self.batcher is not None:
                self.batcher.runtime = self.switch_to  # as service.py switches
            return np.array([self.name] * len(rows))

        def predict_proba(self, rows):
            return np.array([[self.name == "new"]] * len(rows), dtype=float)

    new = Runtime("new")
    old = Runtime("old", switch_to=new)

    async def main():
        batcher = MicroBatcher(old, 64, 0.002, predict_in_thread=True)
        old.batcher = batcher
        batcher.start()
        deadline = asyncio.get_running_loop().time() + 30
        try:
            first = await batcher.submit(np.zeros((2, 1)), True, True, deadline)
            second = await batcher.submit(np.zeros((1, 1)), True, True, deadline)
        finally:
            await batcher.stop()
        return first, second

    (preds, proba), (preds2, proba2) = asyncio.run(main())
    assert preds.tolist() == ["old", "old"] and proba.ravel().tolist() == [0.0, 0.0]
    assert preds2.tolist() == ["new"] and proba2.ravel().tolist() == [1.0]


def test_a_scikit_learn_model_imports_no_booster_or_converter_to_serve(iris_classifier):
    """Loaded and served with scikit-learn, before any ONNX check: the boosting libraries and
    the conversion libraries stay unimported (they cost start-up time and memory)."""
    script = textwrap.dedent(
        f"""
        import sys
        import modelserve_scoring.server
        at_import = sorted(m for m in ("sklearn", "scipy", "pandas") if m in sys.modules)
        from modelserve_scoring.service import ScoringService
        from modelserve_scoring.settings import ScoringSettings
        service = ScoringService(ScoringSettings(
            model_dir={str(iris_classifier.directory)!r},
            artifact_sha256={iris_classifier.sha256!r},
        ))
        service.load_blocking()
        assert service.runtime.kind == "sklearn", service.runtime.kind
        heavy = ("skl2onnx", "onnx", "onnxruntime", "onnxmltools", "xgboost", "lightgbm")
        print(at_import, sorted(m for m in heavy if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "[] []"
