"""A real S3-compatible object store for tests: SeaweedFS's `weed server` on loopback.

`weed` is built from its Go module by hack/tools/build.sh seaweedfs (pinned in
hack/tools/seaweedfs/go.mod), so the tests talk to a server no one here wrote.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.client import BaseClient, Config
from botocore.exceptions import BotoCoreError, ClientError
from ports import LOOPBACK, free_ports

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "hack" / "tools" / "build.sh"
BINARY_ENV = "MODELSERVE_SEAWEEDFS_BIN"
REGION = "us-east-1"
# The bucket the read-only identity may read and list; every other bucket is refused to it.
READER_BUCKET = "reader-models"
START_TIMEOUT_S = 60.0
# A clean stop takes about 15 s: the volume server stops first, and the filer then retries
# flushing its metadata log until a fixed shutdown budget runs out.
STOP_TIMEOUT_S = 30.0
# A port taken between choosing it and weed binding it is retried with new ports.
START_ATTEMPTS = 3


@dataclass(frozen=True)
class S3Store:
    """Where a running store answers and who may use it: an admin and a one-bucket reader."""

    endpoint_url: str
    access_key: str
    secret_key: str
    reader_access_key: str
    reader_secret_key: str
    reader_bucket: str
    region: str = REGION

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> BaseClient:
        """A boto3 S3 client with path-style addressing; the admin identity unless given keys."""
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                # An error code is what the tests read: retry only what a network blip causes.
                retries={"mode": "standard", "max_attempts": 2},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    def reader_client(self) -> BaseClient:
        """A client signed as the identity that may only Read and List `reader_bucket`."""
        return self.client(self.reader_access_key, self.reader_secret_key)

    def create_bucket(self, name: str) -> None:
        """Create `name` as the admin identity."""
        self.client().create_bucket(Bucket=name)


def weed_binary() -> str:
    """Path of `weed`: $MODELSERVE_SEAWEEDFS_BIN, else built once by hack/tools/build.sh.

    The store is a prerequisite of these tests, so a missing binary or a failed build fails
    the test with how to fix it; it is never a skip.
    """
    given = os.environ.get(BINARY_ENV)
    if given:
        if not os.access(given, os.X_OK):
            pytest.fail(f"{BINARY_ENV}={given} is not an executable file; unset it to build weed")
        return given
    built = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "seaweedfs"], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        pytest.fail(
            "building SeaweedFS' weed failed; run `hack/tools/build.sh seaweedfs` to see why "
            "(it needs Go and the Go module proxy; the first build takes several minutes), "
            f"or point {BINARY_ENV} at a built weed.\n{built.stderr[-3000:]}"
        )
    return built.stdout.strip().splitlines()[-1]


def identities_config(
    admin: tuple[str, str], reader: tuple[str, str], reader_bucket: str
) -> dict[str, object]:
    """The S3 gateway's static identities: full access, and Read+List of one bucket.

    SeaweedFS scopes an action to a bucket as "Action:bucket". With no "anonymous"
    identity, unsigned requests are refused.
    """
    return {
        "identities": [
            {
                "name": "modelserve-admin",
                "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {
                "name": "modelserve-reader",
                "credentials": [{"accessKey": reader[0], "secretKey": reader[1]}],
                "actions": [f"Read:{reader_bucket}", f"List:{reader_bucket}"],
            },
        ]
    }


def server_command(
    binary: str, workdir: Path, ports: list[int], config: Path, host: str = LOOPBACK
) -> list[str]:
    """`weed server` with master, volume, filer and S3 gateway, every listener on `host`
    (loopback unless asked)."""
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    return [
        binary,
        "-logtostderr=true",
        "server",
        f"-ip={host}",
        f"-ip.bind={host}",
        f"-dir={workdir / 'data'}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        # the master reports usage to a public URL by default: this store stays offline
        "-master.telemetry=false",
        # small volumes: every bucket is a collection that grows several volumes at once
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=100",
        # by default the volume server waits 10 s after its last heartbeat before it stops
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        # the Iceberg and Lance catalogs listen on fixed ports by default; not needed here
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
    ]


def child_environment() -> dict[str, str]:
    """This environment without what would give weed other identities or addresses.

    weed adds an admin identity from AWS_ACCESS_KEY_ID, and reads WEED_* and S3_* settings.
    """
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "WEED_", "S3_"))
    }


@dataclass
class SeaweedServer:
    """One running `weed server` process and the store it serves."""

    store: S3Store
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of weed's log, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def answers(self) -> bool:
        """Whether the S3 API takes a signed request: the admin identity lists its buckets."""
        try:
            self.store.client().list_buckets()
        except (BotoCoreError, ClientError):
            return False
        return True

    def stop(self) -> None:
        """Stop weed by its PID: SIGTERM for a clean shutdown, SIGKILL if it hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


def launch(binary: str, workdir: Path, host: str = LOOPBACK) -> SeaweedServer:
    """Start weed once on fresh free ports, with fresh identities; does not wait for it."""
    admin = (f"admin{secrets.token_hex(6)}", secrets.token_urlsafe(30))
    reader = (f"reader{secrets.token_hex(6)}", secrets.token_urlsafe(30))
    config = workdir / "s3-identities.json"
    config.write_text(json.dumps(identities_config(admin, reader, READER_BUCKET), indent=2))
    (workdir / "data").mkdir(exist_ok=True)
    ports = free_ports(8)
    log_path = workdir / "weed.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            server_command(binary, workdir, ports, config, host),
            # weed reads master.toml and friends from its working directory
            cwd=workdir,
            env=child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    store = S3Store(
        endpoint_url=f"http://{host}:{ports[6]}",
        access_key=admin[0],
        secret_key=admin[1],
        reader_access_key=reader[0],
        reader_secret_key=reader[1],
        reader_bucket=READER_BUCKET,
    )
    return SeaweedServer(store=store, process=process, log_path=log_path)


def start_seaweedfs(binary: str, workdir: Path, host: str = LOOPBACK) -> SeaweedServer:
    """A running store whose S3 API answers, with `reader_bucket` created; else fail the test."""
    for attempt in range(1, START_ATTEMPTS + 1):
        server = launch(binary, workdir, host)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            if server.answers():
                server.store.create_bucket(server.store.reader_bucket)
                return server
            time.sleep(0.25)
        else:
            server.stop()
            pytest.fail(
                f"SeaweedFS' S3 API did not answer within {START_TIMEOUT_S:.0f} s; "
                f"see {server.log_path}:\n{server.log_tail()}"
            )
        port_taken = "address already in use" in server.log_tail(200)
        if not port_taken or attempt == START_ATTEMPTS:
            pytest.fail(
                f"weed server exited with code {server.process.returncode} before its S3 API "
                f"answered; see {server.log_path}:\n{server.log_tail()}"
            )
    raise AssertionError("unreachable")
