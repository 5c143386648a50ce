"""What Argo CD's and Flux's health checks say of an object: sigs.k8s.io/cli-utils' kstatus.

The verdict comes from the library itself, through hack/tools/kstatus (built from its Go
module once per machine), not from a re-implementation of its rules.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "hack" / "tools"


@functools.cache
def kstatus_binary() -> str:
    """The built tool's path; building it is a prerequisite, so a failure fails the test."""
    built = subprocess.run(
        ["bash", str(TOOLS / "build.sh"), "kstatus"], capture_output=True, text=True
    )
    if built.returncode != 0:
        raise RuntimeError(f"building hack/tools/kstatus failed:\n{built.stderr}")
    return built.stdout.strip().splitlines()[-1]


def kstatus_verdict(obj: dict) -> tuple[str, str]:
    """(status, message) kstatus computes for `obj`: Current, InProgress, Failed, …"""
    ran = subprocess.run(
        [kstatus_binary()], input=json.dumps(obj), capture_output=True, text=True, check=False
    )
    if ran.returncode != 0:
        raise RuntimeError(f"kstatus refused the object: {ran.stderr.strip()}")
    verdict = json.loads(ran.stdout)
    return verdict["status"], verdict["message"]


def kstatus(obj: dict) -> str:
    """kstatus' status for `obj`."""
    return kstatus_verdict(obj)[0]
