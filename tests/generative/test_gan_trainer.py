"""train_gan: Algorithm 1 against a hand-written loop, the WGAN defaults, BEGAN's k_t,
bit-identical resume through a Run (weights, logged values, history), refusal of a resume
with other settings, the NaN guard, the generator EMA, and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from deepnotes.engine import CheckpointError, NonFiniteLossError, Run
from deepnotes.generative import (
    Discriminator,
    Generator,
    NonSaturatingLoss,
    minimax_discriminator_loss,
    nonsaturating_generator_loss,
    sample,
    train_gan,
)


def _pair(seed=0, width=8, autoencoder=False):
    torch.manual_seed(seed)
    return (Generator(2, 2, hidden=(width,)),
            Discriminator(2, hidden=(width,), autoencoder=autoencoder))


DATA = torch.randn(40, 2, generator=torch.Generator().manual_seed(0)) * 0.3 + 1.0


def test_train_gan_is_algorithm_1():
    """k discriminator steps on fresh real batches (seeded reshuffle) and noise, then one
    generator step: the same updates as a minimal hand-written loop, exactly."""
    G, D = _pair()
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    sgd = lambda params: torch.optim.SGD(params, lr=0.05)  # noqa: E731
    train_gan(G, D, DATA, loss="ns", steps=4, k=2, batch_size=16, optimizer=sgd, seed=3,
              device="cpu", progress=False)

    opt_d, opt_g = sgd(D_ref.parameters()), sgd(G_ref.parameters())
    noise = torch.Generator().manual_seed(3)
    batches, epoch = [], 0
    while len(batches) < 8:  # the batch order of iterate_batches: randperm seeded seed + epoch
        order = torch.randperm(40, generator=torch.Generator().manual_seed(3 + epoch))
        batches += [DATA[order[i:i + 16]] for i in range(0, 40, 16)]
        epoch += 1
    for step in range(4):
        for j in range(2):
            x = batches[2 * step + j]
            fake = G_ref(torch.randn(len(x), 2, generator=noise)).detach()
            opt_d.zero_grad()
            minimax_discriminator_loss(D_ref(x), D_ref(fake)).backward()
            opt_d.step()
        opt_g.zero_grad()
        nonsaturating_generator_loss(D_ref(G_ref(torch.randn(16, 2, generator=noise)))).backward()
        opt_g.step()
    for ours, ref in ((G, G_ref), (D, D_ref)):
        for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_wgan_defaults_are_the_papers():
    G, D = _pair()
    calls = []
    forward = D.forward
    D.forward = lambda x: calls.append(len(x)) or forward(x)
    result = train_gan(G, D, torch.randn(500, 2), loss="wgan", steps=2, device="cpu",
                       progress=False)
    # n_critic = 5 critic steps (real + fake batch of m = 64 each), then one generator step
    assert calls[:11] == [64] * 11 and len(calls) == 2 * 11
    opt = result.d_optimizer
    assert isinstance(opt, torch.optim.RMSprop) and opt.defaults["lr"] == 5e-5
    assert isinstance(result.g_optimizer, torch.optim.RMSprop)
    assert all(p.abs().max() <= 0.01 for p in D.parameters())  # clipped to c = 0.01


def test_default_optimizer_is_momentum():
    G, D = _pair()
    result = train_gan(G, D, DATA, steps=1, device="cpu", progress=False)
    assert isinstance(result.d_optimizer, torch.optim.SGD)
    assert result.d_optimizer.defaults["momentum"] == 0.9


def test_began_updates_k_and_logs_convergence():
    """Replays BEGAN's control from the logged losses: k_t = clip(k_{t−1} + λ_k(γ L(x) −
    L(G(z))), 0, 1) from k_0 = 0, and M = L(x) + |γ L(x) − L(G(z))| (Berthelot et al. 2017)."""
    G, D = _pair(autoencoder=True)
    result = train_gan(G, D, DATA, loss="began", loss_options={"lambda_k": 0.01}, steps=12,
                       batch_size=16, optimizer="adam", lr=1e-3, log_every=1, device="cpu",
                       progress=False)
    records = [r for r in result.history if "k" in r]
    assert len(records) == 12
    gamma, lambda_k, k = result.loss.gamma, 0.01, 0.0
    for r in records:
        k = min(max(k + lambda_k * (gamma * r["real_l1"] - r["fake_l1"]), 0.0), 1.0)
        assert r["k"] == pytest.approx(k, abs=1e-9)
        assert r["convergence"] == pytest.approx(
            r["real_l1"] + abs(gamma * r["real_l1"] - r["fake_l1"]), rel=1e-6)
    assert 0 < k <= 1 and result.loss.k == pytest.approx(k, abs=1e-9)


class Interrupt(Exception):
    pass


def _train_in(run, loss="wgan-gp", stop_at=None, **overrides):
    """10 iterations, checkpoints every 4, a log every 3 (windows straddle the checkpoints),
    an evaluation every step that raises at iteration ``stop_at``; EMA on."""
    calls = {"n": 0}

    def evaluate(G):
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise Interrupt
        return {"mean": float(sample(G, 16, seed=0).mean())}

    G, D = _pair(autoencoder=loss == "began")
    options = {"loss": loss, "steps": 10, "batch_size": 16, "k": 2, "optimizer": "adam",
               "lr": 1e-2, "checkpoint_every": 4, "log_every": 3, "eval_every": 1,
               "seed": 5, "ema": 0.9, **overrides}
    return train_gan(G, D, DATA, run=run, evaluate=evaluate, device="cpu", progress=False,
                     **options)


def _without_rates(records):
    return [{k: v for k, v in r.items() if k != "iterations_per_s"} for r in records]


@pytest.mark.parametrize("loss", ["wgan-gp", "began"])
def test_resume_is_bit_identical_in_weights_logged_values_and_history(tmp_path, loss):
    uninterrupted = Run.create(tmp_path / "a", "gan")
    full = _train_in(uninterrupted, loss)
    run = Run.create(tmp_path / "b", "gan")
    run.write_config({})
    with pytest.raises(Interrupt):
        _train_in(run, loss, stop_at=7)  # dies in iteration 7; the checkpoint holds step 4
    resumed = _train_in(Run.latest(tmp_path / "b", "gan"), loss)
    assert resumed.steps == full.steps == 10
    for a, b in ((full.generator, resumed.generator), (full.discriminator, resumed.discriminator),
                 (full.generator_ema, resumed.generator_ema)):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert resumed.loss.state_dict() == full.loss.state_dict()
    # the logging window straddling the interruption (steps 4-6) and the history are restored
    assert [r["step"] for r in resumed.history if "d_loss" in r] == [3, 6, 9, 10]
    assert _without_rates(resumed.history) == _without_rates(full.history)
    assert resumed.metrics == full.metrics
    assert _without_rates(run.read_metrics()) == _without_rates(uninterrupted.read_metrics())


@pytest.mark.parametrize(("change", "named"), [({"batch_size": 8}, "batch_size"),
                                               ({"k": 1}, "k"), ({"seed": 6}, "seed"),
                                               ({"ema": None}, "ema")])
def test_a_resume_with_other_settings_is_refused(tmp_path, change, named):
    run = Run.create(tmp_path, "gan")
    run.write_config({})
    with pytest.raises(Interrupt):
        _train_in(run, stop_at=6)
    with pytest.raises(CheckpointError, match=rf"belongs to a different fit \(differs in "
                                              rf"{named};"):
        _train_in(Run.latest(tmp_path, "gan"), **change)


def test_k_defaults_to_the_losses_own_n_critic():
    """One source of truth for k: the loss's ``default_k`` (a custom loss's included)."""

    class ThreeCritic(NonSaturatingLoss):
        default_k = 3

    G, D = _pair()
    calls = []
    forward = D.forward
    D.forward = lambda x: calls.append(len(x)) or forward(x)
    train_gan(G, D, DATA, loss=ThreeCritic(), steps=2, batch_size=8, device="cpu",
              progress=False)
    # per iteration: 3 discriminator steps (real + fake call each), then 1 generator call
    assert len(calls) == 2 * (3 * 2 + 1)


def test_first_iteration_checks_name_generator_discriminator_and_data():
    G, D = _pair()
    with pytest.raises(ValueError, match=r"generator: G\(z\) has shape \(16, 3\) for 16 noise "
                                         r"vectors, but the data's rows have shape \(2,\)"):
        train_gan(Generator(2, 3, hidden=(8,)), D, DATA, steps=1, batch_size=16, device="cpu")
    with pytest.raises(ValueError, match=r"latent_dim: the generator cannot take its inputs.*"
                                         r"expects 2 features in the last dimension, the data "
                                         r"has 3"):
        train_gan(G, D, DATA, steps=1, latent_dim=3, device="cpu")
    with pytest.raises(ValueError, match=r"discriminator \(pack=2.*expects 2 features.*has 4"):
        train_gan(G, D, DATA, steps=1, batch_size=8, pack=2, device="cpu")
    with pytest.raises(TypeError, match="data must be a floating-point tensor"):
        train_gan(G, D, DATA.long(), steps=1, device="cpu")
    with pytest.raises(TypeError, match="scheduler must be an LR scheduler"):
        train_gan(G, D, DATA, steps=1, scheduler=lambda opt: None, device="cpu")


def test_numpy_and_tensor_counts_are_accepted():
    G, D = _pair()
    result = train_gan(G, D, DATA, steps=np.int64(2), k=torch.tensor(2), batch_size=np.int32(8),
                       log_every=np.int64(1), device="cpu", progress=False)
    assert result.steps == 2 and len(result.history) == 2


def test_nan_guard_reports_the_step():
    G, D = _pair()
    with torch.no_grad():
        D.net[-1].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="step 1"):
        train_gan(G, D, DATA, steps=3, device="cpu", progress=False)


def test_ns_gan_learns_a_shifted_gaussian():
    torch.manual_seed(0)
    target = 3.0 + 0.5 * torch.randn(2000, 1, generator=torch.Generator().manual_seed(1))
    G, D = Generator(1, 1, hidden=(16,)), Discriminator(1, hidden=(16,))
    train_gan(G, D, target, steps=400, batch_size=64, optimizer="adam", lr=3e-3,
              betas=(0.5, 0.999), device="cpu", progress=False)
    samples = sample(G, 2000, seed=2)
    assert abs(samples.mean().item() - 3.0) < 0.3
    assert 0.2 < samples.std().item() < 0.9


def test_bad_input_is_refused():
    G, D = _pair()
    with pytest.raises(ValueError, match="steps"):
        train_gan(G, D, DATA, steps=0, device="cpu")
    with pytest.raises(ValueError, match="k must"):
        train_gan(G, D, DATA, k=0, device="cpu")
    with pytest.raises(ValueError, match="loss must be one of"):
        train_gan(G, D, DATA, loss="vanilla", device="cpu")
    with pytest.raises(ValueError, match="data"):
        train_gan(G, D, torch.full((4, 2), float("nan")), device="cpu")
    with pytest.raises(ValueError, match="latent_dim"):
        train_gan(nn.Linear(2, 2), D, DATA, device="cpu")
    with pytest.raises(ValueError, match="optimizer"):
        train_gan(G, D, DATA, optimizer="adagrad", device="cpu")
    with pytest.raises(TypeError, match="generator"):
        train_gan("G", D, DATA, device="cpu")


def test_packing_feeds_the_discriminator_pack_samples_at_once():
    torch.manual_seed(0)
    G, D = Generator(2, 2, hidden=(8,)), Discriminator(4, hidden=(8,))
    shapes = []
    forward = D.forward
    D.forward = lambda x: shapes.append(tuple(x.shape)) or forward(x)
    train_gan(G, D, DATA, steps=2, batch_size=8, pack=2, device="cpu", progress=False)
    # m = 8 packed examples of 2 samples each: (8, 2·2) for real, fake and the generator step
    assert shapes == [(8, 4)] * 6
    with pytest.raises(ValueError, match="pack"):
        train_gan(G, D, DATA, steps=1, pack=0, device="cpu")


def test_generator_ema_is_the_closed_form_average_and_does_not_change_training():
    """θ̄_t = β θ̄_{t−1} + (1 − β) θ_t after each generator step, θ̄_0 = θ_0: checked against
    the average recomputed from the generator's weights step by step (SGD, hand-written
    loop equality is shown above), and the trained G equals the run without ``ema``."""
    beta = 0.9
    G, D = _pair()
    G_plain, D_plain = copy.deepcopy(G), copy.deepcopy(D)
    expected = [p.detach().clone() for p in G.parameters()]
    snapshots = []

    def record(generator):
        snapshots.append([p.detach().clone() for p in generator.parameters()])
        return {}

    sgd = lambda params: torch.optim.SGD(params, lr=0.05)  # noqa: E731
    result = train_gan(G, D, DATA, steps=5, k=1, batch_size=16, optimizer=sgd, seed=1,
                       device="cpu", progress=False, ema=beta, evaluate=record, eval_every=1)
    plain = train_gan(G_plain, D_plain, DATA, steps=5, k=1, batch_size=16, optimizer=sgd,
                      seed=1, device="cpu", progress=False)
    for weights in snapshots[:5]:
        expected = [beta * e + (1 - beta) * w for e, w in zip(expected, weights, strict=True)]
    for ours, theirs in zip(result.generator_ema.parameters(), expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    for p, q in zip(result.generator.parameters(), plain.generator.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert plain.generator_ema is None
    with pytest.raises(ValueError, match="ema"):
        train_gan(G, D, DATA, steps=1, device="cpu", progress=False, ema=1.0)
