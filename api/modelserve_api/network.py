"""Who may call an endpoint's router: the `spec.network` part of an OnlineEndpoint."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from .common import ApiModel
from .markers import Rule, kube


class SelectorRequirement(ApiModel):
    """One label test of a selector, as in a Kubernetes LabelSelector's matchExpressions."""

    key: str = Field(description="Label key.", min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[Annotated[str, Field(description="A label value.")]] = Field(
        default_factory=list,
        description="Label values, for In and NotIn.",
        max_length=64,
    )


class LabelSelector(ApiModel):
    """A Kubernetes label selector; an empty one selects everything."""

    match_labels: dict[str, Annotated[str, Field(description="The label's value.")]] = Field(
        default_factory=dict, description="Labels that must all be present.", max_length=32
    )
    match_expressions: list[SelectorRequirement] = Field(
        default_factory=list, description="Label tests that must all hold.", max_length=32
    )

    def to_kube(self) -> dict[str, Any]:
        """The selector as a NetworkPolicy writes it (empty lists and maps left out)."""
        return self.model_dump(by_alias=True, exclude_defaults=True, mode="json")


class NetworkPeer(ApiModel):
    """Pods allowed to call the router: by namespace, by pod labels, or both."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "has(self.namespaceSelector) || has(self.podSelector)",
                    "a peer needs a namespaceSelector, a podSelector, or both",
                )
            ]
        )
    )

    namespace_selector: LabelSelector | None = Field(
        default=None,
        description="Namespaces whose pods may call; {} means every namespace. Without it, "
        "only pods of the endpoint's own namespace are considered.",
    )
    pod_selector: LabelSelector | None = Field(
        default=None,
        description="Pods that may call, in the namespaces chosen by namespaceSelector (or in "
        "the endpoint's namespace); without it, every pod of those namespaces.",
    )

    @model_validator(mode="after")
    def _selects_something(self) -> NetworkPeer:
        # The CRD's CEL rule refuses this already; repeated for bodies that skip the API
        # server. An empty peer would otherwise be read as "pods of this namespace".
        if self.namespace_selector is None and self.pod_selector is None:
            raise ValueError("a peer needs a namespaceSelector, a podSelector, or both")
        return self

    def to_kube(self) -> dict[str, Any]:
        """The peer as a NetworkPolicy ingress `from` entry."""
        peer: dict[str, Any] = {}
        if self.namespace_selector is not None:
            peer["namespaceSelector"] = self.namespace_selector.to_kube()
        if self.pod_selector is not None:
            peer["podSelector"] = self.pod_selector.to_kube()
        return peer


class EndpointNetwork(ApiModel):
    """Network access to the endpoint. Scoring pods only ever take calls from this router."""

    allow_from: list[NetworkPeer] | None = Field(
        default=None,
        description="Pods that may call the endpoint's router. Unset: every client that can "
        "reach the cluster's pods. Set: only these (an empty list admits no one); the key "
        "(authMode) is still checked.",
        max_length=32,
    )
