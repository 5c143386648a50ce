"""Ships this pod's answers to the endpoint's shadow collector, off the request path: a request
only appends to a bounded queue; a thread posts batches (tagged live or shadow) and counts drops."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from typing import Any

import numpy as np

log = logging.getLogger("modelserve.shipper")

#: requests the router mirrored to this pod carry this header (see nginx.conf.j2)
MIRRORED_HEADER = b"x-modelserve-mirrored"


class AnswerShipper:
    """A bounded queue of (request id, mirrored, predictions, probabilities) and its sender."""

    def __init__(
        self,
        url: str,
        deployment: str,
        capacity: int = 10_000,
        batch: int = 500,
        interval_s: float = 0.2,
        timeout_s: float = 2.0,
    ) -> None:
        self.url = url.rstrip("/") + "/answers"
        self.deployment = deployment
        self.capacity = capacity
        self.batch = batch
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        #: set once the model is loaded: classification when it has classes
        self.task: str | None = None
        self.classes: list | None = None
        self._queue: deque[tuple[str, bool, Any, Any]] = deque()
        self._wake = threading.Event()
        self._stopped = False
        self.dropped = 0  # answers never delivered: queue full or collector unreachable
        self._dropped_reported = 0
        self.shipped = 0
        self._thread = threading.Thread(target=self._run, name="answer-shipper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Send what is queued (one last try), then stop the thread."""
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=self.timeout_s + 1)

    def add(self, request_id: str, mirrored: bool, predictions: Any, probabilities: Any) -> None:
        """Called on the request path: one append, no copy, no I/O."""
        queue = self._queue
        if len(queue) >= self.capacity:
            self.dropped += 1
            return
        queue.append((request_id, mirrored, predictions, probabilities))
        if len(queue) >= self.batch:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self._flush()
            if self._stopped:
                self._flush()
                return

    def _flush(self) -> None:
        queue = self._queue
        while queue:
            taken = [queue.popleft() for _ in range(min(self.batch, len(queue)))]
            for mirrored in (False, True):
                items = [t for t in taken if t[1] is mirrored]
                if items:
                    self._post("shadow" if mirrored else "live", items)

    def _post(self, role: str, items: list[tuple[str, bool, Any, Any]]) -> None:
        classes = self.classes
        answers = []
        for request_id, _, predictions, probabilities in items:
            if predictions is None and probabilities is not None and classes is not None:
                # only probabilities were asked for: compare the class they pick
                predictions = np.asarray(classes)[probabilities.argmax(axis=1)]
            answers.append(
                {
                    "id": request_id,
                    "predictions": _rows(predictions),
                    "probabilities": None if probabilities is None else _rows(probabilities),
                }
            )
        dropped = self.dropped - self._dropped_reported
        body = json.dumps(
            {
                "role": role,
                "deployment": self.deployment,
                "task": self.task,
                "dropped": dropped,
                "answers": answers,
            }
        ).encode()
        request = urllib.request.Request(
            self.url, body, {"content-type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.dropped += len(items)
            log.warning("could not ship %d answers to %s: %s", len(items), self.url, exc)
            return
        self._dropped_reported += dropped
        self.shipped += len(items)


def _rows(values: Any) -> list:
    if values is None:
        return []
    if isinstance(values, np.ndarray):
        return values.tolist()
    return list(values)
