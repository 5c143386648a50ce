"""The `train` subcommand of modelserve-scoring: a training Job's entry point."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from modelserve_api import constants as c
from modelserve_api.training import EXIT_ERROR, EXIT_GATE_FAILED, EXIT_OK

from modelserve_scoring.train.errors import TrainingError, UsageError

SPEC_ENV = c.TRAINING_SPEC_ENV
DEFAULT_DATA_ROOT = Path(c.TRAINING_DATA_DIR)
DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")
ARTIFACT_SUFFIXES = (".joblib", ".pkl")

log = logging.getLogger("modelserve_scoring.train")


def register_train_command(subparsers: Any) -> None:
    """Add `train` to an argparse subparsers object."""
    train = subparsers.add_parser(
        "train",
        help="train, evaluate and gate a model from a training spec",
        description=(
            "Train the model a training spec (the shape of Model.spec.training, as JSON) "
            "describes. Writes metrics.json next to --output; when the gate passes (or there "
            "is none) also the artifact, <artifact>.sha256 and baseline.json. Exit codes: "
            "0 trained, 1 error worth retrying, 2 invalid spec, 3 gate failed, 4 data or "
            "estimator error."
        ),
    )
    source = train.add_mutually_exclusive_group()
    source.add_argument("--spec", type=Path, help="the training spec, a JSON (or YAML) file")
    source.add_argument(
        "--spec-env",
        default=SPEC_ENV,
        help=f"environment variable holding the spec as JSON (default {SPEC_ENV})",
    )
    train.add_argument(
        "--output",
        type=Path,
        required=True,
        help="path of the artifact to write (*.joblib); metrics.json and baseline.json go "
        "into the same directory",
    )
    train.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help=f"where data.path is resolved (default {DEFAULT_DATA_ROOT})",
    )
    train.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    train.add_argument("--termination-message-path", type=Path, default=DEFAULT_TERMINATION_LOG)
    train.set_defaults(handler=train_command)


def _read_spec(args: argparse.Namespace) -> str:
    if args.spec is not None:
        try:
            text = args.spec.read_text()
        except OSError as error:
            raise TrainingError(f"cannot read --spec {args.spec}: {error.strerror}") from None
        if args.spec.suffix.lower() in (".yaml", ".yml"):
            import json

            import yaml

            return json.dumps(yaml.safe_load(text))
        return text
    text = os.environ.get(args.spec_env, "")
    if not text.strip():
        raise UsageError(f"give --spec FILE or set {args.spec_env} to the training spec as JSON")
    return text


def train_command(args: argparse.Namespace) -> int:
    """`train`: run one training and report it (stdout, metrics.json, termination message)."""
    from modelserve_scoring.train.outputs import write_termination_message
    from modelserve_scoring.train.spec import parse_training_spec
    from modelserve_scoring.train.trainer import run_training

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.output.suffix.lower() not in ARTIFACT_SUFFIXES:
            raise UsageError(f"--output {args.output} must name a *.joblib (or *.pkl) file")
        spec = parse_training_spec(_read_spec(args))
        document = run_training(spec, args.data_root, args.output)
    except TrainingError as error:
        print(f"modelserve-scoring train: {error}", file=sys.stderr)
        write_termination_message(
            args.termination_message_path, {"result": "failed", "message": str(error)}
        )
        return error.exit_code
    except OSError as error:
        # A volume that went away or filled up may work on the next try.
        print(f"modelserve-scoring train: cannot write outputs: {error}", file=sys.stderr)
        write_termination_message(
            args.termination_message_path, {"result": "failed", "message": str(error)}
        )
        return EXIT_ERROR
    write_termination_message(args.termination_message_path, document)
    if document["result"] != "succeeded":
        print(
            f"modelserve-scoring train: {document['message']}; no artifact written", file=sys.stderr
        )
        return EXIT_GATE_FAILED
    artifact = document["artifact"]
    print(document["message"])
    print(f"wrote {artifact['path']} (sha256 {artifact['sha256']}, {artifact['sizeBytes']} bytes)")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`python -m modelserve_scoring.train --output … [--spec …]`."""
    parser = argparse.ArgumentParser(prog="python -m modelserve_scoring.train")
    register_train_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *(argv if argv is not None else sys.argv[1:])])
    return args.handler(args)
