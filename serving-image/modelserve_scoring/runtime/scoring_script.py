"""A user's score.py (Azure ML contract): init() once, run(raw_data: str) once per request."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from modelserve_scoring.errors import ArtifactError


class ScoringScript:
    """Imports score.py with the model directory exported, then calls its init()."""

    kind = "scoring-script"

    def __init__(self, script_path: Path, model_dir: Path | None) -> None:
        self.script_path = script_path
        self.model_dir = model_dir
        self.module: ModuleType | None = None
        self._run: Any = None

    def load(self) -> None:
        """Export the model directory, import the script and call init()."""
        if self.model_dir is not None:
            # both names, so scripts written for Azure ML run unchanged
            os.environ["MODELSERVE_MODEL_DIR"] = str(self.model_dir)
            os.environ["AZUREML_MODEL_DIR"] = str(self.model_dir)
        if not self.script_path.is_file():
            raise ArtifactError(f"scoring script {self.script_path} does not exist")
        spec = importlib.util.spec_from_file_location("score", self.script_path)
        if spec is None or spec.loader is None:
            raise ArtifactError(f"cannot import scoring script {self.script_path}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(self.script_path.parent))
        spec.loader.exec_module(module)
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise ArtifactError(f"scoring script {self.script_path} defines no {name}()")
        module.init()
        self.module = module
        self._run = module.run

    def run(self, raw_data: str) -> Any:
        """The script's run() on the request body."""
        return self._run(raw_data)

    def metadata(self) -> dict[str, Any]:
        """What can be said about a script-served model."""
        return {"runtime": self.kind, "scoring_script": str(self.script_path)}
