"""`helm lint` and `helm template` of charts/modelserve with each values file under ci/."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart_helpers import (
    CHART,
    CI_VALUES,
    KUBE_VERSION,
    RELEASE,
    RELEASE_NAMESPACE,
    objects_of,
    one,
    render,
    run_helm,
    template_args,
)

DEFAULT = CHART / "ci" / "default-values.yaml"
NAMESPACED = CHART / "ci" / "namespaced-values.yaml"
MONITORING = CHART / "ci" / "monitoring-values.yaml"

# The rules the operator needs in a namespace it watches, written out by hand from the
# API calls in operator/modelserve_operator (and Kopf's): a change to the chart's RBAC
# must change this table too, on purpose.
NAMESPACED_RULES = [
    (("modelserve.io",), ("batchdeployments",), ("get", "list", "watch")),
    (("modelserve.io",), ("models",), ("get", "list", "watch", "create")),
    (("modelserve.io",), ("onlineendpoints",), ("get", "list", "watch", "patch")),
    (
        ("modelserve.io",),
        ("models/status", "onlineendpoints/status", "batchdeployments/status"),
        ("patch",),
    ),
    (
        ("modelserve.io",),
        ("models/finalizers", "onlineendpoints/finalizers", "batchdeployments/finalizers"),
        ("update",),
    ),
    (("apps",), ("deployments",), ("get", "list", "watch", "create", "patch", "delete")),
    (("",), ("services",), ("get", "list", "watch", "create", "patch", "delete")),
    (
        ("autoscaling",),
        ("horizontalpodautoscalers",),
        ("list", "watch", "create", "patch", "delete"),
    ),
    (("policy",), ("poddisruptionbudgets",), ("list", "watch", "create", "patch", "delete")),
    (("",), ("configmaps", "secrets"), ("get", "list", "watch", "create", "patch")),
    (("",), ("pods",), ("list", "watch")),
    (("",), ("pods/proxy",), ("get",)),
    (("",), ("persistentvolumeclaims",), ("get",)),
    (("batch",), ("jobs",), ("get", "list", "watch", "create")),
    (("batch",), ("cronjobs",), ("get", "create", "patch", "delete")),
    (("",), ("events",), ("create",)),
]
CLUSTER_ONLY_RULES = [
    (("apiextensions.k8s.io",), ("customresourcedefinitions",), ("list", "watch")),
]


def as_tuples(rules: list[dict]) -> list[tuple]:
    return [(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])) for r in rules or []]


def operator_container(objects: list[dict]) -> dict:
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return container


def env_of(container: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda p: p.name if p else "no-file")
def test_helm_lint_strict(values: Path | None):
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    if values is not None:
        args += ["--values", str(values)]
    result = run_helm(*args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_values_file_runs_one_hardened_operator(values: Path):
    objects = render([values])
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(objects)
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # A read-only root filesystem leaves /tmp as the one writable place (HOME=/tmp).
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    # The probe and the env point at the same port the operator binds (settings.py).
    env = env_of(container)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert str(ports["liveness"]) == env["MODELSERVE_OPERATOR_LIVENESS_PORT"]
    assert str(ports["metrics"]) == env["MODELSERVE_OPERATOR_METRICS_PORT"]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]


def test_default_install_watches_the_cluster_with_exactly_the_needed_rules():
    objects = render([DEFAULT])
    role = one(objects, "ClusterRole")
    assert as_tuples(role["rules"]) == NAMESPACED_RULES + CLUSTER_ONLY_RULES
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": one(objects, "ServiceAccount")["metadata"]["name"],
            "namespace": RELEASE_NAMESPACE,
        }
    ]
    assert not objects_of(objects, "Role") and not objects_of(objects, "RoleBinding")
    env = env_of(operator_container(objects))
    assert env["MODELSERVE_WATCH_NAMESPACES"] == ""
    assert "MODELSERVE_NODE_SELECTOR" not in env


def test_no_rule_grants_wildcards_or_escalation():
    for values in CI_VALUES:
        for kind in ("ClusterRole", "Role"):
            for role in objects_of(render([values]), kind):
                for rule in role["rules"]:
                    assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
                    assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


def test_namespaced_install_has_a_role_per_watched_namespace_and_no_cluster_role():
    objects = render([NAMESPACED])
    assert not objects_of(objects, "ClusterRole")
    assert not objects_of(objects, "ClusterRoleBinding")
    roles = {r["metadata"]["namespace"]: r for r in objects_of(objects, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in objects_of(objects, "RoleBinding")}
    assert sorted(roles) == sorted(bindings) == ["ml-team-a", "ml-team-b"]
    service_account = one(objects, "ServiceAccount")["metadata"]["name"]
    for namespace, role in roles.items():
        assert as_tuples(role["rules"]) == NAMESPACED_RULES
        binding = bindings[namespace]
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        # The ServiceAccount lives in the release namespace, not the watched one.
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": service_account, "namespace": RELEASE_NAMESPACE}
        ]
    container = operator_container(objects)
    env = env_of(container)
    assert env["MODELSERVE_WATCH_NAMESPACES"] == "ml-team-a,ml-team-b"
    assert env["MODELSERVE_NODE_SELECTOR"] == "pool=inference"
    assert container["args"] == ["--log-level", "DEBUG"]
    assert container["resources"]["limits"] == {"memory": "256Mi"}


def test_images_default_to_the_app_version_and_can_be_overridden():
    env = env_of(operator_container(render()))
    assert env["MODELSERVE_SCORING_IMAGE"] == "modelserve/scoring:dev"
    assert env["MODELSERVE_ROUTER_IMAGE"] == "modelserve/router:dev"
    assert env["MODELSERVE_IMAGE_PULL_POLICY"] == "IfNotPresent"
    assert operator_container(render())["image"] == "modelserve/operator:dev"
    assert operator_container(render())["imagePullPolicy"] == "IfNotPresent"

    objects = render(
        sets=[
            "image.repository=registry.example/ms/operator",
            "image.tag=1.2.3",
            "image.pullPolicy=Always",
            "workloads.scoringImage.repository=registry.example/ms/scoring",
            "workloads.scoringImage.tag=1.2.3",
            "workloads.routerImage.tag=1.2.4",
            "workloads.imagePullPolicy=Always",
        ]
    )
    container = operator_container(objects)
    assert container["image"] == "registry.example/ms/operator:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    env = env_of(container)
    assert env["MODELSERVE_SCORING_IMAGE"] == "registry.example/ms/scoring:1.2.3"
    assert env["MODELSERVE_ROUTER_IMAGE"] == "modelserve/router:1.2.4"
    assert env["MODELSERVE_IMAGE_PULL_POLICY"] == "Always"


def test_monitoring_objects_only_when_enabled():
    kinds = ("ServiceMonitor", "PrometheusRule")
    for values in (DEFAULT, NAMESPACED):
        objects = render([values])
        assert not [o for o in objects if o["kind"] in kinds]
        assert not [o for o in objects_of(objects, "ConfigMap")]
    objects = render([MONITORING])
    monitors = {m["metadata"]["name"]: m for m in objects_of(objects, "ServiceMonitor")}
    assert sorted(monitors) == [f"{RELEASE}-modelserve-operator", f"{RELEASE}-modelserve-scoring"]
    for monitor in monitors.values():
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    operator_monitor = monitors[f"{RELEASE}-modelserve-operator"]
    service = one(objects, "Service")
    selector = operator_monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert operator_monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    # The gauge's `namespace` label is the resource's: it must win over the target's.
    assert operator_monitor["spec"]["endpoints"][0]["honorLabels"] is True
    scoring = monitors[f"{RELEASE}-modelserve-scoring"]["spec"]
    assert scoring["selector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": "modelserve-operator",
        "app.kubernetes.io/component": "scoring",
    }
    assert scoring["namespaceSelector"] == {"any": True}
    assert scoring["endpoints"][0]["relabelings"][0]["targetLabel"] == "modelserve_endpoint"
    rule = one(objects, "PrometheusRule")
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert alerts == [
        "ModelserveEndpointDegraded",
        "ModelserveEndpointErrorRatioHigh",
        "ModelserveEndpointLatencyP99High",
        "ModelserveBatchRunFailed",
        "ModelserveReconcileErrors",
    ]
    error_ratio = next(
        r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"].endswith("RatioHigh")
    )
    assert error_ratio["expr"].rstrip().endswith("> 0.02")
    dashboards = one(objects, "ConfigMap")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = (CHART / "dashboards" / "modelserve-endpoint.json").read_text()
    assert dashboards["data"]["modelserve-endpoint.json"] == shipped.rstrip("\n")


def test_scoring_monitor_is_limited_to_the_watched_namespaces():
    objects = render([NAMESPACED], sets=["metrics.serviceMonitor.enabled=true"])
    scoring = next(
        m
        for m in objects_of(objects, "ServiceMonitor")
        if m["metadata"]["name"].endswith("scoring")
    )
    assert scoring["spec"]["namespaceSelector"] == {"matchNames": ["ml-team-a", "ml-team-b"]}


def test_existing_service_account_and_no_rbac():
    objects = render(
        sets=["serviceAccount.create=false", "serviceAccount.name=ops", "rbac.create=false"]
    )
    assert not objects_of(objects, "ServiceAccount")
    assert not [o for o in objects if o["kind"].endswith(("Role", "RoleBinding"))]
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["imagePullPolicy=Always"], "additional properties 'imagePullPolicy' not allowed"),
        (
            ["metrics.serviceMonitor.enable=true"],
            "at '/metrics/serviceMonitor': additional properties 'enable' not allowed",
        ),
        (["logLevel=LOUD"], "at '/logLevel': value must be one of"),
        (["image.pullPolicy=Sometimes"], "at '/image/pullPolicy': value must be one of"),
        (["watchNamespaces={Team_A}"], "at '/watchNamespaces/0'"),
        (
            ["metrics.prometheusRule.errorRatio.threshold=5"],
            "at '/metrics/prometheusRule/errorRatio/threshold'",
        ),
        (
            ["metrics.prometheusRule.latencyP99.for=ten"],
            "at '/metrics/prometheusRule/latencyP99/for'",
        ),
    ],
)
def test_schema_rejects_bad_values_naming_the_key(sets: list[str], message: str):
    result = run_helm(*template_args(sets=sets), check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr


def test_service_monitor_without_the_metrics_service_is_refused():
    sets = ["metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false"]
    result = run_helm(*template_args(sets=sets), check=False)
    assert result.returncode != 0
    assert "metrics.serviceMonitor.enabled needs metrics.service.enabled" in result.stderr


def test_existing_service_account_must_be_named():
    result = run_helm(*template_args(sets=["serviceAccount.create=false"]), check=False)
    assert result.returncode != 0
    assert "serviceAccount.name must name an existing ServiceAccount" in result.stderr
