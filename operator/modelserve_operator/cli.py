"""`modelserve-operator`: run the operator (all namespaces, or MODELSERVE_WATCH_NAMESPACES)."""

from __future__ import annotations

import argparse
import logging

import kopf

from . import handlers  # noqa: F401  (registers the handlers)
from .handlers.state import state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="modelserve-operator", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = state().settings
    namespaces = list(settings.watch_namespaces)
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://{settings.bind_address}:{settings.liveness_port}/healthz",
    )


if __name__ == "__main__":
    main()
