"""Readable text of an OnlineEndpoint and a batch run, from the objects as the API returns them."""

from __future__ import annotations

from typing import Any

CONDITION_ORDER = ("Ready", "Progressing", "Degraded", "Reconciling", "Stalled")


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_endpoint(obj: dict[str, Any]) -> str:
    """Conditions, traffic asked for and applied, deployments and where to send requests."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = [f"OnlineEndpoint {meta.get('name')} (namespace {meta.get('namespace')})"]
    lines.append(f"  scoringUri:  {status.get('scoringUri') or '(not assigned yet)'}")
    lines.append(f"  authMode:    {spec.get('authMode', 'key')}")
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if observed != generation:
        lines.append(
            f"  status:      describes generation {observed}, the spec is at {generation} "
            "(the operator has not caught up)"
        )

    conditions = {item.get("type"): item for item in status.get("conditions") or []}
    lines.append("Conditions:")
    if conditions:
        ordered = [t for t in CONDITION_ORDER if t in conditions]
        ordered += sorted(t for t in conditions if t not in CONDITION_ORDER)
        rows = [["TYPE", "STATUS", "REASON", "MESSAGE"]]
        first_said: dict[str, str] = {}
        for t in ordered:
            message = conditions[t].get("message", "")
            # Progressing and Reconciling repeat Ready's message (a scheduler's reason
            # is long): say it once.
            if message and message in first_said:
                message = f"(as {first_said[message]})"
            else:
                first_said.setdefault(message, t)
            rows.append(
                [t, conditions[t].get("status", ""), conditions[t].get("reason", ""), message]
            )
        lines += _table(rows)
    else:
        lines.append("  (none yet: the operator has not reconciled this endpoint)")

    names = [d.get("name", "") for d in spec.get("deployments") or []]
    requested = spec.get("traffic") or {}
    applied = status.get("traffic") or {}
    lines.append("Traffic (requested -> applied):")
    rows = [["DEPLOYMENT", "REQUESTED", "APPLIED"]]
    for name in names + sorted((set(requested) | set(applied)) - set(names)):
        rows.append([name, f"{requested.get(name, 0)}%", f"{applied.get(name, 0)}%"])
    lines += _table(rows)
    mirror_requested = spec.get("mirrorTraffic") or {}
    mirror_applied = status.get("mirrorTraffic") or {}
    if mirror_requested or mirror_applied:
        lines.append(
            f"  mirror: requested {_percentages(mirror_requested)}, "
            f"applied {_percentages(mirror_applied)}"
        )

    observed_deployments = {d.get("name"): d for d in status.get("deployments") or []}
    lines.append("Deployments:")
    rows = [["NAME", "MODEL", "VERSION", "SERVING", "READY"]]
    for deployment in spec.get("deployments") or []:
        name = deployment.get("name", "")
        model = deployment.get("model") or {}
        seen = observed_deployments.get(name, {})
        ready = f"{seen.get('readyReplicas', 0)}/{seen.get('replicas', '?')}" if seen else "-"
        if seen and seen.get("ready"):
            ready += " ready"
        rows.append(
            [
                name,
                model.get("name", ""),
                str(model.get("version", "latest")),
                str(seen.get("modelVersion") or "-"),
                ready,
            ]
        )
    lines += _table(rows)
    return "\n".join(lines)


def _percentages(split: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}%" for k, v in sorted(split.items())) or "none"


def format_run(run: dict[str, Any]) -> str:
    """One line per batch run: result, files, mini-batches, rows and where the output is."""
    parts = [f"run {run.get('id')}: {run.get('result', 'Unknown')}"]
    if run.get("files") is not None:
        parts.append(f"{run['files']} files")
    succeeded, failed = run.get("miniBatchesSucceeded"), run.get("miniBatchesFailed")
    if succeeded is not None or failed is not None:
        parts.append(f"mini-batches {succeeded or 0} succeeded, {failed or 0} failed")
    if run.get("rowsScored") is not None:
        parts.append(f"{run['rowsScored']} rows scored")
    if run.get("outputPath"):
        parts.append(f"output {run['outputPath']}")
    return ", ".join(parts)
