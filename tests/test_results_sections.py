"""The results chapter's issue-13 sections on hand-made tidy tables: accuracy per frequency band
with seeds, the Boundary convergence step and its statement, AutoAttack's per-component table,
the alpha / Th selection grid; and "not in this profile" for a table without such rows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pixsim import figures, tables  # noqa: E402
from pixsim.robustness.corruptions import BAND_OF  # noqa: E402
from pixsim.selection import parse_selection  # noqa: E402

RUNS = [("baseline", 0), ("baseline", 1), ("regularized", 0), ("regularized", 1)]


def _info(cond, seed):
    return {"run_name": f"e-{cond}-s{seed}", "experiment": "e", "condition": cond, "group": "main", "seed": seed,
            "alpha": 0.0 if cond == "baseline" else 10.0, "threshold": 0.8}


def _corruption_rows():
    rows = []
    for cond, seed in RUNS:
        for name, band in BAND_OF.items():
            for sev in (1, 3, 5):
                # baseline loses 0.1 per severity step, regularized 0.05; seed shifts by 0.01
                drop = (0.1 if cond == "baseline" else 0.05) * (sev - 1) / 2
                acc = {"low": 0.8, "medium": 0.7, "high": 0.6}[band] - drop + 0.01 * seed
                rows.append(_info(cond, seed) | {"kind": "corruption", "attack": "corruption", "corruption": name,
                                                 "band": band, "severity": sev, "accuracy": acc,
                                                 "clean_accuracy": 0.9 + 0.01 * seed})
    return rows


def _curve_rows():
    rows = []
    medians = {"baseline": [10, 9, 6, 4, 3.9, 3.89], "regularized": [20, 19.9, 19.8, 12, 8, 7.9]}
    for cond, seed in RUNS:
        for steps, m in zip((25, 50, 100, 200, 400, 800), medians[cond]):
            rows.append(_info(cond, seed) | {"kind": "boundary_curve", "attack": "boundary", "steps": steps,
                                             "median_mse": m * 1e-3 * (1 + 0.001 * seed)})
        rows.append(_info(cond, seed) | {"kind": "minimal", "attack": "ddn", "steps": 100,
                                         "median_mse": medians[cond][-1] * 0.5e-3})
    return rows


def _component_rows():
    rows = []
    for cond, seed in RUNS:
        for i, comp in enumerate(("apgd-ce", "apgd-t", "fab-t", "square")):
            rows.append(_info(cond, seed) | {"kind": "component", "attack": "autoattack", "norm": "Linf",
                                             "epsilon": 0.1, "component": comp, "accuracy": 0.5 - 0.1 * i})
    return rows


@pytest.fixture(scope="module")
def table():
    return pd.DataFrame(_corruption_rows() + _curve_rows() + _component_rows())


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_band_rows_table_and_figure(table):
    bands = tables.band_rows(table)
    base0 = bands[(bands["run_name"] == "e-baseline-s0")]
    assert base0.set_index(["band", "severity"]).loc[("high", 5), "accuracy"] == pytest.approx(0.6 - 0.2)
    assert base0.set_index(["band", "severity"]).loc[("clean", 0), "accuracy"] == pytest.approx(0.9)
    wide = tables.band_table(bands)
    assert list(wide["frequency band"]) == ["clean", "low", "medium", "high"]
    assert list(wide.columns[2:]) == ["baseline", "regularized"]
    # low band, baseline: mean over severities 1, 3, 5 of 0.8 - {0, 0.1, 0.2}, seeds +0 / +0.01
    low = wide.set_index("frequency band").loc["low"]
    assert low["baseline"].startswith("0.705 +- 0.007") and low["baseline"].endswith("(n=2)")
    assert low["regularized"].startswith("0.755")
    fig = figures.band_accuracy(bands)
    assert [ax.get_title() for ax in fig.axes] == ["low frequency", "medium frequency", "high frequency"]


def test_convergence_step_is_computed_and_stated(table):
    minimal = tables.minimal_rows(table)
    assert set(minimal["method"]) == {"boundary", "ddn"}
    conv = tables.convergence_table(minimal).set_index("condition")
    # baseline: changes 10%, 33%, 33%, 2.5%, 0.26% -> converged from 200 steps; regularized: 400
    assert conv.loc["baseline", "converged_from"] == 200 and conv.loc["regularized", "converged_from"] == 400
    assert conv.loc["baseline", "last_over_50"] == pytest.approx(3.89 / 9)
    assert conv.loc["baseline", "ddn_over_last"] == pytest.approx(0.5, rel=1e-2)
    text = tables.convergence_statement(minimal)
    assert "**baseline**" in text and "from **200 steps** on" in text and "from **400 steps** on" in text
    unconverged = minimal[~((minimal["method"] == "boundary") & (minimal["steps"] > 200))]
    assert "does **not** stop changing" in tables.convergence_statement(unconverged)
    fig = figures.boundary_convergence(minimal)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_xlabel() == "Boundary attack steps"


def test_autoattack_components_in_order_with_seeds(table):
    comp = tables.autoattack_components(table)
    base = comp[comp["condition"] == "baseline"]
    assert list(base["component"]) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert list(comp["condition"].drop_duplicates()) == ["baseline", "regularized"]
    assert base["robust accuracy"].iloc[-1] == "0.200 +- 0.000 (n=2)"


def _selection_table():
    rows = []
    cfg = {(0.0, None): (0.90, 0.20, 0.30), (10.0, 0.8): (0.85, 0.40, 0.50), (20.0, 0.8): (0.70, 0.6, 0.7),
           (4.0, 0.2): (0.89, 0.21, 0.29)}
    for (alpha, th), (clean, g, t) in cfg.items():
        for seed in (0, 1):
            info = {"run_name": f"e-a{alpha}-t{th}-s{seed}", "experiment": "e", "condition": f"a{alpha}_{th}",
                    "seed": seed, "alpha": alpha, "threshold": th, "kind": "attack", "norm": "none"}
            rows += [info | {"attack": "clean", "epsilon": 0.0, "accuracy": clean},
                     info | {"attack": "gaussian", "epsilon": 0.3, "accuracy": g},
                     info | {"attack": "transfer_fgsm", "epsilon": 0.1, "accuracy": t}]
    return pd.DataFrame(rows)


def test_selection_grid_marks_the_selected_point():
    spec = parse_selection({"robust": [{"attack": "gaussian", "epsilon": 0.3},
                                       {"attack": "transfer_fgsm", "epsilon": 0.1}]})
    summary = tables.selection_summary(_selection_table(), spec)
    assert len(summary) == 3 and summary["selected"].sum() == 1
    assert summary.loc[summary["selected"], ["alpha", "threshold"]].values.tolist() == [[10.0, 0.8]]
    text = tables.selection_statement(summary, spec)
    assert "selected alpha = 10, Th = 0.8" in text and "gaussian at 0.3" in text
    fig = figures.selection_grid(summary, spec)
    ringed = [c for c in fig.axes[0].collections if len(c.get_offsets()) == 1
              and np.allclose(c.get_edgecolor()[0][:3], 0) and c.get_label() == "selected"]
    assert len(ringed) == 1
    assert np.allclose(ringed[0].get_offsets()[0], [0.85 / 0.90, (0.40 / 0.20 + 0.50 / 0.30) / 2])
    assert "selected alpha 10, Th 0.8" in fig.axes[0].get_title()


def test_sections_say_not_in_this_profile():
    empty = pd.DataFrame([{"kind": "attack", "attack": "clean", "epsilon": 0.0, "accuracy": 0.9, "run_name": "r"}])
    bands = tables.band_rows(empty)
    assert bands.empty and "not in this profile" in tables.band_table(bands)["note"].iloc[0]
    assert "not in this profile" in tables.convergence_statement(tables.minimal_rows(empty))
    assert "not in this profile" in tables.autoattack_components(empty)["note"].iloc[0]
    assert "not in this profile" in tables.selection_statement(tables.selection_summary(empty, None), None)
    for fig in (figures.band_accuracy(bands), figures.boundary_convergence(tables.minimal_rows(empty)),
                figures.selection_grid(pd.DataFrame(), None)):
        assert "not in this profile" in fig.axes[0].texts[0].get_text()
