"""The project's own images (images/images.txt): what the chart and the walk-through run."""

from __future__ import annotations

import os
from pathlib import Path

# The harness is a development tool that runs from a checkout, next to images/.
IMAGE_LIST = Path(__file__).resolve().parents[2] / "images" / "images.txt"


def image_tag() -> str:
    """The tag images/build.sh gives the images ($MODELSERVE_IMAGE_TAG, default dev)."""
    return os.environ.get("MODELSERVE_IMAGE_TAG", "dev")


def build_targets(image_list: Path = IMAGE_LIST) -> dict[str, str]:
    """Image name (without tag) → the images/build.sh target that builds it."""
    if not image_list.is_file():
        raise FileNotFoundError(f"{image_list} not found: the tests run from a modelserve checkout")
    targets = {}
    for line in image_list.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            name, target = fields
            targets[name] = target
    return targets


def app_images(tag: str | None = None) -> tuple[str, ...]:
    """Every image of the list, tagged: what a node needs to run the chart and examples."""
    return tuple(f"{name}:{tag or image_tag()}" for name in build_targets())
