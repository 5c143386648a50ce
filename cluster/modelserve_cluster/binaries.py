"""Find the cluster binaries (Go modules, built by build-binaries.sh), building them when cold."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# What the control plane needs; the build script also makes the node's binaries and Helm.
REQUIRED = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)


def build_script() -> Path:
    """cluster/build-binaries.sh, next to this package in the source tree."""
    return Path(__file__).resolve().parent.parent / "build-binaries.sh"


def _existing_build_script() -> Path:
    script = build_script()
    if not script.exists():
        raise FileNotFoundError(
            f"{script} not found: run from a source checkout or set MODELSERVE_BIN_DIR"
        )
    return script


def missing_binaries(bin_dir: Path) -> list[str]:
    return [name for name in REQUIRED if not os.access(bin_dir / name, os.X_OK)]


def binaries_dir() -> Path:
    """Where the binaries are or would be (`$MODELSERVE_BIN_DIR` wins if set); never builds."""
    override = os.environ.get("MODELSERVE_BIN_DIR")
    if override:
        return Path(override)
    script = _existing_build_script()
    printed = subprocess.run(
        ["bash", str(script), "--print-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(printed)


def cached_binaries() -> Path | None:
    """The binary directory if it already holds what a running cluster needs, else None.

    Never builds: for callers that only talk to a cluster that is already up.
    """
    try:
        bin_dir = binaries_dir()
    except (FileNotFoundError, subprocess.CalledProcessError):
        return None
    return None if missing_binaries(bin_dir) else bin_dir


def ensure_binaries() -> Path:
    """The directory holding every binary; `$MODELSERVE_BIN_DIR` wins if set.

    A cold cache runs the build script (about 9 minutes on two cores); a warm one returns at once.
    """
    override = os.environ.get("MODELSERVE_BIN_DIR")
    if override:
        bin_dir = Path(override)
        missing = missing_binaries(bin_dir)
        if missing:
            raise FileNotFoundError(f"MODELSERVE_BIN_DIR={bin_dir} lacks: {', '.join(missing)}")
        return bin_dir
    script = _existing_build_script()
    # The script returns at once when its cache is complete, else builds what is missing.
    # Its progress goes to stderr, which the user sees; stdout's last line is the directory.
    build = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True)
    if build.returncode != 0:
        raise RuntimeError(f"{script} failed (exit {build.returncode}); its output is above")
    output = build.stdout.strip()
    bin_dir = Path(output.splitlines()[-1])
    missing = missing_binaries(bin_dir)
    if missing:
        raise FileNotFoundError(f"build finished but {bin_dir} lacks: {', '.join(missing)}")
    return bin_dir
