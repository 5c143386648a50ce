"""`helm upgrade` to another operator build under steady load: no pod restarts, no call lost.

Release N is this chart with the Model CRD of a release before `libraryVersionPolicy`
existed; release N+1 is this chart with an operator image of another tag and build. The
upgrade follows docs/helm.md: `helm upgrade`, then the chart's CRDs applied by hand.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import joblib
import pytest
import requests
import yaml
from cluster_objects import condition, configmap_model, get
from e2e_target import NODE_NAME, load_image
from endpoint_traffic import EndpointClient, SteadyLoad
from modelserve_api import constants as c
from modelserve_api.crdgen import spec_digest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from walkthrough_module import walkthrough

pytestmark = [pytest.mark.node, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelserve"
NEW_FIELD = "libraryVersionPolicy"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def release_n_chart(into: Path) -> Path:
    """This chart as an older release ships it: its Model CRD without `libraryVersionPolicy`."""
    chart = into / "modelserve"
    shutil.copytree(CHART, chart)
    path = chart / "crds" / "modelserve.io_models.yaml"
    crd = yaml.safe_load(path.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    del schema["properties"]["spec"]["properties"][NEW_FIELD]
    crd["metadata"]["annotations"][c.ANNOTATION_SCHEMA_DIGEST] = spec_digest(crd["spec"])
    path.write_text(yaml.safe_dump(crd, sort_keys=False))
    return chart


def next_operator_image(operator_image: str) -> str:
    """Another build of the operator under another tag, loaded into the node."""
    tag = "modelserve/operator:upgrade-next"
    subprocess.run(
        ["docker", "build", "--quiet", "--label", "io.modelserve.build=next", "-t", tag, "-"],
        input=f"FROM {operator_image}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    built = [
        subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", image],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for image in (operator_image, tag)
    ]
    assert built[0] != built[1], "the next release's operator must be another build"
    load_image(tag)
    return tag


def model_objects(version: str, policy: str | None = None) -> list[dict]:
    """An iris classifier as a ConfigMap artifact and Model `iris-<version>`."""
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    objects = configmap_model(buffer.getvalue(), version)
    if policy:
        objects[1]["spec"][NEW_FIELD] = policy
    return objects


ENDPOINT = {
    "apiVersion": c.API_VERSION,
    "kind": c.KIND_ONLINE_ENDPOINT,
    "metadata": {"name": "iris"},
    "spec": {
        "authMode": "key",
        "traffic": {"main": 100},
        "deployments": [
            {"name": "main", "model": {"name": "iris", "version": "1"}, "instanceCount": 2}
        ],
    },
}


def pod_uids(tools, namespace: str) -> dict[str, str]:
    """Name -> UID of the endpoint's scoring and router pods."""
    pods = json.loads(
        tools.kubectl("get", "pods", "-n", namespace, "-l", f"{c.LABEL_ENDPOINT}=iris", "-o=json")
    )["items"]
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods}


def answers(client: EndpointClient) -> bool:
    """Whether the router answers a prediction with 200 (False while nothing listens yet)."""
    try:
        return client.score(ROWS).status_code == 200
    except requests.ConnectionError:
        return False


def endpoint_ready(cluster, namespace: str) -> dict | None:
    endpoint = get(cluster, namespace, "onlineendpoint", "iris")
    current = (
        endpoint
        and endpoint.get("status", {}).get("observedGeneration")
        == (endpoint["metadata"]["generation"])
    )
    return endpoint if current and condition(endpoint, "Ready").get("status") == "True" else None


def test_helm_upgrade_to_another_operator_build_restarts_no_pod_and_loses_no_call(
    cluster, node, operator_image: str, tmp_path: Path
):
    installer = walkthrough()
    tools = installer.Cluster(str(cluster.kubeconfig))
    suffix = uuid.uuid4().hex[:6]
    release, watch = f"upgrade-{suffix}", f"upgrade-{suffix}"
    system = f"{watch}-system"
    # Short resyncs: the new operator looks at the CRDs again on each one.
    values = {"resyncSeconds": 10}
    chart_n = release_n_chart(tmp_path)
    next_tag = next_operator_image(operator_image).rsplit(":", 1)[1]
    try:
        # Replaced, not applied: an apply leaves fields other managers own in place.
        older = yaml.safe_load((chart_n / "crds" / "modelserve.io_models.yaml").read_text())
        live = json.loads(tools.kubectl("get", "crd", "models.modelserve.io", "-o=json"))
        older["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        tools.kubectl("replace", "-f", "-", input_text=yaml.safe_dump(older))
        installed = json.loads(tools.kubectl("get", "crd", "models.modelserve.io", "-o=json"))
        schema = installed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert NEW_FIELD not in schema["properties"]["spec"]["properties"]
        installer.install_operator(
            tools,
            release,
            system,
            watch,
            NODE_NAME,
            chart=chart_n,
            extra_values=values,
            apply_crds=False,
        )
        operator_n = tools.kubectl("get", "deploy", "-n", system, "-o=jsonpath={..image}")
        assert operator_n == operator_image
        tools.kubectl(
            "apply", "-n", watch, "-f", "-", input_text=yaml.safe_dump_all(model_objects("1"))
        )
        tools.kubectl("apply", "-n", watch, "-f", "-", input_text=yaml.safe_dump(ENDPOINT))
        cluster.wait_for(lambda: endpoint_ready(cluster, watch), "iris Ready", 300)
        before = pod_uids(tools, watch)
        assert len(before) == 3, before  # two scoring pods and the router
        key = base64.b64decode(get(cluster, watch, "secret", "iris-keys")["data"]["primaryKey"])
        router_ip = get(cluster, watch, "service", "iris")["spec"]["clusterIP"]
        client = EndpointClient(router_ip, key.decode(), "iris")
        # Ready says the router pod is; kube-proxy may take a moment more to route to it.
        cluster.wait_for(lambda: answers(client), "the router to answer through its Service", 60)

        # Release N+1 also changes a default of what the operator puts into pods.
        workloads = {
            "scoringImage": {"tag": installer.IMAGE_TAG},
            "routerImage": {"tag": installer.IMAGE_TAG},
            "imagePullPolicy": "Never",
        }
        with SteadyLoad(lambda s: client.score(ROWS, session=s), workers=2) as load:
            installer.install_operator(
                tools,
                release,
                system,
                watch,
                NODE_NAME,
                operator_tag=next_tag,
                extra_values={**values, "workloads": workloads},
                apply_crds=False,
            )
            operator_next = tools.kubectl("get", "deploy", "-n", system, "-o=jsonpath={..image}")
            assert operator_next == f"modelserve/operator:{next_tag}"
            # The new operator finds release N's Model CRD and says so on every Model.
            outdated = cluster.wait_for(
                lambda: condition(get(cluster, watch, "model", "iris-1"), "CRDCurrent"),
                "CRDCurrent on the Model",
                120,
            )
            assert (outdated["status"], outdated["reason"]) == ("False", "CRDOutdated")
            assert "kubectl apply --server-side -f charts/modelserve/crds/" in outdated["message"]
            # The documented step; the next resync lifts the condition.
            installer.apply_chart_crds(tools)
            cluster.wait_for(
                lambda: not condition(get(cluster, watch, "model", "iris-1"), "CRDCurrent"),
                "CRDCurrent gone once the CRDs are upgraded",
                120,
            )
            # The field the old CRD lacked is stored, and the new operator acts on it.
            tools.kubectl(
                "apply",
                "-n",
                watch,
                "-f",
                "-",
                input_text=yaml.safe_dump_all(model_objects("2", policy="strict")),
            )
            model_2 = cluster.wait_for(
                lambda: (
                    (m := get(cluster, watch, "model", "iris-2"))
                    and condition(m, "Ready").get("status") == "True"
                    and m
                ),
                "Model iris-2 Ready",
                120,
            )
            assert model_2["spec"][NEW_FIELD] == "strict"
            report = load.stop()

        assert report.sent > 0
        assert report.failures == [], report.failures[:5]
        assert pod_uids(tools, watch) == before, "an operator upgrade restarted pods"
        assert endpoint_ready(cluster, watch) is not None
        # The new operator owns the endpoint: a change to it is carried out.
        scaled = copy.deepcopy(ENDPOINT)
        scaled["spec"]["deployments"][0]["instanceCount"] = 3
        tools.kubectl("apply", "-n", watch, "-f", "-", input_text=yaml.safe_dump(scaled))
        cluster.wait_for(
            lambda: (
                (e := endpoint_ready(cluster, watch))
                and e["status"]["deployments"][0]["readyReplicas"] == 3
            ),
            "three Ready scoring pods",
            300,
        )
        assert set(before.items()) < set(pod_uids(tools, watch).items()), "pods were replaced"
        print(f"upgrade under load: {report.sent} calls, {len(report.failures)} failed")
    finally:
        tools.kubectl("delete", "namespace", watch, "--wait=true", "--timeout=180s", check=False)
        tools.helm("uninstall", release, "--namespace", system, "--ignore-not-found")
        tools.kubectl("delete", "namespace", system, "--wait=false", check=False)
        installer.apply_chart_crds(tools)
