"""Read a built book as a reader offline would: every page opened in headless Chromium (Debian's
``chromium`` driven through ``chromium-driver`` by Selenium) with every host name unresolvable, and
checked from the rendered DOM (:func:`check_page`):

- math rendered: no raw ``\\(`` or ``\\[`` left in the page's text (code blocks aside), no MathJax
  error box;
- every ``<img>`` loaded, with a non-zero natural size;
- no ``Traceback`` and no ``Warning`` in the text of notebook outputs;
- no table wider than the page's text column or the window (1400 pixels wide), and no horizontal
  overflow of the page itself (a table folded in a closed dropdown is not rendered, so not measured).

A full-page screenshot of each page goes to ``<book>/_build/screenshots/`` (:func:`check_book`) so
that a person can look. Used by ``tests/test_browser.py``; also runnable by hand::

    python tests/browser_check.py results/quick/book/_build/html
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

WINDOW = (1400, 1000)
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "screenshots"}


def missing_tools() -> str | None:
    """Why the browser check cannot run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if chromium_binary() is None:
        return "chromium is not installed (apt-get install chromium chromium-driver; .ci/run does it)"
    if shutil.which("chromedriver") is None:
        return "chromedriver is not installed (apt-get install chromium-driver; .ci/run does it)"
    return None


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def open_browser(width: int = WINDOW[0], height: int = WINDOW[1]):
    """A headless Chromium with no network: every host name fails to resolve, so a page that
    needs a CDN shows what a reader offline sees."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium_binary()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--allow-file-access-from-files"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


# runs in the page: waits for MathJax (when the page loads it), then measures
_MEASURE = r"""
const done = arguments[arguments.length - 1];
function measure() {
  const out = {raw_math: [], math_errors: 0, images: [], output_noise: [], wide_tables: [], page_overflow: 0};
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "KBD"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(node) {
    for (let el = node.parentElement; el; el = el.parentElement) {
      if (skip.has(el.tagName) || (el.classList && el.classList.contains("highlight"))) return NodeFilter.FILTER_REJECT;
    }
    return NodeFilter.FILTER_ACCEPT;
  }});
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.nodeValue;
    const i = t.search(/\\[(\[]/);
    if (i >= 0) out.raw_math.push(t.slice(Math.max(0, i - 20), i + 40));
  }
  out.math_errors = document.querySelectorAll("mjx-merror, .MathJax_Error, .katex-error").length;
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0) out.images.push(img.getAttribute("src"));
  }
  for (const el of document.querySelectorAll(".cell_output, .output")) {
    const t = el.innerText || "";
    const m = t.match(/Traceback|Warning\b/);
    if (m) out.output_noise.push(t.slice(Math.max(0, m.index - 40), m.index + 80));
  }
  const column = document.querySelector("article.bd-article, main, body");
  const right = Math.min(window.innerWidth, column ? column.getBoundingClientRect().right : window.innerWidth);
  for (const table of document.querySelectorAll("table")) {
    // not rendered (in a closed dropdown, hidden): not what a reader sees
    if (!table.getClientRects().length || table.closest("details:not([open])")) continue;
    if (table.checkVisibility && !table.checkVisibility()) continue;
    const r = table.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > right + 2) {
      const head = (table.innerText || "").split("\n")[0].slice(0, 80);
      out.wide_tables.push(`${Math.round(r.width)} px wide, right edge ${Math.round(r.right)} > ${Math.round(right)}: ${head}`);
    }
  }
  out.page_overflow = Math.max(0, document.documentElement.scrollWidth - window.innerWidth);
  done(out);
}
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(measure, measure);
} else if (window.MathJax && MathJax.Hub && MathJax.Hub.Queue) {
  MathJax.Hub.Queue(measure);
} else {
  measure();
}
"""


@dataclass
class PageReport:
    """What :func:`check_page` found on one page (``problems`` empty: the page passes)."""

    page: str
    problems: list[str] = field(default_factory=list)
    screenshot: str = ""


def check_page(driver, path: str | Path, screenshot: str | Path | None = None) -> PageReport:
    """Open one HTML file and check it (see the module docstring); save a full-page screenshot."""
    path = Path(path).resolve()
    driver.set_window_size(*WINDOW)
    driver.get(path.as_uri())
    found = driver.execute_async_script(_MEASURE)
    report = PageReport(str(path))
    if found["raw_math"]:
        report.problems.append(f"raw LaTeX (math not rendered): {found['raw_math'][:3]}")
    if found["math_errors"]:
        report.problems.append(f"{found['math_errors']} MathJax error box(es)")
    for src in found["images"]:
        report.problems.append(f"image not loaded: {src}")
    for text in found["output_noise"][:5]:
        report.problems.append(f"traceback or warning in an output: {' '.join(text.split())}")
    for text in found["wide_tables"]:
        report.problems.append(f"table wider than the page: {text}")
    if found["page_overflow"] > 2:
        report.problems.append(f"the page overflows the {WINDOW[0]}-px window by {found['page_overflow']} px")
    if screenshot is not None:
        height = driver.execute_script("return Math.max(document.body.scrollHeight, "
                                       "document.documentElement.scrollHeight)")
        driver.set_window_size(WINDOW[0], max(WINDOW[1], min(int(height) + 100, 20000)))
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        driver.set_window_size(*WINDOW)
        report.screenshot = str(screenshot)
    return report


def book_pages(html_dir: str | Path) -> list[Path]:
    """Every HTML page of a built book (Sphinx's asset folders and pages that only redirect, such as
    Jupyter Book's ``index.html``, left out: the page they redirect to is checked)."""
    html_dir = Path(html_dir)
    return sorted(p for p in html_dir.rglob("*.html")
                  if not SKIP_DIRS & set(p.relative_to(html_dir).parts[:-1])
                  and 'http-equiv="Refresh"' not in p.read_text(encoding="utf-8", errors="replace")[:500])


def check_book(html_dir: str | Path, screenshots: str | Path | None = None, driver=None) -> list[PageReport]:
    """:func:`check_page` on every page of the book built in ``html_dir``
    (``<book>/_build/html``); screenshots to ``screenshots`` (default ``<book>/_build/screenshots``),
    named after the page's path (``book_generated_results.png``)."""
    html_dir = Path(html_dir).resolve()
    shots = Path(screenshots) if screenshots else html_dir.parent / "screenshots"
    own = driver is None
    driver = driver or open_browser()
    try:
        reports = []
        for page in book_pages(html_dir):
            name = "_".join(page.relative_to(html_dir).with_suffix("").parts) + ".png"
            reports.append(check_page(driver, page, shots / name))
        return reports
    finally:
        if own:
            driver.quit()


if __name__ == "__main__":  # pragma: no cover - by hand
    why = missing_tools()
    if why:
        sys.exit(f"cannot check: {why}")
    bad = 0
    for rep in check_book(sys.argv[1]):
        print(("FAIL " if rep.problems else "ok   ") + rep.page + (f" -> {rep.screenshot}" if rep.screenshot else ""))
        for p in rep.problems:
            print("     " + p)
        bad += bool(rep.problems)
    sys.exit(1 if bad else 0)
