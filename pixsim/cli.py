"""The ``pixsim`` command: ``pixsim train``, ``pixsim attack``, ``pixsim reproduce``.

Each subcommand lives with the module that implements it; that module exposes
``configure_parser(parser)`` to add its options and ``run_from_args(args) -> int`` to run.

Errors: a user error (a bad option or value, a bad or missing file, missing or damaged data: a
``ValueError``, ``TypeError`` or ``OSError``) ends the command with one line
``pixsim <command>: error: <message>`` on stderr and exit code 2, without a traceback;
``--debug`` shows the traceback instead. :func:`command` wraps each ``run_from_args`` this way.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from typing import Callable

__all__ = ["USER_ERRORS", "OneLineParser", "command", "error_text", "add_debug_option", "int_option",
           "build_parser", "main"]

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "train": ("pixsim.training", "train one model (CE + alpha * similarity loss)"),
    "attack": ("pixsim.robustness.suite", "evaluate a checkpoint against an attack suite"),
    "reproduce": ("pixsim.reproduce_command", "run a profile's grid with papermill, then build the book"),
    "record": ("pixsim.records", "write a record of an output folder, or verify a record (checksums, rerun)"),
    "rerun": ("pixsim.rerun", "print and run the exact papermill command that reruns one step of a run"),
}

#: What counts as a user error (bad values, files, data): reported in one line, exit code 2.
USER_ERRORS = (ValueError, TypeError, OSError)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``prog: error: message``, exit code 2)
    instead of the full usage text followed by the error."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def command(prog: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Decorate a ``run_from_args(args)``: a user error (:data:`USER_ERRORS`) prints
    ``<prog>: error: <message>`` on stderr and returns 2 (``args.debug``: raise it instead); an
    interrupt (Ctrl-C) prints one line and returns 130."""

    def wrap(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(run)
        def guarded(args: argparse.Namespace) -> int:
            try:
                return int(run(args) or 0)
            except KeyboardInterrupt:
                if getattr(args, "debug", False):
                    raise
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130
            except USER_ERRORS as exc:
                if getattr(args, "debug", False):
                    raise
                print(f"{prog}: error: {error_text(exc)}", file=sys.stderr)
                return 2
        return guarded

    return wrap


def error_text(exc: BaseException) -> str:
    """An exception's message for the user: its text (an ``OSError`` also says which file)."""
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in str(exc):
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip()
    return text or type(exc).__name__


def int_option(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``, else a message saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """``--debug``: show the traceback of an error instead of its one-line message."""
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pixsim",
        description="Pixel-similarity regularization for adversarial robustness (arXiv:2410.03952).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
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
        add_debug_option(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._module.run_from_args(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
