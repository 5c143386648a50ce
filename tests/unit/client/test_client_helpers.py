"""Small pieces of the client: API errors, readiness, run requests, agreement with the operator."""

from __future__ import annotations

import datetime as dt
import json

from modelserve_api.kube import KubeError, error_from_answer
from modelserve_client import endpoint as client_endpoint
from modelserve_client.batch import blocked_by, new_run_request_id, new_runs
from modelserve_client.kube import api_error
from modelserve_client.waiting import readiness
from modelserve_operator.builders import common as builder_common
from modelserve_operator.builders import router as router_builder
from modelserve_operator.builders import router_config


def test_the_client_uses_the_operators_headers_secret_and_selectors():
    assert client_endpoint.PIN_HEADER == router_config.PIN_HEADER
    assert client_endpoint.SERVED_HEADER == router_config.SERVED_HEADER
    assert client_endpoint.PRIMARY_KEY == router_builder.PRIMARY_KEY
    assert client_endpoint.keys_secret_name("iris") == builder_common.keys_secret_name("iris")
    scoring = builder_common.scoring_selector("iris", "blue")
    assert client_endpoint.scoring_pod_selector("iris", "blue") == ",".join(
        f"{k}={v}" for k, v in scoring.items()
    )
    router = builder_common.router_selector("iris")
    assert client_endpoint.router_pod_selector("iris") == ",".join(
        f"{k}={v}" for k, v in router.items()
    )


def test_request_bodies():
    assert client_endpoint.encode_request({"data": [[1, 2]]}) == b'{"data": [[1, 2]]}'
    assert client_endpoint.encode_request('{"a": 1}') == b'{"a": 1}'
    assert client_endpoint.encode_request(b"raw") == b"raw"


def test_api_errors_say_what_was_refused_and_what_to_do():
    def refusal(status: int, body: dict | None) -> KubeError:
        return error_from_answer(status, json.dumps(body).encode() if body else b"")

    forbidden = api_error(
        refusal(403, {"message": 'configmaps is forbidden: User "ann"'}), "create X"
    )
    assert (
        forbidden.problem == 'you are not allowed to create X: configmaps is forbidden: User "ann"'
    )
    assert "administrator" in forbidden.fix
    no_crd = api_error(
        refusal(404, {"message": "the server could not find the requested resource"}), "y"
    )
    assert "are the modelserve CRDs installed?" in no_crd.problem
    assert "crds/" in no_crd.fix
    invalid = api_error(refusal(422, {"message": "spec.version: Invalid value"}), "create Model m")
    assert str(invalid) == "the API server refused to create Model m: spec.version: Invalid value"
    assert "credentials" in api_error(refusal(401, None), "z").problem
    gone = api_error(refusal(404, {"message": "x", "details": {"name": "m"}}), "read Model m")
    assert "CRDs" not in gone.problem
    # A proxy's HTML page: the status decides, the page is quoted.
    bad_gateway = api_error(error_from_answer(502, b"<html>Bad Gateway</html>"), "list pods")
    assert str(bad_gateway) == "could not list pods: HTTP 502: <html>Bad Gateway</html>"


def model(generation: int, observed: int, **conditions: str) -> dict:
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "conditions": [
                {"type": t, "status": s, "reason": f"{t}Reason", "message": f"{t} said"}
                for t, s in conditions.items()
            ],
        },
    }


def test_readiness_waits_for_the_current_generation_and_reports_stalled_as_failed():
    assert readiness(model(1, 1, Ready="True"))[0] == "ready"
    assert readiness(model(2, 1, Ready="True")) == (
        "waiting",
        "the operator has not seen the latest spec yet",
    )
    assert readiness(model(1, 1, Ready="False", Stalled="True")) == (
        "failed",
        "ReadyReason: Ready said",
    )
    assert readiness(model(1, 1, Ready="False", Stalled="False"))[0] == "waiting"
    assert readiness({"metadata": {}})[1] == "NoStatusYet: not reconciled yet"


def test_run_requests_are_unique_and_say_when():
    moment = dt.datetime(2024, 6, 1, 2, 3, 4, tzinfo=dt.UTC)
    first, second = new_run_request_id(moment), new_run_request_id(moment)
    assert first.startswith("20240601T020304Z-") and first != second


def test_new_runs_are_those_not_seen_before():
    obj = {"status": {"runs": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}}
    assert new_runs(obj, {"a", "b"}) == [{"id": "c"}]
    assert new_runs({}, set()) == []


def test_a_run_that_cannot_go_on_is_told_by_the_ready_condition():
    def batch(reason: str, message: str) -> dict:
        ready = {"type": "Ready", "status": "False", "reason": reason, "message": message}
        return {"status": {"conditions": [ready]}}

    running = {"id": "nightly-r1", "result": "Running"}
    unschedulable = "pod nightly-r1-0-x cannot be scheduled (Unschedulable): 0/3 nodes are …"
    assert blocked_by(batch("PodUnschedulable", f"run nightly-r1: {unschedulable}"), running) == (
        unschedulable
    )
    pulling = "pod nightly-r1-0-x container runner: ErrImageNeverPull: image x:v9"
    assert blocked_by(batch("RunStuck", f"run nightly-r1: {pulling}"), running) == pulling
    # Another run's trouble, a run going well, and a run that ended say nothing.
    assert blocked_by(batch("PodUnschedulable", f"run nightly-r0: {pulling}"), running) is None
    assert blocked_by(batch("RunInProgress", "run nightly-r1 is running"), running) is None
    done = {"id": "nightly-r1", "result": "Succeeded"}
    assert blocked_by(batch("PodUnschedulable", f"run nightly-r1: {pulling}"), done) is None
