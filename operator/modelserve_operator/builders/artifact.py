"""How a pod gets a model artifact: volumes, mounts and the path to hand to `fetch`."""

from __future__ import annotations

import posixpath
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from modelserve_api import constants as c
from modelserve_api.baseline import BASELINE_FILE
from modelserve_api.model import MLflowAccess, S3Access

SOURCE_VOLUME = "artifact-source"
# The emptyDir the model is fetched into, and a writable /tmp (the root fs is read-only).
MODEL_VOLUME = "model"
TMP_VOLUME = "tmp"
# A web identity token for s3 artifacts, mounted in the fetch container only.
S3_TOKEN_VOLUME = "s3-web-identity"
S3_TOKEN_DIR = "/var/run/secrets/modelserve.io/s3"
S3_TOKEN_FILE = "token"
S3_TOKEN_AUDIENCE = "sts.amazonaws.com"
# An hour, as EKS's own injection uses; the kubelet renews it at 80 % of its life.
S3_TOKEN_EXPIRY_S = 3600
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
MLFLOW_SECRET_KEYS = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)


@dataclass(frozen=True)
class ArtifactSource:
    """Where the fetch init container reads the artifact from, and what it needs mounted."""

    fetch_uri: str
    file_name: str
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    #: environment of the fetch container (s3 settings; credentials only as secretKeyRef)
    env: list[dict[str, Any]] = field(default_factory=list)
    #: files next to the artifact that fetch copies along when present
    optional_files: tuple[str, ...] = ()


def artifact_source(
    uri: str, s3: S3Access | None = None, mlflow: MLflowAccess | None = None
) -> ArtifactSource:
    """Translate a Model's artifact URI (and its s3 settings) into what the fetch init
    container needs.

    pvc:// mounts the claim read-only and fetches the mounted file (and the baseline.json
    next to it, when there is one); configmap:// mounts the one key; http(s):// and s3://
    are downloaded directly. Every artifact is digest-checked by fetch.
    """
    if uri.startswith("mlflow-artifacts:"):
        return _mlflow_source(uri, mlflow)
    scheme, _, rest = uri.partition("://")
    if scheme in ("http", "https"):
        path = urllib.parse.unquote(urllib.parse.urlparse(uri).path)
        return ArtifactSource(fetch_uri=uri, file_name=posixpath.basename(path))
    target, _, inner = rest.partition("/")
    if not target or not inner:
        raise ValueError(f"artifact uri {uri!r} must be {scheme}://<name>/<path>")
    if scheme == "s3":
        return _s3_source(uri, inner, s3)
    if scheme == "pvc":
        inner = posixpath.normpath(inner)
        if inner.startswith(("..", "/")):
            raise ValueError(f"artifact uri {uri!r} leaves the volume")
        return ArtifactSource(
            fetch_uri=posixpath.join(c.ARTIFACT_SOURCE_DIR, inner),
            file_name=posixpath.basename(inner),
            volumes=[
                {
                    "name": SOURCE_VOLUME,
                    "persistentVolumeClaim": {"claimName": target, "readOnly": True},
                }
            ],
            mounts=[{"name": SOURCE_VOLUME, "mountPath": c.ARTIFACT_SOURCE_DIR, "readOnly": True}],
            # The trainer writes it next to the artifact; the scoring server monitors
            # drift against it.
            optional_files=(BASELINE_FILE,),
        )
    if scheme == "configmap":
        return ArtifactSource(
            fetch_uri=posixpath.join(c.ARTIFACT_SOURCE_DIR, inner),
            file_name=inner,
            volumes=[
                {
                    "name": SOURCE_VOLUME,
                    "configMap": {"name": target, "items": [{"key": inner, "path": inner}]},
                }
            ],
            mounts=[{"name": SOURCE_VOLUME, "mountPath": c.ARTIFACT_SOURCE_DIR, "readOnly": True}],
        )
    raise ValueError(f"unsupported artifact uri scheme {scheme!r} in {uri!r}")


def _s3_source(uri: str, key: str, s3: S3Access | None) -> ArtifactSource:
    """The fetch of an s3:// artifact: settings as env, credentials by reference only.

    The operator never reads the credentials Secret (it needs no access to it): the kubelet
    puts its keys into the fetch container's environment. With a role, the pod gets a
    projected token of its ServiceAccount for AWS STS's web identity exchange.
    """
    name = posixpath.basename(key)
    if not name:
        raise ValueError(f"artifact uri {uri!r} does not end in a file name")
    if s3 is None:
        # the pod's own AWS environment and identity apply (EKS's injection, say)
        return ArtifactSource(fetch_uri=uri, file_name=name)
    env: list[dict[str, Any]] = [{"name": c.S3_ADDRESSING_ENV, "value": s3.addressing_style}]
    if s3.endpoint_url:
        env.append({"name": c.S3_ENDPOINT_ENV, "value": s3.endpoint_url})
    if s3.region:
        env.append({"name": "AWS_REGION", "value": s3.region})
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if s3.credentials_secret:
        env += [
            {
                "name": key_name,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": s3.credentials_secret,
                        "key": key_name,
                        # a session token comes only with temporary credentials
                        **({"optional": True} if key_name == "AWS_SESSION_TOKEN" else {}),
                    }
                },
            }
            for key_name in S3_SECRET_KEYS
        ]
    if s3.role_arn:
        env += [
            {"name": "AWS_ROLE_ARN", "value": s3.role_arn},
            {
                "name": "AWS_WEB_IDENTITY_TOKEN_FILE",
                "value": posixpath.join(S3_TOKEN_DIR, S3_TOKEN_FILE),
            },
        ]
        volumes.append(
            {
                "name": S3_TOKEN_VOLUME,
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "audience": S3_TOKEN_AUDIENCE,
                                "expirationSeconds": S3_TOKEN_EXPIRY_S,
                                "path": S3_TOKEN_FILE,
                            }
                        }
                    ]
                },
            }
        )
        mounts.append({"name": S3_TOKEN_VOLUME, "mountPath": S3_TOKEN_DIR, "readOnly": True})
    return ArtifactSource(fetch_uri=uri, file_name=name, volumes=volumes, mounts=mounts, env=env)


def _mlflow_source(download_uri: str, mlflow: MLflowAccess | None) -> ArtifactSource:
    """The fetch of a resolved MLflow model directory, through its tracking server.

    The whole directory lands in the model volume (file_name empty: the server is pointed at
    the directory); credentials reach the pod only by reference to the Secret.
    """
    if mlflow is None:
        raise ValueError(f"{download_uri!r} needs the Model's artifact.mlflow settings")
    env: list[dict[str, Any]] = [{"name": "MLFLOW_TRACKING_URI", "value": mlflow.tracking_uri}]
    if mlflow.credentials_secret:
        env += [
            {
                "name": key_name,
                # a token, or a username and password: whichever keys the Secret has
                "valueFrom": {
                    "secretKeyRef": {
                        "name": mlflow.credentials_secret,
                        "key": key_name,
                        "optional": True,
                    }
                },
            }
            for key_name in MLFLOW_SECRET_KEYS
        ]
    return ArtifactSource(fetch_uri=download_uri, file_name="", env=env)


def build_fetch_container(
    source: ArtifactSource,
    sha256: str,
    image: str,
    image_pull_policy: str,
    resources: dict[str, Any],
    security_context: dict[str, Any],
) -> dict[str, Any]:
    """The init container that fetches the artifact and verifies its sha256 before any load."""
    optional = [arg for name in source.optional_files for arg in ("--optional-file", name)]
    return {
        "name": "fetch-model",
        "image": image,
        "imagePullPolicy": image_pull_policy,
        "command": [
            "modelserve-scoring",
            "fetch",
            "--uri",
            source.fetch_uri,
            "--sha256",
            sha256,
            "--dest",
            c.MODEL_DIR,
            *optional,
        ],
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": c.MODEL_DIR},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            *source.mounts,
        ],
        **({"env": list(source.env)} if source.env else {}),
        "resources": resources,
        "securityContext": security_context,
        # The last log lines become the termination message: a refusal line (artifact not
        # found, access denied, digest mismatch) then names the problem in the Model's status.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
