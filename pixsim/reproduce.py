"""Execute a profile's grid of notebooks with papermill, then build the book.

``run_profile`` is what ``pixsim reproduce`` calls. For each step of
:func:`pixsim.profiles.expand_grid` it:

1. skips the step if its outputs exist and are complete for the same parameters
   (:func:`pixsim.results.is_complete`);
2. otherwise executes ``notebooks/<kind>.ipynb`` with papermill into the step's directory
   (the executed notebook lies beside the step's results) and writes a completion marker;
3. on failure records the step (with the executed notebook's path, where the error is shown)
   and goes on; steps that need a failed step are recorded as ``blocked``.

Independent steps run ``jobs`` at a time in a process pool; each worker pins itself to its share
of the CPU cores so that torch in the kernel (``use_all_cores``) uses exactly that share.
The analysis steps (similarity, results) run after the grid, whatever its outcome. Finally the
book is built from the stored notebooks (:mod:`pixsim.book`); building it never trains.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pixsim import results as store
from pixsim.profiles import Profile, Step, StepKind, expand_grid, select_steps

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

    step: Step
    parameters: dict[str, Any]
    step_dir: Path
    input_notebook: Path
    output_notebook: Path
    cwd: Path


def step_directory(out_dir: Path, step: Step) -> Path:
    """Directory of a step's outputs: ``<out>/runs/<run>`` or ``<out>/analysis``."""
    if step.kind in (StepKind.SIMILARITY, StepKind.RESULTS):
        return out_dir / "analysis"
    return out_dir / "runs" / step.run


def make_task(step: Step, out_dir: Path, notebooks_dir: Path, cwd: Path) -> Task:
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
              hard_deps: bool = True) -> list[Outcome]:
    """Run tasks respecting ``depends_on``; ``jobs`` > 1 uses a process pool."""
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
                    before = store.read_marker(task.step_dir, task.step.kind.value)
                    finish(Outcome(task.step.name, task.step.run, task.step.kind.value, "skipped",
                                   seconds=float(before.get("seconds", 0.0)),
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
    outcomes = _schedule(grid, jobs, force, log)
    # steps left out by --only keep their record from earlier invocations: the results notebook
    # reads every run's labels from the manifest
    selected = {t.step.name for t in tasks}
    earlier = store.read_manifest(out_dir)
    kept = ([dict(s, earlier=True) for s in earlier.get("steps", []) if s.get("step") not in selected]
            if earlier.get("profile") == profile.name else [])
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
                            log, hard_deps=False)[0]
        outcomes.append(outcome)
        manifest["steps"].append(outcome.__dict__)
    manifest["total_seconds"] = round(time.perf_counter() - start, 1)
    store.write_manifest(out_dir, manifest)
    return outcomes, manifest


def _detached(task: Task) -> Task:
    """The task without dependencies (the analysis steps run after the grid regardless)."""
    from dataclasses import replace

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


def format_exception() -> str:  # pragma: no cover - used by the CLI only
    return traceback.format_exc(limit=3)
