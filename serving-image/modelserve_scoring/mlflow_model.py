"""An MLflow model directory (MLmodel, sklearn flavor): verified as a whole, then read.

The directory digest (modelserve_api.mlflow_registry.manifest_digest) is checked on the very
bytes that are then unpickled: the pickle is read once, hashed with the other files, and
only those bytes reach the unpickler, after the digest and the library versions passed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from modelserve_api.mlflow_registry import manifest_digest

from modelserve_scoring.artifact import check_digest
from modelserve_scoring.errors import ArtifactError

MLMODEL = "MLmodel"
REQUIREMENTS = "requirements.txt"
# MLflow's serialization formats that plain pickle reads (cloudpickle writes the pickle
# protocol; estimators are referenced by module, as with pickle)
PICKLE_FORMATS = ("pickle", "cloudpickle")
# MLflow's column and tensor types as Open Inference Protocol data types
_COLUMN_TYPES = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}
_TENSOR_TYPES = {
    "bool": "BOOL",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "object": "BYTES",
    "str": "BYTES",
}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][-_.A-Za-z0-9]*)\s*==\s*([^\s;#,]+)")
_LIBRARIES = {"scikit-learn": "scikit-learn", "sklearn": "scikit-learn"}


def is_mlflow_dir(path: Path) -> bool:
    """Whether path is a directory holding an MLmodel file."""
    return path.is_dir() and (path / MLMODEL).is_file()


@dataclass
class MLflowModel:
    """What a verified MLflow directory holds: the pickle's bytes and what MLmodel says."""

    pickle_bytes: bytes
    pickle_name: str
    serialization_format: str
    recorded_versions: dict[str, str] = field(default_factory=dict)
    signature: dict[str, list[dict[str, Any]]] | None = None


def read_verified_dir(directory: Path, expected_digest: str | None) -> MLflowModel:
    """Hash every file once, check the directory digest, then read what was hashed.

    MLmodel, requirements.txt and the pickle are parsed from the very bytes the digest
    covers, so a file changed on disk after the check cannot change what is served.
    """
    manifest: dict[str, str] = {}
    kept: dict[str, bytes] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        data = path.read_bytes()
        manifest[relative] = hashlib.sha256(data).hexdigest()
        # Kept, not read again: an MLflow directory is its pickle plus a few small files.
        kept[relative] = data
    if expected_digest:
        check_digest(manifest_digest(manifest), expected_digest, f"MLflow model {directory}")
    if MLMODEL not in kept:
        raise ArtifactError(f"{directory} has no {MLMODEL} file")
    try:
        mlmodel = yaml.safe_load(kept[MLMODEL].decode())
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ArtifactError(f"cannot read {directory / MLMODEL}: {exc}") from exc
    flavor = (mlmodel or {}).get("flavors", {}).get("sklearn")
    if not isinstance(flavor, dict) or not flavor.get("pickled_model"):
        flavors = ", ".join(sorted((mlmodel or {}).get("flavors", {}))) or "none"
        raise ArtifactError(
            f"{directory / MLMODEL} has no sklearn flavor (flavors: {flavors}); only "
            "scikit-learn MLflow models are served"
        )
    pickle_name = PurePosixPath(str(flavor["pickled_model"])).as_posix()
    if ".." in PurePosixPath(pickle_name).parts or pickle_name.startswith("/"):
        raise ArtifactError(f"MLmodel names a pickle outside its directory: {pickle_name!r}")
    pickle_bytes = kept.get(pickle_name)
    if pickle_bytes is None:
        raise ArtifactError(f"{directory} has no {pickle_name}, which MLmodel names")
    serialization = str(flavor.get("serialization_format") or "cloudpickle")
    if serialization not in PICKLE_FORMATS:
        raise ArtifactError(
            f"{directory / MLMODEL} uses serialization_format {serialization!r}; served are "
            f"{', '.join(PICKLE_FORMATS)}"
        )
    requirements = kept.get(REQUIREMENTS, b"").decode(errors="replace")
    return MLflowModel(
        pickle_bytes=pickle_bytes,
        pickle_name=pickle_name,
        serialization_format=serialization,
        recorded_versions=recorded_versions(flavor, requirements),
        signature=signature_tensors(mlmodel.get("signature")),
    )


def recorded_versions(flavor: dict[str, Any], requirements: str) -> dict[str, str]:
    """Library versions the model recorded: the flavor's sklearn_version, else requirements."""
    found: dict[str, str] = {}
    for line in requirements.splitlines():
        match = _REQUIREMENT.match(line)
        if match and match[1].lower() in _LIBRARIES:
            found[_LIBRARIES[match[1].lower()]] = match[2]
    if flavor.get("sklearn_version"):
        found["scikit-learn"] = str(flavor["sklearn_version"])
    return found


def signature_tensors(signature: Any) -> dict[str, list[dict[str, Any]]] | None:
    """The MLmodel signature as v2 metadata inputs and outputs; None when it has none."""
    if not isinstance(signature, dict):
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    for side in ("inputs", "outputs"):
        raw = signature.get(side)
        try:
            specs = json.loads(raw) if isinstance(raw, str) else (raw or [])
        except ValueError as exc:
            raise ArtifactError(f"MLmodel signature {side} is not JSON: {exc}") from exc
        out[side] = [_tensor(spec, side, i) for i, spec in enumerate(specs)]
    return out


def _tensor(spec: dict[str, Any], side: str, index: int) -> dict[str, Any]:
    default = f"{'input' if side == 'inputs' else 'output'}-{index}"
    if spec.get("type") == "tensor":
        tensor = spec.get("tensor-spec") or {}
        dtype = str(tensor.get("dtype", "float64"))
        return {
            "name": spec.get("name") or default,
            "datatype": _TENSOR_TYPES.get(dtype, "BYTES"),
            "shape": [int(d) for d in tensor.get("shape", [-1])],
        }
    return {
        "name": spec.get("name") or default,
        "datatype": _COLUMN_TYPES.get(str(spec.get("type")), "BYTES"),
        "shape": [-1],
    }
