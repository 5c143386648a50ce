"""Copy the installed files of one distribution under a staging root, keeping their paths.

Used in image builds so modelserve's own files form a small layer of their own, apart
from the much larger layer of its dependencies.
"""

from __future__ import annotations

import shutil
import sys
from importlib.metadata import distribution
from pathlib import Path


def stage_distribution(name: str, stage_root: Path, skip_names: set[str]) -> int:
    """Copy every installed file of distribution `name` to stage_root/<its path>; return count."""
    copied = 0
    for record in distribution(name).files or []:
        source = Path(str(record.locate())).resolve()
        if not source.is_file() or source.name in skip_names:
            continue
        target = stage_root / source.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        copied += 1
    return copied


def main() -> None:
    """Usage: stage_distribution.py DIST STAGE_ROOT [SKIPPED_FILE_NAME ...]."""
    name, stage_root, *skip = sys.argv[1:]
    count = stage_distribution(name, Path(stage_root), set(skip))
    if count == 0:
        sys.exit(f"distribution {name!r} has no installed files to stage")
    print(f"staged {count} files of {name} under {stage_root}")


if __name__ == "__main__":
    main()
