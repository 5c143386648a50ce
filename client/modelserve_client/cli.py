"""`modelserve`: register models, call and inspect endpoints, start batch runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import artifacts
from .batch import DEFAULT_RUN_TIMEOUT_S, BatchDeployment
from .endpoint import DEFAULT_INVOKE_TIMEOUT_S, Endpoint
from .errors import ModelserveError
from .kube import Kube
from .mlflow_models import register_from_mlflow
from .model import DEFAULT_WAIT_S, Model
from .progress import ConsoleProgress, Progress, SilentProgress
from .summary import format_run
from .upload import DEFAULT_UPLOADER_IMAGE


def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("cluster")
    group.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    group.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)"
    )
    group.add_argument("--context", help="kubeconfig context (default: the current one)")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: `modelserve <group> <command> ...`."""
    common = _connection_options()
    parser = argparse.ArgumentParser(prog="modelserve", description=__doc__)
    groups = parser.add_subparsers(dest="group", metavar="{model,endpoint,batch}", required=True)

    model = groups.add_parser("model", help="registered model versions")
    model_commands = model.add_subparsers(dest="command", metavar="{register}", required=True)
    register = model_commands.add_parser(
        "register",
        parents=[common],
        help="store a model file in the cluster and create its Model",
        description="Compute the file's sha256, store it in a ConfigMap (files up to "
        f"{artifacts.CONFIGMAP_LIMIT_BYTES // 1024} KiB) or on a PersistentVolumeClaim "
        "(--pvc), and create the Model object that endpoints refer to. With --from-mlflow, "
        "create a Model naming an MLflow registered model instead (docs/mlflow.md).",
    )
    register.add_argument(
        "path", nargs="?", help="the saved model file (joblib or pickle); not with --from-mlflow"
    )
    register.add_argument(
        "--name",
        help="model name (spec.modelName), e.g. iris; with --from-mlflow, default: the MLflow name",
    )
    register.add_argument(
        "--version",
        help="model version, e.g. 1 or 2024-06-01; with --from-mlflow, default: the MLflow "
        "version (an alias is resolved through --tracking-uri and the Model pins that version)",
    )
    register.add_argument(
        "--from-mlflow",
        metavar="URI",
        help="an MLflow registered model, models:/<name>/<version> or models:/<name>@<alias>",
    )
    register.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        help="MLflow tracking server as the cluster reaches it (default: $MLFLOW_TRACKING_URI)",
    )
    register.add_argument(
        "--mlflow-credentials-secret",
        metavar="SECRET",
        help="Secret with MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD, for the operator and the pods",
    )
    register.add_argument(
        "--framework", default="sklearn", choices=artifacts.FRAMEWORKS, help="default: sklearn"
    )
    register.add_argument("--description", help="free text stored in spec.description")
    register.add_argument(
        "--tag", action="append", metavar="KEY=VALUE", help="a spec.tags entry (repeatable)"
    )
    register.add_argument(
        "--pvc", metavar="CLAIM", help="copy the file onto this PersistentVolumeClaim"
    )
    register.add_argument(
        "--pvc-path",
        metavar="PATH",
        help="path inside the claim (default: models/<name>/<version>/<file name>)",
    )
    register.add_argument(
        "--uploader-image",
        default=DEFAULT_UPLOADER_IMAGE,
        help=f"image with python3 for the pod that writes to the claim (default: "
        f"{DEFAULT_UPLOADER_IMAGE})",
    )
    register.add_argument(
        "--node-selector",
        action="append",
        metavar="KEY=VALUE",
        help="node label the upload pod must run on (repeatable)",
    )
    register.add_argument("--wait", action="store_true", help="wait until the Model is Ready")
    register.add_argument(
        "--timeout", type=float, default=DEFAULT_WAIT_S, help="seconds to wait (default: 300)"
    )

    endpoint = groups.add_parser("endpoint", help="online endpoints")
    endpoint_commands = endpoint.add_subparsers(
        dest="command", metavar="{invoke,show,logs}", required=True
    )
    invoke = endpoint_commands.add_parser(
        "invoke",
        parents=[common],
        help="send a JSON request to the endpoint and print the answer",
        description="POST the JSON file to the endpoint's router (its /score route by "
        "default) with the endpoint key, through the API server: works from outside the "
        "cluster.",
    )
    invoke.add_argument("name", help="the OnlineEndpoint")
    invoke.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help='JSON request, e.g. {"data": [[1, 2]]}; "-" reads it from standard input',
    )
    invoke.add_argument("--deployment", help="send to this deployment, not the traffic split")
    invoke.add_argument("--route", default="/score", help="path on the endpoint (default /score)")
    invoke.add_argument(
        "--timeout", type=float, default=DEFAULT_INVOKE_TIMEOUT_S, help="seconds (default: 60)"
    )
    show = endpoint_commands.add_parser(
        "show", parents=[common], help="conditions, traffic, deployments and the scoring URI"
    )
    show.add_argument("name", help="the OnlineEndpoint")
    logs = endpoint_commands.add_parser(
        "logs", parents=[common], help="logs of the endpoint's scoring pods"
    )
    logs.add_argument("name", help="the OnlineEndpoint")
    logs.add_argument("--deployment", help="only this deployment's pods")
    logs.add_argument("--tail", type=int, default=100, help="lines per pod (default 100, -1: all)")
    logs.add_argument("--previous", action="store_true", help="the previous (crashed) container")
    logs.add_argument(
        "--container", default="scoring", help="scoring (default) or fetch-model (init container)"
    )

    batch = groups.add_parser("batch", help="batch deployments")
    batch_commands = batch.add_subparsers(dest="command", metavar="{run}", required=True)
    run = batch_commands.add_parser(
        "run",
        parents=[common],
        help="start a run of a BatchDeployment",
        description="Set the annotation modelserve.io/run to a new value, which makes the "
        "operator start a run with the current spec.",
    )
    run.add_argument("name", help="the BatchDeployment")
    run.add_argument("--wait", action="store_true", help="follow the run until it ends")
    run.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_RUN_TIMEOUT_S,
        help=f"seconds to wait (default: {DEFAULT_RUN_TIMEOUT_S:.0f})",
    )
    return parser


def read_request(path: str) -> Any:
    """The JSON in the --data file (or stdin for "-"); a missing or malformed one is an error."""
    file = Path(path)
    if path == "-":
        raw = sys.stdin.buffer.read()
    elif not file.is_file():
        raise ModelserveError(
            f"--data file {path!r} does not exist",
            'pass a JSON file such as {"data": [[5.1, 3.5, 1.4, 0.2]]}',
        )
    else:
        raw = file.read_bytes()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelserveError(
            f"--data file {path!r} is not JSON ({error})",
            'pass a JSON request such as {"data": [[5.1, 3.5, 1.4, 0.2]]}',
        ) from None


def _register(args: argparse.Namespace, kube: Kube, progress: Progress) -> None:
    if args.from_mlflow:
        if args.path or args.pvc:
            raise ModelserveError(
                "--from-mlflow registers a model MLflow stores: no file and no --pvc",
                "leave out the file, or --from-mlflow to register a file",
            )
        namespace = args.namespace or kube.default_namespace
        object_name = register_from_mlflow(
            kube,
            namespace,
            args.from_mlflow,
            args.tracking_uri or "",
            progress,
            name=args.name,
            version=args.version,
            credentials_secret=args.mlflow_credentials_secret,
            description=args.description,
            tags=artifacts.parse_pairs(args.tag, "--tag"),
        )
        model = Model(object_name, namespace, kube)
    else:
        model = _register_file(args, kube, progress)
    if args.wait:
        model.wait_ready(timeout=args.timeout, progress=progress)
    spec = model.get()["spec"]
    print(
        f"Model {model.object_name} in namespace {model.namespace}: {spec['modelName']} "
        f"version {spec['version']}, {spec['artifact']['uri']}"
    )
    if args.wait:
        print(f"Ready: {model.readiness()[1]}")


def _register_file(args: argparse.Namespace, kube: Kube, progress: Progress) -> Model:
    return Model.register(
        args.path,
        name=args.name,
        version=args.version,
        namespace=args.namespace,
        framework=args.framework,
        description=args.description,
        tags=artifacts.parse_pairs(args.tag, "--tag"),
        pvc=args.pvc,
        pvc_path=args.pvc_path,
        uploader_image=args.uploader_image,
        node_selector=artifacts.parse_pairs(args.node_selector, "--node-selector"),
        # waited for by _register, for either kind of registration
        wait=False,
        timeout=args.timeout,
        connection=kube,
        progress=progress,
    )


def _invoke(args: argparse.Namespace, kube: Kube, progress: Progress) -> None:
    request = read_request(args.data)
    endpoint = Endpoint(args.name, args.namespace, kube)
    result = endpoint.invoke(request, args.deployment, args.route, args.timeout)
    progress.step(f"HTTP {result.status} from deployment {result.deployment or '?'}")
    print(result.text.rstrip("\n"))


def _show(args: argparse.Namespace, kube: Kube, progress: Progress) -> None:
    print(Endpoint(args.name, args.namespace, kube).show())


def _logs(args: argparse.Namespace, kube: Kube, progress: Progress) -> None:
    tail = None if args.tail < 0 else args.tail
    endpoint = Endpoint(args.name, args.namespace, kube)
    sys.stdout.write(endpoint.logs(args.deployment, tail, args.previous, args.container))


def _batch_run(args: argparse.Namespace, kube: Kube, progress: Progress) -> None:
    batch = BatchDeployment(args.name, args.namespace, kube)
    outcome = batch.run(wait=args.wait, timeout=args.timeout, progress=progress)
    if args.wait:
        print(format_run(outcome))
    else:
        print(f"run requested: {outcome['request']}")


COMMANDS = {
    ("model", "register"): _register,
    ("endpoint", "invoke"): _invoke,
    ("endpoint", "show"): _show,
    ("endpoint", "logs"): _logs,
    ("batch", "run"): _batch_run,
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 1 on an error (printed with what to do), 2 on bad usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.group, args.command) == ("model", "register") and not args.from_mlflow:
        # a file's registration needs all three; --from-mlflow defaults name and version
        missing = [
            flag
            for flag, value in (
                ("path", args.path),
                ("--name", args.name),
                ("--version", args.version),
            )
            if not value
        ]
        if missing:
            parser.error(
                f"model register: the following arguments are required: {', '.join(missing)} "
                "(or --from-mlflow models:/<name>@<alias>)"
            )
    progress: Progress = SilentProgress() if args.quiet else ConsoleProgress()
    try:
        # Only reads the kubeconfig: commands check their own input before any API call.
        kube = Kube.connect(args.kubeconfig, args.context)
        COMMANDS[(args.group, args.command)](args, kube, progress)
    except ModelserveError as error:
        print(f"error: {error.problem}", file=sys.stderr)
        if error.fix:
            print(f"  what to do: {error.fix}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
