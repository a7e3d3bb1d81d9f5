"""Every attack family on a tiny CNN trained in a second: outputs stay in [0, 1] and in the
epsilon ball, epsilon 0 gives clean accuracy, PGD <= FGSM, accuracy falls with epsilon."""

import pytest
import torch

from pixsim.robustness import blackbox, transfer, whitebox
from pixsim.robustness.common import derive_seed, seeded
from pixsim.robustness.noise import add_noise
from pixsim.robustness.autoattack import AutoAttackSpec, build_components, run_autoattack
from pixsim.robustness.blackbox import BlackBoxSpec
from pixsim.robustness.noise import NoiseSpec
from pixsim.robustness.transfer import TransferSpec
from pixsim.robustness.whitebox import WhiteBoxSpec
from pixsim.robustness.suite import evaluate
from robust_helpers import accuracy, heldout_set, trained_tiny_cnn, one_torch_thread  # noqa: F401 (autouse fixture)

TOL = 1e-5  # float32 rounding of the projections


@pytest.fixture(scope="module")
def model():
    return trained_tiny_cnn(0)


@pytest.fixture(scope="module")
def data():
    return heldout_set(48)


def _in_ball(x_adv, x, eps, norm):
    assert x_adv.shape == x.shape and torch.isfinite(x_adv).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    d = (x_adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "Linf" else d.norm(dim=1)
    assert (size <= eps * (1 + TOL) + TOL).all(), (norm, eps, float(size.max()))
    return size


LINF = [0.0, 0.03, 0.1, 0.3]
L2 = [0.0, 0.5, 2.0]


@pytest.mark.parametrize("norm, grid", [("Linf", LINF), ("L2", L2)])
def test_pgd_and_fgsm_stay_in_ball(model, data, norm, grid):
    x, y = data
    specs = [WhiteBoxSpec("pgd", norm, grid, steps=5, restarts=2)]
    if norm == "Linf":
        specs.append(WhiteBoxSpec("fgsm", norm, grid))
    for spec in specs:
        for eps in grid:
            with seeded(0, torch.device("cpu")):
                size = _in_ball(whitebox.attack_batch(model, x, y, spec, eps), x, eps, norm)
            if eps > 0:
                assert size.max() > 0.5 * eps  # the attack actually moved


@pytest.mark.parametrize("norm, grid", [("Linf", [0.0, 0.05, 0.3]), ("L2", [0.0, 1.0])])
def test_square_stays_in_ball(model, data, norm, grid):
    x, y = data
    spec = BlackBoxSpec("square", norm, grid, n_queries=30)
    for eps in grid:
        _in_ball(blackbox.attack_batch(model, x, y, spec, eps, n_classes=10, seed=0), x, eps, norm)


def test_autoattack_stays_in_ball_and_beats_pgd(model, data):
    x, y = data[0][:6], data[1][:6]
    small = {"apgd-ce": {"steps": 5}, "apgd-t": {"steps": 5}, "fab-t": {"steps": 5}, "square": {"n_queries": 10}}
    for eps in [0.05, 0.3]:
        adv, stages = run_autoattack(model, x, y, eps, "Linf", 10, seed=0, overrides=small)
        _in_ball(adv, x, eps, "Linf")
    assert accuracy(model, adv, y) == 0.0  # eps 0.3 is far beyond what this model survives
    assert stages[-1]["n_robust"] == 0
    with pytest.raises(ValueError, match="n_classes >= 4"):
        build_components(model, 0.1, "Linf", n_classes=3)


def test_transfer_and_uniform_noise_stay_in_linf_ball(model, data):
    x, y = data
    source = trained_tiny_cnn(1)
    g = torch.Generator().manual_seed(0)
    for eps in LINF:
        size = _in_ball(transfer.transfer_fgsm(source, x, y, eps), x, eps, "Linf")
        assert torch.allclose(size, torch.full_like(size, eps), atol=1e-6) or eps == 0 or (size <= eps).all()
        _in_ball(add_noise(x, "uniform", eps, g), x, eps, "Linf")
    # transfer = sign of the *source* gradient: equals torchattacks' FGSM run on the source model
    import torchattacks
    ref = torchattacks.FGSM(source, eps=0.1)(x, y)
    assert torch.allclose(transfer.transfer_fgsm(source, x, y, 0.1), ref, atol=1e-6)


def test_epsilon_zero_gives_clean_accuracy_for_every_attack():
    # a half-trained model, so that clean accuracy is not 1 and the comparison means something
    model = trained_tiny_cnn(2, steps=12)
    x, y = heldout_set(64)
    clean = accuracy(model, x, y)
    assert 0.2 < clean < 0.98
    suite = [NoiseSpec(a, [0.0, 0.1]) for a in ("gaussian", "uniform", "salt_and_pepper")] + [
        TransferSpec([0.0, 0.1]), WhiteBoxSpec("fgsm", "Linf", [0.0, 0.1]),
        WhiteBoxSpec("pgd", "Linf", [0.0, 0.1], steps=3), WhiteBoxSpec("pgd", "L2", [0.0, 1.0], steps=3),
        BlackBoxSpec("square", "Linf", [0.0, 0.1], n_queries=5), AutoAttackSpec("L2", [0.0])]
    table = evaluate(model, x, y, suite, source_model=trained_tiny_cnn(1), device="cpu", progress=False)
    at0 = table[(table["kind"] == "attack") & (table["epsilon"] == 0)]
    assert set(at0["attack"]) == {"clean", "gaussian", "uniform", "salt_and_pepper", "transfer_fgsm", "fgsm",
                                  "pgd", "square", "autoattack"}
    assert len(at0) == 10
    assert at0["accuracy"].to_numpy() == pytest.approx([clean] * 10)
    assert (at0["n_images"] == 64).all()
    # the loss-maximising attacks lower it at a positive epsilon
    pos = table[(table["kind"] == "attack") & (table["epsilon"] > 0) & table["attack"].isin(["pgd"])]
    assert (pos["accuracy"] < clean).all()


def test_strength_ordering_on_a_trained_model(model):
    x, y = heldout_set(96)
    grid = [0.0, 0.02, 0.05, 0.1, 0.2, 0.5]
    suite = [WhiteBoxSpec("fgsm", "Linf", grid), WhiteBoxSpec("pgd", "Linf", grid, steps=10)]
    table = evaluate(model, x, y, suite, device="cpu", progress=False)
    acc = table[table["kind"] == "attack"].pivot_table(index="epsilon", columns="attack", values="accuracy")
    assert acc.loc[0.0, "pgd"] == acc.loc[0.0, "fgsm"] == pytest.approx(accuracy(model, x, y))
    assert (acc["pgd"] <= acc["fgsm"] + 1 / 96).all()
    assert acc.loc[0.05, "pgd"] < acc.loc[0.05, "fgsm"]           # PGD strictly stronger somewhere
    assert (acc["pgd"].diff().dropna() <= 1 / 96).all()            # non-increasing in epsilon
    assert acc.loc[0.1, "pgd"] < acc.loc[0.0, "pgd"] - 0.3        # and it really falls
    assert acc.loc[0.5, "pgd"] <= 0.05                              # large L_inf: near zero
    checks = table[table["kind"] == "check"]
    assert checks.empty  # no ChecksSpec in this suite: no check rows


def test_restarts_keep_the_worst_case(model, data):
    x, y = data
    grid = [0.06]
    one = WhiteBoxSpec("pgd", "Linf", grid, steps=3, restarts=1)
    three = WhiteBoxSpec("pgd", "Linf", grid, steps=3, restarts=3)
    with seeded(derive_seed(0, "r"), torch.device("cpu")):
        a1 = accuracy(model, whitebox.attack_batch(model, x, y, one, 0.06), y)
    with seeded(derive_seed(0, "r"), torch.device("cpu")):
        a3 = accuracy(model, whitebox.attack_batch(model, x, y, three, 0.06), y)
    assert a3 <= a1  # first restart is the same draw, later ones can only add successes


def test_transfer_spec_reuses_one_gradient_sign_per_image_and_matches_the_formula(model, data):
    # the spec computes sign(grad) once and reuses it for every epsilon; the accuracies must equal
    # the per-epsilon formula's, over several batches (batch_size 20 on 48 images: 3 batches)
    x, y = data
    source = trained_tiny_cnn(1)
    eps_grid = [0.0, 0.05, 0.2, 0.5]
    table = evaluate(model, x, y, [TransferSpec(eps_grid)], source_model=source, device="cpu", progress=False,
                     batch_size=20)
    rows = table[(table["kind"] == "attack") & (table["attack"] == "transfer_fgsm")].set_index("epsilon")
    for eps in eps_grid:
        expected = accuracy(model, transfer.transfer_fgsm(source, x, y, eps), y)
        assert rows.loc[eps, "accuracy"] == pytest.approx(expected), eps
    assert rows.loc[0.5, "accuracy"] < rows.loc[0.0, "accuracy"]
