"""Images for the node: single-binary images written by hand, and Docker images, into containerd."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from modelserve_cluster.node import layout as L

# Add-on containers run as nobody: the binaries need no privilege inside the container.
NOBODY = "65534:65534"
_PASSWD = b"root:x:0:0::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n"


def _tar_bytes(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def write_single_binary_image(
    binary: Path, image: str, out: Path, entrypoint: list[str] | None = None
) -> Path:
    """A `docker save`-format archive of a FROM-scratch image holding one static binary.

    No base image can be pulled here, and a static Go binary needs nothing else, so the
    archive is assembled directly instead of asking a Docker engine for `FROM scratch`.
    """
    target = f"usr/local/bin/{binary.name}"
    layer = _tar_bytes(
        [
            (
                "etc/passwd",
                b"root:x:0:0::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n",
                0o644,
            ),
            ("etc/group", b"root:x:0:\nnobody:x:65534:\n", 0o644),
            (target, binary.read_bytes(), 0o755),
        ]
    )
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint or [f"/{target}"], "User": NOBODY},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": f"modelserve: single binary {binary.name}"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [image], "Layers": ["layer.tar"]}]
    out.write_bytes(
        _tar_bytes(
            [
                ("layer.tar", layer, 0o644),
                (config_name, config_bytes, 0o644),
                ("manifest.json", json.dumps(manifest).encode(), 0o644),
            ]
        )
    )
    return out


def ctr_command(socket: Path, *args: str) -> list[str]:
    """`ctr` against our containerd, in the namespace the CRI plugin reads."""
    return ["ctr", "--address", str(socket), "--namespace", L.CONTAINERD_NAMESPACE, *args]


def import_archive(socket: Path, archive: Path) -> None:
    """Load a docker-archive tarball into containerd's CRI namespace."""
    with archive.open("rb") as handle:
        subprocess.run(
            ctr_command(socket, "images", "import", "-"),
            stdin=handle,
            check=True,
            capture_output=True,
        )


def import_docker_image(socket: Path, image: str) -> None:
    """`docker save IMAGE | ctr import -`: the way a locally built image reaches the node."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    assert save.stdout is not None
    result = subprocess.run(
        ctr_command(socket, "images", "import", "-"),
        stdin=save.stdout,
        capture_output=True,
        text=True,
    )
    save.stdout.close()
    if save.wait() != 0:
        raise RuntimeError(f"docker save {image} failed (is the image built? try images/build.sh)")
    if result.returncode != 0:
        raise RuntimeError(f"ctr import of {image} failed: {result.stderr.strip()}")


def containerd_images(socket: Path) -> set[str]:
    """Names of the images containerd holds for the CRI."""
    out = subprocess.run(
        ctr_command(socket, "images", "ls", "-q"), check=True, capture_output=True, text=True
    ).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}
