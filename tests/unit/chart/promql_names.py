"""The metric and label names a PromQL expression uses, and those modelserve's code exports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

# Labels a scrape adds to every series: Kubernetes service discovery through the Prometheus
# Operator, plus the chart's relabeling of the scoring Services (modelserve_endpoint).
TARGET_LABELS = frozenset(
    {"namespace", "pod", "service", "container", "endpoint", "job", "instance"}
    | {"modelserve_endpoint"}
)
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_LABEL_VALUES = re.compile(r"label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$")
_BARE_METRIC = re.compile(r"\b(modelserve_[a-z0-9_]+)\b")


@dataclass
class Uses:
    """What one expression refers to."""

    metrics: set[str] = field(default_factory=set)
    # Label names matched on a metric: {metric: {label, ...}}.
    matched: dict[str, set[str]] = field(default_factory=dict)
    # Label names in by (...) / without (...) and label_values(..., label).
    grouped: set[str] = field(default_factory=set)


def uses(expression: str) -> Uses:
    """Metric and label names in `expression` (enough PromQL for dashboards and alerts)."""
    found = Uses()
    text = expression.strip()
    label_values = _LABEL_VALUES.match(text)
    if label_values:
        text = label_values.group(1)
        found.grouped.add(label_values.group(2))
    for grouping in _GROUPING.finditer(text):
        found.grouped |= {n.strip() for n in grouping.group(1).split(",") if n.strip()}
    text = _GROUPING.sub(" ", text)
    for metric, matchers in _SELECTOR.findall(text):
        found.metrics.add(metric)
        found.matched.setdefault(metric, set()).update(_MATCHER.findall(matchers))
    text = _SELECTOR.sub(" ", text)
    found.metrics |= set(_BARE_METRIC.findall(text))
    return found


def declared_series(*collectors: MetricWrapperBase) -> dict[str, set[str]]:
    """Every series name the collectors will expose, with its label names (no samples needed)."""
    names: dict[str, set[str]] = {}
    for collector in collectors:
        labels = set(collector._labelnames)  # the declared label names (no public accessor)
        for family in collector.describe() or collector.collect():
            suffixes = {
                "counter": ("_total",),
                "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",),
            }[family.type]
            for suffix in suffixes:
                names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def sampled_series(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Every series name in the registry's current samples, with its label names."""
    names: dict[str, set[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names
