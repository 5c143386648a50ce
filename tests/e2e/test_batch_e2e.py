"""A BatchDeployment on the real node: 3 instances score 36 CSV files on a node-local volume.

The input and output claims are bound to `local` PersistentVolumes on a fresh host
directory, so the test writes the input files and reads `predictions.csv` from the host
exactly where the pods wrote it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from cluster_objects import condition
from e2e_target import NODE_NAME, host_volume_dir
from modelserve_client.artifacts import configmap_registration
from namespace_site import NamespaceSite
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

# The image's user (Dockerfile APP_UID, the operator's NON_ROOT_UID): it writes the output.
POD_UID = 65532
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
FILE_COUNT = 36
# A header with no rows: an export of an empty day, scored as zero rows.
HEADER_ONLY_FILE = 17
INSTANCES = 3
MINI_BATCH_SIZE = 4  # 9 mini-batches: 3 per instance
OUTPUT_PATH = "predictions"
# Three runner pods and a merge pod start Python with scikit-learn on two busy cores.
RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class InputFiles:
    """What the test wrote to the input volume, and what the model says about each row."""

    names: list[str]
    predictions: dict[str, list[str]]

    def expected_rows(self) -> list[tuple[str, int, str]]:
        """The documented output: sorted input paths, then the 0-based row in each file."""
        return [
            (name, row, label)
            for name in sorted(self.names)
            for row, label in enumerate(self.predictions[name])
        ]


@dataclass(frozen=True)
class Volumes:
    """Host directories behind the claims "raw" (input) and "scored" (output)."""

    input_dir: Path
    output_dir: Path


def wait_for(check: Callable[[], Any], what: str, timeout: float, interval: float = 2.0) -> Any:
    """Poll `check()` until truthy and return it; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


class Site(NamespaceSite):
    """The namespace the operator watches, through the cluster's kubectl."""

    def items(self, kind: str, selector: str) -> list[dict]:
        result = self.kubectl("get", kind, "-l", selector, "-o", "json")
        return json.loads(result.stdout)["items"]

    def explain_run(self) -> None:
        """Print what a user would look at when a run does not finish."""
        batch = self.get("batchdeployment", "nightly") or {}
        print("status:", json.dumps(batch.get("status"), indent=1))
        print(self.kubectl("get", "pvc,jobs,pods", "-o", "wide", check=False).stdout)
        for pod in self.items("pods", "modelserve.io/batch-deployment=nightly"):
            name = pod["metadata"]["name"]
            logs = self.kubectl("logs", name, "--all-containers", "--tail=30", check=False)
            print(f"--- {name}\n{logs.stdout}{logs.stderr}")


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    """An iris classifier fit on a named frame, so headed files are matched by column name."""
    x, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(x, columns=FEATURES)
    labels = np.asarray(load_iris().target_names)[y]
    return LogisticRegression(max_iter=1000).fit(frame, labels)


@pytest.fixture
def volumes(cluster, node, namespace: str) -> Iterator[Volumes]:
    """Claims "raw" and "scored", pre-bound to `local` volumes on the real node's disk."""
    root = host_volume_dir("modelserve-batch-e2e-")
    # mkdtemp makes the directory private to root; the pods' user must reach into it.
    root.chmod(0o755)
    found = Volumes(root / "input", root / "output")
    found.input_dir.mkdir(mode=0o755)
    found.output_dir.mkdir(mode=0o755)
    # Kubelets apply fsGroup to a local volume, never to hostPath or NFS: owning it works for all.
    os.chown(found.output_dir, POD_UID, POD_UID)
    names = []
    for claim, path in (("raw", found.input_dir), ("scored", found.output_dir)):
        pv = f"{namespace}-{claim}"
        names.append(pv)
        persistent_volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "local": {"path": str(path)},
                # The scheduler puts every pod using the claim where the directory is.
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": [NODE_NAME],
                                    }
                                ]
                            }
                        ]
                    }
                },
                "claimRef": {"namespace": namespace, "name": claim},
            },
        }
        claim_body = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": pv,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        cluster.kubectl(
            "apply", "-f", "-", input_text=yaml.safe_dump_all([persistent_volume, claim_body])
        )
    try:
        for claim in ("raw", "scored"):
            wait_for(
                lambda c=claim: (
                    cluster.kubectl(
                        "get", "pvc", c, "-n", namespace, "-o", "jsonpath={.status.phase}"
                    ).stdout
                    == "Bound"
                ),
                f"claim {claim} Bound",
                timeout=60,
                interval=0.5,
            )
        yield found
    finally:
        cluster.kubectl("delete", "pvc", "raw", "scored", "-n", namespace, "--wait=false")
        for pv in names:
            cluster.kubectl("delete", "pv", pv, "--wait=false", "--ignore-not-found")
        shutil.rmtree(root)


def write_input_files(input_dir: Path, model: LogisticRegression) -> InputFiles:
    """36 CSV exports of iris rows in three shapes, and a file the glob must leave out.

    By file number mod 3: no header (columns by position); the model's names in its
    order; the names shuffled after an extra id column (columns by name).
    """
    x, _ = load_iris(return_X_y=True)
    rng = np.random.default_rng(20240601)
    exports = input_dir / "exports"
    exports.mkdir()
    names, predictions = [], {}
    for number in range(FILE_COUNT):
        name = f"exports/day-{number:03d}.csv"
        count = 0 if number == HEADER_ONLY_FILE else int(rng.integers(1, 12))
        frame = pd.DataFrame(x[rng.integers(0, len(x), size=count)], columns=FEATURES)
        style = number % 3
        if style == 0:
            frame.to_csv(input_dir / name, header=False, index=False)
        elif style == 1:
            frame.to_csv(input_dir / name, index=False)
        else:
            shuffled = frame[["petal_width", "sepal_length", "petal_length", "sepal_width"]]
            shuffled.insert(0, "export_id", range(count))
            shuffled.to_csv(input_dir / name, index=False)
        names.append(name)
        predictions[name] = model.predict(frame).tolist() if count else []
    (exports / "notes.txt").write_text("not an export: the glob leaves this file out\n")
    return InputFiles(names, predictions)


def register_model(site: Site, model: LogisticRegression) -> None:
    """Model iris version 1, its artifact in a ConfigMap with the artifact's sha256."""
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    site.apply(*configmap_registration(buffer.getvalue(), "iris", "1"))
    wait_for(
        lambda: condition(site.get("model", "iris-1"), "Ready").get("status") == "True",
        "Model iris-1 Ready",
        timeout=120,
        interval=0.5,
    )


@pytest.fixture
def site(cluster, node, namespace: str, operator_factory, monkeypatch) -> Iterator[Site]:
    """The operator in-process, every pod it makes pinned to the real node."""
    operator = operator_factory(
        namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    )
    operator.start()
    try:
        yield Site(cluster, namespace)
    finally:
        operator.delete_objects_and_stop()


def read_predictions(path: Path) -> tuple[list[str], list[tuple[str, int, str]]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [(name, int(row), label) for name, row, label in reader]


# `volumes` before `site`: the operator deletes the run's objects before the volumes go.
def test_three_instances_score_36_files_into_one_ordered_predictions_csv(
    volumes: Volumes, site: Site, model: LogisticRegression
):
    files = write_input_files(volumes.input_dir, model)
    expected = files.expected_rows()
    register_model(site, model)
    site.apply(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "BatchDeployment",
            "metadata": {"name": "nightly"},
            "spec": {
                "model": {"name": "iris", "version": "1"},
                "input": {"claimName": "raw", "glob": "exports/*.csv"},
                "output": {"claimName": "scored", "path": OUTPUT_PATH},
                "settings": {
                    "instanceCount": INSTANCES,
                    "miniBatchSize": MINI_BATCH_SIZE,
                    "errorThreshold": 0,
                },
            },
        }
    )

    def finished() -> dict | None:
        batch = site.get("batchdeployment", "nightly")
        runs = (batch or {}).get("status", {}).get("runs") or []
        return batch if runs and runs[-1].get("result") in ("Succeeded", "Failed") else None

    try:
        done = wait_for(finished, "the run of nightly to finish", timeout=RUN_TIMEOUT_S)
        assert done["status"]["runs"][-1]["result"] == "Succeeded", condition(done, "Ready")
    except BaseException:
        site.explain_run()
        raise

    # The status a user reads with kubectl.
    run = done["status"]["runs"][-1]
    run_id = run["id"]
    mini_batches = -(-FILE_COUNT // MINI_BATCH_SIZE)
    assert run["files"] == FILE_COUNT
    assert run["miniBatchesSucceeded"] == mini_batches
    assert run["miniBatchesFailed"] == 0
    assert run["rowsScored"] == len(expected)
    assert run["outputPath"] == f"{OUTPUT_PATH}/{run_id}/predictions.csv"
    assert run["startTime"] <= run["endTime"]
    assert condition(done, "Ready")["status"] == "True"
    assert condition(done, "Ready")["reason"] == "RunSucceeded"

    # Three runner pods, one per index, and the merge pod all ran on the real node.
    runners = site.items("pods", f"batch.kubernetes.io/job-name={run_id}")
    indexes = {
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in runners
    }
    assert indexes == {"0", "1", "2"}
    merge = site.items("pods", f"batch.kubernetes.io/job-name={run_id}-m")
    assert {p["spec"]["nodeName"] for p in runners + merge} == {NODE_NAME}
    assert {p["status"]["phase"] for p in runners + merge} == {"Succeeded"}

    # The output, read from the node's disk where the status says it is.
    run_dir = volumes.output_dir / OUTPUT_PATH / run_id
    header, rows = read_predictions(volumes.output_dir / run["outputPath"])
    assert header == ["file", "row", "prediction"]
    seen = Counter((name, row) for name, row, _ in rows)
    assert [key for key, times in seen.items() if times > 1] == [], "rows written twice"
    wanted = {(name, row) for name, row, _ in expected}
    assert wanted - set(seen) == set(), "input rows missing from predictions.csv"
    assert set(seen) - wanted == set(), "rows in predictions.csv that no input has"
    assert sorted(rows) == sorted(expected), "predictions differ from the model's own"
    assert rows == expected, "rows are not in sorted-file, then row, order"

    # The plan the instances shared, and who scored what: mini-batch k by index k mod 3.
    plan = json.loads((run_dir / "files.json").read_text())
    assert plan["files"] == sorted(files.names)
    owners = [
        json.loads((run_dir / "parts" / f"mb-{k:06d}.json").read_text())["index"]
        for k in range(mini_batches)
    ]
    assert owners == [k % INSTANCES for k in range(mini_batches)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["failedFiles"] == {}
    assert summary["rowsScored"] == len(expected)


# run() holds the mini-batch of any file named held-* while the input volume has `hold`.
HOLDING_SCRIPT = """
import glob, os, time
import joblib
import pandas as pd

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def init():
    global model
    model = joblib.load(glob.glob(os.path.join(os.environ["MODELSERVE_MODEL_DIR"], "*.joblib"))[0])


def run(mini_batch):
    frames = []
    for path in mini_batch:
        name = os.path.basename(path)
        hold = os.path.join(os.path.dirname(os.path.dirname(path)), "hold")
        while name.startswith("held-") and os.path.exists(hold):
            time.sleep(0.1)
        rows = pd.read_csv(path)
        frames.append(pd.DataFrame({
            "file": name, "row": range(len(rows)), "prediction": model.predict(rows[FEATURES]),
        }))
    return pd.concat(frames)
"""


def _events(lines: Iterator[str]) -> Iterator[dict]:
    """The JSON watch events kubectl prints one after another (each over several lines)."""
    decoder = json.JSONDecoder()
    buffered = ""
    for line in lines:
        buffered += line
        try:
            event, _ = decoder.raw_decode(buffered.strip())
        except json.JSONDecodeError:
            continue
        buffered = ""
        yield event


def _delete_and_watch(site: Site, pod: str) -> dict:
    """Delete `pod` and return its last state, as the API server reported it on deletion."""
    cluster = site.cluster
    watch = subprocess.Popen(
        [
            str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}",
            "get", "pod", pod, "-n", site.namespace,
            "--watch", "--output-watch-events", "-o", "json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        events = _events(watch.stdout)
        assert next(events)["type"] == "ADDED"  # watching before the deletion starts
        site.kubectl("delete", "pod", pod, "--wait=false")
        for event in events:
            if event["type"] == "DELETED":
                return event["object"]
        raise AssertionError(f"the watch on pod {pod} ended before its deletion")
    finally:
        watch.kill()
        watch.wait()


def test_a_deleted_runner_pod_stops_on_sigterm_and_the_run_stays_exactly_once(
    volumes: Volumes, site: Site, model: LogisticRegression
):
    x, _ = load_iris(return_X_y=True)
    exports = volumes.input_dir / "exports"
    exports.mkdir()
    names = ["a-000.csv", "a-001.csv", "held-002.csv", "z-003.csv"]
    expected = set()
    for number, name in enumerate(names):
        frame = pd.DataFrame(x[number * 5 : number * 5 + 5], columns=FEATURES)
        frame.to_csv(exports / name, index=False)
        expected |= {(name, row) for row in range(len(frame))}
    (volumes.input_dir / "hold").touch()
    register_model(site, model)
    site.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "holding-script"},
            "data": {"score.py": HOLDING_SCRIPT},
        },
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "BatchDeployment",
            "metadata": {"name": "nightly"},
            "spec": {
                "model": {"name": "iris", "version": "1"},
                "scoringScript": {"configMap": "holding-script"},
                "input": {"claimName": "raw", "glob": "exports/*.csv"},
                "output": {"claimName": "scored", "path": OUTPUT_PATH},
                "settings": {"instanceCount": 1, "miniBatchSize": 1},
            },
        },
    )
    try:
        # two mini-batches written, the third held in run()
        wait_for(
            lambda: len(list(volumes.output_dir.glob(f"{OUTPUT_PATH}/*/parts/mb-*.json"))) == 2,
            "the first two mini-batches",
            timeout=RUN_TIMEOUT_S,
        )
        [runner] = [
            p
            for p in site.items("pods", "modelserve.io/batch-deployment=nightly")
            if p["status"].get("phase") == "Running"
        ]
        last = _delete_and_watch(site, runner["metadata"]["name"])
        [status] = last["status"]["containerStatuses"]
        terminated = status["state"]["terminated"]
        # 143: the runner handled SIGTERM and stopped; 137 would be the kubelet's SIGKILL
        # at the end of the grace period
        assert terminated["exitCode"] == 143, terminated
        assert json.loads(terminated["message"])["terminated"] is True
        assert len(list(volumes.output_dir.glob(f"{OUTPUT_PATH}/*/parts/mb-*.json"))) == 2

        (volumes.input_dir / "hold").unlink()

        def finished() -> dict | None:
            batch = site.get("batchdeployment", "nightly")
            runs = (batch or {}).get("status", {}).get("runs") or []
            return runs[-1] if runs and runs[-1].get("result") in ("Succeeded", "Failed") else None

        run = wait_for(finished, "the run to finish on a new pod", timeout=RUN_TIMEOUT_S)
        assert run["result"] == "Succeeded", run
    except BaseException:
        site.explain_run()
        raise
    _, rows = read_predictions(volumes.output_dir / run["outputPath"])
    seen = Counter((name, row) for name, row, _ in rows)
    assert [key for key, times in seen.items() if times > 1] == [], "rows written twice"
    assert set(seen) == expected
