"""The operator, run in-process with Kopf, reconciling real objects on the local control plane."""

from __future__ import annotations

import base64
import hashlib
import json
import textwrap

import yaml
from cluster_objects import condition, configmap_model, get
from kstatus import kstatus
from modelserve_api import Model
from modelserve_api.crdgen import schema_digest


def apply(cluster, namespace: str, manifest: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=textwrap.dedent(manifest))


def register_model(
    cluster, namespace: str, artifact: bytes, version: str, sha256: str | None = None
) -> None:
    """Model iris-<version> and its ConfigMap as `modelserve model register` makes them;
    `sha256` replaces the file's true digest (to make a mismatch)."""
    objects = configmap_model(artifact, version)
    if sha256 is not None:
        objects[1]["spec"]["artifact"]["sha256"] = sha256
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(objects))


def endpoint_manifest(
    traffic: dict[str, int], deployments: dict[str, dict], mirror: dict[str, int] | None = None
) -> str:
    body = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "key",
            "traffic": traffic,
            "deployments": [{"name": name, **spec} for name, spec in deployments.items()],
            **({"mirrorTraffic": mirror} if mirror else {}),
        },
    }
    return yaml.safe_dump(body)


def wait_ready(cluster, namespace, name="iris", timeout=90.0) -> dict:
    seen: dict = {}

    def ready():
        obj = get(cluster, namespace, "onlineendpoint", name)
        seen["status"] = (obj or {}).get("status")
        status = (obj or {}).get("status", {})
        current = (
            obj is not None and status.get("observedGeneration") == obj["metadata"]["generation"]
        )
        return obj if current and condition(obj, "Ready").get("status") == "True" else None

    try:
        return cluster.wait_for(ready, f"endpoint {name} to be Ready", timeout)
    except BaseException:
        print("last status:", json.dumps(seen.get("status"), indent=1))
        print(cluster.kubectl("get", "deploy,rs,pods", "-n", namespace, "-o", "wide").stdout)
        raise


BLUE = {"model": {"name": "iris", "version": "1"}, "instanceCount": 2}


def test_model_with_matching_digest_becomes_ready(cluster, namespace, operator, iris_artifact):
    register_model(cluster, namespace, iris_artifact, "1")
    model = cluster.wait_for(
        lambda: (
            (m := get(cluster, namespace, "model", "iris-1"))
            and condition(m, "Ready").get("status") == "True"
            and m
        ),
        "Model iris-1 Ready",
    )
    assert model["status"]["sizeBytes"] == len(iris_artifact)
    assert model["status"]["observedGeneration"] == model["metadata"]["generation"]


def test_the_runtime_a_pod_chose_is_recorded_in_the_model_status(
    cluster, namespace, operator, iris_artifact
):
    # Simulated pods cannot answer, so the pod's v2 metadata comes through the seam the
    # operator reads it with (in production: the API server's pod proxy).
    from modelserve_operator.handlers.state import state

    asked: list[tuple[str, str, str]] = []

    def metadata(namespace_: str, pod: str, model_name: str) -> dict:
        asked.append((namespace_, pod, model_name))
        return {
            "name": model_name,
            "parameters": {
                "runtime": "sklearn",
                "runtime_requested": "auto",
                "runtime_fallback": "answers_differ",
                "runtime_fallback_reason": "classes differ on 3 of 100000 validation rows",
            },
        }

    state().endpoints.runtimes.fetch = metadata
    register_model(cluster, namespace, iris_artifact, "1")
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    wait_ready(cluster, namespace)
    model = cluster.wait_for(
        lambda: (
            (m := get(cluster, namespace, "model", "iris-1"))
            and (m.get("status") or {}).get("runtime")
            and m
        ),
        "the runtime in Model iris-1's status",
    )
    runtime = model["status"]["runtime"]
    assert runtime["requested"] == "auto"
    assert runtime["selected"] == "sklearn"
    assert runtime["fallback"] == "answers_differ"
    assert runtime["reason"] == "classes differ on 3 of 100000 validation rows"
    assert runtime["reportedBy"] == "iris/blue"
    (pod_namespace, pod, model_name) = asked[0]
    assert (pod_namespace, model_name) == (namespace, "iris")
    assert pod.startswith("iris-blue-")
    # The Model's own reconciles keep it (they write other status fields only).
    assert condition(model, "Ready").get("status") == "True"


def test_model_with_wrong_digest_is_degraded_and_never_served(
    cluster, namespace, operator, iris_artifact
):
    register_model(cluster, namespace, iris_artifact, "1", sha256="0" * 64)
    model = cluster.wait_for(
        lambda: (
            (m := get(cluster, namespace, "model", "iris-1"))
            and condition(m, "Degraded").get("status") == "True"
            and m
        ),
        "Model iris-1 Degraded",
    )
    assert condition(model, "Ready")["reason"] == "DigestMismatch"
    assert "0" * 64 in condition(model, "Ready")["message"]
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    endpoint = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and condition(e, "Degraded").get("status") == "True"
            and e
        ),
        "endpoint Degraded",
    )
    assert condition(endpoint, "Ready")["reason"] == "ModelNotResolved"
    assert get(cluster, namespace, "deployment", "iris-blue") is None


def test_endpoint_children_status_and_garbage_collection(
    cluster, namespace, operator, iris_artifact
):
    register_model(cluster, namespace, iris_artifact, "1")
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    endpoint = wait_ready(cluster, namespace)
    status = endpoint["status"]
    assert status["traffic"] == {"blue": 100}
    assert status["scoringUri"] == f"http://iris.{namespace}.svc.cluster.local/score"
    assert status["deployments"] == [
        {"name": "blue", "modelVersion": "1", "replicas": 2, "readyReplicas": 2, "ready": True}
    ]
    assert condition(endpoint, "Progressing")["status"] == "False"

    scoring = get(cluster, namespace, "deployment", "iris-blue")
    assert scoring["spec"]["replicas"] == 2
    init = scoring["spec"]["template"]["spec"]["initContainers"][0]
    assert hashlib.sha256(iris_artifact).hexdigest() in init["command"] + init.get("args", [])
    for kind, name in [
        ("service", "iris-blue"),
        ("poddisruptionbudget", "iris-blue"),
        ("deployment", "iris"),
        ("service", "iris"),
        ("configmap", "iris-router"),
        ("secret", "iris-keys"),
        ("networkpolicy", "iris-scoring"),
        ("networkpolicy", "iris-router"),
    ]:
        child = get(cluster, namespace, kind, name)
        assert child is not None, f"{kind}/{name} missing"
        owners = child["metadata"]["ownerReferences"]
        assert owners[0]["uid"] == endpoint["metadata"]["uid"], f"{kind}/{name} not owned"
    # The keys live in the Secret only, never in the router's ConfigMap.
    secret = get(cluster, namespace, "secret", "iris-keys")
    key = base64.b64decode(secret["data"]["primaryKey"]).decode()
    router_conf = get(cluster, namespace, "configmap", "iris-router")["data"]["nginx.conf"]
    assert key not in router_conf
    cluster.kubectl("delete", "onlineendpoint", "iris", "-n", namespace)
    cluster.wait_for(
        lambda: (
            get(cluster, namespace, "deployment", "iris-blue") is None
            and get(cluster, namespace, "secret", "iris-keys") is None
        ),
        "children garbage-collected",
    )


def test_autoscale_makes_an_hpa_and_leaves_replicas_to_it(
    cluster, namespace, operator, iris_artifact
):
    register_model(cluster, namespace, iris_artifact, "1")
    scaled = {
        "model": {"name": "iris", "version": "latest"},
        "autoscale": {"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60},
    }
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": scaled}))
    wait_ready(cluster, namespace)
    hpa = get(cluster, namespace, "hpa", "iris-blue")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    cluster.wait_for(lambda: get(cluster, namespace, "hpa", "iris-blue") is None, "HPA removed")


def test_traffic_moves_only_to_ready_pods_and_operator_restart_resumes(
    cluster, namespace, operator, iris_artifact
):
    register_model(cluster, namespace, iris_artifact, "1")
    register_model(cluster, namespace, iris_artifact, "2")
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    wait_ready(cluster, namespace)
    # green asks for more CPU than any node has: its pods stay Pending, never Ready.
    green = {
        "model": {"name": "iris", "version": "2"},
        "instanceCount": 1,
        "resources": {"requests": {"cpu": "500"}},
    }
    apply(
        cluster,
        namespace,
        endpoint_manifest({"blue": 0, "green": 100}, {"blue": BLUE, "green": green}),
    )
    held = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and condition(e, "Ready").get("reason") == "PodUnschedulable"
            and e
        ),
        "traffic held back while green's pod cannot be scheduled",
    )
    assert held["status"]["traffic"] == {"blue": 100}
    assert held["spec"]["traffic"] == {"blue": 0, "green": 100}
    assert condition(held, "Progressing")["status"] == "True"
    assert kstatus(held) == "InProgress"
    message = condition(held, "Ready")["message"]
    assert message.startswith("deployment green: pod iris-green-"), message
    assert message.endswith("; traffic held at {'blue': 100}"), message

    # The operator goes away mid-rollout; the fix arrives while it is down.
    operator.stop()
    green["resources"] = {"requests": {"cpu": "100m"}}
    apply(
        cluster,
        namespace,
        endpoint_manifest({"blue": 0, "green": 100}, {"blue": BLUE, "green": green}),
    )
    operator.start()
    endpoint = wait_ready(cluster, namespace)
    assert endpoint["status"]["traffic"] == {"green": 100}
    router_conf = get(cluster, namespace, "configmap", "iris-router")["data"]["nginx.conf"]
    green_ip = get(cluster, namespace, "service", "iris-green")["spec"]["clusterIP"]
    assert green_ip in router_conf


def test_children_deleted_or_edited_by_hand_are_put_back(
    cluster, namespace, operator, iris_artifact
):
    register_model(cluster, namespace, iris_artifact, "1")
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    wait_ready(cluster, namespace)

    old_uid = get(cluster, namespace, "service", "iris-blue")["metadata"]["uid"]
    cluster.kubectl("delete", "service", "iris-blue", "-n", namespace)
    cluster.wait_for(
        lambda: (
            (s := get(cluster, namespace, "service", "iris-blue"))
            and s["metadata"]["uid"] != old_uid
        ),
        "service recreated",
    )

    cluster.kubectl("scale", "deployment", "iris-blue", "--replicas=5", "-n", namespace)
    cluster.wait_for(
        lambda: get(cluster, namespace, "deployment", "iris-blue")["spec"]["replicas"] == 2,
        "replicas put back to instanceCount",
    )

    original = get(cluster, namespace, "configmap", "iris-router")["data"]["nginx.conf"]
    patch = json.dumps({"data": {"nginx.conf": "events {}\n"}})
    cluster.kubectl("patch", "configmap", "iris-router", "-n", namespace, "-p", patch)
    cluster.wait_for(
        lambda: (
            get(cluster, namespace, "configmap", "iris-router")["data"]["nginx.conf"] == original
        ),
        "router configuration put back",
    )


def test_mirror_is_applied_once_the_mirror_deployment_is_ready(
    cluster, namespace, operator, iris_artifact
):
    register_model(cluster, namespace, iris_artifact, "1")
    shadow = {"model": {"name": "iris", "version": "1"}, "instanceCount": 1}
    apply(
        cluster,
        namespace,
        endpoint_manifest(
            {"blue": 100, "shadow": 0}, {"blue": BLUE, "shadow": shadow}, {"shadow": 20}
        ),
    )
    endpoint = wait_ready(cluster, namespace)
    assert endpoint["status"]["mirrorTraffic"] == {"shadow": 20}
    assert endpoint["status"]["traffic"] == {"blue": 100}
    router_conf = get(cluster, namespace, "configmap", "iris-router")["data"]["nginx.conf"]
    shadow_ip = get(cluster, namespace, "service", "iris-shadow")["spec"]["clusterIP"]
    assert "mirror" in router_conf
    assert shadow_ip in router_conf
    for pod in json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)[
        "items"
    ]:
        assert pod["spec"]["nodeSelector"] == {"type": "kwok"}


def _template_state(cluster, namespace: str, name: str) -> tuple[int, list[str]]:
    """A Deployment's generation and its pod template's images."""
    deployment = get(cluster, namespace, "deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    images = [x["image"] for x in pod.get("initContainers", []) + pod["containers"]]
    return deployment["metadata"]["generation"], images


def test_an_operator_upgrade_keeps_every_pod_template_until_the_spec_changes(
    cluster, namespace, operator, iris_artifact, monkeypatch
):
    register_model(cluster, namespace, iris_artifact, "1")
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    wait_ready(cluster, namespace)
    scoring_before = _template_state(cluster, namespace, "iris-blue")
    router_before = _template_state(cluster, namespace, "iris")
    config_before = get(cluster, namespace, "configmap", "iris-router")["data"]

    # The next release: other images (and whatever else its builders do differently).
    operator.stop()
    monkeypatch.setenv("MODELSERVE_SCORING_IMAGE", "modelserve/scoring:next")
    monkeypatch.setenv("MODELSERVE_ROUTER_IMAGE", "modelserve/router:next")
    # Written back only at the end of a reconcile: seeing it again means the new operator
    # has been through every child of the endpoint.
    cluster.kubectl(
        "patch", "onlineendpoint", "iris", "-n", namespace, "--subresource=status",
        "--type=json", "-p", '[{"op": "remove", "path": "/status/scoringUri"}]',
    )  # fmt: skip
    operator.start()
    cluster.wait_for(
        lambda: get(cluster, namespace, "onlineendpoint", "iris")["status"].get("scoringUri"),
        "a full reconcile by the upgraded operator",
    )
    assert _template_state(cluster, namespace, "iris-blue") == scoring_before
    assert _template_state(cluster, namespace, "iris") == router_before
    assert get(cluster, namespace, "configmap", "iris-router")["data"] == config_before

    # A change the user makes rolls the deployment it touches, with the new release's build.
    blue = {**BLUE, "env": [{"name": "TEAM", "value": "risk"}]}
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": blue}))
    cluster.wait_for(
        lambda: _template_state(cluster, namespace, "iris-blue")[0] > scoring_before[0],
        "blue rebuilt after its spec changed",
    )
    assert _template_state(cluster, namespace, "iris-blue")[1] == ["modelserve/scoring:next"] * 2
    assert _template_state(cluster, namespace, "iris") == router_before

    # `modelserve.io/refresh` asks for the running operator's build of everything.
    cluster.kubectl("annotate", "onlineendpoint/iris", "-n", namespace, "modelserve.io/refresh=1")
    cluster.wait_for(
        lambda: _template_state(cluster, namespace, "iris")[1] == ["modelserve/router:next"],
        "the router rebuilt on refresh",
    )


def test_a_refresh_on_a_settled_endpoint_is_acted_on_at_once(
    cluster, namespace, operator, iris_artifact
):
    from modelserve_operator.handlers.state import state

    register_model(cluster, namespace, iris_artifact, "1")
    apply(cluster, namespace, endpoint_manifest({"blue": 100}, {"blue": BLUE}))
    wait_ready(cluster, namespace)
    # Settled: nothing waits in the operator's queue, so only the annotation can start
    # the next reconcile (the resync is minutes away). Kopf hides annotations under its
    # own prefix from update handlers: this is the event that once went unanswered.
    cluster.wait_for(lambda: state().queue.pending() == 0, "the operator's queue empty")

    def digests() -> tuple[str, str]:
        return tuple(
            get(cluster, namespace, "deployment", name)["metadata"]["annotations"][
                "modelserve.io/inputs-digest"
            ]
            for name in ("iris-blue", "iris")
        )

    before = digests()
    cluster.kubectl("annotate", "onlineendpoint/iris", "-n", namespace, "modelserve.io/refresh=1")
    cluster.wait_for(
        lambda: (now := digests())[0] != before[0] and now[1] != before[1],
        "the scoring and router Deployments rebuilt for the refresh",
        timeout=30,
    )


def test_an_operator_started_against_another_releases_crd_says_so_on_its_objects(
    cluster, namespace, operator, iris_artifact
):
    crd = "crd/models.modelserve.io"
    operator.stop()
    cluster.kubectl("annotate", crd, "--overwrite", "modelserve.io/schema-digest=0123456789")
    try:
        operator.start()
        register_model(cluster, namespace, iris_artifact, "1")
        model = cluster.wait_for(
            lambda: condition(get(cluster, namespace, "model", "iris-1"), "CRDCurrent"),
            "the Model's CRDCurrent condition",
        )
        assert (model["status"], model["reason"]) == ("False", "CRDOutdated")
        assert "CRD models.modelserve.io" in model["message"]
        assert "kubectl apply --server-side -f charts/modelserve/crds/" in model["message"]
    finally:
        operator.stop()
        digest = schema_digest(Model)
        cluster.kubectl("annotate", crd, "--overwrite", f"modelserve.io/schema-digest={digest}")
    # With the CRD upgraded, the next start takes the condition off.
    operator.start()
    cluster.wait_for(
        lambda: not condition(get(cluster, namespace, "model", "iris-1"), "CRDCurrent"),
        "CRDCurrent gone after the CRD was upgraded",
    )
