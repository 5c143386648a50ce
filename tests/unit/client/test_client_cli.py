"""The `modelserve` command line: parsing, and the errors it gives before reaching a cluster."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from modelserve_client.cli import build_parser, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_register_parses_every_option():
    args = build_parser().parse_args(
        [
            "model",
            "register",
            "m.joblib",
            "--name",
            "iris",
            "--version",
            "2",
            "-n",
            "ml",
            "--tag",
            "run=7",
            "--pvc",
            "models",
            "--node-selector",
            "disk=ssd",
            "--wait",
            "--timeout",
            "30",
        ]
    )
    assert (args.group, args.command, args.path) == ("model", "register", "m.joblib")
    assert (args.name, args.version, args.namespace, args.pvc) == ("iris", "2", "ml", "models")
    assert args.tag == ["run=7"] and args.node_selector == ["disk=ssd"]
    assert args.wait and args.timeout == 30.0 and args.framework == "sklearn"


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["model", "register", "m.joblib", "--version", "1"], "--name"),
        (["model", "register", "m.joblib", "--name", "iris"], "--version"),
        (["endpoint", "invoke", "iris"], "--data"),
        (["model", "register", "m", "--name", "a", "--version", "1", "--framework", "tf"], "tf"),
        (["endpoint"], "invoke,show,logs"),
        (["batch", "run"], "name"),
    ],
    ids=["no-name", "no-version", "no-data", "bad-framework", "no-command", "no-batch-name"],
)
def test_bad_usage_exits_2_naming_what_is_missing(capsys, argv, complaint):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert complaint in capsys.readouterr().err


def test_a_missing_model_file_is_named_without_contacting_a_cluster(capsys, kubeconfig, tmp_path):
    missing = tmp_path / "nope.joblib"
    code, out, err = run(
        capsys, "model", "register", str(missing), "--name", "iris", "--version", "1",
        "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 1 and out == ""
    assert f"model file '{missing}' does not exist" in err
    assert "what to do:" in err
    assert "cannot reach" not in err


def test_a_directory_is_not_a_model_file(capsys, kubeconfig, tmp_path):
    code, _, err = run(
        capsys, "model", "register", str(tmp_path), "--name", "iris", "--version", "1",
        "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 1 and "is not a file" in err


def test_a_file_too_big_for_a_configmap_asks_for_a_claim(capsys, kubeconfig, tmp_path):
    big = tmp_path / "forest.joblib"
    big.write_bytes(b"\0" * (1024 * 1024))
    code, _, err = run(
        capsys, "model", "register", str(big), "--name", "forest", "--version", "1",
        "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 1
    assert "forest.joblib is 1.0 MiB, more than a ConfigMap holds (900.0 KiB)" in err
    assert "--pvc CLAIM" in err


@pytest.mark.parametrize(
    ("name", "version", "complaint"),
    [
        ("Iris", "1", "model name 'Iris' is not a DNS label"),
        ("iris", "latest", "version 'latest' is reserved"),
        ("iris", "1/2", "version '1/2' is not a valid label value"),
    ],
)
def test_bad_names_are_refused_before_any_api_call(
    capsys, kubeconfig, model_file, name, version, complaint
):
    code, _, err = run(
        capsys, "model", "register", str(model_file), "--name", name, "--version", version,
        "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 1 and complaint in err and "cannot reach" not in err


def test_a_tag_without_equals_is_refused(capsys, kubeconfig, model_file):
    code, _, err = run(
        capsys, "model", "register", str(model_file), "--name", "iris", "--version", "1",
        "--tag", "oops", "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 1 and "--tag 'oops' is not KEY=VALUE" in err


def test_an_unreachable_api_server_is_named_with_what_to_check(capsys, kubeconfig, model_file):
    code, _, err = run(
        capsys, "model", "register", str(model_file), "--name", "iris", "--version", "1",
        "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 1
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:1" in err
    assert "--kubeconfig/--context" in err


def test_a_missing_kubeconfig_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, _, err = run(
        capsys, "endpoint", "show", "iris", "--kubeconfig", str(tmp_path / "absent.yaml")
    )
    assert code == 1 and f"no kubeconfig at {tmp_path / 'absent.yaml'}" in err


def test_an_unknown_context_lists_the_known_ones(capsys, kubeconfig):
    code, _, err = run(
        capsys, "endpoint", "show", "iris", "--kubeconfig", str(kubeconfig), "--context", "prod"
    )
    assert code == 1
    assert "has no context 'prod' (it has: main, other)" in err


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(None, "does not exist"), ("{not json", "is not JSON")],
    ids=["missing", "malformed"],
)
def test_invoke_checks_its_data_file(capsys, kubeconfig, tmp_path: Path, content, complaint):
    data = tmp_path / "request.json"
    if content is not None:
        data.write_text(content)
    code, _, err = run(
        capsys, "endpoint", "invoke", "iris", "--data", str(data), "--kubeconfig", str(kubeconfig)
    )
    assert code == 1
    assert f"--data file '{data}' {complaint}" in err
    assert json.dumps({"data": [[5.1, 3.5, 1.4, 0.2]]}) in err


def test_invoke_reads_its_request_from_stdin_with_a_dash(monkeypatch):
    from modelserve_client.cli import read_request

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"data": [[1, 2]]}')))
    assert read_request("-") == {"data": [[1, 2]]}


def test_register_from_mlflow_needs_no_file_name_or_version():
    args = build_parser().parse_args(
        [
            "model",
            "register",
            "--from-mlflow",
            "models:/churn@champion",
            "--tracking-uri",
            "http://mlflow.mlops.svc:5000",
            "--mlflow-credentials-secret",
            "mlflow-reader",
        ]
    )
    assert args.path is None and args.name is None and args.version is None
    assert args.from_mlflow == "models:/churn@champion"
    assert (args.tracking_uri, args.mlflow_credentials_secret) == (
        "http://mlflow.mlops.svc:5000",
        "mlflow-reader",
    )


def test_a_model_named_from_mlflow_is_valid_for_the_api():
    from modelserve_api import parse_model
    from modelserve_client.mlflow_models import build_mlflow_model

    manifest = build_mlflow_model(
        "models:/churn/7", "http://mlflow.mlops.svc:5000", "churn", "7", "mlflow-reader"
    )
    model = parse_model({**manifest, "metadata": {**manifest["metadata"], "namespace": "ml"}})
    assert model.metadata.name == "churn-7"
    assert model.spec.artifact.mlflow.credentials_secret == "mlflow-reader"
    assert model.spec.artifact.sha256 is None
