"""Boundary attack (foolbox): perturbations are adversarial, metrics match a direct computation,
starting points exist even when uniform noise never fools the model."""

import numpy as np
import pytest
import torch
from torch import nn

from pixsim.robustness.boundary import boundary_attack, boundary_metrics
from pixsim.robustness.boundary import BoundarySpec
from pixsim.robustness.spectra import SpectrumSpec
from pixsim.robustness.suite import evaluate
from robust_helpers import heldout_set, trained_tiny_cnn, one_torch_thread  # noqa: F401 (autouse fixture)


class MeanIntensity(nn.Module):
    """Three classes by mean intensity (centres 0.3, 0.5, 0.7): uniform noise (mean ~0.5) is
    always class 1, so noise never fools it on class-1 images."""

    def __init__(self):
        super().__init__()
        self.centres = nn.Parameter(torch.tensor([0.3, 0.5, 0.7]), requires_grad=False)

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return -1000 * (m - self.centres) ** 2


def test_boundary_perturbations_are_adversarial_and_metrics_match():
    model = trained_tiny_cnn(0)
    x, _ = heldout_set(12)
    res = boundary_attack(model, x, steps=25, seed=0)
    assert res.success.all()
    with torch.no_grad():
        labels = model(x).argmax(1)
        adv_pred = model(x + res.perturbations).argmax(1)
    assert torch.equal(res.labels, labels)
    assert (adv_pred != labels).all()                           # the label changes
    assert ((x + res.perturbations).min() >= 0) and ((x + res.perturbations).max() <= 1 + 1e-6)
    d = res.perturbations.numpy().reshape(12, -1).astype(np.float64)
    m = boundary_metrics(res.perturbations, res.success)
    assert m["median_mse"] == pytest.approx(np.median((d ** 2).sum(1) / d.shape[1]))
    assert m["median_l2"] == pytest.approx(np.median(np.sqrt((d ** 2).sum(1))))
    assert m["median_linf"] == pytest.approx(np.median(np.abs(d).max(1)))
    assert m["success_rate"] == 1.0 and m["n_success"] == 12
    # more steps never grow an image's perturbation (a run of k steps is the first k steps of a
    # longer one with the same seed, and the attack keeps its best adversarial) and shrink some.
    # Not the median: on this model it often stays put past the first steps. Measured on 8
    # trained models and image sets (seeds shifted; a stand-in for another machine's rounding):
    # images improved from 25 to 100 steps 1-8 of 12 (the old median test failed on 3 of 4 draws),
    # from 1 to 100 steps 7-12; d(100) - d(25) never above 0.
    def sizes(result):
        return result.perturbations.flatten(1).norm(dim=1)

    first, longer = boundary_attack(model, x, steps=1, seed=0), boundary_attack(model, x, steps=100, seed=0)
    assert first.success.all() and longer.success.all()
    d1, d25, d100 = sizes(first), sizes(res), sizes(longer)
    assert (d100 <= d25).all() and (d25 <= d1).all(), (d1, d25, d100)
    assert int((d100 < d1).sum()) >= 3, (d1, d100)


def test_metrics_use_only_successful_images():
    deltas = torch.zeros(4, 1, 2, 2)
    deltas[0] = 0.1
    deltas[1] = 0.3
    deltas[2] = 5.0  # unsuccessful: ignored
    m = boundary_metrics(deltas, torch.tensor([True, True, False, True]))
    assert m["median_mse"] == pytest.approx(0.01)          # median of {0.01, 0.09, 0}
    assert m["median_linf"] == pytest.approx(0.1)
    assert m["n_success"] == 3 and m["success_rate"] == 0.75
    none = boundary_metrics(deltas, torch.zeros(4, dtype=torch.bool))
    assert np.isnan(none["median_mse"]) and none["success_rate"] == 0


def test_starting_points_fall_back_to_other_class_images():
    model = MeanIntensity()
    x = torch.cat([torch.full((3, 1, 8, 8), v) for v in (0.3, 0.5, 0.7)])
    x = (x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    res = boundary_attack(model, x, steps=10, seed=0)
    assert res.labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert res.success.all()  # including the class-1 images, which noise cannot fool
    with torch.no_grad():
        assert (model(x + res.perturbations).argmax(1) != res.labels).all()


def test_boundary_rows_and_spectra_in_the_table():
    model = trained_tiny_cnn(0)
    x, y = heldout_set(40)
    table = evaluate(model, x, y, [BoundarySpec(n_images=6, repeats=2, steps=10), SpectrumSpec()],
                     device="cpu", progress=False, model_info={"dataset": "synthetic"})
    b = table[table["kind"] == "boundary"]
    assert b["repeat"].tolist() == [0, 1] and (b["n_images"] == 6).all()
    assert (b["success_rate"] == 1).all() and (b["median_mse"] > 0).all()
    assert b["attack_seed"].nunique() == 2              # each repeat its own draw
    s = table[table["kind"] == "spectrum"]
    assert set(s["repeat"]) == {0, 1} and (s["power"] > 0).all()
    assert s.groupby("repeat")["frequency"].apply(lambda f: list(f) == sorted(f)).all()
    assert (table["dataset"] == "synthetic").all()
