"""What can stop a training run, each mapped to the exit code the Job's failure policy reads."""

from __future__ import annotations

from modelserve_api.training import EXIT_DATA, EXIT_ERROR, EXIT_SPEC


class TrainingError(Exception):
    """A training run that cannot go on; ``exit_code`` tells the Job whether to retry."""

    exit_code = EXIT_ERROR


class TrainingSpecError(TrainingError, ValueError):
    """The training spec is invalid; the message names the field path."""

    exit_code = EXIT_SPEC

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        detail = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(f"invalid training spec: {detail}")


class UsageError(TrainingError):
    """The command line (or the environment it reads) is wrong."""

    exit_code = EXIT_SPEC


class DataError(TrainingError):
    """The data cannot be read or does not fit the spec, or the estimator refused it."""

    exit_code = EXIT_DATA
