"""Minimal perturbations that converge (issue 13): the Boundary curve from one recorded run equals
separate runs, its points are the Boundary family's metric, DDN reaches a known minimum and the
Boundary attack approaches it as steps grow, and the convergence step is found by the stated rule
(on curves with a known answer)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pixsim.robustness.boundary import BoundarySpec
from pixsim.robustness.boundary_curve import BoundaryCurveSpec, boundary_distances, convergence_step, curve_rows
from pixsim.robustness.ddn import DDNSpec, ddn_distances
from pixsim.robustness.suite import evaluate, suite_from_data
from robust_helpers import heldout_set, one_torch_thread, trained_tiny_cnn  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def model():
    return trained_tiny_cnn(0)


def test_curve_points_equal_separate_runs(model):
    x, _ = heldout_set(10)
    mse, ok = boundary_distances(model, x, (10, 40, 70), seed=2)
    for k, steps in enumerate((10, 40)):
        alone, ok_alone = boundary_distances(model, x, (steps,), seed=2)
        assert torch.equal(ok, ok_alone)
        assert torch.equal(mse[k, ok], alone[0, ok]), steps
    assert (mse[1:, ok] <= mse[:-1, ok]).all() and (mse[-1, ok] < mse[0, ok]).any()
    assert ok.sum() >= 8


def test_curve_rows_are_the_boundary_metric_on_the_same_images(model):
    """Same n_images and seed: the curve's point at 30 steps is the BoundarySpec(steps=30) row;
    DDN runs on the same images; the caller's RNG is restored."""
    x, y = heldout_set(40)
    suite = suite_from_data([{"family": "boundary", "n_images": 12, "repeats": 1, "steps": 30},
                             {"family": "boundary_curve", "n_images": 12, "steps": [10, 30]},
                             {"family": "ddn", "n_images": 12, "steps": 40}])
    state = torch.random.get_rng_state()
    t = evaluate(model, x, y, suite, device="cpu", progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    b, c, d = (t[t["kind"] == k] for k in ("boundary", "boundary_curve", "minimal"))
    assert list(c["steps"]) == [10, 30] and (c["attack"] == "boundary").all()
    assert c["median_mse"].iloc[1] == pytest.approx(b["median_mse"].iloc[0], rel=1e-6)
    assert c["median_mse"].iloc[1] <= c["median_mse"].iloc[0]
    assert c["n_success"].iloc[0] == b["n_success"].iloc[0]
    assert d["attack"].iloc[0] == "ddn" and d["steps"].iloc[0] == 40 and d["n_images"].iloc[0] == 12
    assert d["clean_accuracy"].iloc[0] == b["clean_accuracy"].iloc[0]  # the same 12 images
    # DDN follows the gradient: on this model it ends well below 30 Boundary steps
    assert d["median_mse"].iloc[0] < c["median_mse"].iloc[1]


def test_ddn_flips_labels_and_reports_its_perturbations(model):
    x, _ = heldout_set(12)
    pred = model(x).argmax(1)
    delta, ok = ddn_distances(model, x, 30)
    assert ok.sum() >= 10
    adv = x + delta
    assert adv.min() >= -1e-6 and adv.max() <= 1 + 1e-6
    with torch.no_grad():
        assert (model(adv[ok]).argmax(1) != pred[ok]).all()
    assert (delta[~ok] == 0).all()


def _linear_two_class(side=6, n=16):
    """A 2-class linear model with the decision boundary through 0.5 and images in [0.35, 0.65]:
    the minimal L2 perturbation is |z_0 - z_1| / ||w_0 - w_1|| (inside the box)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 2)).eval()
    with torch.no_grad():
        model[1].bias.copy_(-model[1].weight.sum(1) * 0.5)
        x = 0.35 + 0.3 * torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(1))
        z, w = model(x), model[1].weight
        dist = (z[:, 0] - z[:, 1]).abs() / (w[0] - w[1]).norm()
    return model, x, float(np.median((dist ** 2 / x[0].numel()).numpy()))


def test_ddn_and_boundary_approach_the_known_minimum():
    """Ground truth: DDN (100 steps) reaches the analytic minimum; the Boundary attack's median
    approaches it as steps grow (50 steps, the paper's budget, are far from it; 6400 are on it).

    Margins, measured on this problem with 13 attack seeds (0-12): the Boundary attack is a random
    walk whose path moves with the processor's rounding, so other seeds stand in for other
    machines (a fresh machine got 1.058 x exact at 3200 steps with seed 0, this one 1.052).
    median / exact at 50, 400, 1600, 3200, 6400 steps: 15.3-107, 8.3-18.2, 1.98-3.69,
    1.015-1.112, 1.0002-1.0004; relative change 1600 -> 3200: 0.47-0.71, 3200 -> 6400:
    0.014-0.100. So the 5% rule gives 3200 on 6 seeds and None on 7 (the old test asserted 3200);
    a 20% rule gives 3200 on all, with a factor 2 on either side. DDN draws nothing: 1.0018 x exact.
    """
    model, x, exact = _linear_two_class()
    delta, ok = ddn_distances(model, x, 100)
    assert ok.all()
    assert float(np.median((delta.flatten(1) ** 2).mean(1).numpy())) == pytest.approx(exact, rel=0.02)
    steps = (50, 400, 1600, 3200, 6400)
    mse, ok = boundary_distances(model, x, steps, seed=0)
    curve = pd.DataFrame(curve_rows(mse, ok, steps, x[0].numel()))
    assert (curve["n_success"] == 16).all()  # it starts from adversarial points and keeps them
    ratio = curve["median_mse"].to_numpy() / exact
    assert (np.diff(ratio) <= 0).all(), ratio  # the best adversarial so far is kept: non-increasing
    assert ratio[0] > 5, ratio  # 50 steps: far from the minimum (measured >= 15.3)
    assert ratio[2] > 1.3, ratio  # 1600 steps: still clearly above it (measured >= 1.98)
    assert ratio[-1] == pytest.approx(1, abs=0.01), ratio  # 6400 steps: on it (measured <= 1.0004)
    assert convergence_step(curve, tol=0.2) == 3200


def _power_law_curve(a: float, steps=(25, 50, 100, 200, 400, 800, 1600, 3200)) -> pd.DataFrame:
    """median(s) = 1e-4 * (1 + a / s) on a doubling grid of steps: the relative change from s to
    2s is a / (2 (s + a)), which falls below tol exactly when s > a (1 / (2 tol) - 1)."""
    s = np.array(steps, dtype=float)
    return pd.DataFrame({"steps": list(steps), "median_mse": 1e-4 * (1 + a / s)})


@pytest.mark.parametrize("a, tol, expected", [(100, 0.05, 1600), (10, 0.05, 100), (1, 0.05, 25),
                                              (1000, 0.05, None), (100, 0.2, 200), (40, 0.1, 200)])
def test_convergence_step_on_a_curve_with_a_known_answer(a, tol, expected):
    """``expected``: the first grid point s > a (1 / (2 tol) - 1) that is not the last (the last
    has no change of its own); None where there is none (1000: bound 9000, past the grid)."""
    curve = _power_law_curve(a)
    bound = a * (1 / (2 * tol) - 1)
    assert expected == next((s for s in curve["steps"][:-1] if s > bound), None)  # the table is the formula
    assert convergence_step(curve, tol=tol) == expected, (a, tol, bound)
    # the same curve in another row order, under other column names
    renamed = curve.rename(columns={"steps": "n", "median_mse": "m"}).iloc[::-1]
    assert convergence_step(renamed, tol=tol, x="n", y="m") == expected


def test_convergence_step_by_hand():
    def curve(m):
        return pd.DataFrame({"steps": [25, 50, 100, 200, 400][:len(m)], "median_mse": m})
    assert convergence_step(curve([10, 5, 4.9, 4.85, 4.84])) == 50
    assert convergence_step(curve([10, 9.9, 5, 4.9, 4.88])) == 100  # an early plateau does not count
    assert convergence_step(curve([10, 9, 8, 7, 6])) is None
    assert convergence_step(curve([10, 9.6, 9.3, 9.1, 9.0])) == 25
    assert convergence_step(curve([10])) is None
    assert convergence_step(curve([10, 9.6]), tol=0.01) is None
    assert convergence_step(curve([10, 10, 10])) == 25  # flat from the start: the first point
    assert convergence_step(curve([8, 6, 6]), tol=0.25) == 50  # a change of exactly tol still counts
    assert convergence_step(curve([10, 5, 5, 5, 4.5])) is None  # a late jump undoes an earlier plateau
    assert convergence_step(curve([10, float("nan"), 5])) is None  # a missing median: no answer
    assert convergence_step(curve([10, 0.0, 0.0])) is None  # no successful perturbation is not convergence
    with pytest.raises(ValueError, match="tol must be in"):
        convergence_step(curve([1, 1]), tol=5)
    with pytest.raises(ValueError, match="lacks columns"):
        convergence_step(pd.DataFrame({"steps": [1]}))


@pytest.mark.parametrize("kwargs, match", [({"steps": [50, 25]}, "strictly increasing"), ({"steps": [0]}, "positive"),
                                           ({"n_images": 0}, "n_images")])
def test_spec_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BoundaryCurveSpec(**kwargs)
    assert DDNSpec().steps == 100 and BoundarySpec().steps == 50
