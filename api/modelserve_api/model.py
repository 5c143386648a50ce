"""Typed spec and status of the Model kind (one registered model version)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from . import constants as c
from .common import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    ApiModel,
    Condition,
    ObjectMeta,
    conditions_field,
    object_fields,
    observed_generation_field,
    parse_or_raise,
)
from .markers import AGE_COLUMN, READY_COLUMN_PATH, CustomResource, PrinterColumn, Rule, kube
from .training import TrainingSpec, TrainingStatus

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
ARTIFACT_URI_PATTERN = (
    r"^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/[^/].*"
    r"|configmap://[a-z0-9]([-.a-z0-9]*[a-z0-9])?/[-._a-zA-Z0-9]+"
    r"|https?://[^/\s]+(/\S*)?"
    r"|s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]/[^/\s](\S*[^/\s])?"
    r"|models:/[A-Za-z0-9][-._A-Za-z0-9]*(/[1-9][0-9]*|@[A-Za-z0-9][-_A-Za-z0-9]*))$"
)
# an MLflow tracking server: http(s)://host[:port][/path], no user:password@ (use the Secret)
TRACKING_URI_PATTERN = r"^https?://[^/\s?#@]+(/[^\s?#]*)?$"
# scheme://host[:port] only: no path, and no user:password@ (credentials belong in a Secret)
S3_ENDPOINT_PATTERN = r"^https?://[^/\s?#@]+/?$"
S3_REGION_PATTERN = r"^[A-Za-z0-9][-_A-Za-z0-9]*$"
ROLE_ARN_PATTERN = r"^arn:[^\s:]+:\S+$"
RUNTIMES = ("auto", "sklearn", "onnx")
Runtime = Literal["auto", "sklearn", "onnx"]
DATATYPES = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


class S3Access(ApiModel):
    """How the fetch init container reaches an s3:// artifact. The operator never reads the
    credentials: the scoring and batch pods get them from the Secret or their own identity."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "!(has(self.credentialsSecret) && has(self.roleARN))",
                    "set either artifact.s3.credentialsSecret or artifact.s3.roleARN, not both",
                )
            ]
        )
    )

    endpoint_url: str | None = Field(
        default=None,
        alias="endpointURL",
        description="Endpoint of an S3-compatible store as http(s)://host[:port], for example "
        "https://minio.storage.svc:9000; left out, AWS S3's endpoint for the region.",
        max_length=512,
        pattern=S3_ENDPOINT_PATTERN,
    )
    region: str | None = Field(
        default=None,
        description="Region of the bucket, for example eu-west-1; left out, the pod's "
        "AWS_REGION or AWS_DEFAULT_REGION if set, else us-east-1.",
        max_length=64,
        pattern=S3_REGION_PATTERN,
    )
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto",
        description='How the bucket is addressed: "path" (https://host/bucket/key, what most '
        'S3-compatible stores need), "virtual" (https://bucket.host/key) or "auto" (the AWS '
        "SDK's choice).",
    )
    credentials_secret: str | None = Field(
        default=None,
        description="Name of a Secret in the Model's namespace with the keys AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY, and optionally AWS_SESSION_TOKEN. The pods that fetch the "
        "artifact read it; the operator does not. Left out (and no roleARN), the pod's own AWS "
        "credential chain applies, for example what EKS injects.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    role_arn: str | None = Field(
        default=None,
        alias="roleARN",
        description="IAM role to assume with web identity: the fetching pod gets a projected "
        "service-account token (audience sts.amazonaws.com) for its namespace's default "
        "ServiceAccount, which the role's trust policy must accept.",
        max_length=2048,
        pattern=ROLE_ARN_PATTERN,
    )


class MLflowAccess(ApiModel):
    """Which MLflow tracking server resolves a models:/ artifact, and how to sign in to it."""

    tracking_uri: str = Field(
        alias="trackingURI",
        description="Base URL of the MLflow tracking server, for example "
        "http://mlflow.mlops.svc:5000. The operator resolves the registered model through its "
        "REST API, and the fetch init container downloads the model directory from it.",
        min_length=1,
        max_length=512,
        pattern=TRACKING_URI_PATTERN,
    )
    credentials_secret: str | None = Field(
        default=None,
        description="Name of a Secret in the Model's namespace with either MLFLOW_TRACKING_TOKEN "
        "(sent as a bearer token) or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
        "(HTTP basic). The operator reads it to resolve the model; the fetch container gets it "
        "as environment. Left out, requests are not signed.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    # No schema defaults: Models stored before these fields existed read back unchanged.
    follow_alias: bool | None = Field(
        default=None,
        description="Keep following the alias of a models:/<name>@<alias> artifact: the operator "
        "asks the tracking server again every pollSeconds and, when the alias has moved to "
        "another version, pins that version's directory digest in status.mlflow, which the "
        "endpoints serving this Model roll out. Left out (false), the alias is resolved once. "
        "Not allowed with a version reference or with artifact.sha256.",
    )
    poll_seconds: int | None = Field(
        default=None,
        description="How often, in seconds, a followed alias is looked up again (followAlias); "
        "left out, the operator's MODELSERVE_MLFLOW_POLL_SECONDS (default 60).",
        ge=5,
        le=86400,
    )


class Artifact(ApiModel):
    """Where the serialized model is and the digest it must have."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "self.uri.matches('^((pvc|configmap|https?|s3)://|models:/)')",
                    "artifact.uri must start with pvc://, configmap://, http://, https://, s3:// "
                    "or models:/",
                    ".uri",
                ),
                Rule(
                    "has(self.mlflow) == self.uri.startsWith('models:/')",
                    "a models:/ artifact.uri needs artifact.mlflow, and artifact.mlflow is only "
                    "allowed with a models:/ artifact.uri",
                    ".mlflow",
                ),
                Rule(
                    "!has(self.mlflow) || !has(self.mlflow.followAlias) || "
                    "!self.mlflow.followAlias || "
                    "(self.uri.matches('^models:/[^/@]+@[^/@]+$') && !has(self.sha256))",
                    "artifact.mlflow.followAlias needs a models:/<name>@<alias> artifact.uri and "
                    "no artifact.sha256 (each version the alias reaches has its own digest)",
                    ".mlflow.followAlias",
                ),
                Rule(
                    "!has(self.s3) || self.uri.startsWith('s3://')",
                    "artifact.s3 is only allowed with an s3:// artifact.uri",
                    ".s3",
                ),
                Rule(
                    "!self.uri.matches('(^[a-z]+://|/)[.][.](/|$)')",
                    "artifact.uri must not contain '..' path segments",
                    ".uri",
                ),
            ]
        )
    )

    uri: str = Field(
        description="Location of the artifact: pvc://<claim>/<path in the volume>, "
        "configmap://<name>/<key> (small models only), http(s)://<url> or "
        "s3://<bucket>/<key> (the key taken as written; see artifact.s3), or an MLflow "
        "registered model as models:/<name>/<version> or models:/<name>@<alias> (see "
        "artifact.mlflow).",
        min_length=1,
        max_length=2048,
        pattern=ARTIFACT_URI_PATTERN,
    )
    # Left out only when spec.training produces the artifact: the trainer reports the
    # digest and the operator records it in status.training.artifactSha256.
    sha256: str | None = Field(
        default=None,
        description="SHA-256 of the artifact file, 64 hexadecimal characters. Loading a joblib "
        "or pickle file runs code, so the file is verified against this digest before it is "
        "loaded; a mismatch stops the rollout. Required unless spec.training produces the "
        "artifact (then the trainer reports the digest), or for a models:/ artifact, where it "
        "is the digest of the model directory (see docs/mlflow.md) and, left out, the operator "
        "pins the digest of what it first fetched in status.mlflow.sha256.",
        min_length=64,
        max_length=64,
        pattern=SHA256_PATTERN,
    )
    s3: S3Access | None = Field(
        default=None,
        description="Endpoint, region, addressing style and credentials of an s3:// artifact; "
        "left out, AWS S3 with the pod's own AWS credential chain.",
    )
    mlflow: MLflowAccess | None = Field(
        default=None,
        description="Tracking server and credentials of a models:/ artifact; required with one.",
    )

    @property
    def scheme(self) -> str:
        """pvc, configmap, http, https, s3 or models."""
        return self.uri.split(":/", 1)[0]

    @model_validator(mode="after")
    def _s3_settings_need_s3_uri(self) -> Artifact:
        # The CRD's CEL rule refuses this already; repeated for bodies that skipped it.
        if self.s3 is not None and self.scheme != "s3":
            raise ValueError("artifact.s3 is only allowed with an s3:// artifact.uri")
        if (self.mlflow is not None) != (self.scheme == "models"):
            raise ValueError(
                "a models:/ artifact.uri needs artifact.mlflow, and artifact.mlflow is only "
                "allowed with a models:/ artifact.uri"
            )
        if self.follows_alias and ("@" not in self.uri or self.sha256):
            raise ValueError(
                "artifact.mlflow.followAlias needs a models:/<name>@<alias> artifact.uri and "
                "no artifact.sha256 (each version the alias reaches has its own digest)"
            )
        return self

    @property
    def follows_alias(self) -> bool:
        """Whether the operator keeps following the MLflow alias this artifact names."""
        return self.mlflow is not None and bool(self.mlflow.follow_alias)


class TensorSpec(ApiModel):
    """One named tensor."""

    name: str = Field(description="Name of the tensor or column.", max_length=256)
    datatype: DATATYPES = Field(
        description="Open Inference Protocol data type, for example FP64, INT64, BYTES."
    )
    shape: (
        list[Annotated[int, Field(description="Size of one dimension, or -1 when variable.")]]
        | None
    ) = Field(
        default=None,
        description="Shape of the tensor; -1 marks a variable dimension.",
        max_length=8,
    )


class Signature(ApiModel):
    """Optional input and output schema of the model, shown by the metadata endpoints."""

    inputs: list[TensorSpec] | None = Field(
        default=None, description="Input tensors (or columns) the model expects.", max_length=1024
    )
    outputs: list[TensorSpec] | None = Field(
        default=None, description="Output tensors the model returns.", max_length=1024
    )


class ModelSpec(ApiModel):
    """The registered model version. Immutable: register a changed model as a new Model object
    with a new version."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "self == oldSelf",
                    "Model spec is immutable; register a new version as a new Model object",
                ),
                Rule(
                    "has(self.training) || has(self.artifact.sha256) || "
                    "self.artifact.uri.startsWith('models:/')",
                    "artifact.sha256 is required unless spec.training produces the artifact or "
                    "it is a models:/ artifact",
                    ".artifact.sha256",
                ),
                Rule(
                    "!has(self.training) || self.artifact.uri.startsWith('pvc://')",
                    "with spec.training the trainer writes the artifact, so artifact.uri must "
                    "be pvc://<claim>/<path>",
                    ".artifact.uri",
                ),
            ]
        )
    )

    model_name: str = Field(
        description="Name of the model that endpoints refer to (model.name); all versions of a "
        "model share it. A DNS label: lower case letters, digits and '-'.",
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
    )
    version: str = Field(
        description='Version of this model, for example "1" or "2024-06-01". Endpoints pin it '
        '(model.version) or ask for "latest", the highest Ready version. Must be a valid label '
        'value and cannot be "latest".',
        min_length=1,
        max_length=63,
        pattern=LABEL_VALUE,
        json_schema_extra=kube(
            rules=[
                Rule(
                    "self != 'latest'",
                    '"latest" is reserved for endpoints that follow the newest version',
                )
            ]
        ),
    )
    framework: c.Framework = Field(
        description='Framework that produced the artifact: "sklearn" (a joblib or pickle file '
        'of a scikit-learn estimator or pipeline), "xgboost" (a native .json or .ubj booster, '
        'or a pickled XGBoost scikit-learn wrapper), "lightgbm" (a native .txt booster, or a '
        'pickled LightGBM scikit-learn wrapper) or "custom" (loaded by a scoring script).'
    )
    library_version_policy: Literal["strict", "warn"] = Field(
        default=c.DEFAULT_LIBRARY_VERSION_POLICY,
        description="What the scoring server does when the library versions the artifact "
        "recorded (scikit-learn, XGBoost, LightGBM) differ from the serving image's in major "
        'or minor version: "strict" refuses to load the model (the pod exits and the Model '
        'becomes Degraded, naming both versions); "warn" serves it and reports the mismatch '
        "in status.runtime.libraryVersionMismatch. A patch-level difference is never a mismatch.",
    )
    runtime: Runtime = Field(
        default="auto",
        description='How the scoring server runs the model: "auto" compiles to ONNX Runtime '
        "when the compiled model gives the same answers and falls back to scikit-learn, "
        '"sklearn" always uses scikit-learn, "onnx" requires ONNX Runtime.',
    )
    artifact: Artifact
    signature: Signature | None = None
    description: str | None = Field(
        default=None, description="Free text describing the model version.", max_length=4096
    )
    tags: (
        dict[str, Annotated[str, Field(description="Value of the tag.", max_length=256)]] | None
    ) = Field(
        default=None,
        description="Free key/value tags, for example the training run or the data set.",
        max_length=64,
    )
    training: TrainingSpec | None = Field(
        default=None,
        description="Have the trainer produce the artifact instead of registering one: a Job "
        "fits the estimator on the data, computes metrics on the held-out test part, and writes "
        "the artifact to spec.artifact.uri (a pvc:// location) only if the gate passes. The "
        "Model becomes Ready only then; spec.artifact.sha256 may be left out because the "
        "trainer reports the digest (status.training.artifactSha256). See docs/training.md.",
    )

    @model_validator(mode="after")
    def _artifact_known_or_trained(self) -> ModelSpec:
        # The CRD's CEL rules refuse these already; repeated for bodies that skipped it.
        if (
            self.training is None
            and self.artifact.sha256 is None
            and self.artifact.scheme != "models"
        ):
            raise ValueError(
                "spec.artifact.sha256 is required unless spec.training produces it or it is a "
                "models:/ artifact"
            )
        if self.training is not None and self.artifact.scheme != "pvc":
            raise ValueError(
                "with spec.training the trainer writes the artifact, so spec.artifact.uri "
                "must be pvc://<claim>/<path>"
            )
        return self


class RuntimeStatus(ApiModel):
    """How a scoring pod serves this model version, as the first Ready pod that loaded it
    reported (scoring pods cannot write the Model themselves; the operator reads their model
    metadata)."""

    requested: str = Field(default="", description="The runtime asked for (auto, sklearn or onnx).")
    selected: str = Field(default="", description="The runtime that serves it (sklearn or onnx).")
    fallback: str = Field(
        default="",
        description="Why ONNX Runtime was not used under auto, as a code (for example "
        "conversion_failed or mismatch); empty when it is used or was not asked for.",
    )
    reason: str = Field(
        default="", description="The fallback explained, as the scoring server logged it."
    )
    library_versions: (
        dict[str, Annotated[str, Field(description="Version of the library.")]] | None
    ) = Field(
        default=None,
        description="Library versions the artifact recorded (scikit-learn, xgboost, lightgbm), "
        "as the scoring pod found them while loading it.",
    )
    serving_library_versions: (
        dict[str, Annotated[str, Field(description="Version of the library.")]] | None
    ) = Field(default=None, description="The same libraries' versions in the serving image.")
    library_version_mismatch: str = Field(
        default="",
        description="A recorded version that differs from the serving image's in major or minor "
        "version, as a sentence; empty when none (a patch-level difference is not a mismatch).",
    )
    load_refused: str = Field(
        default="",
        description="Why scoring pods refuse to load this model (libraryVersionPolicy strict and "
        "a library version mismatch, or an artifact their fetch could not get or verify), from a "
        "pod's termination message; the Model is Degraded while it is set. Empty when no pod "
        "refused it.",
    )
    load_refused_reason: str = Field(
        default="",
        description="The refusal as a code, the Degraded condition's reason (for example "
        "LibraryVersionMismatch, ArtifactNotFound or ArtifactDigestMismatch); empty when "
        "loadRefused is, or when an older operator recorded a library version refusal.",
    )
    reported_by: str = Field(
        default="",
        description="The endpoint deployment whose pod reported it, as <endpoint>/<deployment>.",
    )
    observed_at: str | None = Field(
        default=None,
        description="When the operator read it.",
        json_schema_extra=kube(format="date-time"),
    )


class MLflowStatus(ApiModel):
    """What the operator resolved a models:/ artifact to, and the digest it pinned."""

    version: str = Field(
        default="",
        description="The registered model version the reference resolved to (an alias is "
        "resolved once, unless artifact.mlflow.followAlias: then the version it points to now).",
    )
    previous_version: str | None = Field(
        default=None,
        description="With followAlias, the version the alias pointed to before it last moved.",
    )
    source: str = Field(
        default="", description="Where MLflow stores that version, as its model version's source."
    )
    download_uri: str = Field(
        default="",
        alias="downloadURI",
        description="Where the model directory is downloaded from, as MLflow's get-download-uri "
        "answered (mlflow-artifacts:/ paths are read through the tracking server).",
    )
    sha256: str = Field(
        default="",
        description="Digest of the model directory the operator fetched when it resolved the "
        "reference: sha256 over the sorted list of relative path and per-file sha256. Fetching "
        "pods refuse a directory with another digest.",
    )
    resolved_at: str | None = Field(
        default=None,
        description="When the reference was resolved and the digest pinned (with followAlias: "
        "when the alias was last seen to move).",
        json_schema_extra=kube(format="date-time"),
    )


class ModelStatus(ApiModel):
    """What the operator observed about this model version."""

    observed_generation: int | None = observed_generation_field()
    conditions: list[Condition] = conditions_field(
        "Current state as metav1.Conditions: Ready, Progressing and Degraded, plus Reconciling "
        "and Stalled for kstatus-based tools."
    )
    n_features: int | None = Field(
        default=None, description="Number of input features the loaded model expects."
    )
    classes: list[Annotated[str, Field(description="One class label.")]] | None = Field(
        default=None, description="Class labels of a classifier, as strings, in the model's order."
    )
    feature_names: list[Annotated[str, Field(description="One feature name.")]] | None = Field(
        default=None, description="Feature names the model was fitted with, when it recorded them."
    )
    library_versions: (
        dict[str, Annotated[str, Field(description="Version of the library.")]] | None
    ) = Field(
        default=None,
        description="Versions of the libraries the artifact was produced with (for example "
        "scikit-learn), as the training job reported them; status.runtime.libraryVersions holds "
        "what a scoring pod found in the artifact.",
    )
    size_bytes: int | None = Field(
        default=None,
        description="Size of the artifact file in bytes.",
        json_schema_extra=kube(format="int64"),
    )
    metrics: dict[str, Any] | None = Field(
        default=None,
        description="Metrics of the training run (accuracy, F1, R2, ...), when the trainer "
        "produced the model.",
    )
    runtime: RuntimeStatus | None = None
    training: TrainingStatus | None = None
    mlflow: MLflowStatus | None = None

    @property
    def trained_sha256(self) -> str | None:
        """The digest the training Job reported for the artifact it wrote, if any."""
        return self.training.artifact_sha256 if self.training else None


class Model(ApiModel):
    """Model is one registered version of a trained model: where its artifact lives, the digest
    that artifact must have, and what loading it taught the operator. Create a new Model object
    for every new version; the spec cannot change."""

    crd: ClassVar[CustomResource] = CustomResource(
        plural="models",
        short_names=("msm",),
        printer_columns=(
            PrinterColumn("Model", ".spec.modelName", description="Name of the registered model."),
            PrinterColumn(
                "Version", ".spec.version", description="Version of the registered model."
            ),
            PrinterColumn(
                "Framework", ".spec.framework", description="Framework that produced the artifact."
            ),
            PrinterColumn(
                "Ready",
                READY_COLUMN_PATH,
                description="Whether the artifact was verified and loaded.",
            ),
            AGE_COLUMN,
        ),
    )

    metadata: ObjectMeta
    spec: ModelSpec
    status: ModelStatus = Field(default_factory=ModelStatus)


def parse_model(body: dict[str, Any]) -> Model:
    """Validate a Model object (as received from the API server or Kopf)."""
    return parse_or_raise(Model, "Model", object_fields(body))
