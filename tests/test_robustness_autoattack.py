"""AutoAttack as published (issue 13): the standard version's settings are the reference's, it
never leaves robust an image torchattacks' default composition breaks, and its rows report the
robust accuracy after each component."""

import pytest
import torch
import torchattacks

from pixsim.robustness.autoattack import (COMPONENTS, AutoAttackSpec, build_components, project,
                                          run_autoattack)
from pixsim.robustness.blackbox import BlackBoxSpec
from pixsim.robustness.suite import evaluate, suite_from_data
from robust_helpers import accuracy, heldout_set, one_torch_thread, trained_tiny_cnn  # noqa: F401 (autouse fixture)

SMALL = {"apgd-ce": {"steps": 4}, "apgd-t": {"steps": 4, "n_target_classes": 2},
         "fab-t": {"steps": 4, "n_target_classes": 2}, "square": {"n_queries": 30}}


@pytest.fixture(scope="module")
def model():
    return trained_tiny_cnn(0)


def test_standard_settings_equal_published(model):
    # literal values of fra31/auto-attack autoattack.py (AutoAttack.__init__, set_version('standard'))
    atks = build_components(model, eps=8 / 255, norm="Linf", n_classes=10, seed=3, version="standard")
    assert list(atks) == ["apgd-ce", "apgd-t", "fab-t", "square"] == list(COMPONENTS)
    a, t, f, s = atks.values()
    assert isinstance(a, torchattacks.APGD) and (a.steps, a.n_restarts, a.loss, a.eot_iter, a.thr_decr) == (
        100, 1, "ce", 1, 0.75)
    assert isinstance(t, torchattacks.APGDT) and (t.steps, t.n_restarts, t.n_target_classes, t.thr_decr) == (
        100, 1, 9, 0.75)
    assert isinstance(f, torchattacks.FAB) and (f.steps, f.n_restarts, f.n_target_classes, f.multi_targeted) == (
        100, 1, 9, True)
    assert (f.alpha_max, f.eta, f.beta) == (0.1, 1.05, 0.9) and not f.targeted
    assert isinstance(s, torchattacks.Square) and (s.n_queries, s.n_restarts, s.p_init, s.loss,
                                                   s.rescale_schedule) == (5000, 1, 0.8, "margin", False)
    assert {x.seed for x in atks.values()} == {3}
    assert {x.eps for x in atks.values()} == {8 / 255} and {x.norm for x in atks.values()} == {"Linf"}
    # 100 classes: still 9 targets (torchattacks alone would use 99); 5 classes: the 4 wrong ones
    assert build_components(model, 0.1, "L2", n_classes=100)["fab-t"].n_target_classes == 9
    assert build_components(model, 0.1, "L2", n_classes=5)["apgd-t"].n_target_classes == 4


def test_fast_version_is_torchattacks_default(model):
    ref = torchattacks.AutoAttack(model, norm="L2", eps=0.5, version="standard", n_classes=10, seed=1)
    ours = build_components(model, 0.5, "L2", n_classes=10, seed=1, version="fast")
    keys = {"apgd-ce": ["steps", "n_restarts", "loss", "eot_iter", "thr_decr", "seed"],
            "apgd-t": ["steps", "n_restarts", "n_target_classes", "thr_decr", "seed"],
            "fab-t": ["steps", "n_restarts", "n_target_classes", "multi_targeted", "alpha_max", "eta", "beta", "seed"],
            "square": ["n_queries", "n_restarts", "p_init", "loss", "rescale_schedule", "seed"]}
    for (name, atk), r in zip(ours.items(), ref._autoattack.attacks):
        assert type(atk) is type(r)
        assert {k: getattr(atk, k) for k in keys[name]} == {k: getattr(r, k) for k in keys[name]}, name
    assert ours["apgd-ce"].steps == 10  # why it must not be called AutoAttack


def test_standard_never_leaves_robust_what_torchattacks_default_breaks(model):
    """Image by image at a fixed seed, on an epsilon that leaves images on both sides. Test budget:
    Square's queries cut to 300 on *both* sides; APGD-CE, APGD-T and FAB-T run the published 100
    iterations against torchattacks' 10.

    Not promised by the code (both are stochastic searches), so measured: on 6 trained models
    and image sets (seeds shifted, a stand-in for another machine's rounding) the standard
    version never left robust an image the default broke, and left 2-5 of 7-8 correct robust."""
    x, y = heldout_set(8)
    eps = 0.06
    ref = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)
    ref._autoattack.attacks[3].n_queries = 300
    with torch.random.fork_rng():
        adv_ref = ref(x, y)
    with torch.no_grad():
        robust_ref = model(adv_ref).argmax(1) == y
    adv, stages = run_autoattack(model, x, y, eps, "Linf", 10, seed=0, overrides={"square": {"n_queries": 300}})
    with torch.no_grad():
        robust_std = model(adv).argmax(1) == y
    assert not (robust_std & ~robust_ref).any(), "standard left robust an image torchattacks' default broke"
    assert 0 < int(robust_std.sum()) < int((model(x).argmax(1) == y).sum())  # something on both sides
    n_robust = [s["n_robust"] for s in stages]
    assert [s["stage"] for s in stages] == ["clean", *COMPONENTS]
    assert n_robust == sorted(n_robust, reverse=True) and n_robust[-1] == int(robust_std.sum())


@pytest.mark.parametrize("norm, eps", [("Linf", 0.1), ("L2", 1.0)])
def test_adversarial_images_valid_and_rng_restored(model, norm, eps):
    x, y = heldout_set(12)
    state = torch.random.get_rng_state()
    adv, stages = run_autoattack(model, x, y, eps, norm, 10, seed=1, version="fast", overrides=SMALL)
    assert torch.equal(torch.random.get_rng_state(), state), "the caller's RNG state must be restored"
    assert adv.shape == x.shape and adv.min() >= 0 and adv.max() <= 1
    d = (adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "Linf" else d.norm(dim=1)
    assert (size <= eps * (1 + 1e-5) + 1e-7).all()
    with torch.no_grad():
        wrong = model(adv).argmax(1) != y
    assert not ((d.abs().amax(1) > 0) & ~wrong).any(), "only broken images may differ from the clean ones"
    assert wrong.any() and stages[-1]["n_robust"] == int((~wrong).sum())


def test_spec_rows_name_the_version_and_report_each_component(model):
    x, y = heldout_set(24)
    suite = suite_from_data([{"family": "autoattack", "norm": "Linf", "epsilons": [0, 0.05, 0.3],
                              "version": "fast", "n_queries": 20, "max_images": 10}])
    table = evaluate(model, x, y, suite, device="cpu", progress=False)
    acc = table[(table["kind"] == "attack") & (table["attack"] == "autoattack_fast")]
    comp = table[table["kind"] == "component"]
    assert list(acc["epsilon"]) == [0, 0.05, 0.3] and (acc["n_images"] == 10).all()
    assert acc["accuracy"].iloc[0] == acc["clean_accuracy"].iloc[0]  # epsilon 0: nothing to attack
    assert set(comp["epsilon"]) == {0.05, 0.3} and (comp["attack"] == "autoattack_fast").all()
    for eps, part in comp.groupby("epsilon"):
        assert list(part["component"]) == list(COMPONENTS)
        assert list(part["accuracy"]) == sorted(part["accuracy"], reverse=True)
        assert part["accuracy"].iloc[-1] == acc[acc["epsilon"] == eps]["accuracy"].iloc[0]
    assert acc["accuracy"].iloc[-1] == 0.0
    assert "n_queries=20" in acc["params"].iloc[0] and "version=fast" in acc["params"].iloc[0]
    assert "steps=10" in comp["detail"].iloc[0]  # the component's settings are in the row


def test_spec_and_argument_errors(model):
    assert AutoAttackSpec("Linf", [0.1]).attack.value == "autoattack"  # the default is the standard one
    with pytest.raises(ValueError, match="family of its own"):
        BlackBoxSpec("autoattack", "Linf", [0.1])
    with pytest.raises(ValueError, match="version must be one of"):
        AutoAttackSpec("Linf", [0.1], version="plus")
    with pytest.raises(ValueError, match="norms"):
        AutoAttackSpec("none", [0.1])
    for kwargs, match in [({"components": ["apgd-dlr"]}, "components must be"), ({"n_classes": 3}, "n_classes >= 4"),
                          ({"overrides": {"square": {"n_querys": 10}}}, "n_querys"),
                          ({"overrides": {"fab-t": {"steps": 1}}, "components": ["apgd-ce"]}, "not run")]:
        with pytest.raises(ValueError, match=match):
            build_components(model, **({"eps": 0.1} | kwargs))


def test_project():
    x = torch.full((2, 1, 2, 2), 0.5)
    far = x + torch.tensor([0.3, -0.9]).view(2, 1, 1, 1)
    assert torch.allclose(project(far, x, 0.1, "Linf"), x + torch.tensor([0.1, -0.1]).view(2, 1, 1, 1))
    assert torch.allclose((project(far, x, 0.2, "L2") - x).flatten(1).norm(dim=1), torch.tensor([0.2, 0.2]))
    assert torch.equal(project(torch.full_like(x, float("nan")), x, 0.1, "L2"), x)
