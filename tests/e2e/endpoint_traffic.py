"""HTTP clients of an OnlineEndpoint's router for the e2e tier: one-off calls and steady load."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

SERVED_HEADER = "x-modelserve-deployment"
# Each call is bounded, so a hung connection shows up as a failure instead of a stuck test.
REQUEST_TIMEOUT_S = 10.0


@dataclass
class EndpointClient:
    """Calls the router Service's ClusterIP (reachable from the host through kube-proxy)."""

    cluster_ip: str
    key: str | None
    model_name: str

    @property
    def base_url(self) -> str:
        return f"http://{self.cluster_ip}"

    def headers(self, key: str | None = None, pin: str | None = None) -> dict[str, str]:
        """The endpoint key (or `key`) as a bearer token, and a deployment pin if given."""
        headers = {"Authorization": f"Bearer {key or self.key}"} if (key or self.key) else {}
        if pin:
            headers[SERVED_HEADER] = pin
        return headers

    def score(
        self,
        rows: list[list[float]],
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """POST /score `{"data": rows}` with `headers` (by default: the endpoint key)."""
        return (session or requests).post(
            f"{self.base_url}/score",
            json={"data": rows},
            headers=self.headers() if headers is None else headers,
            timeout=REQUEST_TIMEOUT_S,
        )

    def infer(
        self, rows: list[list[float]], session: requests.Session | None = None
    ) -> requests.Response:
        """POST /v2/models/<model>/infer (Open Inference Protocol); the answer names the version."""
        body = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [len(rows), len(rows[0])],
                    "datatype": "FP64",
                    "data": [value for row in rows for value in row],
                }
            ]
        }
        return (session or requests).post(
            f"{self.base_url}/v2/models/{self.model_name}/infer",
            json=body,
            headers=self.headers(),
            timeout=REQUEST_TIMEOUT_S,
        )


@dataclass
class LoadReport:
    """What a load run saw: how many calls, which failed and why, who answered, which version."""

    sent: int = 0
    failures: list[str] = field(default_factory=list)
    served_by: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)


Call = Callable[[requests.Session], requests.Response]


class SteadyLoad:
    """Client threads calling `call` back to back until stopped, or a count or time cap.

    The caps keep a run bounded even when the test that started it fails before `stop()`.
    """

    def __init__(
        self, call: Call, workers: int = 2, max_requests: int = 100_000, max_seconds: float = 600
    ) -> None:
        self.call = call
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        # (when the call was sent, who answered it), for "who answered calls sent after t".
        self._timeline: list[tuple[float, str]] = []

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def snapshot(self) -> LoadReport:
        """A copy of the report so far (the load keeps running)."""
        with self._lock:
            report = self.report
            return LoadReport(
                report.sent,
                list(report.failures),
                Counter(report.served_by),
                Counter(report.versions),
            )

    def served_since(self, moment: float) -> Counter:
        """Who answered the successful calls sent at or after `moment` (time.monotonic())."""
        with self._lock:
            return Counter(who for sent, who in self._timeline if sent >= moment)

    def stop(self) -> LoadReport:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)
        return self.snapshot()

    def _take_one(self) -> bool:
        with self._lock:
            if self.report.sent >= self.max_requests:
                return False
            self.report.sent += 1
            return True

    def _work(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < deadline and self._take_one():
                self._record(session)

    def _record(self, session: requests.Session) -> None:
        sent = time.monotonic()
        try:
            response = self.call(session)
        except requests.RequestException as error:
            with self._lock:
                self.report.failures.append(f"{type(error).__name__}: {error}")
            return
        with self._lock:
            if response.status_code != 200:
                # Who answered tells router from scoring server from something else entirely.
                who = {k: v for k, v in response.headers.items() if k.lower() != "date"}
                self.report.failures.append(
                    f"HTTP {response.status_code} {who}: {response.text[:200]}"
                )
                return
            served = response.headers.get(SERVED_HEADER, "")
            self.report.served_by[served] += 1
            self._timeline.append((sent, served))
            version = _model_version(response)
            if version is not None:
                self.report.versions[version] += 1


def _model_version(response: requests.Response) -> str | None:
    """The v2 answer's `model_version`; None for answers that do not carry one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("model_version") if isinstance(body, dict) else None
