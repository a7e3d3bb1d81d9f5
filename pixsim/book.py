"""Assemble the book's generated pages from stored notebook outputs and build it.

The book's sources (``_config.yml``, ``_toc.yml`` at the repository root, text chapters in
``book/``) are copied into each output folder's own book, ``<out>/book/`` (:func:`prepare`), so
two output folders never write into one book and nothing is written into the checkout. That
book shows the folder's executed notebooks copied into ``<out>/book/book/generated/``
(:func:`assemble`) and is built into ``<out>/book/_build/html/`` (:func:`build`,
:func:`html_index`); its configuration sets ``execute_notebooks: off``, so building it never
runs (or retrains) anything.

Generated pages (always all present, so the table of contents never breaks):

- ``similarity.ipynb``, ``results.ipynb``: the profile's analysis notebooks;
- ``train_example.ipynb``, ``robustness_example.ipynb``: one executed run of the grid;
- ``run_record.md``: profile as run, launcher, hardware, data (generated data said so), time per
  step, failures;
- ``verdict.md``: the verdict paragraph the results notebook generated (the first page
  includes it), after a note when the run read generated data (:data:`GENERATED_NOTE`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import nbformat
import yaml

GENERATED = Path("book") / "generated"
PAGES = ("similarity", "results", "train_example", "robustness_example")
BOOK_DIR = "book"  # an output folder's own book: <out>/book/
SOURCE_FILES = ("_config.yml", "_toc.yml")


def find_book_root(start: str | Path | None = None) -> Path | None:
    """The directory holding the book's sources (``_config.yml``, ``_toc.yml``, ``book/``) and
    ``notebooks/``: ``start`` (default: the current directory) or one of its parents, else the
    checkout that holds this package; None if none. Nothing is written there (:func:`prepare`)."""
    candidates = []
    here = Path(start or Path.cwd()).resolve()
    candidates += [here, *here.parents]
    candidates.append(Path(__file__).resolve().parent.parent)
    for c in candidates:
        if (c / "_config.yml").exists() and (c / "_toc.yml").exists():
            return c
    return None


def prepare(out_dir: str | Path, sources: str | Path) -> Path:
    """Copy the book's sources from ``sources`` (``_config.yml``, ``_toc.yml`` and ``book/``
    without generated pages or builds) into ``<out_dir>/book/``, the output folder's own book,
    and return that book's root."""
    sources, root = Path(sources).resolve(), Path(out_dir).resolve() / BOOK_DIR
    root.mkdir(parents=True, exist_ok=True)
    for name in SOURCE_FILES:
        shutil.copy2(sources / name, root / name)
    if (sources / "book").is_dir():
        shutil.copytree(sources / "book", root / "book", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("generated", "_build"))
    return root


def html_index(out_dir: str | Path) -> Path:
    """The first page of an output folder's built book."""
    return Path(out_dir).resolve() / BOOK_DIR / "_build" / "html" / "index.html"


def _placeholder(title: str, text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{text}")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _pick_example(out_dir: Path, manifest: dict[str, Any], kind: str) -> Path | None:
    """Executed notebook of one successful run of ``kind``, preferring a regularized seed."""
    ok = [s for s in manifest.get("steps", []) if s.get("kind") == kind
          and s.get("status") in ("done", "skipped")]
    ok.sort(key=lambda s: (s.get("labels", {}).get("role") != "regularized", s.get("step", "")))
    for s in ok:
        # where the notebook is now (the folder may have been moved), else where it was written
        for path in (out_dir / "runs" / str(s.get("run")) / f"{kind}.ipynb", Path(s.get("notebook", ""))):
            if path.is_file():
                return path
    return None


def _run_record(out_dir: Path, manifest: dict[str, Any]) -> str:
    hw = manifest.get("hardware", {})
    steps = manifest.get("steps", [])
    lines = [
        "# Run record",
        "",
        f"This page was written by `pixsim reproduce --profile {manifest.get('profile', '?')}` "
        f"(started {manifest.get('started', '?')}), from `{out_dir}`.",
        "",
        "## Profile",
        "",
        f"**{manifest.get('profile', '?')}**: {manifest.get('description', '')}",
        "",
        f"- intended hardware: {manifest.get('profile_hardware', '')}",
        f"- time budget: {manifest.get('budget_minutes')} minutes" if manifest.get("budget_minutes")
        else "- time budget: none set",
        f"- parallel jobs: {manifest.get('jobs')}; step filter: `{manifest.get('only') or 'all'}`",
        *_launcher_lines(manifest),
        "",
        *_data_lines(manifest),
        "## Hardware actually used",
        "",
        f"- CPU: {hw.get('cpu')} ({hw.get('cores')} cores available)",
        f"- GPU: {hw.get('gpu') or 'none'}",
        f"- Python {hw.get('python')}, torch {hw.get('torch')}, {hw.get('platform')}",
        "",
        "## Time taken",
        "",
        f"Sum of the steps' own times: {sum(float(s.get('seconds') or 0) for s in steps) / 60:.1f} min "
        "(steps marked `skipped` were complete from an earlier invocation; their time is the "
        "one recorded when they ran). This invocation: grid (training and evaluation) "
        f"{manifest.get('grid_seconds', 0) / 60:.1f} min, with the analysis notebooks "
        f"{manifest.get('total_seconds', 0) / 60:.1f} min; the book build comes after and is "
        "not included.",
        "",
        "| step | status | seconds |",
        "|---|---|---|",
    ]
    for s in steps:
        lines.append(f"| `{s['step']}` | {s['status']} | {float(s.get('seconds') or 0):.1f} |")
    bad = [s for s in steps if s["status"] in ("failed", "blocked")]
    lines += ["", "## Failures", ""]
    if bad:
        for s in bad:
            lines.append(f"- `{s['step']}` {s['status']}: {s.get('error', '')} "
                         f"(notebook `{s.get('notebook', '')}`)")
    else:
        lines.append("None: every step completed.")
    profile_file = out_dir / "profile.yaml"
    if profile_file.exists():
        lines += ["", "## The profile file as run", "", "```yaml",
                  profile_file.read_text().rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _launcher_lines(manifest: dict[str, Any]) -> list[str]:
    launcher = manifest.get("launcher")
    if not launcher:
        return ["- launcher: local (`pixsim reproduce` ran every step on this machine)"]
    grid = launcher.get("options", {}).get("grid", {})
    return [f"- launcher: {launcher.get('name')} ({launcher.get('cluster')}), submission "
            f"{launcher.get('submission')} at {launcher.get('submitted')}; each grid job: "
            f"{grid.get('gpus_per_task')} GPU(s), {grid.get('cpus_per_task')} CPU cores, {grid.get('mem_gb')} GB, "
            f"{grid.get('time_min')} min, partition {grid.get('partition') or 'default'}"]


def generated_data(manifest: dict[str, Any]) -> dict[str, Any]:
    """The generated data roots a run read (root -> marker), from its manifest ({} for published data)."""
    return dict((manifest.get("data") or {}).get("generated") or {})


GENERATED_NOTE = ("**Generated data.** The data sets of this run are made-up images written in the real file "
                  "formats by `pixsim.generated_data` (`pixsim reproduce --tiny`), not the published data sets: "
                  "the numbers in this book only show that every step runs; they say nothing about the method.")


def _data_lines(manifest: dict[str, Any]) -> list[str]:
    data = manifest.get("data") or {}
    if not data:
        return []
    lines = ["## Data", ""]
    generated = generated_data(manifest)
    if generated:
        lines += [GENERATED_NOTE, ""]
        for root, info in generated.items():
            lines.append(f"- generated data root `{root}` (marker `{info.get('generator', '?')}` version "
                         f"{info.get('version', '?')}, created {info.get('created', '?')}, settings "
                         f"{info.get('settings', {})})")
        lines.append("")
    for name, source in (data.get("sources") or {}).items():
        lines.append(f"- `{name}`: {source}")
    return lines + [""]


def assemble(out_dir: str | Path, book_root: str | Path) -> list[Path]:
    """Copy the stored notebooks of ``out_dir`` into ``<book_root>/book/generated`` and write
    the run record. Missing notebooks become one-cell placeholder pages saying why.

    Returns the paths written.
    """
    out_dir = Path(out_dir).resolve()
    gen = Path(book_root) / GENERATED
    gen.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "reproduce.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    sources = {
        "similarity": out_dir / "analysis" / "similarity.ipynb",
        "results": out_dir / "analysis" / "results.ipynb",
        "train_example": _pick_example(out_dir, manifest, "train"),
        "robustness_example": _pick_example(out_dir, manifest, "robustness"),
    }
    titles = {"similarity": "Pixel similarity", "results": "Results",
              "train_example": "Example: one training run",
              "robustness_example": "Example: one robustness evaluation"}
    written = []
    for page in PAGES:
        src, dest = sources[page], gen / f"{page}.ipynb"
        if src is not None and Path(src).exists():
            nb = nbformat.read(str(src), as_version=4)
            _strip_papermill_noise(nb)
            nbformat.write(nb, str(dest))
        else:
            nbformat.write(_placeholder(titles[page], (
                f"Not produced by the last `pixsim reproduce` into `{out_dir}`: the step failed, "
                "was filtered out with `--only`, or has not run. See the run record.")), str(dest))
        written.append(dest)
    record = gen / "run_record.md"
    record.write_text(_run_record(out_dir, manifest))
    written.append(record)
    verdict_src, verdict = out_dir / "analysis" / "verdict.md", gen / "verdict.md"
    verdict.write_text(("> " + GENERATED_NOTE + "\n\n" if generated_data(manifest) else "") + (
        verdict_src.read_text() if verdict_src.exists() else (
            f"*No verdict: the results step of the last `pixsim reproduce` into `{out_dir.name}` did not run or "
            "failed (see the run record).*\n")))
    written.append(verdict)
    return written


def _strip_papermill_noise(nb: nbformat.NotebookNode) -> None:
    """Drop papermill's per-cell timestamps, and hide the notebook's default parameters
    (the page shows papermill's injected-parameters cell: the values that actually ran)."""
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]


_WARNING_RE = re.compile(r"\b(WARNING|ERROR|CRITICAL):")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def build(book_root: str | Path, *, log: Callable[[str], None] = print,
          log_file: str | Path | None = None) -> tuple[bool, list[str], float]:
    """Run ``jupyter-book build <book_root> --all`` with this interpreter's jupyter-book.

    Returns (success, warning lines, seconds). The full output goes to ``log_file`` if given.
    """
    book_root = Path(book_root).resolve()
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                           "from jupyter_book.cli.main import main; main()"]
    cmd += ["build", str(book_root), "--all"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=book_root, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = _ANSI_RE.sub("", proc.stdout + "\n" + proc.stderr)
    if log_file:
        Path(log_file).write_text(output)
    warnings = [ln for ln in output.splitlines() if _WARNING_RE.search(ln)]
    ok = proc.returncode == 0 and (book_root / "_build" / "html" / "index.html").exists()
    log(f"book: {'built' if ok else 'FAILED'} in {seconds:.1f} s -> "
        f"{book_root / '_build' / 'html' / 'index.html'} ({len(warnings)} warning line(s))")
    for w in warnings[:20]:
        log(f"  {w}")
    return ok, warnings, seconds


def toc_files(book_root: str | Path) -> list[str]:
    """Every file named in ``_toc.yml`` (without suffix), in order."""
    toc = yaml.safe_load((Path(book_root) / "_toc.yml").read_text())
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


__all__ = ["assemble", "build", "find_book_root", "prepare", "html_index", "toc_files", "generated_data", "GENERATED",
           "GENERATED_NOTE", "PAGES", "BOOK_DIR"]
