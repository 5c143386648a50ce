"""`modelserve-scoring collect`: the per-endpoint shadow collector. Scoring pods post their
answers here in batches; feedback comes here too; the operator reads GET /shadow."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from modelserve_scoring.shadow import RELATIVE_ERROR_BUCKETS, Answer, ShadowComparison

log = logging.getLogger("modelserve.collector")

_MAX_BODY = 32 * 1024 * 1024
_ROLES = ("live", "shadow")


class BadBatch(ValueError):
    """A body the collector cannot use; answered 400/422 with this message."""


def _answer(item: dict[str, Any]) -> tuple[str, Answer]:
    request_id = item.get("id")
    if not isinstance(request_id, str) or not request_id:
        raise BadBatch("every answer needs a non-empty string id")
    predictions = item.get("predictions")
    if not isinstance(predictions, list):
        raise BadBatch(f"answer {request_id!r}: predictions must be a list")
    probabilities = item.get("probabilities")
    proba = None if probabilities is None else np.asarray(probabilities, dtype=np.float64)
    return request_id, Answer(np.asarray(predictions), proba)


class Collector:
    """The comparison plus the counters of what the shippers could not deliver."""

    def __init__(self, capacity: int) -> None:
        self.comparison = ShadowComparison(capacity)
        self.shipper_dropped: dict[str, int] = {}
        self.batches = 0

    def take_batch(self, payload: Any) -> int:
        """Apply one shipper batch; returns the number of answers taken."""
        if not isinstance(payload, dict):
            raise BadBatch('body must be a JSON object with "role", "deployment" and "answers"')
        role, deployment = payload.get("role"), payload.get("deployment")
        if role not in _ROLES:
            raise BadBatch(f"role must be one of {', '.join(_ROLES)}, got {role!r}")
        if not isinstance(deployment, str) or not deployment:
            raise BadBatch("deployment must be a non-empty string")
        answers = payload.get("answers")
        if not isinstance(answers, list):
            raise BadBatch("answers must be a list")
        task = payload.get("task")
        if task in ("classification", "regression") and self.comparison.task is None:
            self.comparison.task = task
        dropped = payload.get("dropped", 0)
        if isinstance(dropped, int) and dropped > 0:
            self.shipper_dropped[deployment] = self.shipper_dropped.get(deployment, 0) + dropped
        comparison = self.comparison
        for item in answers:
            if not isinstance(item, dict):
                raise BadBatch("every answer must be an object")
            request_id, answer = _answer(item)
            if role == "live":
                comparison.add_live(request_id, answer)
            else:
                comparison.add_shadow(deployment, request_id, answer)
        self.batches += 1
        return len(answers)

    def feedback(self, payload: Any) -> dict[str, Any]:
        """POST /feedback as the scoring server takes it: `requestId` and `labels`/`label`."""
        if not isinstance(payload, dict):
            raise BadBatch('body must be a JSON object with "requestId" and "labels"')
        request_id = payload.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            raise BadBatch("requestId must be a non-empty string")
        if "label" in payload:
            labels = [payload["label"]]
        else:
            labels = payload.get("labels")
            if not isinstance(labels, list) or not labels:
                raise BadBatch("labels must be a non-empty list, one label per scored row")
        matched = self.comparison.add_feedback(request_id, labels)
        return {"matched": len(labels) if matched else 0}

    def document(self) -> dict[str, Any]:
        doc = self.comparison.document()
        doc["batches"] = self.batches
        doc["shipperDropped"] = dict(self.shipper_dropped)
        return doc

    def metrics(self) -> str:
        """Prometheus text exposition of the comparison."""
        c = self.comparison
        lines = [
            "# HELP modelserve_shadow_answers_total Answers received, by role.",
            "# TYPE modelserve_shadow_answers_total counter",
            f'modelserve_shadow_answers_total{{role="live"}} {c.live_answers}',
            f'modelserve_shadow_answers_total{{role="shadow"}} {c.shadow_answers}',
            "# HELP modelserve_shadow_unpaired_evicted_total Answers forgotten before their pair "
            "arrived (memory bound).",
            "# TYPE modelserve_shadow_unpaired_evicted_total counter",
            f"modelserve_shadow_unpaired_evicted_total {c.unpaired_evicted}",
            "# HELP modelserve_shadow_shipper_dropped_total Answers a scoring pod dropped "
            "instead of shipping (queue full or collector unreachable).",
            "# TYPE modelserve_shadow_shipper_dropped_total counter",
        ]
        lines += [
            f'modelserve_shadow_shipper_dropped_total{{deployment="{d}"}} {n}'
            for d, n in self.shipper_dropped.items()
        ]
        lines += [
            "# HELP modelserve_shadow_feedback_total Feedback requests, matched or not.",
            "# TYPE modelserve_shadow_feedback_total counter",
            f'modelserve_shadow_feedback_total{{matched="true"}} {c.feedback_matched}',
            f'modelserve_shadow_feedback_total{{matched="false"}} {c.feedback_unknown}',
            "# HELP modelserve_shadow_paired_rows_total Rows answered by both live and candidate.",
            "# TYPE modelserve_shadow_paired_rows_total counter",
        ]
        figures = c.candidates.items()
        lines += [
            f'modelserve_shadow_paired_rows_total{{candidate="{n}"}} {f.paired_rows}'
            for n, f in figures
        ]
        lines += [
            "# HELP modelserve_shadow_agreeing_rows_total Paired rows whose labels agree.",
            "# TYPE modelserve_shadow_agreeing_rows_total counter",
        ]
        lines += [
            f'modelserve_shadow_agreeing_rows_total{{candidate="{n}"}} {f.agreeing_rows}'
            for n, f in figures
        ]
        lines += [
            "# HELP modelserve_shadow_agreement Share of paired rows whose labels agree.",
            "# TYPE modelserve_shadow_agreement gauge",
        ]
        lines += [
            f'modelserve_shadow_agreement{{candidate="{n}"}} {f.agreeing_rows / f.paired_rows}'
            for n, f in figures
            if f.paired_rows and c.task != "regression"
        ]
        lines += [
            "# HELP modelserve_shadow_probability_diff Mean absolute probability difference.",
            "# TYPE modelserve_shadow_probability_diff gauge",
        ]
        lines += [
            f'modelserve_shadow_probability_diff{{candidate="{n}"}} '
            f"{f.probability_diff_sum / f.probability_rows}"
            for n, f in figures
            if f.probability_rows
        ]
        lines += [
            "# HELP modelserve_shadow_relative_error Relative error of candidate to live "
            "(regression).",
            "# TYPE modelserve_shadow_relative_error histogram",
        ]
        if c.task == "regression":
            for name, f in figures:
                for le, count in zip(RELATIVE_ERROR_BUCKETS, f.relative_error_buckets, strict=True):
                    lines.append(
                        f'modelserve_shadow_relative_error_bucket{{candidate="{name}",le="{le}"}} '
                        f"{count}"
                    )
                lines.append(
                    f'modelserve_shadow_relative_error_bucket{{candidate="{name}",le="+Inf"}} '
                    f"{f.paired_rows}"
                )
                lines.append(
                    f'modelserve_shadow_relative_error_sum{{candidate="{name}"}} '
                    f"{f.relative_error_sum}"
                )
                lines.append(
                    f'modelserve_shadow_relative_error_count{{candidate="{name}"}} {f.paired_rows}'
                )
        return "\n".join(lines) + "\n"


def build_app(collector: Collector) -> Any:
    """A bare ASGI app: a few routes, no framework cost per batch."""

    async def read_body(receive: Any) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadBatch("the sender closed the connection before its body ended")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > _MAX_BODY:
                raise BadBatch(f"body larger than {_MAX_BODY} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def reply(send: Any, status: int, body: bytes, media: bytes) -> None:
        headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        jsonb = b"application/json"
        try:
            if method == "GET" and path == "/shadow":
                body = json.dumps(collector.document()).encode()
                return await reply(send, 200, body, jsonb)
            if method == "GET" and path == "/metrics":
                return await reply(send, 200, collector.metrics().encode(), b"text/plain")
            if method == "GET" and path in ("/healthz", "/"):
                return await reply(send, 200, b'{"status":"ok"}', jsonb)
            if method == "POST" and path in ("/answers", "/feedback"):
                raw = await read_body(receive)
                try:
                    payload = json.loads(raw)
                except ValueError as exc:
                    raise BadBatch(f"body is not JSON: {exc}") from exc
                if path == "/answers":
                    taken = collector.take_batch(payload)
                    return await reply(send, 200, json.dumps({"taken": taken}).encode(), jsonb)
                matched = collector.feedback(payload)
                status = 200 if matched["matched"] else 404
                return await reply(send, status, json.dumps(matched).encode(), jsonb)
            await reply(send, 404, b'{"error":"not found"}', jsonb)
        except BadBatch as exc:
            await reply(send, 422, json.dumps({"error": str(exc)}).encode(), jsonb)

    return app


def run_collector(host: str, port: int, capacity: int) -> int:
    """Serve the collector until SIGTERM; returns the exit code."""
    import uvicorn

    collector = Collector(capacity)
    uvicorn.run(build_app(collector), host=host, port=port, log_level="warning", lifespan="on")
    return 0
