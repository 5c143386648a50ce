"""The election's Lease in the API server (coordination.k8s.io/v1), read and written by kube.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from modelserve_api.kube import Conflict

from .election import LeaseConflict, LeaseRecord
from .kube import Kube

LEASE_API_VERSION = "coordination.k8s.io/v1"
# MicroTime, as client-go writes it.
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_micro_time(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime(_MICRO_TIME) if value else None


def parse_micro_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    text = value.rstrip("Z")
    whole, _, fraction = text.partition(".")
    parsed = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return parsed.replace(microsecond=int((fraction + "000000")[:6])) if fraction else parsed


def record_from_lease(lease: dict[str, Any]) -> LeaseRecord:
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        lease_duration_s=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(spec.get("acquireTime")),
        renew_time=parse_micro_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=lease["metadata"].get("resourceVersion"),
    )


def lease_manifest(namespace: str, name: str, record: LeaseRecord) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if record.resource_version:
        metadata["resourceVersion"] = record.resource_version
    spec = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.lease_duration_s,
        "acquireTime": format_micro_time(record.acquire_time),
        "renewTime": format_micro_time(record.renew_time),
        "leaseTransitions": record.transitions,
    }
    return {
        "apiVersion": LEASE_API_VERSION,
        "kind": "Lease",
        "metadata": metadata,
        "spec": {key: value for key, value in spec.items() if value is not None},
    }


class KubeLeaseStore:
    """One named Lease; update() is a PUT carrying the resourceVersion it read (409: lost)."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name

    def get(self) -> LeaseRecord | None:
        lease = self.kube.get(LEASE_API_VERSION, "Lease", self.namespace, self.name)
        return record_from_lease(lease) if lease is not None else None

    def create(self, record: LeaseRecord) -> LeaseRecord:
        created = self.kube.create(lease_manifest(self.namespace, self.name, record))
        if created is None:  # 409: another candidate created it first
            raise LeaseConflict(f"Lease {self.namespace}/{self.name} exists")
        return record_from_lease(created)

    def update(self, record: LeaseRecord) -> LeaseRecord:
        try:
            written = self.kube.replace(lease_manifest(self.namespace, self.name, record))
        except Conflict as error:
            raise LeaseConflict(f"Lease {self.namespace}/{self.name} changed") from error
        if written is None:  # deleted under us: the next attempt creates it
            raise LeaseConflict(f"Lease {self.namespace}/{self.name} was deleted")
        return record_from_lease(written)
