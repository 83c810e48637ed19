"""Autoencoders and VAEs (generative.vae): the ELBO's pieces against torch.distributions and
closed forms, the importance-weighted bound against an exact log p(x), chunking, resume through
engine.fit, bad input; and the vae experiment's checks and data paths."""

import math
import struct

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from deepnotes import losses
from deepnotes.engine import Run, fit
from deepnotes.experiments import vae as vae_experiment
from deepnotes.generative import vae
from deepnotes.generative.vae import (
    VAE,
    Autoencoder,
    NegativeELBO,
    ReconstructionLoss,
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_likelihood,
    mlp_autoencoder,
    mlp_vae,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def binary(n, shape=(1, 4, 4), seed=0):
    return torch.bernoulli(torch.full((n, *shape), 0.4), generator=gen(seed))


def mean_se(values):
    values = values.double()
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()


# ---------------------------------------------------------------------------------------------
# densities


def test_bernoulli_log_likelihood_matches_torch_distributions():
    logits = torch.randn(3, 5, 2, 4, generator=gen(0), dtype=torch.float64) * 4
    x = torch.bernoulli(torch.full((5, 2, 4), 0.5, dtype=torch.float64), generator=gen(1))
    ours = bernoulli_log_likelihood(logits, x)                       # (3, 5): sample dims kept
    expected = Bernoulli(logits=logits).log_prob(x.expand_as(logits)).sum(dim=(-2, -1))
    assert ours.shape == (3, 5)
    torch.testing.assert_close(ours, expected)
    # the per-example sum of losses.bernoulli_nll (a mean over all entries)
    torch.testing.assert_close(bernoulli_log_likelihood(logits[0], x).mean(),
                               -8 * losses.bernoulli_nll(logits[0], x))


def test_gaussian_log_likelihood_matches_torch_distributions():
    mean = torch.randn(3, 5, 6, generator=gen(0), dtype=torch.float64)
    x = torch.randn(5, 6, generator=gen(1), dtype=torch.float64)
    log_var = torch.randn(3, 5, 6, generator=gen(2), dtype=torch.float64)
    expected = Normal(mean, (0.5 * log_var).exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_likelihood(mean, x, log_var), expected)
    expected = Normal(mean, math.exp(0.5 * 0.7)).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_likelihood(mean, x, 0.7), expected)
    torch.testing.assert_close(gaussian_log_likelihood(mean[0], x, 0.0).mean(),
                               -6 * losses.gaussian_nll(mean[0], x, torch.zeros(5, 6,
                                                                               dtype=torch.float64)))


def test_closed_form_kl_matches_monte_carlo_and_torch():
    mu = torch.tensor([[0.0, 0.0], [1.5, -0.5], [0.3, 2.0]], dtype=torch.float64)
    log_var = torch.tensor([[0.0, 0.0], [-1.0, 0.5], [1.2, -2.0]], dtype=torch.float64)
    closed = gaussian_kl(mu, log_var)
    q, p = Normal(mu, (0.5 * log_var).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(closed, kl_divergence(q, p).sum(-1))
    assert closed[0].item() == 0.0
    z = q.sample((20000,))                                              # (M, 3, 2)
    draws = (q.log_prob(z) - p.log_prob(z)).sum(-1)                     # log q − log p
    for row in range(3):
        mean, se = mean_se(draws[:, row])
        assert abs(closed[row].item() - mean) < 4 * se + 1e-12, (row, closed[row], mean, se)


# ---------------------------------------------------------------------------------------------
# the reparameterization gradient


class RowParameters(nn.Module):
    """q(z|x_i) = N(μ_i, σ_i²) with one free (μ_i, log σ_i²) per row, whatever x holds."""

    def __init__(self, n, mu, log_var):
        super().__init__()
        self.mu = nn.Parameter(torch.full((n, 1), mu, dtype=torch.float64))
        self.log_var = nn.Parameter(torch.full((n, 1), log_var, dtype=torch.float64))

    def forward(self, x):
        return self.mu, self.log_var


class Identity(nn.Module):
    latent_dim = 1

    def forward(self, z):
        return z


def test_reparameterization_gradient_matches_closed_form_and_score_function():
    # E_q log N(x; z, s²) with q = N(μ, σ²) = −½[log 2π s² + ((x − μ)² + σ²)/s²], so
    # ∂/∂μ = (x − μ)/s² and ∂/∂log σ² = −σ²/(2 s²)
    n, mu0, log_var0, x0, s2 = 4000, 0.3, math.log(0.8), 1.1, 0.5
    encoder = RowParameters(n, mu0, log_var0)
    model = VAE(encoder, Identity(), "gaussian", decoder_log_var=math.log(s2))
    x = torch.full((n, 1), x0, dtype=torch.float64)
    out = model.elbo(x, rng=gen(0))
    out.reconstruction.sum().backward()          # one reparameterized sample per row
    closed_mu, closed_log_var = (x0 - mu0) / s2, -math.exp(log_var0) / (2 * s2)
    for grad, closed in ((encoder.mu.grad, closed_mu), (encoder.log_var.grad, closed_log_var)):
        mean, se = mean_se(grad[:, 0])
        assert abs(mean - closed) < 4 * se, (mean, se, closed)
        assert se < 0.05 * abs(closed)           # precise enough to catch a factor ½ in σ
    recon_mean, recon_se = mean_se(out.reconstruction.detach())
    closed_value = -0.5 * (math.log(2 * math.pi * s2) + ((x0 - mu0) ** 2 + math.exp(log_var0)) / s2)
    assert abs(recon_mean - closed_value) < 4 * recon_se
    # the score-function estimator E[f(z) ∂ log q(z)/∂μ] agrees with the same closed form
    sigma = math.exp(0.5 * log_var0)
    z = mu0 + sigma * torch.randn(50000, generator=gen(1), dtype=torch.float64)
    f = Normal(z, math.sqrt(s2)).log_prob(torch.tensor(x0, dtype=torch.float64))
    mean, se = mean_se(f * (z - mu0) / sigma ** 2)
    assert abs(mean - closed_mu) < 4 * se


# ---------------------------------------------------------------------------------------------
# the importance-weighted bound


def sharp_vae(seed=0):
    """A random Bernoulli VAE whose decoder depends strongly on z and whose q is narrow, so the
    ELBO is far from log p(x)."""
    torch.manual_seed(seed)
    model = mlp_vae((1, 4, 4), 2, (16,), "bernoulli").double()
    with torch.no_grad():
        for layer in model.decoder.modules():
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(3)
        model.encoder.log_var.bias.fill_(-1.0)
    return model


def test_iw_bound_is_the_elbo_at_k1_and_non_decreasing_in_k():
    model = sharp_vae()
    x = binary(400).double()
    ks = [1, 5, 50, 500]
    with torch.no_grad():
        elbo = torch.stack([model.elbo(x, rng=gen(10 + r)).elbo for r in range(4)]).mean(0)
        bounds = torch.stack([model.importance_weighted_bounds(x, ks, rng=gen(20 + r))
                              for r in range(4)]).mean(0)
    mean, se = mean_se(bounds[0] - elbo)
    assert abs(mean) < 4 * se
    means = bounds.mean(1)
    for j in range(len(ks) - 1):
        mean, se = mean_se(bounds[j + 1] - bounds[j])
        assert mean > 4 * se, (ks[j], ks[j + 1], mean, se)
    assert means[-1] - means[0] > 0.5          # a real gap to close, not noise


def linear_gaussian(exact: bool):
    """x = W z + b + σ ε with W = U diag(s) (orthogonal columns), so the exact posterior
    N(m(x), S) is diagonal: S = diag(1 / (1 + s²/σ²)), m = S Wᵀ (x − b) / σ². Returns the VAE
    (exact encoder, or a deliberately wrong one) and p(x) = N(b, WWᵀ + σ²I)."""
    d, latent, sigma = 5, 2, 0.5
    u, _ = torch.linalg.qr(torch.randn(d, latent, generator=gen(0), dtype=torch.float64))
    s = torch.tensor([2.0, 0.7], dtype=torch.float64)
    w, b = u * s, torch.randn(d, generator=gen(1), dtype=torch.float64)
    post_var = 1 / (1 + s ** 2 / sigma ** 2)
    gain = (post_var[:, None] * w.T) / sigma ** 2                        # (L, D)

    class Encoder(nn.Module):
        def forward(self, x):
            mu = (x - b) @ gain.T
            log_var = post_var.log().expand_as(mu)
            if not exact:
                mu, log_var = mu + 0.6, log_var + 1.0
            return mu, log_var

    decoder = nn.Linear(latent, d).double()
    with torch.no_grad():
        decoder.weight.copy_(w)
        decoder.bias.copy_(b)
    model = VAE(Encoder(), decoder, "gaussian", decoder_log_var=2 * math.log(sigma),
                latent_dim=latent)
    marginal = MultivariateNormal(b, w @ w.T + sigma ** 2 * torch.eye(d, dtype=torch.float64))
    return model, marginal


def test_iw_bound_equals_exact_log_likelihood_with_the_exact_posterior():
    model, marginal = linear_gaussian(exact=True)
    x = marginal.sample((30,))
    exact = marginal.log_prob(x)
    bounds = model.importance_weighted_bounds(x, [1, 10, 100], chunk_size=7, rng=gen(3))
    for row in bounds:
        torch.testing.assert_close(row, exact, atol=1e-10, rtol=0)


def test_iw_bound_approaches_log_likelihood_with_a_wrong_encoder():
    model, marginal = linear_gaussian(exact=False)
    x = marginal.sample((200,))
    exact = marginal.log_prob(x)
    ks = [1, 10, 100, 3000]
    with torch.no_grad():
        gaps = exact - model.importance_weighted_bounds(x, ks, chunk_size=500, rng=gen(4))
    mean_gaps = gaps.mean(1)
    assert mean_gaps[0] > 0.5                                        # a wrong q: a real gap
    assert (mean_gaps[1:] < mean_gaps[:-1]).all(), mean_gaps
    assert abs(mean_gaps[-1]) < 0.02 * mean_gaps[0], mean_gaps          # nearly closed
    elbo = torch.stack([model.elbo(x, rng=gen(5 + r)).elbo for r in range(20)]).mean(0)
    mean, se = mean_se(exact - elbo)
    assert abs(mean - mean_gaps[0].item()) < 4 * se + 0.05             # L_1 gap = ELBO gap


def test_chunked_equals_unchunked_and_a_direct_computation():
    torch.manual_seed(0)
    model = mlp_vae((1, 4, 4), 3, (16,), "bernoulli").double()
    x = binary(6).double()
    with torch.no_grad():
        values = [model.log_likelihood(x, 150, chunk_size=c, rng=gen(7)) for c in (1, 7, 64, 150,
                                                                                  1000)]
        for other in values[1:]:
            torch.testing.assert_close(other, values[0], atol=1e-12, rtol=0)
        # k within one draw block: ε is one randn(k, N, L) — recompute by hand
        k = 40
        mu, log_var = model.encode(x)
        z = mu + (0.5 * log_var).exp() * torch.randn(k, *mu.shape, generator=gen(8),
                                                      dtype=torch.float64)
        logits = model.decoder(z.reshape(-1, 3)).reshape(k, *x.shape)
        log_w = (Bernoulli(logits=logits).log_prob(x.expand_as(logits)).sum((-3, -2, -1))
                 + Normal(0.0, 1.0).log_prob(z).sum(-1)
                 - Normal(mu, (0.5 * log_var).exp()).log_prob(z).sum(-1))
        expected = torch.logsumexp(log_w, 0) - math.log(k)
        torch.testing.assert_close(model.log_likelihood(x, k, chunk_size=3, rng=gen(8)),
                                   expected)


# ---------------------------------------------------------------------------------------------
# generation, autoencoder, training through fit


def test_sample_and_interpolate():
    torch.manual_seed(0)
    model = mlp_vae((1, 4, 4), 3, (16,))
    x = binary(2)
    samples = model.sample(5, rng=gen(0))
    assert samples.shape == (5, 1, 4, 4) and 0 <= samples.min() and samples.max() <= 1
    torch.testing.assert_close(samples, model.sample(5, rng=gen(0)))
    path = model.interpolate(x[0], x[1:2], steps=4)
    assert path.shape == (4, 1, 4, 4)
    with torch.no_grad():
        ends = model.decode(model.encode(x)[0])
    torch.testing.assert_close(path[[0, -1]], ends)
    ae = mlp_autoencoder((1, 4, 4), 3, (16,))
    assert ae.sample(3, rng=gen(1)).shape == (3, 1, 4, 4)
    mnist = mlp_vae(**vae.MNIST)                      # Burda et al.'s 784-200-200-50
    assert mnist.sample(2).shape == (2, 1, 28, 28) and mnist.latent_dim == 50
    assert ae.interpolate(x[0], x[1], 3).shape == (3, 1, 4, 4)


def test_autoencoder_trains_on_reconstruction_through_fit():
    torch.manual_seed(0)
    x = binary(64)
    for likelihood in ("gaussian", "bernoulli"):
        ae = mlp_autoencoder((1, 4, 4), 4, (32,), likelihood)
        loss = ReconstructionLoss(likelihood)
        before = loss(ae(x), x).item()
        fit(ae, loss, lambda p: torch.optim.Adam(p, lr=1e-2), x, steps=60, batch_size=32,
            device="cpu", progress=False)
        assert loss(ae(x), x).item() < before - 1.0
    # the course's form: squared error ½‖x − D(E(x))‖² + (D/2) log 2π
    out = torch.rand(64, 1, 4, 4, generator=gen(2))
    expected = 0.5 * ((out - x) ** 2).sum((1, 2, 3)).mean() + 8 * math.log(2 * math.pi)
    torch.testing.assert_close(ReconstructionLoss("gaussian")(out, x), expected)


def train_vae(folder, *, resume=False, stop_at=None):
    torch.manual_seed(0)
    model = mlp_vae((1, 4, 4), 2, (16,))
    x = binary(60)

    def stop(step, loss, model):
        if step == stop_at:
            raise KeyboardInterrupt

    return fit(model, NegativeELBO(), lambda p: torch.optim.Adam(p, lr=1e-2), x, steps=12,
               batch_size=20, eval_data=binary(30, seed=1), metrics=vae.ELBO_METRICS,
               eval_every=4, log_every=4, checkpoint_every=4, run=Run(folder, resume=resume),
               name="vae", device="cpu", seed=3, progress=False, callbacks=[stop])


def test_training_through_fit_logs_both_terms_and_resumes_bit_identically(tmp_path):
    full = train_vae(tmp_path / "a")
    evaluated = [r for r in full.history if "eval_kl" in r]
    assert [r["step"] for r in evaluated] == [4, 8, 12]
    for r in evaluated:
        assert r["eval_elbo"] == pytest.approx(r["eval_reconstruction"] - r["eval_kl"])
        assert r["eval_kl"] > 0
    with pytest.raises(KeyboardInterrupt):
        train_vae(tmp_path / "b", stop_at=10)
    resumed = train_vae(tmp_path / "b", resume=True)
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    strip = [{k: v for k, v in r.items() if k != "samples_per_s"} for r in full.history]
    assert strip == [{k: v for k, v in r.items() if k != "samples_per_s"}
                     for r in resumed.history]


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_input_names_the_argument():
    torch.manual_seed(0)
    model = mlp_vae((1, 4, 4), 2, (8,))
    x = binary(3)
    encoder, decoder = model.encoder, model.decoder
    cases = [
        (ValueError, "likelihood", lambda: VAE(encoder, decoder, "poisson")),
        (TypeError, "encoder", lambda: VAE("enc", decoder)),
        (TypeError, "decoder", lambda: Autoencoder(encoder, None)),
        (TypeError, "decoder_log_var", lambda: VAE(encoder, decoder, decoder_log_var="a")),
        (ValueError, "samples", lambda: model.elbo(x, samples=0)),
        (TypeError, "rng", lambda: model.elbo(x, rng=0)),
        (ValueError, "x must lie in", lambda: model.elbo(x * 2)),
        (ValueError, "x contains NaN", lambda: model.elbo(x * math.nan)),
        (TypeError, "x must be a torch.Tensor", lambda: model.elbo(x.numpy())),
        (ValueError, "k must", lambda: model.log_likelihood(x, 0)),
        (ValueError, "chunk_size", lambda: model.log_likelihood(x, 5, chunk_size=0)),
        (TypeError, "ks", lambda: model.importance_weighted_bounds(x, 5)),
        (ValueError, "n must", lambda: model.sample(0)),
        (ValueError, "steps", lambda: model.interpolate(x[0], x[1], steps=1)),
        (ValueError, "x_b", lambda: model.interpolate(x[0], x[:2])),
        (TypeError, "encoder must return a pair",
         lambda: VAE(nn.Flatten(), decoder).elbo(x)),
        (ValueError, "logits must have the shape of x",
         lambda: bernoulli_log_likelihood(torch.zeros(3, 5), torch.zeros(3, 4))),
        (ValueError, "log_var", lambda: gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 2))),
        (ValueError, "latent_dim is unknown",
         lambda: VAE(nn.Identity(), nn.Identity()).sample(2)),
        (TypeError, "NegativeELBO needs a VAE",
         lambda: NegativeELBO()(nn.Identity(), x, x)),
    ]
    for error, words, call in cases:
        with pytest.raises(error, match=words):
            call()


# ---------------------------------------------------------------------------------------------
# the vae experiment's checks and data paths


def test_experiment_checks_can_fail():
    n = 200
    elbo = torch.randn(n, generator=gen(0), dtype=torch.float64)
    good = torch.stack([elbo + 0.01 * torch.randn(n, generator=gen(1), dtype=torch.float64),
                        elbo + 1.0, elbo + 1.5])
    checks = vae_experiment.ordering_checks(elbo, good, [1, 10, 100])
    assert [c.outcome for c in checks] == ["passed", "passed"]
    biased = good.clone()
    biased[0] += 0.5                                  # L_1 ≠ ELBO: a wrong log q
    decreasing = good.flip(0)
    assert vae_experiment.ordering_checks(elbo, biased, [1, 10, 100])[0].outcome == "failed"
    assert vae_experiment.ordering_checks(elbo, decreasing, [1, 10, 100])[1].outcome == "failed"


def write_idx(path, array, code):
    header = struct.pack(">BBBB", 0, 0, code, array.dim())
    header += b"".join(struct.pack(">I", size) for size in array.shape)
    path.write_bytes(header + array.numpy().astype(">u1").tobytes())


def test_experiment_on_idx_files_reports_the_published_row(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n in (("train", 40), ("t10k", 12)):
        images = torch.randint(0, 256, (n, 28, 28), generator=gen(n), dtype=torch.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte", images, 0x08)
        write_idx(folder / f"{split}-labels-idx1-ubyte", torch.arange(n, dtype=torch.uint8) % 10,
                  0x08)
    x_train, x_test, y_test = vae_experiment.binarized(f"idx:{folder}", "cpu")
    assert x_train.shape == (40, 1, 28, 28) and set(x_train.unique().tolist()) == {0.0, 1.0}
    again = vae_experiment.binarized(f"idx:{folder}", "cpu")[0]
    assert torch.equal(x_train, again)                # a fixed binarization
    config = vae_experiment.Config(data=f"idx:{folder}", steps=4, batch_size=20, ks=(1, 10),
                                   repeats=1, published_k=20, published_examples=5, map_steps=0,
                                   latent_dim=3, hidden=(16,), device="cpu")
    result = vae_experiment.run(config, Run(tmp_path / "run"))
    (row,) = result.published
    assert row["published"] == vae_experiment.PUBLISHED_MNIST and math.isfinite(row["ours"])
    published_check = result.verdict.checks[-1]
    assert published_check.outcome == "undecided"     # 4 steps: a failure is no evidence
    assert "epochs" in published_check.note
    with pytest.raises(ValueError, match="data must be"):
        vae_experiment.binarized("mnist", "cpu")
