"""One operator-wide resync loop over the objects Kopf has shown us.

Kopf timers would do this per object, but Kopf guards every timer with a finalizer:
an object could then not be deleted while the operator is down, and uninstalling the
operator would leave namespaces stuck in Terminating. A plain thread has no such cost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..metrics import forget_resource

log = logging.getLogger(__name__)

Reconcile = Callable[[str, str], object]


class Resync:
    """Remembers (kind, namespace, name) of live objects and reconciles them periodically."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[tuple[str, str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def track(self, kind: str, namespace: str, name: str, *, deleted: bool = False) -> None:
        with self._lock:
            if deleted:
                self._known.discard((kind, namespace, name))
                forget_resource(kind, namespace, name)
            else:
                self._known.add((kind, namespace, name))

    def known(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return sorted(self._known)

    def start(
        self,
        interval: float,
        reconcilers: dict[str, Reconcile],
        before_pass: Callable[[], None] | None = None,
    ) -> None:
        """Start the loop (once); every `interval` s each known object is reconciled.

        `before_pass` runs first each time (a look at what the reconciles then report).
        """
        if self._thread is not None or interval <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                if before_pass is not None:
                    try:
                        before_pass()
                    except Exception as error:  # the reconciles matter more
                        log.warning("before the resync: %s", error)
                for kind, namespace, name in self.known():
                    if self._stop.is_set():
                        return
                    try:
                        reconcilers[kind](namespace, name)
                    except Exception as error:  # the next pass tries again
                        log.warning("resync of %s %s/%s failed: %s", kind, namespace, name, error)

        self._thread = threading.Thread(target=loop, name="modelserve-resync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
