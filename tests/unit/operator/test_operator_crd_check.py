"""An operator started against CRDs of another release says so, in its log and in conditions."""

import datetime as dt
import logging

from modelserve_api import constants as c
from modelserve_api.crdgen import KINDS, crd_document
from modelserve_api.kube import Forbidden
from modelserve_operator.crd_check import UPGRADE_COMMAND, crd_problems
from modelserve_operator.reconcilers import status as status_module

NOW = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)


class InstalledCrds:
    """The CRDs an API server holds, by name (all of this release's unless replaced)."""

    def __init__(self, **replaced: dict | None) -> None:
        self.crds = {crd_document(k)["metadata"]["name"]: crd_document(k) for k in KINDS}
        self.crds.update(replaced)
        self.forbidden = False

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        assert (api_version, kind, namespace) == (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
        )
        if self.forbidden:
            raise Forbidden(403, "Forbidden", f"cannot get {name}")
        return self.crds.get(name)


def test_this_releases_crds_raise_nothing():
    assert crd_problems(InstalledCrds()) == {}


def test_an_older_crd_is_named_with_the_command_that_upgrades_it():
    (model_kind,) = [k for k in KINDS if k.__name__ == "Model"]
    older = crd_document(model_kind)
    older["metadata"]["annotations"][c.ANNOTATION_SCHEMA_DIGEST] = "0123456789abcdef0123"
    problems = crd_problems(InstalledCrds(**{"models.modelserve.io": older}))
    assert list(problems) == ["Model"]
    assert "CRD models.modelserve.io" in problems["Model"]
    assert "0123456789abcdef0123" in problems["Model"]
    assert UPGRADE_COMMAND in problems["Model"]
    # CRDs from before the digest existed carry none.
    del older["metadata"]["annotations"]
    problems = crd_problems(InstalledCrds(**{"models.modelserve.io": older}))
    assert "schema digest absent" in problems["Model"]


def test_an_operator_that_may_not_read_crds_still_starts(caplog):
    installed = InstalledCrds()
    installed.forbidden = True
    with caplog.at_level(logging.WARNING):
        assert crd_problems(installed) == {}
    assert "cannot read CRD models.modelserve.io" in caplog.text


def test_the_condition_is_set_while_the_crd_is_outdated_and_removed_after():
    status_module.set_crd_problems({"Model": "CRD models.modelserve.io is not the one …"})
    try:
        conditions = status_module._with_crd_condition([], "Model", 2, NOW)
        (crd_current,) = conditions
        assert (crd_current["type"], crd_current["status"], crd_current["reason"]) == (
            "CRDCurrent",
            "False",
            "CRDOutdated",
        )
        assert status_module._with_crd_condition([], "OnlineEndpoint", 2, NOW) == []
    finally:
        status_module.set_crd_problems({})
    assert status_module._with_crd_condition(conditions, "Model", 2, NOW) == []
