"""Scoring Deployment, Service, HPA and PDB of one endpoint deployment."""

import pytest
from modelserve_operator.builders import (
    BuilderSettings,
    build_hpa,
    build_pdb,
    build_scoring_deployment,
    build_scoring_service,
)

SETTINGS = BuilderSettings()


def _pod(manifest):
    return manifest["spec"]["template"]["spec"]


def _env(container):
    return {e["name"]: e["value"] for e in container["env"]}


def _build(make_endpoint, make_resolved, deployment_overrides=None, uri=None, version="1"):
    deployment = {"name": "blue", "model": {"name": "iris", "version": version}}
    deployment.update(deployment_overrides or {})
    endpoint = make_endpoint(deployments=[deployment])
    resolved = make_resolved(version, uri) if uri else make_resolved(version)
    return endpoint, endpoint.spec.deployments[0], resolved


def test_names_namespace_and_labels(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    manifest = build_scoring_deployment(endpoint, dep, model, SETTINGS)
    assert manifest["metadata"]["name"] == "fraud-blue"
    assert manifest["metadata"]["namespace"] == "ml"
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "modelserve-operator"
    assert labels["app.kubernetes.io/component"] == "scoring"
    assert labels["modelserve.io/endpoint"] == "fraud"
    assert labels["modelserve.io/deployment"] == "blue"
    assert labels["modelserve.io/model-name"] == "iris"
    assert labels["modelserve.io/model-version"] == "1"
    # The selector is immutable on a Deployment: it must not contain the model version.
    selector = manifest["spec"]["selector"]["matchLabels"]
    assert "modelserve.io/model-version" not in selector
    assert selector.items() <= labels.items()


def test_init_container_verifies_digest_of_mounted_pvc_file(make_endpoint, make_resolved, sha256):
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    (fetch,) = pod["initContainers"]
    assert fetch["command"] == [
        "modelserve-scoring",
        "fetch",
        "--uri",
        "/var/lib/modelserve/source/iris/model.joblib",
        "--sha256",
        sha256,
        "--dest",
        "/var/lib/modelserve/model",
        "--optional-file",
        "baseline.json",
    ]
    source = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert source["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    mount = next(m for m in fetch["volumeMounts"] if m["name"] == source["name"])
    assert mount["readOnly"] is True
    server_env = _env(pod["containers"][0])
    assert server_env["MODELSERVE_ARTIFACT_PATH"] == "/var/lib/modelserve/model/model.joblib"
    assert server_env["MODELSERVE_ARTIFACT_SHA256"] == sha256
    # The server never sees the raw source volume, only the verified copy.
    assert all(m["name"] != source["name"] for m in pod["containers"][0]["volumeMounts"])


def test_baseline_next_to_a_pvc_artifact_reaches_the_server(make_endpoint, make_resolved):
    """The trainer's baseline.json is copied along (when present) into the directory the
    server reads, where it looks for it by default; other sources have no directory to look in."""
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    (fetch,) = pod["initContainers"]
    command = fetch["command"]
    assert command[command.index("--optional-file") + 1] == "baseline.json"
    assert command[command.index("--dest") + 1] == "/var/lib/modelserve/model"
    server_env = _env(pod["containers"][0])
    assert server_env["MODELSERVE_ARTIFACT_PATH"].startswith("/var/lib/modelserve/model/")
    assert server_env["MODELSERVE_DEPLOYMENT_NAME"] == "blue"
    for uri in ("configmap://iris-model/model.joblib", "https://example.com/m/model.joblib"):
        endpoint, dep, model = _build(make_endpoint, make_resolved, uri=uri)
        (fetch,) = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))["initContainers"]
        assert "--optional-file" not in fetch["command"]


def test_configmap_artifact_mounts_only_that_key(make_endpoint, make_resolved):
    endpoint, dep, model = _build(
        make_endpoint, make_resolved, uri="configmap://iris-model/model.joblib"
    )
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    assert volume["configMap"] == {
        "name": "iris-model",
        "items": [{"key": "model.joblib", "path": "model.joblib"}],
    }
    assert "/var/lib/modelserve/source/model.joblib" in pod["initContainers"][0]["command"]


def test_https_artifact_is_fetched_directly(make_endpoint, make_resolved):
    uri = "https://models.example.com/iris/v1/model.joblib"
    endpoint, dep, model = _build(make_endpoint, make_resolved, uri=uri)
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    assert uri in pod["initContainers"][0]["command"]
    assert not any("persistentVolumeClaim" in v or "configMap" in v for v in pod["volumes"])
    env = _env(pod["containers"][0])
    assert env["MODELSERVE_ARTIFACT_PATH"] == "/var/lib/modelserve/model/model.joblib"


def test_pods_are_hardened(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["initContainers"] + pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] != 0


def test_server_env_probes_ports_and_settings(make_endpoint, make_resolved):
    endpoint, dep, model = _build(
        make_endpoint,
        make_resolved,
        {
            "requestSettings": {"maxConcurrentRequestsPerInstance": 4, "requestTimeoutMs": 9000},
            "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
            "probes": {"readiness": {"periodSeconds": 3}},
        },
    )
    (server,) = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))["containers"]
    env = _env(server)
    assert env["MODELSERVE_MODEL_NAME"] == "iris"
    assert env["MODELSERVE_MODEL_VERSION"] == "1"
    assert env["MODELSERVE_DEPLOYMENT_NAME"] == "blue"
    assert env["MODELSERVE_HTTP_PORT"] == "8080"
    assert env["MODELSERVE_METRICS_PORT"] == "8082"
    assert env["MODELSERVE_MAX_CONCURRENT_REQUESTS"] == "4"
    assert env["MODELSERVE_REQUEST_TIMEOUT_MS"] == "9000"
    assert env["MODELSERVE_MAX_BATCH_SIZE"] == "32"
    assert env["OMP_NUM_THREADS"] == "1"
    assert "MODELSERVE_SCORING_SCRIPT" not in env
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["readinessProbe"]["periodSeconds"] == 3
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert {p["containerPort"] for p in server["ports"]} == {8080, 8082}
    assert server["image"] == "modelserve/scoring:dev"
    assert server["imagePullPolicy"] == "IfNotPresent"


def test_scoring_script_is_mounted_and_named(make_endpoint, make_resolved):
    endpoint, dep, model = _build(
        make_endpoint, make_resolved, {"scoringScript": {"configMap": "iris-score"}}
    )
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    env = _env(pod["containers"][0])
    assert env["MODELSERVE_SCORING_SCRIPT"] == "/etc/modelserve/scoring-script/score.py"
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "iris-score")
    assert volume["configMap"]["items"] == [{"key": "score.py", "path": "score.py"}]


def test_rollout_never_drops_capacity_and_drains(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    manifest = build_scoring_deployment(endpoint, dep, model, SETTINGS)
    assert manifest["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pod = _pod(manifest)
    assert pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    # Grace outlasts the preStop sleep (10 s) plus the longest request (5 s by default), and
    # no more: a namespace being deleted is looked at again after half of it.
    assert pod["terminationGracePeriodSeconds"] == 10 + 5 + 5


def test_a_longer_request_timeout_gets_a_longer_grace_period(make_endpoint, make_resolved):
    endpoint, dep, model = _build(
        make_endpoint, make_resolved, {"requestSettings": {"requestTimeoutMs": 90500}}
    )
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    assert pod["terminationGracePeriodSeconds"] == 10 + 91 + 5


def test_version_change_changes_pod_template(make_endpoint, make_resolved):
    endpoint, dep, v1 = _build(make_endpoint, make_resolved, version="1")
    v2 = make_resolved("2")
    one = build_scoring_deployment(endpoint, dep, v1, SETTINGS)
    two = build_scoring_deployment(endpoint, dep, v2, SETTINGS)
    assert one["spec"]["template"] != two["spec"]["template"]
    assert one["spec"]["selector"] == two["spec"]["selector"]
    assert two["spec"]["template"]["metadata"]["labels"]["modelserve.io/model-version"] == "2"


def test_fixed_replicas_without_autoscale(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved, {"instanceCount": 3})
    assert build_scoring_deployment(endpoint, dep, model, SETTINGS)["spec"]["replicas"] == 3
    assert build_hpa(endpoint, dep, model) is None


def test_autoscale_omits_replicas_and_builds_hpa(make_endpoint, make_resolved):
    endpoint, dep, model = _build(
        make_endpoint,
        make_resolved,
        {
            "instanceCount": 3,
            "autoscale": {"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60},
        },
    )
    deployment = build_scoring_deployment(endpoint, dep, model, SETTINGS)
    assert "replicas" not in deployment["spec"], "the HPA must own replicas"
    hpa = build_hpa(endpoint, dep, model)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraud-blue",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    target = hpa["spec"]["metrics"][0]["resource"]
    assert target["name"] == "cpu" and target["target"]["averageUtilization"] == 60
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    # CPU utilization needs a CPU request to be computed at all.
    requests = _pod(deployment)["containers"][0]["resources"]["requests"]
    assert "cpu" in requests


def test_user_resources_are_passed_through(make_endpoint, make_resolved):
    endpoint, dep, model = _build(
        make_endpoint,
        make_resolved,
        {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}},
    )
    resources = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))["containers"][0][
        "resources"
    ]
    assert resources == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}


def test_custom_image_and_settings_image(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved, {"image": "acme/scoring:1"})
    pod = _pod(build_scoring_deployment(endpoint, dep, model, SETTINGS))
    assert {c["image"] for c in pod["initContainers"] + pod["containers"]} == {"acme/scoring:1"}
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    pod = _pod(build_scoring_deployment(endpoint, dep, model, BuilderSettings(scoring_image="x:y")))
    assert pod["containers"][0]["image"] == "x:y"


def test_metrics_annotations(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    annotations = build_scoring_deployment(endpoint, dep, model, SETTINGS)["spec"]["template"][
        "metadata"
    ]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8082"


def test_service_selects_the_deployment_pods(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    service = build_scoring_service(endpoint, dep, model)
    deployment = build_scoring_deployment(endpoint, dep, model, SETTINGS)
    assert service["metadata"]["name"] == "fraud-blue"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    http = next(p for p in service["spec"]["ports"] if p["name"] == "http")
    assert http["targetPort"] == "http"


def test_service_carries_grpc_without_touching_the_pod_template(make_endpoint, make_resolved):
    """gRPC reaches the server's default port by number; the pod template names no new port
    (a template change would roll every scoring pod on an operator upgrade)."""
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    service = build_scoring_service(endpoint, dep, model)
    grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert grpc_port == {
        "name": "grpc",
        "port": 8081,
        "targetPort": 8081,
        "protocol": "TCP",
        "appProtocol": "kubernetes.io/h2c",
    }
    pod = build_scoring_deployment(endpoint, dep, model, SETTINGS)["spec"]["template"]["spec"]
    (server,) = (k for k in pod["containers"] if k["name"] == "scoring")
    assert [p["name"] for p in server["ports"]] == ["http", "metrics"]
    assert "MODELSERVE_GRPC_PORT" not in {e["name"] for e in server["env"]}


def test_pdb_never_blocks_a_single_replica_drain(make_endpoint, make_resolved):
    endpoint, dep, model = _build(make_endpoint, make_resolved)
    pdb = build_pdb(endpoint, dep, model)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"]["modelserve.io/deployment"] == "blue"


@pytest.mark.parametrize("uri", ["pvc://models/../etc/passwd", "ftp://x/y"])
def test_artifact_uri_outside_volume_or_unknown_scheme_is_refused(uri):
    from modelserve_operator.builders.artifact import artifact_source

    with pytest.raises(ValueError, match="artifact uri"):
        artifact_source(uri)
