"""Which traffic split the router may apply now: traffic only moves to Ready deployments."""

from __future__ import annotations


def applied_traffic(
    requested: dict[str, int],
    previously_applied: dict[str, int],
    ready: dict[str, bool],
) -> tuple[dict[str, int], str | None]:
    """Return (traffic to apply, why it is not yet the requested split, or None).

    ``ready`` has one entry per deployment in the spec. A deployment that would gain
    traffic must be Ready first; one whose share stays or shrinks need not be (a
    readiness blip must not reshuffle live traffic). While any deployment is waited
    for, the previous split stays in force, without deployments that left the spec
    (their share is spread over the rest in proportion). Zero weights are dropped.
    """
    requested_live = {name: pct for name, pct in requested.items() if pct > 0}
    waiting = sorted(
        name
        for name, pct in requested_live.items()
        if pct > previously_applied.get(name, 0) and not ready.get(name, False)
    )
    if not waiting:
        return requested_live, None
    reason = f"waiting for deployment(s) {', '.join(waiting)} to become Ready"
    kept = {name: pct for name, pct in previously_applied.items() if pct > 0 and name in ready}
    if kept and sum(kept.values()) != 100:
        kept = _rescale(kept, 100)
    return kept, reason


def _rescale(weights: dict[str, int], total: int) -> dict[str, int]:
    current = sum(weights.values())
    scaled = {name: weight * total // current for name, weight in weights.items()}
    # Hand the rounding remainder to the largest shares, deterministically by name.
    remainder = total - sum(scaled.values())
    for name in sorted(scaled, key=lambda n: (-weights[n], n))[:remainder]:
        scaled[name] += 1
    return scaled
