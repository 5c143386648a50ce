"""Keep what pods run as it was built until the user's spec changes (upgrades restart nothing).

A new operator builds pod templates with its own images, defaults and fixes. Applying
them to running Deployments would restart every scoring and router pod at each upgrade,
which is what KServe users lost their models to (kserve#5085). So each pod-making child
records the digest of the user-owned inputs it was built from, and the template (or the
data pods read at start) that build produced. While the inputs are the same, the next
operator applies the recorded template again, not its own build: drift is still put
back, nothing rolls. A changed spec (or `modelserve.io/refresh` on the custom resource)
changes the digest, and the new build goes out with that change's rollout.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from modelserve_api import constants as c
from pydantic import BaseModel

# Raised by a release whose generated pods must change even for unchanged specs (a
# security fix, say): every child is rebuilt, rolled under its usual strategy, and the
# release notes say so.
TEMPLATE_EPOCH = 1


def _canonical(value: Any) -> Any:
    """JSON-ready form of `value` that leaves out fields at their defaults.

    A field an operator release adds, or a default it changes, then leaves the digest of
    an unchanged spec as it was.
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if field.default is not dataclasses.MISSING and item == field.default:
                continue
            fields[field.name] = _canonical(item)
        return fields
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def inputs_digest(*inputs: Any) -> str:
    """Digest of what the user's objects contribute to a child (spec parts, resolved facts)."""
    text = json.dumps([TEMPLATE_EPOCH, *map(_canonical, inputs)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def refresh_token(body: Mapping[str, Any]) -> str:
    """The custom resource's `modelserve.io/refresh` annotation: changing it rebuilds pods."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(c.ANNOTATION_REFRESH, ""))


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _annotate(manifest: dict[str, Any], **values: str) -> dict[str, Any]:
    pinned = copy.deepcopy(manifest)
    meta = pinned.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **values}
    return pinned


def _data_digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()[:20]


def pin_template(
    manifest: dict[str, Any], digest: str, live: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A Deployment manifest whose pod template is the recorded one while `digest` holds."""
    recorded = _annotations(live or {})
    if recorded.get(c.ANNOTATION_INPUTS_DIGEST) == digest:
        template_json = recorded.get(c.ANNOTATION_PINNED_TEMPLATE)
        if template_json:
            pinned = copy.deepcopy(manifest)
            pinned["spec"]["template"] = json.loads(template_json)
            return _annotate(
                pinned,
                **{c.ANNOTATION_INPUTS_DIGEST: digest, c.ANNOTATION_PINNED_TEMPLATE: template_json},
            )
    template_json = json.dumps(manifest["spec"]["template"], sort_keys=True, separators=(",", ":"))
    return _annotate(
        manifest,
        **{c.ANNOTATION_INPUTS_DIGEST: digest, c.ANNOTATION_PINNED_TEMPLATE: template_json},
    )


def pin_data(
    manifest: dict[str, Any], digest: str, live: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A ConfigMap or Secret manifest keeping the live `data` pods read while `digest` holds.

    The data itself is not copied into an annotation (a Secret's must not be): its digest
    is, so data edited by hand is rebuilt rather than kept.
    """
    recorded = _annotations(live or {})
    live_data = (live or {}).get("data") or {}
    if recorded.get(c.ANNOTATION_INPUTS_DIGEST) == digest and recorded.get(
        c.ANNOTATION_DATA_DIGEST
    ) == _data_digest(live_data):
        pinned = copy.deepcopy(manifest)
        pinned["data"] = dict(live_data)
    else:
        pinned = manifest
    return _annotate(
        pinned,
        **{
            c.ANNOTATION_INPUTS_DIGEST: digest,
            c.ANNOTATION_DATA_DIGEST: _data_digest(pinned.get("data") or {}),
        },
    )
