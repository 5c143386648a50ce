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
    (
        ("networking.k8s.io",),
        ("networkpolicies",),
        ("get", "list", "watch", "create", "patch", "delete"),
    ),
    (("",), ("configmaps", "secrets"), ("get", "list", "watch", "create", "patch")),
    (("",), ("pods",), ("list", "watch")),
    (("",), ("pods/proxy",), ("get",)),
    (("",), ("services/proxy",), ("get",)),
    (("",), ("persistentvolumeclaims",), ("get",)),
    (("batch",), ("jobs",), ("get", "list", "watch", "create")),
    (("batch",), ("cronjobs",), ("get", "create", "patch", "delete")),
    (("",), ("events",), ("create",)),
]
CLUSTER_ONLY_RULES = [
    (("apiextensions.k8s.io",), ("customresourcedefinitions",), ("list", "watch")),
]
# Its own CRDs, by name, read at start to compare them with the operator's (crd_check.py).
CRD_READ_RULES = [(("apiextensions.k8s.io",), ("customresourcedefinitions",), ("get",))]
OWN_CRDS = [
    "models.modelserve.io",
    "onlineendpoints.modelserve.io",
    "batchdeployments.modelserve.io",
]


def as_tuples(rules: list[dict]) -> list[tuple]:
    return [(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])) for r in rules or []]


def operator_container(objects: list[dict]) -> dict:
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return container


def env_of(container: dict) -> dict[str, str]:
    """Plain values; an entry from the downward API gives its fieldPath."""
    return {
        item["name"]: item["value"]
        if "value" in item
        else item["valueFrom"]["fieldRef"]["fieldPath"]
        for item in container["env"]
    }


def watch_roles(objects: list[dict], kind: str) -> list[dict]:
    """The Roles (or RoleBindings) of watched namespaces: not the leader election's."""
    return [
        o
        for o in objects_of(objects, kind)
        if not o["metadata"]["name"].endswith("-leader-election")
    ]


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda p: p.name if p else "no-file")
def test_helm_lint_strict(values: Path | None):
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    if values is not None:
        args += ["--values", str(values)]
    result = run_helm(*args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_every_values_file_runs_two_hardened_operators_that_elect_a_leader(values: Path):
    objects = render([values])
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    # One leads, one stands by; a new pod starts as a standby before an old one stops.
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert env_of(operator_container(objects))["MODELSERVE_LEADER_ELECTION"] == "true"
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
    assert as_tuples(role["rules"]) == NAMESPACED_RULES + CLUSTER_ONLY_RULES + CRD_READ_RULES
    assert role["rules"][-1]["resourceNames"] == OWN_CRDS
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
    assert not watch_roles(objects, "Role") and not watch_roles(objects, "RoleBinding")
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


def test_namespaced_install_has_a_role_per_watched_namespace_and_reads_only_its_crds():
    objects = render([NAMESPACED])
    # Cluster-wide, it may only read its own three CRDs.
    crd_reader = one(objects, "ClusterRole")
    assert as_tuples(crd_reader["rules"]) == CRD_READ_RULES
    assert crd_reader["rules"][0]["resourceNames"] == OWN_CRDS
    assert one(objects, "ClusterRoleBinding")["roleRef"]["name"] == crd_reader["metadata"]["name"]
    roles = {r["metadata"]["namespace"]: r for r in watch_roles(objects, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in watch_roles(objects, "RoleBinding")}
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


def test_leader_election_may_touch_only_its_own_lease_in_the_release_namespace():
    objects = render([DEFAULT])
    (role,) = [r for r in objects_of(objects, "Role") if r not in watch_roles(objects, "Role")]
    lease = env_of(operator_container(objects))["MODELSERVE_LEASE_NAME"]
    assert role["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]
    (binding,) = [
        b
        for b in objects_of(objects, "RoleBinding")
        if b["roleRef"]["name"] == role["metadata"]["name"]
    ]
    assert binding["metadata"]["namespace"] == RELEASE_NAMESPACE
    env = env_of(operator_container(objects))
    assert env["MODELSERVE_LEASE_NAMESPACE"] == "metadata.namespace"
    assert env["MODELSERVE_POD_NAME"] == "metadata.name"
    timing = [
        env[f"MODELSERVE_LEASE_{k}_SECONDS"] for k in ("DURATION", "RENEW_DEADLINE", "RETRY_PERIOD")
    ]
    assert timing == ["10", "7", "2"]


def test_replicas_are_spread_over_nodes_and_kept_through_drains():
    objects = render([DEFAULT])
    pdb = one(objects, "PodDisruptionBudget")
    pod = one(objects, "Deployment")["spec"]["template"]
    assert pdb["spec"]["minAvailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"]
        == one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    )
    (term,) = pod["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == pod["metadata"]["labels"]
    # The user's own anti-affinity wins; "none" leaves it out.
    own = {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone"}]}
    custom = render(
        sets=[
            "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey=zone"
        ]
    )
    assert (
        one(custom, "Deployment")["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"] == own
    )
    bare = render(sets=["podAntiAffinity=none"])
    assert "affinity" not in one(bare, "Deployment")["spec"]["template"]["spec"]


def test_one_replica_without_election_is_recreated_and_several_without_it_are_refused():
    single = render(sets=["replicas=1", "leaderElection.enabled=false"])
    assert one(single, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert not objects_of(single, "PodDisruptionBudget")
    assert not objects_of(single, "Role")
    assert env_of(operator_container(single))["MODELSERVE_LEADER_ELECTION"] == "false"
    refused = run_helm(*template_args(sets=["leaderElection.enabled=false"]), check=False)
    assert refused.returncode != 0 and "needs leaderElection.enabled" in refused.stderr


def test_the_operator_pod_takes_metrics_scrapes_only_and_nothing_when_no_scraper_is_named():
    objects = render([DEFAULT])
    policy = one(objects, "NetworkPolicy")
    operator = operator_container(objects)
    metrics_port = next(p["containerPort"] for p in operator["ports"] if p["name"] == "metrics")
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": metrics_port}]
    assert rule["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    # No scraper named: an empty ingress list admits no one (an absent `from` would admit all).
    closed = one(render([DEFAULT], ["networkPolicies.metricsFrom=null"]), "NetworkPolicy")
    assert closed["spec"]["ingress"] == []
    assert objects_of(render([DEFAULT], ["networkPolicies.enabled=false"]), "NetworkPolicy") == []
