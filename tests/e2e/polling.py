"""Polling for the e2e tier: wait until a check holds, treating a call that fails as "not yet"."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

# What a check raises while the thing it looks at is still coming up: a Service that does
# not answer yet, a field or list entry that is not in the status yet, a body not JSON yet.
NOT_YET = (requests.RequestException, KeyError, IndexError, ValueError)


def wait_for(check: Callable[[], Any], what: str, timeout: float, interval: float = 1.0) -> Any:
    """Poll `check()` until truthy and return it; fail naming `what` and the last value or error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except NOT_YET as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")
