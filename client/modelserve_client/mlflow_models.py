"""`modelserve model register --from-mlflow`: a Model naming an MLflow registered model."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from modelserve_api import constants as c
from modelserve_api import mlflow_registry as registry

from . import artifacts
from .errors import ModelserveError
from .kube import Kube, modelserve_path
from .progress import Progress

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ALIAS_TAG = "mlflow-alias"


def model_name_for(reference: registry.Reference, name: str | None) -> str:
    """spec.modelName: --name, else the MLflow name if it is a DNS label once lower-cased."""
    if name:
        artifacts.check_model_name(name)
        return name
    derived = reference.name.lower().replace("_", "-")
    if len(derived) > 63 or not _DNS_LABEL.match(derived):
        raise ModelserveError(
            f"the MLflow model name {reference.name!r} is not a DNS label",
            "pass --name with the model name endpoints will use, e.g. --name churn",
        )
    return derived


def pinned_reference(
    uri: str,
    tracking_uri: str,
    version: str | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str, str | None]:
    """(artifact uri, spec.version, alias followed): an alias is resolved here, through
    the tracking server, unless --version says which version this Model is."""
    try:
        reference = registry.parse_reference(uri)
    except ValueError as error:
        raise ModelserveError(str(error), "e.g. --from-mlflow models:/churn@champion") from None
    if version:
        return uri, version, None
    if reference.version:
        return uri, reference.version, None
    env = os.environ if environ is None else environ
    try:
        resolved = registry.Registry(tracking_uri, env).resolve(uri)
    except registry.MLflowError as error:
        raise ModelserveError(
            f"cannot resolve {uri}: {error}",
            "check --tracking-uri (and MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/"
            "PASSWORD), or pass --version to register the alias without asking MLflow here",
        ) from None
    return f"models:/{reference.name}/{resolved.version}", resolved.version, reference.alias


def build_mlflow_model(
    uri: str,
    tracking_uri: str,
    name: str,
    version: str,
    credentials_secret: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Model object for a models:/ artifact (no digest: the operator pins it)."""
    artifacts.check_version(version)
    mlflow: dict[str, Any] = {"trackingURI": tracking_uri}
    if credentials_secret:
        mlflow["credentialsSecret"] = credentials_secret
    return artifacts.model_manifest(
        name, version, "sklearn", {"uri": uri, "mlflow": mlflow}, description, tags
    )


def register_from_mlflow(
    kube: Kube,
    namespace: str,
    uri: str,
    tracking_uri: str,
    progress: Progress,
    *,
    name: str | None = None,
    version: str | None = None,
    credentials_secret: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Create the Model; returns its object name."""
    if not tracking_uri:
        raise ModelserveError(
            "--from-mlflow needs --tracking-uri (or MLFLOW_TRACKING_URI)",
            "pass the tracking server's URL as the cluster reaches it, "
            "e.g. --tracking-uri http://mlflow.mlops.svc:5000",
        )
    pinned_uri, version, alias = pinned_reference(uri, tracking_uri, version)
    model_name = model_name_for(registry.parse_reference(uri), name)
    if alias:
        tags = {**(tags or {}), ALIAS_TAG: alias}
        progress.step(f"{uri} is version {version} now; registering {pinned_uri}")
    manifest = build_mlflow_model(
        pinned_uri, tracking_uri, model_name, version, credentials_secret, description, tags
    )
    kube.require_namespace(namespace)
    object_name = manifest["metadata"]["name"]
    kube.create(
        modelserve_path(namespace, c.PLURAL_MODELS),
        manifest,
        f"create Model {object_name} in namespace {namespace}",
    )
    progress.step(f"created Model {object_name} ({model_name} version {version}, {pinned_uri})")
    return object_name
