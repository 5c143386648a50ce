"""`modelserve endpoint show` and batch run lines, from objects as the API returns them."""

from __future__ import annotations

from modelserve_client.summary import format_endpoint, format_run


def endpoint(**status) -> dict:
    return {
        "metadata": {"name": "iris", "namespace": "ml", "generation": 3},
        "spec": {
            "authMode": "key",
            "traffic": {"blue": 90, "green": 10},
            "mirrorTraffic": {"shadow": 20},
            "deployments": [
                {"name": "blue", "model": {"name": "iris", "version": "1"}},
                {"name": "green", "model": {"name": "iris", "version": "latest"}},
                {"name": "shadow", "model": {"name": "iris", "version": "2"}},
            ],
        },
        "status": status,
    }


RECONCILED = {
    "observedGeneration": 3,
    "scoringUri": "http://iris.ml.svc.cluster.local/score",
    "traffic": {"blue": 100},
    "conditions": [
        {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": ""},
        {
            "type": "Ready",
            "status": "False",
            "reason": "WaitingForDeployments",
            "message": "waiting for green to be Ready before it gets traffic",
        },
        {"type": "Progressing", "status": "True", "reason": "RollingOut", "message": "green"},
    ],
    "deployments": [
        {"name": "blue", "modelVersion": "1", "readyReplicas": 2, "replicas": 2, "ready": True},
        {"name": "green", "modelVersion": "2", "readyReplicas": 0, "replicas": 1, "ready": False},
    ],
}


def test_show_lists_conditions_ready_first_with_their_messages():
    text = format_endpoint(endpoint(**RECONCILED))
    lines = text.splitlines()
    assert lines[0] == "OnlineEndpoint iris (namespace ml)"
    assert "scoringUri:  http://iris.ml.svc.cluster.local/score" in text
    assert "authMode:    key" in text
    conditions = lines[lines.index("Conditions:") + 2 : lines.index("Conditions:") + 5]
    assert [line.split()[0] for line in conditions] == ["Ready", "Progressing", "Degraded"]
    assert "waiting for green to be Ready before it gets traffic" in conditions[0]


def test_show_puts_requested_and_applied_traffic_side_by_side():
    lines = format_endpoint(endpoint(**RECONCILED)).splitlines()
    start = lines.index("Traffic (requested -> applied):")
    rows = {line.split()[0]: line.split()[1:] for line in lines[start + 2 : start + 5]}
    assert rows == {"blue": ["90%", "100%"], "green": ["10%", "0%"], "shadow": ["0%", "0%"]}
    assert "mirror: requested shadow 20%, applied none" in lines[start + 5]


def test_show_gives_each_deployment_its_asked_and_served_version_and_replicas():
    lines = format_endpoint(endpoint(**RECONCILED)).splitlines()
    start = lines.index("Deployments:")
    rows = [line.split() for line in lines[start + 2 :]]
    assert rows[0] == ["blue", "iris", "1", "1", "2/2", "ready"]
    assert rows[1] == ["green", "iris", "latest", "2", "0/1"]
    assert rows[2] == ["shadow", "iris", "2", "-", "-"]


def test_show_says_when_the_status_is_behind_the_spec():
    text = format_endpoint(endpoint(**{**RECONCILED, "observedGeneration": 2}))
    assert "describes generation 2, the spec is at 3" in text


def test_show_of_an_endpoint_the_operator_never_saw():
    text = format_endpoint(endpoint())
    assert "scoringUri:  (not assigned yet)" in text
    assert "(none yet: the operator has not reconciled this endpoint)" in text


def test_a_run_line_has_result_counts_and_output():
    run = {
        "id": "nightly-r1a2b3c4",
        "result": "Succeeded",
        "files": 12,
        "miniBatchesSucceeded": 3,
        "miniBatchesFailed": 0,
        "rowsScored": 1200,
        "outputPath": "predictions/nightly-r1a2b3c4/predictions.csv",
    }
    assert format_run(run) == (
        "run nightly-r1a2b3c4: Succeeded, 12 files, mini-batches 3 succeeded, 0 failed, "
        "1200 rows scored, output predictions/nightly-r1a2b3c4/predictions.csv"
    )
    assert format_run({"id": "x", "result": "Running"}) == "run x: Running"


def test_show_names_a_pod_the_scheduler_cannot_place_once():
    said = (
        "deployment green: pod iris-green-5f7 cannot be scheduled (Unschedulable): "
        "0/3 nodes are available: 1 Insufficient cpu"
    )
    waiting = {
        **RECONCILED,
        "conditions": [
            {
                "type": t,
                "status": "True" if t != "Ready" else "False",
                "reason": "PodUnschedulable",
                "message": said,
            }
            for t in ("Ready", "Progressing", "Reconciling")
        ],
    }
    lines = format_endpoint(endpoint(**waiting)).splitlines()
    start = lines.index("Conditions:") + 2
    ready, progressing, reconciling = lines[start : start + 3]
    assert ready.split()[:3] == ["Ready", "False", "PodUnschedulable"]
    assert ready.endswith(said)
    assert progressing.split()[2:] == ["PodUnschedulable", "(as", "Ready)"]
    assert reconciling.split()[2:] == ["PodUnschedulable", "(as", "Ready)"]
