"""An operator upgrade keeps the pod templates it finds until the user's spec changes."""

import dataclasses
import json

from modelserve_api import constants as c
from modelserve_operator.builders import BuilderSettings, build_scoring_deployment
from modelserve_operator.builders.pinning import inputs_digest, pin_data, pin_template
from modelserve_operator.builders.scoring import scoring_template_inputs

OLD = BuilderSettings(scoring_image="modelserve/scoring:1.0")
NEW = BuilderSettings(scoring_image="modelserve/scoring:1.1", pre_stop_sleep_seconds=12)


def _images(manifest: dict) -> set[str]:
    pod = manifest["spec"]["template"]["spec"]
    return {x["image"] for x in pod["initContainers"] + pod["containers"]}


def _scoring(make_endpoint, make_resolved, settings, **deployment):
    spec = {"name": "blue", "model": {"name": "iris", "version": "1"}, **deployment}
    endpoint = make_endpoint(deployments=[spec])
    (blue,) = endpoint.spec.deployments
    model = make_resolved()
    built = build_scoring_deployment(endpoint, blue, model, settings)
    return built, inputs_digest("fraud", scoring_template_inputs(blue), model, "")


def test_a_new_operator_re_applies_the_template_it_finds(make_endpoint, make_resolved):
    first, digest = _scoring(make_endpoint, make_resolved, OLD)
    live = pin_template(first, digest, None)
    upgraded, same_digest = _scoring(make_endpoint, make_resolved, NEW)
    assert same_digest == digest
    pinned = pin_template(upgraded, digest, live)
    assert pinned["spec"]["template"] == first["spec"]["template"]
    assert _images(pinned) == {"modelserve/scoring:1.0"}
    # Applying it again changes nothing the API server would roll pods for.
    assert pinned["metadata"]["annotations"] == live["metadata"]["annotations"]


def test_a_spec_change_takes_the_new_operators_build(make_endpoint, make_resolved):
    first, digest = _scoring(make_endpoint, make_resolved, OLD)
    live = pin_template(first, digest, None)
    changed, new_digest = _scoring(
        make_endpoint, make_resolved, NEW, env=[{"name": "TEAM", "value": "risk"}]
    )
    assert new_digest != digest
    pinned = pin_template(changed, new_digest, live)
    assert _images(pinned) == {"modelserve/scoring:1.1"}
    recorded = json.loads(pinned["metadata"]["annotations"][c.ANNOTATION_PINNED_TEMPLATE])
    assert recorded == changed["spec"]["template"]


def test_a_template_edited_by_hand_is_put_back_to_the_recorded_one(make_endpoint, make_resolved):
    first, digest = _scoring(make_endpoint, make_resolved, OLD)
    live = pin_template(first, digest, None)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "attacker/scoring:evil"
    pinned = pin_template(first, digest, live)
    assert _images(pinned) == {"modelserve/scoring:1.0"}


def test_fields_a_release_adds_at_their_defaults_leave_the_digest_alone(
    make_endpoint, make_resolved
):
    # Explicitly set to what the API defaults them to: the same spec as far as pods go.
    _, plain = _scoring(make_endpoint, make_resolved, OLD)
    _, explicit = _scoring(
        make_endpoint, make_resolved, OLD, requestSettings={"maxBatchSize": 32}, instanceCount=1
    )
    assert explicit == plain
    model = make_resolved()
    assert inputs_digest(model) == inputs_digest(
        dataclasses.replace(model, library_version_policy="warn")
    )
    assert inputs_digest(model) != inputs_digest(
        dataclasses.replace(model, library_version_policy="strict")
    )


def test_the_refresh_annotation_and_the_inputs_change_the_digest(make_endpoint, make_resolved):
    endpoint = make_endpoint()
    (blue,) = endpoint.spec.deployments
    model = make_resolved()
    assert inputs_digest("fraud", blue, model, "") != inputs_digest("fraud", blue, model, "1")
    assert inputs_digest("fraud", blue, model, "") != inputs_digest(
        "fraud", blue, make_resolved(version="2"), ""
    )


def _configmap(conf: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fraud-router", "namespace": "ml"},
        "data": {"nginx.conf": conf},
    }


def test_router_files_are_kept_while_the_inputs_hold_and_rebuilt_when_edited():
    live = pin_data(_configmap("old render"), "d1", None)
    assert pin_data(_configmap("new render"), "d1", live)["data"] == {"nginx.conf": "old render"}
    assert pin_data(_configmap("new render"), "d2", live)["data"] == {"nginx.conf": "new render"}
    edited = {**live, "data": {"nginx.conf": "events {}"}}
    assert pin_data(_configmap("new render"), "d1", edited)["data"] == {"nginx.conf": "new render"}
    # The data itself is never copied into an annotation (a Secret's keys must not be).
    assert "old render" not in json.dumps(live["metadata"]["annotations"])


def test_scaling_is_not_a_template_input(make_endpoint, make_resolved):
    _, plain = _scoring(make_endpoint, make_resolved, OLD)
    _, scaled = _scoring(make_endpoint, make_resolved, OLD, instanceCount=3)
    autoscaled = {"minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 70}
    _, autoscaled_digest = _scoring(make_endpoint, make_resolved, OLD, autoscale=autoscaled)
    assert plain == scaled == autoscaled_digest
