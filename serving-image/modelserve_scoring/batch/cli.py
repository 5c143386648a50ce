"""The `batch` and `batch-merge` subcommands of modelserve-scoring."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from modelserve_api import constants as c

from modelserve_scoring.errors import ArtifactError

# Exit codes the operator's Job pod-failure policy tells apart.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_THRESHOLD = 3
EXIT_INCOMPLETE = 4

DEFAULT_TERMINATION_LOG = "/dev/termination-log"

log = logging.getLogger("modelserve_scoring.batch")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--input-root", type=Path, required=True, help="where the input volume is mounted")
    add("--glob", default="**/*.csv", help="input files, relative to --input-root")
    add("--run-dir", type=Path, required=True, help="this run's directory on the output volume")
    add("--action", choices=["appendRow", "summaryOnly"], default="appendRow")
    add("--mini-batch-size", type=int, default=10, help="files per mini-batch")
    add(
        "--instance-index",
        type=int,
        default=None,
        help="this instance's index (default: $JOB_COMPLETION_INDEX, else 0)",
    )
    add("--instance-count", type=int, default=1)
    add(
        "--library-version-policy",
        choices=["strict", "warn"],
        default=os.environ.get("MODELSERVE_LIBRARY_VERSION_POLICY", "warn"),
        help="strict: refuse a model saved with another major/minor library version; warn: "
        "score it and log the mismatch (default: $MODELSERVE_LIBRARY_VERSION_POLICY, else warn)",
    )
    add("--max-concurrency", type=int, default=1, help="mini-batches scored at once")
    add("--max-retries", type=int, default=3, help="tries of a failing mini-batch beyond the first")
    add("--retry-timeout-seconds", type=float, default=300.0, help="deadline of one try")
    add("--error-threshold", type=int, default=-1, help="failed files tolerated; -1: any")
    add(
        "--stop-grace-seconds",
        type=float,
        default=10.0,
        help="after SIGTERM, how long mini-batches in flight may take to finish and be written; "
        "the others are abandoned unwritten and redone by the next try",
    )
    add("--model-dir", type=Path, help="directory holding the single model artifact")
    add(
        "--framework",
        choices=c.FRAMEWORKS,
        default=os.environ.get("MODELSERVE_FRAMEWORK", "sklearn"),
        help="the Model's framework: in --model-dir, xgboost also finds *.json/*.ubj files and "
        "lightgbm *.txt, as the scoring server (default: $MODELSERVE_FRAMEWORK, else sklearn)",
    )
    add("--artifact-path", type=Path, help="the model artifact (default: found in --model-dir)")
    add("--artifact-sha256", help="expected sha256 of the artifact, checked before unpickling")
    add(
        "--allow-unverified",
        action="store_true",
        help="score without --artifact-sha256 (unpickling runs code: development only)",
    )
    add(
        "--runtime",
        choices=["auto", "sklearn", "onnx"],
        default="auto",
        help="as the online server: auto scores with ONNX Runtime where the compiled model "
        "gives the library's answers on the validation sample, else with the library itself",
    )
    add("--scoring-script", type=Path, help="a score.py with init() and run(mini_batch)")
    add("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    add("--termination-message-path", type=Path, default=Path(DEFAULT_TERMINATION_LOG))


def register_batch_commands(subparsers: Any) -> None:
    """Add `batch` and `batch-merge` to an argparse subparsers object."""
    run = subparsers.add_parser(
        "batch", help="score this instance's share of a batch run's input files"
    )
    _add_run_flags(run)
    run.set_defaults(handler=run_command)
    merge = subparsers.add_parser(
        "batch-merge", help="merge a finished batch run's parts into one output and summary"
    )
    merge.add_argument("--run-dir", type=Path, required=True)
    merge.add_argument("--file-name", default="predictions.csv")
    merge.add_argument("--action", choices=["appendRow", "summaryOnly"], default="appendRow")
    merge.add_argument("--error-threshold", type=int, default=-1)
    merge.add_argument(
        "--volume-root", type=Path, help="report outputPath relative to this mount point"
    )
    merge.add_argument(
        "--termination-message-path", type=Path, default=Path(DEFAULT_TERMINATION_LOG)
    )
    merge.set_defaults(handler=merge_command)


def _scorer(args: argparse.Namespace) -> Any:
    from modelserve_scoring.artifact import find_artifact, read_verified, require_digest

    artifact = args.artifact_path
    if artifact is None and args.model_dir is not None:
        artifact = find_artifact(args.model_dir, args.framework, "pass --artifact-path")
    require_digest(args.artifact_sha256, args.allow_unverified, str(artifact or "the model"))
    if args.scoring_script is not None:
        from modelserve_scoring.batch.scorers import ScriptScorer
        from modelserve_scoring.runtime.scoring_script import ScoringScript

        if artifact is not None and args.artifact_sha256:
            # The script unpickles the model itself: check the bytes before it can.
            read_verified(artifact, args.artifact_sha256)
        model_dir = args.model_dir or (artifact.parent if artifact else None)
        script = ScoringScript(args.scoring_script, model_dir)
        script.load()
        return ScriptScorer(script)
    if artifact is None:
        raise ArtifactError("give --model-dir, --artifact-path or --scoring-script")
    from modelserve_scoring.batch.scorers import ModelScorer
    from modelserve_scoring.runtime import CompileOptions, load_runtime

    # The same choice, check and fallback as the online pods make for this Model: a batch
    # run's answers are the ones an endpoint serving it would give.
    runtime = load_runtime(
        artifact,
        args.artifact_sha256,
        CompileOptions(mode=args.runtime, cache=False),
        args.allow_unverified,
        getattr(args, "library_version_policy", "warn"),
    )
    selection = runtime.selection or {}
    log.info(
        "scoring with %s%s",
        runtime.kind,
        f" ({selection['runtime_fallback_reason']})"
        if selection.get("runtime_fallback_reason")
        else "",
    )
    return ModelScorer(runtime)


def run_command(args: argparse.Namespace) -> int:
    """`batch`: score one instance's shard."""
    from modelserve_scoring.batch.plan import PlanError
    from modelserve_scoring.batch.report import write_termination_message
    from modelserve_scoring.batch.runner import BatchRunner, RunnerSettings
    from modelserve_scoring.batch.stop import EXIT_TERMINATED, StopRequest, Terminated

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    index = args.instance_index
    if index is None:
        index = int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
    try:
        settings = RunnerSettings(
            input_root=args.input_root,
            glob=args.glob,
            run_dir=args.run_dir,
            action=args.action,
            mini_batch_size=args.mini_batch_size,
            instance_index=index,
            instance_count=args.instance_count,
            max_concurrency=args.max_concurrency,
            max_retries=args.max_retries,
            retry_timeout_seconds=args.retry_timeout_seconds,
            error_threshold=args.error_threshold,
            stop_grace_seconds=args.stop_grace_seconds,
        )
    except ValueError as error:
        print(f"modelserve-scoring batch: {error}", file=sys.stderr)
        return EXIT_USAGE
    # PID 1 in its pod: without a handler SIGTERM would be ignored until the grace period ends
    stop = StopRequest()
    stop.install()
    try:
        summary = BatchRunner(settings, _scorer(args), stop).run()
    except Terminated:
        print("modelserve-scoring batch: stopped by SIGTERM", file=sys.stderr)
        write_termination_message(args.termination_message_path, {"terminated": True})
        return EXIT_TERMINATED
    except (ArtifactError, PlanError) as error:
        print(f"modelserve-scoring batch: {error}", file=sys.stderr)
        write_termination_message(args.termination_message_path, {"error": str(error)})
        return EXIT_ERROR
    document = summary.to_json()
    write_termination_message(args.termination_message_path, document)
    if summary.threshold_exceeded:
        bad = "; ".join(f"{f}: {why}" for f, why in sorted((summary.failed_files or {}).items()))
        print(
            f"modelserve-scoring batch: {len(summary.failed_files or {})} file(s) failed, more "
            f"than errorThreshold {settings.error_threshold}: {bad}",
            file=sys.stderr,
        )
        return EXIT_THRESHOLD
    log.info(
        "instance %d done: %d rows, %d mini-batches failed",
        index,
        summary.rows_scored,
        summary.mini_batches_failed,
    )
    return EXIT_OK


def merge_command(args: argparse.Namespace) -> int:
    """`batch-merge`: one output file and the run's totals."""
    from modelserve_scoring.batch.merge import MergeError, merge_run
    from modelserve_scoring.batch.plan import PlanError
    from modelserve_scoring.batch.report import write_termination_message

    try:
        summary = merge_run(args.run_dir, args.file_name, args.action, args.error_threshold)
    except (MergeError, PlanError) as error:
        print(f"modelserve-scoring batch-merge: {error}", file=sys.stderr)
        write_termination_message(args.termination_message_path, {"error": str(error)})
        return EXIT_INCOMPLETE
    document = summary.to_json()
    if summary.output_path and args.volume_root is not None:
        document["outputPath"] = os.path.relpath(summary.output_path, args.volume_root)
    write_termination_message(args.termination_message_path, document)
    print(f"merged {summary.rows_scored} rows into {summary.output_path}")
    if summary.threshold_exceeded:
        message = summary.failure_message(args.error_threshold)
        print(f"modelserve-scoring batch-merge: {message}", file=sys.stderr)
        return EXIT_THRESHOLD
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """`python -m modelserve_scoring.batch batch|batch-merge …` until the main CLI has them."""
    parser = argparse.ArgumentParser(prog="python -m modelserve_scoring.batch")
    register_batch_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
