"""Minimal perturbations that converge (issue 13): the Boundary curve from one recorded run equals
separate runs, its points are the Boundary family's metric, DDN and a converged Boundary attack
reach a known minimum, and the convergence step is found by the stated rule."""

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


def test_ddn_and_converged_boundary_reach_the_known_minimum():
    """Ground truth: DDN (100 steps) and the Boundary attack at convergence reach the analytic
    minimum; 50 steps (the paper's budget) are far from it; the rule finds the convergence step."""
    model, x, exact = _linear_two_class()
    delta, ok = ddn_distances(model, x, 100)
    assert ok.all()
    assert float(np.median((delta.flatten(1) ** 2).mean(1).numpy())) == pytest.approx(exact, rel=0.02)
    steps = (50, 400, 1600, 3200, 6400)
    mse, ok = boundary_distances(model, x, steps, seed=0)
    curve = pd.DataFrame(curve_rows(mse, ok, steps, x[0].numel()))
    assert (curve["n_success"] == 16).all()
    m = curve["median_mse"].to_numpy()
    assert m[0] > 10 * exact and m[-1] == pytest.approx(exact, rel=0.1)
    assert convergence_step(curve) == 3200


def test_convergence_step_by_hand():
    def curve(m):
        return pd.DataFrame({"steps": [25, 50, 100, 200, 400][:len(m)], "median_mse": m})
    assert convergence_step(curve([10, 5, 4.9, 4.85, 4.84])) == 50
    assert convergence_step(curve([10, 9.9, 5, 4.9, 4.88])) == 100  # an early plateau does not count
    assert convergence_step(curve([10, 9, 8, 7, 6])) is None
    assert convergence_step(curve([10, 9.6, 9.3, 9.1, 9.0])) == 25
    assert convergence_step(curve([10])) is None
    assert convergence_step(curve([10, 9.6]), tol=0.01) is None
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
