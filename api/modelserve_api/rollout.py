"""Typed `OnlineEndpoint.spec.rollout` (how a traffic change is delivered) and
`OnlineEndpoint.status.rollout` (where the delivery stands, and why)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from .common import ApiModel
from .markers import Rule, kube
from .monitoring_report import CallCounters

MAX_ROLLOUT_STEPS = 10
MAX_MIRROR_PERCENT = 50
# Kept in status per step; older steps of the same rollout are dropped first.
MAX_ANALYSIS_ENTRIES = 12
GATE_METRICS = ("successRate", "latencyP99", "agreement")
# Gates whose value the operator cannot measure yet: declared, they hold the rollout at its
# step (condition RolloutProgressing, reason GateNotMeasurable); they never pass silently.
UNMEASURED_GATE_METRICS = ("agreement",)

RolloutStep = Annotated[
    int,
    Field(
        description="Percent of the moving traffic the new split holds at this step.",
        ge=1,
        le=100,
    ),
]


class RolloutGate(ApiModel):
    """One check of each analysis: a metric measured on the new deployment(s) since the step
    began, and its threshold."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "self.metric != 'successRate' || (has(self.min) && !has(self.maxMs) && "
                    "!has(self.maxRatioToStable))",
                    "a successRate gate takes min (a fraction, e.g. 0.99) and nothing else",
                    ".min",
                ),
                Rule(
                    "self.metric != 'latencyP99' || ((has(self.maxMs) || "
                    "has(self.maxRatioToStable)) && !has(self.min))",
                    "a latencyP99 gate takes maxMs and/or maxRatioToStable, not min",
                    ".maxMs",
                ),
                Rule(
                    "self.metric != 'agreement' || (has(self.min) && !has(self.maxMs) && "
                    "!has(self.maxRatioToStable))",
                    "an agreement gate takes min (a fraction) and nothing else",
                    ".min",
                ),
            ]
        )
    )

    metric: Literal["successRate", "latencyP99", "agreement"] = Field(
        description='"successRate": share of calls not failed by the server or the model '
        '(5xx; a client\'s 4xx never counts against it); "latencyP99": the 99th percentile '
        'of the scoring pods\' answer time; "agreement": share of mirrored answers equal to '
        "the stable version's (not measured by this release: a rollout with this gate holds "
        "at its step and says so, it never passes it)."
    )
    min: float | None = Field(
        default=None,
        description="successRate and agreement: the lowest passing value, 0 to 1.",
        ge=0,
        le=1,
    )
    max_ms: float | None = Field(
        default=None,
        description="latencyP99: the highest passing p99, in milliseconds.",
        gt=0,
        le=600000,
    )
    max_ratio_to_stable: float | None = Field(
        default=None,
        description="latencyP99: the highest passing p99 as a multiple of the stable "
        "deployment(s)' p99 over the same interval (judged only when the stable side "
        "answered minCalls too).",
        gt=0,
        le=100,
    )

    @model_validator(mode="after")
    def _thresholds_fit_metric(self) -> RolloutGate:
        latency = self.max_ms is not None or self.max_ratio_to_stable is not None
        if self.metric == "latencyP99":
            if not latency or self.min is not None:
                raise ValueError("a latencyP99 gate takes maxMs and/or maxRatioToStable")
        elif self.min is None or latency:
            raise ValueError(f"a {self.metric} gate takes min (a fraction) and nothing else")
        return self


def _default_gates() -> list[RolloutGate]:
    return [RolloutGate(metric="successRate", min=0.99)]


class RolloutPolicy(ApiModel):
    """How a change of spec.traffic reaches callers: at once, in analysed canary steps, or
    blue-green (mirrored first, then switched). The spec says where to go; the operator
    records the way there in status.rollout and never writes the spec. See docs/rollouts.md."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "self.strategy != 'canary' || self.steps[self.steps.size() - 1] == 100",
                    "the last canary step must be 100",
                    ".steps",
                ),
            ]
        )
    )

    strategy: Literal["canary", "blueGreen", "immediate"] = Field(
        default="canary",
        description='"canary": move the traffic in steps, analysing each; "blueGreen": copy '
        "mirrorPercent of live requests to the new deployment and analyse that, then switch all "
        'traffic at once; "immediate": apply the new split as soon as its deployments are '
        "Ready (no analysis).",
    )
    steps: list[RolloutStep] = Field(
        default=[5, 25, 50, 100],
        description="Canary: the share of the way from the stable split to spec.traffic at "
        "each step, rising and ending at 100 (taking the last step is the promotion).",
        min_length=1,
        max_length=MAX_ROLLOUT_STEPS,
        json_schema_extra=kube(
            rules=[
                Rule(
                    "self.size() < 2 || "
                    f"{list(range(1, MAX_ROLLOUT_STEPS))}"
                    ".all(i, i >= self.size() || self[i - 1] < self[i])",
                    "steps must rise",
                ),
            ]
        ),
    )
    mirror_percent: int = Field(
        default=MAX_MIRROR_PERCENT,
        description="blueGreen: percent of live requests copied to the new deployment while "
        "it is analysed (its answers are discarded).",
        ge=1,
        le=MAX_MIRROR_PERCENT,
    )
    interval_seconds: int = Field(
        default=30,
        description="Seconds between two analyses of a step; a failed gate sends the traffic "
        "back within one interval.",
        ge=5,
        le=3600,
    )
    min_calls: int = Field(
        default=100,
        description="Calls the new deployment(s) must have answered since the step began "
        "before the gates are judged (and, for the agreement gate, mirrored requests "
        "paired in the step); until then the step waits.",
        ge=0,
        le=10_000_000,
    )
    gates: list[RolloutGate] = Field(
        default_factory=_default_gates,
        description="Checks every analysis makes; all must pass for the next step. Default: "
        "successRate >= 0.99.",
        max_length=len(GATE_METRICS),
        json_schema_extra=kube(
            default=[{"metric": "successRate", "min": 0.99}],
            list_type="map",
            list_map_keys=["metric"],
        ),
    )
    failed_checks_tolerated: int = Field(
        default=1,
        description="Failed analyses a rollout survives; one more sends the traffic back to "
        "the stable split.",
        ge=0,
        le=100,
    )
    on_success: Literal["promote", "pause"] = Field(
        default="promote",
        description='"promote": take the last step once the others passed; "pause": wait '
        "before it for the annotation modelserve.io/rollout=promote.",
    )

    @model_validator(mode="after")
    def _steps_rise_to_100(self) -> RolloutPolicy:
        if any(a >= b for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("rollout.steps must rise")
        if self.strategy == "canary" and self.steps[-1] != 100:
            raise ValueError("rollout.steps: the last canary step must be 100")
        return self


class GateResult(ApiModel):
    """One gate of one analysis: what was measured against what."""

    metric: str = Field(description="The gate's metric.")
    measured: float | None = Field(
        default=None, description="The value measured (unset: it could not be measured)."
    )
    threshold: str = Field(description='The threshold, e.g. ">= 0.99" or "<= 250 ms".')
    passed: bool | None = Field(
        default=None, description="Whether it passed (unset: not judged, see message)."
    )
    message: str | None = Field(default=None, description="Why it was not judged, if so.")
    calls: int | None = Field(
        default=None,
        description="agreement: mirrored requests whose live and candidate answers the shadow "
        "collector paired in this step (docs/shadow.md).",
    )


class StepAnalysis(ApiModel):
    """The last analysis of one step."""

    step: int = Field(description="The step (1 is the first).")
    percent: int = Field(description="Its share of the way to the new split.")
    time: str = Field(description="When it was made.", json_schema_extra=kube(format="date-time"))
    calls: int = Field(default=0, description="Calls the new deployment(s) answered in the step.")
    result: str = Field(
        description="Passed, Failed, TooFewCalls, NotMeasurable or Unreadable (pods could not "
        "be read)."
    )
    gates: list[GateResult] = Field(default_factory=list, description="Each gate's outcome.")


class ShadowFigures(ApiModel):
    """A candidate's comparison with the live answers in the current step (docs/shadow.md)."""

    paired_requests: int = Field(default=0, description="Mirrored requests paired with live.")
    paired_rows: int = Field(default=0, description="Rows answered by both sides.")
    agreement: float | None = Field(
        default=None, description="Share of paired rows with the same label (classification)."
    )


class RolledBackTarget(ApiModel):
    """A target the operator sent back: not tried again until the spec changes it."""

    target_hash: str = Field(description="Hash of the target (the split and its deployments).")
    generation: int | None = Field(default=None, description="Spec generation it came from.")
    reason: str = Field(description="GateFailed or Aborted.")
    message: str = Field(description="The gate, the measured value and the threshold.")
    time: str = Field(description="When.", json_schema_extra=kube(format="date-time"))


class VersionChangeStatus(ApiModel):
    """A deployment whose model changed in place, served by a candidate until the hand-over."""

    deployment: str = Field(description="The spec deployment whose model changed.")
    candidate: str = Field(
        description="The deployment the operator runs beside it with the new model; the "
        "rollout moves the deployment's share to it, and back once the deployment runs the "
        "new model itself."
    )
    from_version: str = Field(description="The Model version its pods served before.")
    to_version: str = Field(description="The Model version the spec now names.")
    to_sha256: str = Field(description="The sha256 of the artifact the candidate serves.")
    to_registry_version: str | None = Field(
        default=None, description="The MLflow registry version of that artifact, if from MLflow."
    )


class RolloutStatus(ApiModel):
    """Where the delivery of spec.traffic stands."""

    phase: str | None = Field(
        default=None,
        description="Progressing, Paused, AwaitingPromotion, HandingOver (promoted; a "
        "deployment whose model changed in place takes it over from its candidate), Succeeded, "
        "RolledBack or Aborted.",
    )
    strategy: str | None = Field(default=None, description="The strategy in use.")
    target_hash: str | None = Field(default=None, description="Hash of the target.")
    target_generation: int | None = Field(
        default=None, description="Spec generation the target came from."
    )
    stable: dict[str, Annotated[int, Field(description="Percent.")]] | None = Field(
        default=None, description="The split before the rollout began (what a rollback restores)."
    )
    target: dict[str, Annotated[int, Field(description="Percent.")]] | None = Field(
        default=None, description="The split being rolled out (spec.traffic)."
    )
    traffic: dict[str, Annotated[int, Field(description="Percent.")]] | None = Field(
        default=None,
        description="The split the rollout asks the routers for now (status.traffic says what "
        "callers get once the routers applied it).",
    )
    mirror: dict[str, Annotated[int, Field(description="Percent copied.")]] | None = Field(
        default=None, description="blueGreen: the mirroring the rollout asks for now."
    )
    step: int | None = Field(default=None, description="Steps taken (0: none yet).")
    step_percent: int | None = Field(default=None, description="Share of the way at this step.")
    step_start_time: str | None = Field(
        default=None, description="When the step began.", json_schema_extra=kube(format="date-time")
    )
    last_check_time: str | None = Field(
        default=None,
        description="When the step was last analysed.",
        json_schema_extra=kube(format="date-time"),
    )
    failed_checks: int | None = Field(
        default=None, description="Failed analyses in this rollout so far."
    )
    step_calls: (
        dict[
            str,
            Annotated[dict[str, CallCounters], Field(description="Pod name -> its counters.")],
        ]
        | None
    ) = Field(
        default=None,
        description="Per deployment, per Ready pod, the counters (GET /monitoring/requests) "
        "when the step began; an analysis counts the calls since.",
    )
    step_shadow: (
        dict[
            str,
            Annotated[
                dict[str, Annotated[int, Field(description="Its value.")]],
                Field(description="Counter name -> value."),
            ],
        ]
        | None
    ) = Field(
        default=None,
        description="Per candidate, the shadow collector's counters (pairedRequests, "
        "pairedRows, agreeingRows) when the step began; the agreement gate counts since.",
    )
    shadow: dict[str, ShadowFigures] | None = Field(
        default=None,
        description="Per candidate, what the shadow collector measured in the current step.",
    )
    analysis: list[StepAnalysis] | None = Field(
        default=None, description="The last analysis of each step of this rollout."
    )
    version_changes: list[VersionChangeStatus] | None = Field(
        default=None,
        description="Deployments whose model this rollout changes in place (docs/rollouts.md).",
    )
    message: str | None = Field(default=None, description="The last decision, and why.")
    last_control: str | None = Field(
        default=None,
        description="The value of the annotation modelserve.io/rollout last seen: promote and "
        "abort act once, when the annotation changes to them.",
    )
    rolled_back: RolledBackTarget | None = Field(
        default=None,
        description="The target last sent back; kept (and not tried again) until spec.traffic "
        "or a deployment it moves to changes.",
    )
