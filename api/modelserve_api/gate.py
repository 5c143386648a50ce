"""The gate: `accuracy >= 0.88 and f1 > 0.8`, parsed by a grammar (never eval) and checked."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# One clause is <metric> <operator> <number>; clauses are joined by "and". The same
# expression (spaces only, no backslashes) is the CRD's CEL rule, so the API server
# refuses what this parser refuses.
METRIC_NAME = "[a-z][a-z0-9_]*"
COMPARISON = "(>=|<=|==|>|<)"
NUMBER = "-?([0-9]+([.][0-9]*)?|[.][0-9]+)"


def gate_pattern(metric_names: str = METRIC_NAME) -> str:
    """The regular expression of a whole gate whose metric names match ``metric_names``."""
    clause = f"{metric_names}[ ]*{COMPARISON}[ ]*{NUMBER}"
    return f"^[ ]*{clause}([ ]+and[ ]+{clause})*[ ]*$"


_CLAUSE = re.compile(rf"[ ]*(?P<metric>{METRIC_NAME})[ ]*(?P<op>>=|<=|==|>|<)[ ]*(?P<number>\S+)")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Clause:
    """One comparison of a metric with a threshold."""

    metric: str
    operator: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold:g}"


@dataclass(frozen=True)
class ClauseResult:
    """How one clause fared: the metric's value (None when it could not be computed)."""

    clause: Clause
    value: float | None
    passed: bool
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        """camelCase JSON for metrics.json and the Model's status."""
        result: dict[str, object] = {
            "metric": self.clause.metric,
            "operator": self.clause.operator,
            "threshold": self.clause.threshold,
            "value": self.value,
            "passed": self.passed,
        }
        if self.reason:
            result["reason"] = self.reason
        return result


@dataclass(frozen=True)
class GateResult:
    """The verdict of a gate over a set of metrics."""

    expression: str
    clauses: tuple[ClauseResult, ...]

    @property
    def passed(self) -> bool:
        """Whether every clause held."""
        return all(c.passed for c in self.clauses)

    def message(self) -> str:
        """One line a person reads in the Job log and the Model's condition."""
        if self.passed:
            shown = ", ".join(f"{c.clause.metric} = {c.value:.4g}" for c in self.clauses)
            return f"gate {self.expression!r} passed ({shown})"
        failed = []
        for result in self.clauses:
            if result.passed:
                continue
            if result.value is None:
                failed.append(f"{result.clause.metric} unavailable: {result.reason}")
            else:
                failed.append(f"{result.clause.metric} = {result.value:.4g}, needs {result.clause}")
        return f"gate {self.expression!r} failed: " + "; ".join(failed)

    def to_json(self) -> dict[str, object]:
        """camelCase JSON for metrics.json and the Model's status."""
        return {
            "expression": self.expression,
            "passed": self.passed,
            "clauses": [c.to_json() for c in self.clauses],
        }


@dataclass(frozen=True)
class Gate:
    """A parsed gate: every clause must hold."""

    expression: str
    clauses: tuple[Clause, ...]

    @property
    def metrics(self) -> list[str]:
        """Metric names the gate needs, in order of appearance."""
        return list(dict.fromkeys(c.metric for c in self.clauses))

    def evaluate(
        self, metrics: Mapping[str, float | None], unavailable: Mapping[str, str] | None = None
    ) -> GateResult:
        """Check each clause against ``metrics``; a missing metric fails its clause."""
        unavailable = unavailable or {}
        results = []
        for clause in self.clauses:
            value = metrics.get(clause.metric)
            if value is None or math.isnan(value):
                reason = unavailable.get(clause.metric, "the metric was not computed")
                results.append(ClauseResult(clause, None, False, reason))
                continue
            passed = _OPERATORS[clause.operator](float(value), clause.threshold)
            results.append(ClauseResult(clause, float(value), passed))
        return GateResult(self.expression, tuple(results))


_WHOLE = re.compile(gate_pattern())
_NUMBER = re.compile(f"^{NUMBER}$")


def parse_gate(expression: str) -> Gate:
    """Parse ``accuracy >= 0.88 [and <metric> <op> <number> ...]``; ValueError says what is off."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError("the gate is empty; write it as '<metric> <operator> <number>'")
    clauses = []
    for index, text in enumerate(re.split(r" +and +", expression.strip())):
        match = _CLAUSE.fullmatch(text)
        if match is None:
            raise ValueError(
                f"clause {index + 1} ({text!r}) is not '<metric> <operator> <number>' with a "
                "lower-case metric name and one of >=, >, <=, <, =="
            )
        number = match["number"]
        if not _NUMBER.match(number):
            raise ValueError(f"clause {index + 1}: {number!r} is not a number")
        clauses.append(Clause(match["metric"], match["op"], float(number)))
    # The clause-by-clause parse explains errors; the full pattern is the contract.
    if not _WHOLE.match(expression):
        raise ValueError(
            "clauses must be separated by ' and ' and use spaces only around operators"
        )
    return Gate(expression.strip(), tuple(clauses))
