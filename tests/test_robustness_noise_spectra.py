"""Noise rule of book/paper.md, section 'Evaluation protocol' (per-image clamp) on hand-made images; radial spectra on
sinusoids and against Parseval."""

import math

import pytest
import torch

from pixsim.robustness.noise import add_noise, clamp_per_image
from pixsim.robustness.spectra import radial_bins, radial_power_spectrum
from robust_helpers import one_torch_thread  # noqa: F401 (autouse fixture)


def _two_images():
    a = torch.tensor([[0.2, 0.4], [0.6, 0.8]])  # range [0.2, 0.8]
    b = torch.tensor([[0.0, 0.5], [0.5, 0.5]])  # range [0.0, 0.5]
    return torch.stack([a, b]).unsqueeze(1)


def test_clamp_per_image_on_a_hand_made_example():
    clean = _two_images()
    noisy = torch.tensor([[[0.1, 0.5], [0.9, 0.7]], [[-0.3, 0.7], [0.2, 1.2]]]).unsqueeze(1)
    want = torch.tensor([[[0.2, 0.5], [0.8, 0.7]], [[0.0, 0.5], [0.2, 0.5]]]).unsqueeze(1)
    assert torch.allclose(clamp_per_image(noisy, clean), want)
    # not the global [0, 1] clamp and not one range for the whole batch
    assert not torch.allclose(noisy.clamp(0, 1), want)


def test_salt_and_pepper_sets_hit_pixels_to_the_image_min_or_max():
    clean = _two_images().repeat(500, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    out = add_noise(clean, "salt_and_pepper", 1.0, g)
    lo = clean.flatten(1).amin(1).view(-1, 1, 1, 1)
    hi = clean.flatten(1).amax(1).view(-1, 1, 1, 1)
    assert ((out == lo) | (out == hi)).all()
    # a +1 on a pixel already at the max, or -1 at the min, leaves it there; others flip to an end
    frac_hi = (out == hi).float().mean().item()
    assert 0.45 < frac_hi < 0.8
    out = add_noise(clean, "salt_and_pepper", 0.3, g)
    changed = (out != clean).float().mean().item()
    # a hit pixel stays put only when its sign points at the bound it already sits on: for the
    # 8 pixels of the two images, 6 sit on a bound (0.2, 0.8 | 0, 0.5, 0.5, 0.5)
    # -> P(change | hit) = (2 + 6 * 0.5) / 8
    assert changed == pytest.approx(0.3 * 5 / 8, abs=0.015)
    assert torch.equal(add_noise(clean, "salt_and_pepper", 0.0, g), clean)


def test_gaussian_and_uniform_noise_statistics_and_epsilon_zero():
    # an image with range [0, 1] (two pixels pinned) and the rest at 0.5: the clamp rarely bites
    x = torch.full((64, 1, 16, 16), 0.5)
    x[:, :, 0, 0], x[:, :, 0, 1] = 0.0, 1.0
    g = torch.Generator().manual_seed(1)
    for attack, eps, std in [("gaussian", 0.05, 0.05), ("uniform", 0.1, 0.1 / math.sqrt(3))]:
        d = (add_noise(x, attack, eps, g) - x)[:, :, 1:, :]
        assert d.std().item() == pytest.approx(std, rel=0.05)
        assert abs(d.mean().item()) < 0.003
        assert torch.equal(add_noise(x, attack, 0.0, g), x)
    assert (add_noise(x, "uniform", 0.1, g) - x).abs().max() <= 0.1 + 1e-7
    with pytest.raises(ValueError, match="not a noise attack"):
        add_noise(x, "pgd", 0.1)
    with pytest.raises(ValueError, match="unknown AttackName"):
        add_noise(x, "speckle", 0.1)


def test_noise_is_reproducible_from_the_generator():
    x = _two_images()
    a = add_noise(x, "gaussian", 0.2, torch.Generator().manual_seed(5))
    b = add_noise(x, "gaussian", 0.2, torch.Generator().manual_seed(5))
    c = add_noise(x, "gaussian", 0.2, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("ky, kx, expected_bin", [(0, 5, 5), (3, 4, 5), (2, 0, 2), (6, 8, 10)])
def test_sinusoid_power_lands_in_its_radial_bin(ky, kx, expected_bin):
    n = 32
    yy, xx = torch.meshgrid(torch.arange(n).double(), torch.arange(n).double(), indexing="ij")
    phases = torch.rand(5, dtype=torch.float64) * 2 * math.pi
    delta = torch.stack([0.01 * torch.cos(2 * math.pi * (ky * yy + kx * xx) / n + p) for p in phases]).unsqueeze(1)
    freq, power = radial_power_spectrum(delta)
    assert freq[power.argmax()].item() == expected_bin
    others = torch.cat([power[freq != expected_bin]])
    assert others.max() < 1e-12 * power.max()
    # Parseval: bin mean * bin count summed over bins = mean ||delta||_2^2 per channel
    counts = torch.bincount(radial_bins(n, n).flatten())
    assert (power * counts[freq]).sum().item() == pytest.approx((delta ** 2).sum(dim=(1, 2, 3)).mean().item())


def test_spectrum_rejects_empty_and_handles_rectangles():
    with pytest.raises(ValueError, match="non-empty"):
        radial_power_spectrum(torch.zeros(0, 1, 8, 8))
    freq, power = radial_power_spectrum(torch.randn(3, 2, 8, 12))
    assert freq[0] == 0 and (power >= 0).all() and len(freq) == len(power)
    assert radial_bins(8, 12)[4, 0].item() == 6  # 4 / 8 cycles per pixel = 6 cycles per 12 pixels
