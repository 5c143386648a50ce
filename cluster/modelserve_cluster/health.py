"""Probe the health endpoints of the components over mutually authenticated TLS."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from modelserve_cluster.pki import Pki


def tls_context(pki: Pki, client: str | None) -> ssl.SSLContext:
    """Trust only our CA; present the named client certificate if given."""
    context = ssl.create_default_context(cafile=str(pki.cert("ca")))
    if client:
        context.load_cert_chain(str(pki.cert(client)), str(pki.key(client)))
    return context


def probe(url: str, context: ssl.SSLContext, timeout: float = 2.0) -> tuple[bool, str]:
    """GET `url`; (True, body) on HTTP 200, else (False, why)."""
    # The components listen on loopback: never route the probe through an $HTTPS_PROXY.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200, response.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace").strip()
        return False, f"HTTP {error.code}: {body[-500:]}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return False, str(reason)


def wait_until(
    check: Callable[[], tuple[bool, str]],
    what: str,
    timeout: float,
    still_running: Callable[[], bool] = lambda: True,
) -> None:
    """Poll `check` until it passes; raise with its last answer when the deadline passes.

    `still_running` lets the wait end at once when the process being waited for died.
    """
    deadline = time.monotonic() + timeout
    last = "not checked yet"
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return
        if not still_running():
            raise RuntimeError(f"{what}: the process exited ({last})")
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s: {last}")
