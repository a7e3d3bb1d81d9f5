"""End to end: `pixsim reproduce --profile smoke` trains, evaluates, gathers, and builds the
book; the built HTML has the results figures (every referenced image file exists) and a runs
table with a row for every run of the profile. Slow (a few minutes on 2 cores): CI runs it.

The book sources are copied to a temporary root (which must stay untouched: the book is built in
the output folder's own ``book/``); PYTHONPATH points the notebook kernels at this checkout's pixsim.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pixsim.profiles import StepKind, expand_grid, load_profile

REPO = Path(__file__).resolve().parents[1]


class _Collector(HTMLParser):
    """Image sources and table rows (text of each <tr>) of one HTML page."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.rows: list[str] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(" ".join(self._row))
            self._row = None

    def handle_data(self, data):
        if self._row is not None:
            self._row.append(data.strip())


def _parse(page: Path) -> _Collector:
    c = _Collector()
    c.feed(page.read_text(encoding="utf-8"))
    return c


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("bookroot")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("generated", "_build"))
    out = root / "results" / "smoke"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    proc = subprocess.run(
        [sys.executable, "-m", "pixsim.reproduce", "--profile", "smoke", "--out", str(out),
         "--book-root", str(root)],
        cwd=root, env=env, capture_output=True, text=True, timeout=1200,
    )
    return root, out, proc


@pytest.mark.slow
def test_smoke_reproduce_succeeds(smoke_book):
    root, out, proc = smoke_book
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "0 failed, 0 blocked" in proc.stdout
    assert (out / "book" / "_build" / "html" / "index.html").exists()
    assert f"book: {out / 'book' / '_build' / 'html' / 'index.html'}" in proc.stdout
    assert not (root / "_build").exists() and not (root / "book" / "generated").exists()
    for run in ("main-baseline-s0", "main-regularized-s1", "main-source"):
        assert (out / "runs" / run / "train.ipynb").exists()
        assert (out / "runs" / run / "best.pt").exists()
    assert (out / "runs" / "main-regularized-s1" / "robustness.csv").stat().st_size > 0


@pytest.mark.slow
def test_built_results_page_has_figures_and_a_row_per_run(smoke_book):
    root, out, proc = smoke_book
    html = out / "book" / "_build" / "html"
    page = html / "book" / "generated" / "results.html"
    assert page.exists(), sorted(p.name for p in html.rglob("*.html"))
    parsed = _parse(page)
    assert len(parsed.images) >= 5, parsed.images  # accuracy, cost, boundary, spectra, weights
    for src in parsed.images:
        assert not src.startswith(("http:", "https:")), src
        target = (page.parent / src.split("#")[0]).resolve()
        assert target.exists() and target.stat().st_size > 0, src
    runs = [s.run for s in expand_grid(load_profile("smoke")) if s.kind is StepKind.TRAIN]
    for run in runs:
        assert any(re.search(rf"\b{re.escape(run)}\b", row) for row in parsed.rows), run
    text = page.read_text(encoding="utf-8")
    assert "smoke" in text and "profile" in text  # the chapter states its profile
    assert "No direct comparison applies" in text


@pytest.mark.slow
def test_every_page_builds_without_broken_references(smoke_book):
    root, out, proc = smoke_book
    html = out / "book" / "_build" / "html"
    for page in ("index", "book/method", "book/experiments", "book/robustness_checks", "book/rerun",
                 "book/generated/similarity", "book/generated/run_record",
                 "book/generated/train_example", "book/generated/robustness_example"):
        assert (html / f"{page}.html").exists(), page
    for page in html.rglob("*.html"):
        for src in _parse(page).images:
            if not src.startswith(("http:", "https:", "data:")):
                assert (page.parent / src.split("#")[0]).resolve().exists(), (page, src)
    log = (out / "book_build.log").read_text()
    bad = [ln for ln in log.splitlines()
           if re.search(r"WARNING|ERROR", ln) and re.search(
               r"reference|not found|toctree|image|citation|undefined|unknown document", ln)]
    assert not bad, bad


def _resolve(dotted: str):
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_pixsim_name_the_book_cites_exists():
    """The method chapter names the functions that implement each formula: they must exist."""
    names = set()
    for page in (REPO / "book").glob("*.md"):
        names |= set(re.findall(r"`(pixsim(?:\.\w+)+)(?:\(\))?`", page.read_text()))
    assert len(names) > 20
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, missing
