"""Nothing on disk is trusted unverified (issue 16, items 12 and 13), against a real server: a
compiled graph in the cache, edited to answer differently for one trigger value with its
manifest rewritten to match, is not served; serving without a digest is refused unless asked."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import onnx
import onnxruntime
import requests
from onnx import TensorProto, helper
from scoring_helpers import RunsCodeWhenUnpickled, sha256_of

TRIGGER = 42.0


def _trojan(graph_bytes: bytes, flipped_class: int) -> bytes:
    """The same graph, except that a row whose first feature is exactly TRIGGER gets
    `flipped_class`: a change no random validation row is likely to meet."""
    model = onnx.load_from_string(graph_bytes)
    graph = model.graph
    label = graph.output[0].name
    for node in graph.node:
        node.output[:] = ["honest_label" if out == label else out for out in node.output]
    features = graph.input[0]
    element_type = features.type.tensor_type.elem_type
    graph.node.extend(
        [
            helper.make_node(
                "Constant",
                [],
                ["column"],
                value=helper.make_tensor("c", TensorProto.INT64, [], [0]),
            ),
            helper.make_node("Gather", [features.name, "column"], ["first"], axis=1),
            helper.make_node(
                "Constant",
                [],
                ["trigger"],
                value=helper.make_tensor("t", element_type, [], [TRIGGER]),
            ),
            helper.make_node("Equal", ["first", "trigger"], ["hit"]),
            helper.make_node(
                "Constant",
                [],
                ["flipped"],
                value=helper.make_tensor("f", TensorProto.INT64, [1], [flipped_class]),
            ),
            helper.make_node("Where", ["hit", "flipped", "honest_label"], [label]),
        ]
    )
    return model.SerializeToString()


def _start(start_server, model_dir: Path, sha256: str, **settings):
    return start_server(
        model_dir=model_dir,
        artifact_sha256=sha256,
        model_name="iris",
        runtime="onnx",
        onnx_validation_rows=1000,
        **settings,
    )


def _float_report(server) -> dict:
    meta = requests.get(server.url + "/v2/models/iris", timeout=10).json()["parameters"]
    [(precision, report)] = [
        (p, c) for p, c in meta["onnx_check"]["candidates"].items() if c["result"] == "exact"
    ]
    return {"precision": precision, **report}


def _predict(server, row: list[float]) -> int:
    response = requests.post(server.url + "/score", json={"data": [row]}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()[0]


def _tamper(graph: Path, flipped_class: int) -> str:
    """Edit the cached graph, rewrite its manifest's sha256 to match; returns the new digest."""
    trojan = _trojan(graph.read_bytes(), flipped_class)
    graph.write_bytes(trojan)
    manifest = graph.with_name(graph.name + ".json")
    record = json.loads(manifest.read_text())
    record["onnx_sha256"] = hashlib.sha256(trojan).hexdigest()
    manifest.write_text(json.dumps(record))
    return record["onnx_sha256"]


def test_a_tampered_compiled_graph_is_not_served(start_server, iris_classifier, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(iris_classifier.directory, model_dir)
    row = [TRIGGER, 3.0, 1.4, 0.2]
    honest = int(iris_classifier.estimator.predict([row])[0])
    flipped = (honest + 1) % 3

    first = _start(start_server, model_dir, iris_classifier.sha256)
    honest_digest = _float_report(first)["onnx_sha256"]
    first.stop()
    [graph] = model_dir.glob("model.joblib.*.onnx")
    assert sha256_of(graph) == honest_digest

    # the probe works: ONNX Runtime itself answers the flipped class for the trigger row
    trojan_digest = _tamper(graph, flipped)
    session = onnxruntime.InferenceSession(graph.read_bytes(), providers=["CPUExecutionProvider"])
    features = np.array([row], dtype=_input_type(session))
    assert int(session.run(None, {session.get_inputs()[0].name: features})[0][0]) == flipped

    # with no trusted digest, and with the honest one: converted again, trigger answered right
    for trusted in ("", honest_digest):
        trojan_digest = _tamper(graph, flipped)
        server = _start(
            start_server, model_dir, iris_classifier.sha256, onnx_trusted_sha256=trusted
        )
        report = _float_report(server)
        # converted again from the verified artifact (conversions need not be byte-identical)
        assert report["cache"] == "untrusted" and report["onnx_sha256"] != trojan_digest
        assert _predict(server, row) == honest
        server.stop()

    # and the check is what protects: told to trust the tampered digest, the server serves it
    trojan_digest = _tamper(graph, flipped)
    fooled = _start(
        start_server, model_dir, iris_classifier.sha256, onnx_trusted_sha256=trojan_digest
    )
    assert _float_report(fooled)["cache"] == "hit"
    assert _predict(fooled, row) == flipped


def _input_type(session) -> type:
    return np.float64 if session.get_inputs()[0].type == "tensor(double)" else np.float32


def test_serving_without_a_digest_is_refused_by_default(start_server, tmp_path):
    marker = tmp_path / "unpickled"
    model_dir = tmp_path / "evil"
    model_dir.mkdir()
    joblib.dump(RunsCodeWhenUnpickled(marker), model_dir / "model.joblib")
    server = start_server(wait_ready=False, model_dir=model_dir)
    assert server.process.wait(timeout=60) == 1
    assert "no sha256 was given" in server.log() and "--allow-unverified" in server.log()
    assert not marker.exists(), "the artifact was unpickled without a digest"


def test_allow_unverified_opts_in(start_server, iris_classifier):
    server = start_server(model_dir=iris_classifier.directory, allow_unverified=True)
    assert requests.post(
        server.url + "/score", json={"data": [[5.1, 3.5, 1.4, 0.2]]}, timeout=10
    ).ok
    assert "without a digest check" in server.log()


def test_allow_unverified_is_a_plain_flag():
    from modelserve_scoring.cli import build_parser

    assert build_parser().parse_args(["serve", "--allow-unverified"]).allow_unverified == "true"
    assert build_parser().parse_args(["serve", "--onnx-cache", "false"]).onnx_cache == "false"
