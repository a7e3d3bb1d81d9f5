"""``pixsim reproduce``: execute a profile's grid of notebooks with papermill, then build the book.

Examples::

    pixsim reproduce --profile quick            # the README's main job
    pixsim reproduce --profile smoke --out /tmp/smoke
    pixsim reproduce --profile paper --jobs 2 --only 'cifar10-(baseline|reg_cifar10)'
    pixsim reproduce --profile quick --book-only   # rebuild the book from stored outputs

``run_profile`` runs the grid. For each step of
:func:`pixsim.profiles.expand_grid` it:

1. skips the step if its outputs exist and are complete for the same parameters
   (:func:`pixsim.results.is_complete`: a training step's record is the ``result.json`` that
   ``pixsim.training.train`` writes, the other steps' a marker the runner writes);
2. otherwise executes ``notebooks/<kind>.ipynb`` with papermill into the step's directory
   (the executed notebook lies beside the step's results) and, but for a training step, writes
   a completion marker;
3. on failure records the step (with the executed notebook's path, where the error is shown)
   and goes on; steps that need a failed step are recorded as ``blocked``.

Independent steps run ``jobs`` at a time in a process pool; each worker pins itself to its share
of the CPU cores so that torch in the kernel (``use_all_cores``) uses exactly that share.
The analysis steps (similarity, results) run after the grid, whatever its outcome. Finally the
book is built from the stored notebooks (:mod:`pixsim.book`); building it never trains.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from pixsim import book
from pixsim import results as store
from pixsim.profiles import (NotebookStep, Profile, StepKind, available_profiles, expand_grid, load_profile,
                             select_steps)
from pixsim.runtime import use_all_cores

__all__ = [
    "Outcome", "Task", "step_directory", "make_task", "papermill_executor", "run_task",
    "hardware_description", "run_profile", "failure_report", "configure_parser", "check_data",
    "run_from_args", "main"
]

KERNEL_NAME = "python3"
# keys of step parameters that are paths relative to the profile's output directory
_PATH_KEYS = {"out_dir", "checkpoint", "source_checkpoint", "out_csv", "results_dir"}


@dataclass
class Outcome:
    """What happened to one step: status ``done``, ``skipped``, ``failed`` or ``blocked``."""

    step: str
    run: str
    kind: str
    status: str
    seconds: float = 0.0
    notebook: str = ""
    error: str = ""
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("done", "skipped")


@dataclass
class Task:
    """A step made concrete: absolute paths and the notebook to execute (picklable)."""

    step: NotebookStep
    parameters: dict[str, Any]
    step_dir: Path
    input_notebook: Path
    output_notebook: Path
    cwd: Path


def step_directory(out_dir: Path, step: NotebookStep) -> Path:
    """Directory of a step's outputs: ``<out>/runs/<run>`` or ``<out>/analysis``."""
    if step.kind in (StepKind.SIMILARITY, StepKind.RESULTS):
        return out_dir / "analysis"
    return out_dir / "runs" / step.run


def make_task(step: NotebookStep, out_dir: Path, notebooks_dir: Path, cwd: Path) -> Task:
    """Turn a grid step into a task with absolute paths."""
    params = dict(step.parameters)
    for key in _PATH_KEYS & set(params):
        if isinstance(params[key], str) and params[key] and not os.path.isabs(params[key]):
            params[key] = str((out_dir / params[key]).resolve())
    sdir = step_directory(out_dir, step)
    return Task(step, params, sdir, notebooks_dir / step.notebook, sdir / step.notebook, cwd)


def papermill_executor(input_path: Path, output_path: Path, parameters: dict[str, Any],
                       cwd: Path) -> None:
    """Execute one notebook with papermill using the ``python3`` kernel of this interpreter.

    jupyter_client replaces the kernel spec's ``python`` with ``sys.executable``, so the kernel
    runs in the same environment as the caller (checked by ``tests/test_experiments.py``).
    """
    import papermill as pm

    pm.execute_notebook(str(input_path), str(output_path), parameters=parameters,
                        kernel_name=KERNEL_NAME, cwd=str(cwd), progress_bar=False,
                        log_output=False, request_save_on_cell_execute=True)


# the executor used by run_task; tests replace it with a fake (jobs=1 runs in-process)
EXECUTOR: Callable[[Path, Path, dict, Path], None] = papermill_executor


def run_task(task: Task) -> Outcome:
    """Execute one task; never raises (a failure becomes an ``Outcome`` with the error)."""
    step = task.step
    base = dict(step=step.name, run=step.run, kind=step.kind.value,
                notebook=str(task.output_notebook), labels=dict(step.labels))
    task.step_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        EXECUTOR(task.input_notebook, task.output_notebook, task.parameters, task.cwd)
    except Exception as exc:  # noqa: BLE001 - any failure of a run is recorded, not raised
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        message = f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:500]
        return Outcome(status="failed", seconds=time.perf_counter() - start, error=message, **base)
    seconds = time.perf_counter() - start
    if step.kind is not StepKind.TRAIN:  # a training run writes its own record (result.json)
        store.write_marker(task.step_dir, step.kind.value, task.parameters, seconds)
    return Outcome(status="done", seconds=seconds, **base)


_WORKER_COUNTER = None


def _init_worker(counter, jobs: int) -> None:  # pragma: no cover - runs in pool workers
    """Pin this pool worker to its share of the CPU cores (kernels inherit the affinity)."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return
    share = max(1, len(cores) // jobs)
    start = (index % jobs) * share
    mine = cores[start:start + share] or cores
    os.sched_setaffinity(0, mine)


def _schedule(tasks: list[Task], jobs: int, force: bool, log: Callable[[str], None],
              hard_deps: bool = True, took: dict[str, float] | None = None) -> list[Outcome]:
    """Run tasks respecting ``depends_on``; ``jobs`` > 1 uses a process pool. ``took``: seconds
    each step took when it ran, from the earlier manifest (else from the step's own record)."""
    took = took or {}
    by_name = {t.step.name: t for t in tasks}
    outcomes: dict[str, Outcome] = {}
    pending = list(tasks)
    running: dict[Any, Task] = {}
    pool = None
    if jobs > 1:
        ctx = mp.get_context("spawn")
        counter = ctx.Value("i", 0)
        pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                      initializer=_init_worker, initargs=(counter, jobs))
    total = len(tasks)

    def finish(outcome: Outcome) -> None:
        outcomes[outcome.step] = outcome
        extra = f" -> {outcome.error}" if outcome.status == "failed" else ""
        took = (f"complete; took {outcome.seconds:.1f} s when it ran" if outcome.status == "skipped"
                else f"{outcome.seconds:.1f} s")
        log(f"[{len(outcomes)}/{total}] {outcome.status:8s} {outcome.step} ({took}){extra}")

    try:
        while pending or running:
            progressed = False
            for task in list(pending):
                deps = [d for d in task.step.depends_on if d in by_name]
                if any(d not in outcomes for d in deps):
                    continue
                pending.remove(task)
                progressed = True
                bad = [d for d in deps if not outcomes[d].ok]
                if bad and hard_deps:
                    finish(Outcome(task.step.name, task.step.run, task.step.kind.value, "blocked",
                                   error=f"needs {', '.join(bad)}", labels=dict(task.step.labels),
                                   notebook=str(task.output_notebook)))
                    continue
                if not force and store.is_complete(task.step_dir, task.step.kind.value,
                                                   task.parameters):
                    # keep the time the step took when it ran, for the run record
                    finish(Outcome(task.step.name, task.step.run, task.step.kind.value, "skipped",
                                   seconds=took.get(task.step.name) or store.recorded_seconds(
                                       task.step_dir, task.step.kind.value),
                                   notebook=str(task.output_notebook),
                                   labels=dict(task.step.labels)))
                    continue
                if pool is None:
                    log(f"running  {task.step.name} ...")
                    finish(run_task(task))
                else:
                    running[pool.submit(run_task, task)] = task
            if running:
                done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    task = running.pop(fut)
                    try:
                        finish(fut.result())
                    except Exception as exc:  # noqa: BLE001 - a worker crash is a failed run
                        finish(Outcome(task.step.name, task.step.run, task.step.kind.value,
                                       "failed", error=f"worker crashed: {exc!r}",
                                       notebook=str(task.output_notebook)))
            elif not progressed and pending:
                missing = {d for t in pending for d in t.step.depends_on if d not in outcomes}
                raise RuntimeError(f"unsatisfiable step dependencies: {sorted(missing)}")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return [outcomes[t.step.name] for t in tasks]


def hardware_description() -> dict[str, Any]:
    """CPU model, core count and GPU (if any) of this machine, for the experiments chapter."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count()
    info: dict[str, Any] = {"cpu": cpu, "cores": cores, "gpu": None,
                            "python": platform.python_version(), "platform": platform.platform()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    return info


def run_profile(profile: Profile, out_dir: Path, *, notebooks_dir: Path, cwd: Path,
                jobs: int = 1, only: str | None = None, force: bool = False,
                log: Callable[[str], None] = print) -> tuple[list[Outcome], dict[str, Any]]:
    """Run every (selected) step of ``profile``; returns the outcomes and the manifest.

    The manifest (``<out>/reproduce.json``) records the profile, hardware, each step's status,
    seconds and notebook, and the wall time; it is written before the results notebook runs
    (which shows it) and again at the end.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "profile.yaml").write_text(profile.to_yaml())
    steps = select_steps(expand_grid(profile), only)
    tasks = [make_task(s, out_dir, Path(notebooks_dir).resolve(), Path(cwd).resolve())
             for s in steps]
    grid = [t for t in tasks if t.step.kind in (StepKind.TRAIN, StepKind.ROBUSTNESS)]
    analysis = [t for t in tasks if t.step.kind not in (StepKind.TRAIN, StepKind.ROBUSTNESS)]
    start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log(f"profile {profile.name}: {len(grid)} grid steps + {len(analysis)} analysis steps, "
        f"jobs={jobs}, output {out_dir}")
    earlier = store.read_manifest(out_dir)
    if earlier.get("profile") != profile.name:
        earlier = {}
    # a skipped step keeps the time it took when it ran (the notebook's, as the manifest has it)
    took = {s["step"]: s.get("seconds") for s in earlier.get("steps", []) if s.get("status") in ("done", "skipped")}
    outcomes = _schedule(grid, jobs, force, log, took=took)
    # steps left out by --only keep their record from earlier invocations: the results notebook
    # reads every run's labels from the manifest
    selected = {t.step.name for t in tasks}
    kept = [dict(s, earlier=True) for s in earlier.get("steps", []) if s.get("step") not in selected]
    manifest = {
        "profile": profile.name, "profile_file": str(profile.source_path or ""),
        "description": profile.description, "profile_hardware": profile.hardware,
        "budget_minutes": profile.budget_minutes, "hardware": hardware_description(),
        "jobs": jobs, "only": only, "started": started, "python": sys.executable,
        "steps": kept + [o.__dict__ for o in outcomes],
        "grid_seconds": round(time.perf_counter() - start, 1),
    }
    store.write_manifest(out_dir, manifest)
    # analysis reflects whatever the grid produced: rerun whenever a grid step ran
    ran = any(o.status == "done" for o in outcomes)
    for task in analysis:
        outcome = _schedule([_detached(task)], 1, force or (ran and task.step.kind is StepKind.RESULTS),
                            log, hard_deps=False, took=took)[0]
        outcomes.append(outcome)
        manifest["steps"].append(outcome.__dict__)
    manifest["total_seconds"] = round(time.perf_counter() - start, 1)
    store.write_manifest(out_dir, manifest)
    return outcomes, manifest


def _detached(task: Task) -> Task:
    """The task without dependencies (the analysis steps run after the grid regardless)."""
    return replace(task, step=replace(task.step, depends_on=()))


def failure_report(outcomes: list[Outcome]) -> str:
    """Text listing failed and blocked steps with the path of each failed notebook ('' if none)."""
    bad = [o for o in outcomes if o.status in ("failed", "blocked")]
    if not bad:
        return ""
    lines = [f"{len(bad)} step(s) did not complete:"]
    for o in bad:
        if o.status == "failed":
            lines.append(f"  FAILED  {o.step}: {o.error}\n          notebook: {o.notebook}")
        else:
            lines.append(f"  BLOCKED {o.step}: {o.error}")
    return "\n".join(lines)



# -- the command ---------------------------------------------------------------------------
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


def check_data(steps: list[NotebookStep]) -> str | None:
    """None when every data set the selected training steps need can be found, else the
    data module's message saying where it looked and how to get the data."""
    from pixsim.data import load_split
    from pixsim.data_io import DatasetNotFoundError

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
            load_split(name, "test", limit=2, root=root)
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
    root = Path(args.book_root).resolve() if args.book_root else book.find_book_root()
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
        use_all_cores()
        outcomes, _ = run_profile(profile, out_dir, notebooks_dir=root / "notebooks", cwd=root,
                                  jobs=args.jobs, only=args.only, force=args.force)
    book_ok = True
    if not args.no_book:
        book.assemble(out_dir, root)
        book_ok, _, _ = book.build(root, log_file=out_dir / "book_build.log")
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
    """``python -m pixsim.reproduce ...``: the same as ``pixsim reproduce ...``."""
    parser = argparse.ArgumentParser(prog="pixsim reproduce",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    configure_parser(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
