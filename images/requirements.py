"""Print the third-party requirements of modelserve distributions, one per line.

Usage: requirements.py DIR [DIR ...], each a directory with a pyproject.toml (api,
serving-image, ...). A requirement on another modelserve distribution (with its extras) is
followed into that distribution's pyproject.toml, which must be among the directories. The
image builds install these first, in a layer of their own, then modelserve's own packages.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# A requirement's name and extras: "modelserve-api[kube]==0.1.0" -> modelserve-api, {kube}.
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def third_party_requirements(directories: list[Path]) -> list[str]:
    """Requirements of the distributions in `directories`, local ones followed, in order."""
    projects = {}
    for directory in directories:
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        projects[_name(project["name"])] = project
    wanted: list[str] = []
    todo = [(name, ()) for name in projects]
    done: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop(0)
        if (name, extras) in done:
            continue
        done.add((name, extras))
        project = projects.get(name)
        if project is None:
            raise SystemExit(f"{name} is required but its directory was not given")
        lines = list(project.get("dependencies", []))
        for extra in extras:
            lines += project.get("optional-dependencies", {})[extra]
        for line in lines:
            match = _REQUIREMENT.match(line)
            required = _name(match[1])
            if required.startswith("modelserve-"):
                todo.append(
                    (
                        required,
                        tuple(sorted(e.strip() for e in (match[2] or "").split(",") if e.strip())),
                    )
                )
            elif line not in wanted:
                wanted.append(line)
    return wanted


def main() -> None:
    """Print the requirements of the directories named on the command line."""
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print("\n".join(third_party_requirements([Path(d) for d in sys.argv[1:]])))


if __name__ == "__main__":
    main()
