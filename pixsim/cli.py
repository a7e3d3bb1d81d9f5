"""The ``pixsim`` command: ``pixsim train``, ``pixsim attack``, ``pixsim reproduce``.

Each subcommand lives with the module that implements it; that module exposes
``configure_parser(parser)`` to add its options and ``run_from_args(args) -> int`` to run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["build_parser", "main"]

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "train": ("pixsim.training", "train one model (CE + alpha * similarity loss)"),
    "attack": ("pixsim.robustness.suite", "evaluate a checkpoint against an attack suite"),
    "reproduce": ("pixsim.reproduce", "run a profile's grid with papermill, then build the book"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixsim",
        description="Pixel-similarity regularization for adversarial robustness (arXiv:2410.03952).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        module.configure_parser(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._module.run_from_args(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
