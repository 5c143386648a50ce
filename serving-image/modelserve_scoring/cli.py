"""Command line: `serve` (online), `fetch` (artifact init), `collect` (shadow collector), `batch`,
`batch-merge` and `train`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelserve_scoring.errors import ArtifactError

# What a pod runs starts sooner when the parser holds only its command: `fetch` (every scoring
# pod's init container) then skips pydantic-settings, and `serve` the batch and train commands.
_FAST_COMMANDS = ("serve", "fetch", "collect")
_MAX_REFUSAL_MESSAGE = 1200


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    from modelserve_scoring.settings import ScoringSettings

    for name, field in ScoringSettings.model_fields.items():
        # a boolean flag alone means true (--allow-unverified); `--flag false` still works
        switch = {"nargs": "?", "const": "true"} if field.annotation is bool else {}
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            metavar=name.upper(),
            help=f"{field.description} (env MODELSERVE_{name.upper()}; default {field.default!r})",
            **switch,
        )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of modelserve-scoring; with `only`, just that command's."""
    parser = argparse.ArgumentParser(prog="modelserve-scoring", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    if only in (None, "serve"):
        serve = commands.add_parser(
            "serve",
            help="serve a model online (v2, /score, KServe v1)",
            description=(
                "Serve one model. Every flag can also be set as a MODELSERVE_* environment "
                "variable; flags win."
            ),
        )
        _add_setting_flags(serve)
    if only in (None, "fetch"):
        _add_fetch_command(commands)
    if only in (None, "collect"):
        _add_collect_command(commands)
    if only is not None:
        return parser
    from modelserve_scoring.batch.cli import register_batch_commands

    register_batch_commands(commands)
    from modelserve_scoring.train.cli import register_train_command

    register_train_command(commands)
    return parser


def _add_fetch_command(commands: Any) -> None:
    fetch = commands.add_parser(
        "fetch", help="download or copy an artifact into a directory and verify its sha256"
    )
    fetch.add_argument(
        "--uri",
        required=True,
        help="s3://bucket/key (settings from MODELSERVE_S3_* and AWS_* variables), "
        "mlflow-artifacts:/path (a model directory, from MLFLOW_TRACKING_URI; --sha256 is its "
        "directory digest), http(s)://, file:// or a local path",
    )
    fetch.add_argument("--sha256", required=True, help="expected sha256 (hex)")
    fetch.add_argument("--dest", required=True, type=Path, help="directory to write it into")
    fetch.add_argument(
        "--optional-file",
        action="append",
        default=[],
        metavar="NAME",
        help="a file next to a local artifact to copy too when present (e.g. baseline.json); "
        "repeatable",
    )


def _add_collect_command(commands: Any) -> None:
    collect = commands.add_parser(
        "collect",
        help="run an endpoint's shadow collector: pairs live and mirrored answers, matches "
        "feedback (docs/shadow.md)",
    )
    collect.add_argument("--host", default="0.0.0.0", help="address to listen on")
    collect.add_argument("--port", type=int, default=8090, help="port to listen on")
    collect.add_argument(
        "--memory",
        type=int,
        default=50_000,
        help="request ids kept while waiting for their pair or their feedback",
    )


def _print_refusal(reason: str, message: str) -> None:
    """The refusal line the operator reads from the fetch container's termination message."""
    # pydantic only on this path: a fetch that succeeds starts no faster without it
    from modelserve_api.runtime_report import LoadRefusal

    # The kubelet keeps the last 2 KiB of the log: the line must fit whole, and comes last.
    if len(message) > _MAX_REFUSAL_MESSAGE:
        message = message[: _MAX_REFUSAL_MESSAGE - 3] + "..."
    print(LoadRefusal(reason=reason, message=message).line(), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argv[0] if argv and argv[0] in _FAST_COMMANDS else None
    args = build_parser(only).parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return args.handler(args)
    if args.command == "collect":
        from modelserve_scoring.collector import run_collector

        return run_collector(args.host, args.port, args.memory)
    if args.command == "fetch":
        from modelserve_scoring.artifact import fetch_artifact

        # Both lines carry the kubelet's timestamps: together they time the fetch.
        print(f"fetching {args.uri}", flush=True)
        try:
            path = fetch_artifact(args.uri, args.sha256, args.dest, args.optional_file)
        except ArtifactError as exc:
            print(f"modelserve-scoring fetch: {exc}", file=sys.stderr, flush=True)
            reason = getattr(exc, "reason", None)
            if reason is not None:
                _print_refusal(reason, str(exc))
            return 1
        print(f"fetched {args.uri} to {path} (sha256 verified)")
        return 0
    from pydantic import ValidationError

    from modelserve_scoring.settings import ScoringSettings

    overrides = {
        name: value
        for name in ScoringSettings.model_fields
        if (value := getattr(args, name)) is not None
    }
    try:
        settings = ScoringSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        print(f"modelserve-scoring serve: invalid settings: {problems}", file=sys.stderr)
        return 2
    from modelserve_scoring.server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
