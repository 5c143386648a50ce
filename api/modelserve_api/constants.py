"""API group, names, label keys, ports, paths and images: what the components agree on."""

from typing import Literal, get_args

GROUP = "modelserve.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

KIND_MODEL = "Model"
KIND_ONLINE_ENDPOINT = "OnlineEndpoint"
KIND_BATCH_DEPLOYMENT = "BatchDeployment"
PLURAL_MODELS = "models"
PLURAL_ONLINE_ENDPOINTS = "onlineendpoints"
PLURAL_BATCH_DEPLOYMENTS = "batchdeployments"

FIELD_MANAGER = "modelserve-operator"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_ENDPOINT = f"{GROUP}/endpoint"
LABEL_DEPLOYMENT = f"{GROUP}/deployment"
LABEL_MODEL_NAME = f"{GROUP}/model-name"
LABEL_MODEL_VERSION = f"{GROUP}/model-version"
LABEL_BATCH_DEPLOYMENT = f"{GROUP}/batch-deployment"

MANAGED_BY = "modelserve-operator"
COMPONENT_SCORING = "scoring"
COMPONENT_ROUTER = "router"
COMPONENT_BATCH = "batch"
COMPONENT_TRAINING = "training"
# the per-endpoint shadow collector (docs/shadow.md)
COMPONENT_SHADOW_COLLECTOR = "shadow-collector"

ANNOTATION_ROUTER_CONFIG_HASH = f"{GROUP}/router-config-hash"
ANNOTATION_RUN = f"{GROUP}/run"
# On an OnlineEndpoint: any new value rebuilds its pods with the running operator's templates.
ANNOTATION_REFRESH = f"{GROUP}/refresh"
# A kubectl control of a progressive rollout: promote, pause, resume or abort (docs/rollouts.md).
ANNOTATION_ROLLOUT = f"{GROUP}/rollout"
# On the children that make pods: the user-owned inputs they were built from, and what
# that build gave (operator upgrades re-apply it rather than their own build).
ANNOTATION_INPUTS_DIGEST = f"{GROUP}/inputs-digest"
ANNOTATION_PINNED_TEMPLATE = f"{GROUP}/pinned-template"
ANNOTATION_DATA_DIGEST = f"{GROUP}/data-digest"
# On each CRD: digest of what the types generate, to tell CRDs of another release.
ANNOTATION_SCHEMA_DIGEST = f"{GROUP}/schema-digest"

# Ports of the scoring server (HTTP API, v2 gRPC API and Prometheus metrics) and the router.
SCORING_HTTP_PORT = 8080
SCORING_GRPC_PORT = 8081
SCORING_METRICS_PORT = 8082
SHADOW_COLLECTOR_PORT = 8090
ROUTER_PORT = 8080
ROUTER_SERVICE_PORT = 80
# The router's v2 gRPC door (HTTP/2 without TLS), the same number in the pod and the Service.
ROUTER_GRPC_PORT = 8081
SCORING_SERVICE_PORT = 80

# A fixed non-root uid; numeric so runAsNonRoot can be checked by the kubelet.
NON_ROOT_UID = 65532

MODEL_DIR = "/var/lib/modelserve/model"
# Where a training Job mounts its data claim (data.path is resolved inside it), and the
# environment variable holding its spec (the JSON of Model.spec.training).
TRAINING_DATA_DIR = "/var/lib/modelserve/data"
TRAINING_SPEC_ENV = "MODELSERVE_TRAINING_SPEC"
ARTIFACT_SOURCE_DIR = "/var/lib/modelserve/source"
SCORING_SCRIPT_DIR = "/etc/modelserve/scoring-script"
ROUTER_CONFIG_DIR = "/etc/nginx/modelserve"
ROUTER_CONFIG_FILE = "nginx.conf"
KEYS_DIR = "/etc/modelserve/keys"
NGINX_KEYS_FILE = "nginx-keys.conf"

DEFAULT_SCORING_IMAGE = "modelserve/scoring:dev"
DEFAULT_ROUTER_IMAGE = "modelserve/router:dev"

# Kubernetes object names (DNS labels) may have at most 63 characters; a deployment
# name is capped so that "<endpoint>-<deployment>" always fits.
MAX_ENDPOINT_NAME = 40
MAX_DEPLOYMENT_NAME = 22

# What the scoring server assumes when its pod's env does not say otherwise; the operator
# leaves these variables out for them, so such pods' templates stay as they were.
DEFAULT_FRAMEWORK = "sklearn"
# What produced a Model's artifact (spec.framework). The scoring server's settings, the batch
# runner's --framework and the CLI's --framework take exactly these values.
Framework = Literal["sklearn", "xgboost", "lightgbm", "custom"]
FRAMEWORKS: tuple[str, ...] = get_args(Framework)
DEFAULT_LIBRARY_VERSION_POLICY = "warn"

# Reasons of a pod's refusal line (runtime_report.LoadRefusal), which become the Model's
# Degraded reason. Plain strings here: the fetch init container names them without pydantic.
REFUSED_LIBRARY_VERSION = "LibraryVersionMismatch"
REFUSED_ARTIFACT_NOT_FOUND = "ArtifactNotFound"
REFUSED_BUCKET_NOT_FOUND = "BucketNotFound"
REFUSED_ARTIFACT_ACCESS_DENIED = "ArtifactAccessDenied"
REFUSED_ARTIFACT_UNREACHABLE = "ArtifactUnreachable"
REFUSED_ARTIFACT_DIGEST_MISMATCH = "ArtifactDigestMismatch"
# any other answer of the store, once retries are spent (wrong region, 5xx)
REFUSED_ARTIFACT_FETCH_FAILED = "ArtifactFetchFailed"

# Environment of the fetch init container for s3:// artifacts, set by the operator's builder
# and read by `modelserve-scoring fetch`: the store's endpoint and its addressing style.
S3_ENDPOINT_ENV = "MODELSERVE_S3_ENDPOINT_URL"
S3_ADDRESSING_ENV = "MODELSERVE_S3_ADDRESSING_STYLE"
