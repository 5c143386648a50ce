"""The one error type the client raises: what went wrong and what to do about it."""

from __future__ import annotations


class ModelserveError(Exception):
    """A failure a user can act on; the message says what was wrong and what to do."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}" if fix else problem)
