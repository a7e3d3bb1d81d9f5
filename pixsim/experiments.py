"""``pixsim reproduce``: run a profile's grid with papermill, then build the book.

The pieces live in their own modules; this one is the command and a facade:

- profiles as data and the grid: :mod:`pixsim.profiles` (``pixsim/profiles/*.yaml``);
- the results store (run directories, completion markers, gathering): :mod:`pixsim.results`;
- the runner (papermill, process pool, skip-if-complete, failures): :mod:`pixsim.reproduce`;
- the book (generated pages, ``jupyter-book build``): :mod:`pixsim.book`;
- statistics and the paper comparison: :mod:`pixsim.stats`; figures: :mod:`pixsim.figures`.

Examples::

    pixsim reproduce --profile quick            # the README's main job
    pixsim reproduce --profile smoke --out /tmp/smoke
    pixsim reproduce --profile paper --jobs 2 --only 'cifar10-(baseline|reg_cifar10)'
    pixsim reproduce --profile quick --book-only   # rebuild the book from stored outputs
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pixsim import book as book_mod
from pixsim.profiles import (Profile, Step, StepKind, available_profiles, expand_grid,  # noqa: F401
                             load_profile, select_steps, validate_train_configs)
from pixsim.reproduce import Outcome, failure_report, run_profile  # noqa: F401
from pixsim.results import (gather_histories, gather_results, gather_runs,  # noqa: F401
                            is_complete, save_table)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``pixsim reproduce``."""
    parser.add_argument("--profile", default="quick",
                        help=f"profile name ({', '.join(available_profiles())}) or a profile YAML path")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs executed in parallel (process pool; the cores are shared out)")
    parser.add_argument("--only", default=None, metavar="PATTERN",
                        help="run only steps whose name matches this regular expression "
                             "(names: <experiment>-<condition>-s<seed>/train|robustness)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output directory; None means results/<profile>")
    parser.add_argument("--force", action="store_true",
                        help="rerun steps even when their outputs are complete")
    parser.add_argument("--list", action="store_true", help="print the grid and exit")
    parser.add_argument("--no-book", action="store_true", help="do not build the book")
    parser.add_argument("--book-only", action="store_true",
                        help="only rebuild the book from the stored outputs of --out")
    parser.add_argument("--book-root", default=None, metavar="DIR",
                        help="directory with _config.yml and _toc.yml; None: this directory or a parent, else the checkout holding pixsim")


def check_data(steps: list[Step]) -> str | None:
    """None when every data set the selected training steps need can be found, else the
    data module's message saying where it looked and how to get the data."""
    try:
        from pixsim.data import DatasetNotFoundError, load_dataset
    except ImportError:  # pragma: no cover - the data module is part of the package
        return None
    needed = set()
    for s in steps:
        if s.kind is StepKind.TRAIN:
            root = s.parameters.get("data_root")
            needed.add((s.parameters.get("dataset", "cifar10"), root))
            needed.add((s.parameters.get("reg_dataset") or s.parameters.get("dataset", "cifar10"), root))
    for name, root in sorted(needed, key=str):
        if name == "synthetic":
            continue
        try:
            load_dataset(name, "test", root=root, limit=2)
        except DatasetNotFoundError as exc:
            return str(exc)
    return None


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``pixsim reproduce``; returns 0 when every step and the book succeeded, else 1
    (2 when the command cannot start: bad profile, missing data, no book configuration)."""
    try:
        profile = load_profile(args.profile)
    except ValueError as exc:
        print(f"pixsim reproduce: {exc}")
        return 2
    out_dir = Path(args.out or Path("results") / profile.name).resolve()
    if args.list:
        for step in select_steps(expand_grid(profile), args.only):
            print(f"{step.name:45s} {step.kind.value}")
        return 0
    root = Path(args.book_root).resolve() if args.book_root else book_mod.find_book_root()
    if root is None:
        print("pixsim reproduce: no _config.yml/_toc.yml found here or above; run from the "
              "pixsim checkout or pass --book-root")
        return 2
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    if not args.book_only:
        steps = select_steps(expand_grid(profile), args.only)
        problem = check_data(steps)
        if problem:
            print(f"pixsim reproduce: data missing, nothing run.\n{problem}")
            return 2
        from pixsim.runtime import use_all_cores

        use_all_cores()
        outcomes, _ = run_profile(profile, out_dir, notebooks_dir=root / "notebooks", cwd=root,
                                  jobs=args.jobs, only=args.only, force=args.force)
    book_ok = True
    if not args.no_book:
        book_mod.assemble(out_dir, root)
        book_ok, _, _ = book_mod.build(root, log_file=out_dir / "book_build.log")
    minutes = (time.perf_counter() - start) / 60
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed", "blocked")}
    print(f"pixsim reproduce --profile {profile.name}: {minutes:.1f} min; "
          + ", ".join(f"{v} {k}" for k, v in counts.items()))
    report = failure_report(outcomes)
    if report:
        print(report)
    if not args.no_book:
        print(f"book: {root / '_build' / 'html' / 'index.html'}")
    return 0 if (not report and book_ok) else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m pixsim.experiments ...``: the same as ``pixsim reproduce ...``."""
    parser = argparse.ArgumentParser(prog="pixsim reproduce",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    configure_parser(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
