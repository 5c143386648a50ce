"""Library versions an artifact recorded, against the serving image's, checked at load."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from modelserve_api import constants as c
from modelserve_api.runtime_report import LoadRefusal

from modelserve_scoring.errors import ArtifactError

log = logging.getLogger(__name__)

Policy = Literal["strict", "warn"]

#: report name -> the distributions that provide it (xgboost-cpu is xgboost without CUDA)
SERVING_LIBRARIES = {
    "scikit-learn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "lightgbm": ("lightgbm",),
    "onnxruntime": ("onnxruntime",),
}
#: the libraries whose recorded version decides whether an artifact loads the same
CHECKED_LIBRARIES = ("scikit-learn", "xgboost", "lightgbm")

_MAJOR_MINOR = re.compile(r"^\s*v?(\d+)\.(\d+)")


class LibraryVersionError(ArtifactError):
    """A model refused under libraryVersionPolicy strict (carries both sides)."""

    def __init__(self, message: str, recorded: dict[str, str], serving: dict[str, str]) -> None:
        super().__init__(message)
        self.recorded = recorded
        self.serving = serving


def refusal_line(error: LibraryVersionError) -> str:
    """The machine-readable line printed before exiting, for the operator to find."""
    return LoadRefusal(
        reason=c.REFUSED_LIBRARY_VERSION,
        message=str(error),
        library_versions=error.recorded,
        serving_library_versions=error.serving,
    ).line()


def serving_versions() -> dict[str, str]:
    """Versions of the model libraries installed in this image (absent ones left out)."""
    # package metadata, not an import: importing xgboost only to ask costs a second
    found = {}
    for name, distributions in SERVING_LIBRARIES.items():
        for distribution in distributions:
            try:
                found[name] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


def major_minor(version: str) -> tuple[int, int] | None:
    """(major, minor) of a version string, or None when it does not start with them."""
    match = _MAJOR_MINOR.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def mismatch(recorded: dict[str, str], serving: dict[str, str]) -> str:
    """The first major- or minor-version difference as a sentence; empty when none."""
    for name in CHECKED_LIBRARIES:
        saved, here = recorded.get(name), serving.get(name)
        if saved is None or here is None:
            continue
        saved_mm, here_mm = major_minor(saved), major_minor(here)
        if saved_mm is None or here_mm is None or saved_mm == here_mm:
            continue
        level = "major" if saved_mm[0] != here_mm[0] else "minor"
        return (
            f"the artifact was saved with {name} {saved} but this image has {here} "
            f"(a {level}-version difference)"
        )
    return ""


@dataclass
class VersionCheck:
    """What a load learned about library versions, for the model metadata."""

    recorded: dict[str, str] = field(default_factory=dict)
    serving: dict[str, str] = field(default_factory=serving_versions)
    mismatch: str = ""

    def metadata(self) -> dict[str, Any]:
        """The v2 metadata `parameters` keys."""
        return {
            "library_versions": dict(self.recorded),
            "serving_library_versions": dict(self.serving),
            "library_version_mismatch": self.mismatch,
        }


def enforce(recorded: dict[str, str], policy: Policy, where: str) -> VersionCheck:
    """Compare recorded with serving versions; raise under strict, log under warn."""
    check = VersionCheck(recorded=dict(recorded))
    check.mismatch = mismatch(check.recorded, check.serving)
    if not check.mismatch:
        return check
    if policy == "strict":
        raise LibraryVersionError(
            f"{check.mismatch}; libraryVersionPolicy strict refuses it: {where}. Serve it with "
            "an image that has the recorded version, save the model again with this image's "
            "libraries, or set the Model's libraryVersionPolicy to warn.",
            check.recorded,
            check.serving,
        )
    log.warning("%s (libraryVersionPolicy warn: serving it anyway): %s", check.mismatch, where)
    return check


@contextlib.contextmanager
def recording_sklearn_version() -> Iterator[dict[str, str]]:
    """Around an unpickle: the scikit-learn version the pickle recorded, if it differs.

    scikit-learn drops `_sklearn_version` from the state it restores and warns only when it
    differs from the running version, so the warning is where the recorded version lives.
    """
    recorded: dict[str, str] = {}
    try:
        from sklearn.exceptions import InconsistentVersionWarning
    except ImportError:  # scikit-learn before 1.3 warns with a plain UserWarning
        yield recorded
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        yield recorded
    for item in caught:
        if isinstance(item.message, InconsistentVersionWarning):
            recorded.setdefault("scikit-learn", str(item.message.original_sklearn_version))
        else:
            # not ours to swallow: pass on what the unpickle warned about
            warnings.warn_explicit(
                item.message, item.category, item.filename, item.lineno, source=item.source
            )


def recorded_for_estimator(model: Any, unpickle_recorded: dict[str, str]) -> dict[str, str]:
    """Versions an unpickled model recorded: what the unpickle warned, else this image's.

    A scikit-learn estimator that unpickled without a version warning was saved with this
    image's scikit-learn. XGBoost's and LightGBM's scikit-learn wrappers pickle no
    `_sklearn_version` and keep no saving version of their own once unpickled, so nothing is
    claimed for them.
    """
    recorded = dict(unpickle_recorded)
    module = type(model).__module__ or ""
    if "scikit-learn" not in recorded and module.split(".")[0] == "sklearn":
        current = serving_versions().get("scikit-learn")
        if current is not None:
            recorded["scikit-learn"] = current
    return recorded


def recorded_native(data: bytes, framework: str) -> dict[str, str]:
    """Versions a native booster file recorded: XGBoost's own; LightGBM's text names only its
    format (`version=v4`), not the library's, so nothing for it."""
    saved = recorded_xgboost_version(data) if framework == "xgboost" else None
    return {"xgboost": saved} if saved else {}


def recorded_xgboost_version(data: bytes) -> str | None:
    """The XGBoost version a native model file (JSON or UBJSON) recorded, from its bytes.

    Both formats keep a top-level `"version": [major, minor, patch]`; None if absent.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return _ubjson_version(data)  # not JSON: UBJSON
    return _version_triple(document.get("version")) if isinstance(document, dict) else None


def _version_triple(value: Any) -> str | None:
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return ".".join(str(v) for v in value)
    return None


def _ubjson_version(data: bytes) -> str | None:
    # UBJSON writes the key as 'L' + int64 length + "version", then a typed array of ints;
    # XGBoost writes it at the top level, so the first occurrence is the one.
    key = b"version"
    at = data.find(b"L" + len(key).to_bytes(8, "big") + key)
    if at < 0:
        return None
    return _ubjson_int_array(data, at + 1 + 8 + len(key))


_UBJ_INTS = {b"i": (1, True), b"U": (1, False), b"I": (2, True), b"l": (4, True), b"L": (8, True)}


def _ubjson_int_array(data: bytes, at: int) -> str | None:
    if data[at : at + 1] != b"[":
        return None
    at += 1
    kind = None
    count = None
    if data[at : at + 1] == b"$":
        kind = data[at + 1 : at + 2]
        at += 2
    if data[at : at + 1] == b"#":
        size_kind = data[at + 1 : at + 2]
        if size_kind not in _UBJ_INTS:
            return None
        width, signed = _UBJ_INTS[size_kind]
        count = int.from_bytes(data[at + 2 : at + 2 + width], "big", signed=signed)
        at += 2 + width
    parts: list[int] = []
    while count is None or len(parts) < count:
        marker = kind
        if marker is None:
            marker = data[at : at + 1]
            at += 1
            if marker == b"]":
                break
        if marker not in _UBJ_INTS:
            return None
        width, signed = _UBJ_INTS[marker]
        parts.append(int.from_bytes(data[at : at + width], "big", signed=signed))
        at += width
        if len(parts) > 4:
            return None
    return ".".join(str(p) for p in parts) if parts else None
