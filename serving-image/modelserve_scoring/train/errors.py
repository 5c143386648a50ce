"""What can stop a training run, each mapped to the exit code the Job's failure policy reads."""

from __future__ import annotations

# Exit codes of `modelserve-scoring train`. 2, 3 and 4 cannot be fixed by another try
# (the same spec, data and seed give the same result); 1 may be (a flaky volume).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_SPEC = 2
EXIT_GATE_FAILED = 3
EXIT_DATA = 4
PERMANENT_EXIT_CODES = (EXIT_SPEC, EXIT_GATE_FAILED, EXIT_DATA)


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
