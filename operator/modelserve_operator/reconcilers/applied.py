"""Memory of what was last applied to each child, so an unchanged child is not re-applied."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ChildKey = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name)


def child_key(obj: Mapping[str, Any]) -> ChildKey:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def version_marker(obj: Mapping[str, Any]) -> tuple[str, str]:
    """What changes when anyone but a status writer changes the object.

    Objects with a spec/status split (Deployment, HPA, PDB) bump `generation` on a spec
    change only, so the controllers' status updates do not count; the others
    (Service, ConfigMap, Secret) change their resourceVersion only when edited.
    """
    meta = obj["metadata"]
    version = meta.get("generation", meta.get("resourceVersion", ""))
    return meta.get("uid", ""), str(version)


def fingerprint(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class _Applied:
    fingerprint: str
    marker: tuple[str, str]
    result: dict[str, Any]
    at: float


class AppliedChildren:
    """Skips a server-side apply whose manifest and target are both unchanged since the last.

    A rollout makes dozens of reconciles per endpoint; re-applying its eight children
    each time was most of the operator's API traffic. The watch tells us (`seen`) when
    a child changes or goes away; until then, the same manifest needs no new apply.
    Entries expire after `max_age` s, so even a change the markers cannot see (an edit
    to a Deployment's labels changes no generation) is put back within that time.
    """

    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._applied: dict[ChildKey, _Applied] = {}
        self._seen: dict[ChildKey, tuple[str, str] | None] = {}

    def seen(self, obj: Mapping[str, Any], deleted: bool = False) -> None:
        """Record a child as the watch shows it now (or that it is gone)."""
        key = child_key(obj)
        with self._lock:
            if deleted:
                self._seen.pop(key, None)
            else:
                self._seen[key] = version_marker(obj)

    def unchanged(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """The last apply's result if `manifest` is what was applied and nobody changed it."""
        key = child_key(manifest)
        with self._lock:
            last = self._applied.get(key)
            if last is None or self._clock() - last.at > self._max_age:
                return None
            if last.fingerprint != fingerprint(manifest) or self._seen.get(key) != last.marker:
                return None
            return last.result

    def current(self, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
        """The last applied object if nobody changed it since (its data are current)."""
        key = (api_version, kind, namespace, name)
        with self._lock:
            last = self._applied.get(key)
            if last is None or self._clock() - last.at > self._max_age:
                return None
            return last.result if self._seen.get(key) == last.marker else None

    def applied(self, manifest: dict[str, Any], result: dict[str, Any]) -> None:
        key = child_key(manifest)
        marker = version_marker(result)
        with self._lock:
            self._applied[key] = _Applied(fingerprint(manifest), marker, result, self._clock())
            # Our own apply is the latest version, unless the watch already showed a
            # later one (an edit right after our apply must not be forgotten).
            if not _newer(self._seen.get(key), marker):
                self._seen[key] = marker

    def forget(self, namespace: str, owner: str) -> None:
        """Drop the entries of a deleted endpoint's children (`<owner>` and `<owner>-…`)."""
        with self._lock:
            for store in (self._applied, self._seen):
                for key in [k for k in store if _belongs(k, namespace, owner)]:
                    del store[key]


def _belongs(key: ChildKey, namespace: str, owner: str) -> bool:
    name = key[3]
    return key[2] == namespace and (name == owner or name.startswith(f"{owner}-"))


def _newer(seen: tuple[str, str] | None, marker: tuple[str, str]) -> bool:
    """Whether the watch's `seen` is a later version of the same object than `marker`."""
    if seen is None or seen[0] != marker[0]:
        return False
    try:
        return int(seen[1]) > int(marker[1])
    except ValueError:  # resourceVersions are opaque where they are not integers
        return False
