"""Gradient descent from zero on under-determined least squares finds the minimum-norm
interpolant.

With n < d equations X a = y there are infinitely many interpolants; the one of smallest norm
is a⁺ = X⁺y (pinv). Gradient descent on J(a) = ½‖Xa − y‖²/n moves along ∇J = Xᵀ(Xa − y)/n,
which lies in the row space of X, so the component of a in the null space never changes:
from a₀ it converges to a⁺ + (I − P)a₀ with P = X⁺X the projection onto the row space.
From a₀ = 0 that is a⁺ itself; from a random a₀ it is a different interpolant of larger norm
‖a⁺‖² + ‖(I − P)a₀‖² (the course: "parameters found by GD from a reasonable initialization
have small norm"). Both runs take their steps through ``engine.fit`` (via
``supervised.gradient_descent``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..supervised import gradient_descent
from .base import Check, ExperimentConfig, Result, Verdict, new_figure, save_figure

CLAIM = ("Gradient descent from zero initialization on an under-determined least-squares "
         "problem converges to the minimum-norm interpolant (the pinv solution); from a random "
         "start it reaches a different interpolant of larger norm.")
SECTION = 1
IMPLEMENTS = ("deepnotes.supervised.linear",)
FORMULA = ("a_{t+1} = a_t − α Xᵀ(X a_t − y)/n;  a_t → X⁺y + (I − X⁺X) a₀;  from a₀ = 0: "
           "X⁺y = argmin{‖a‖ : Xa = y};  ‖a_∞‖² = ‖X⁺y‖² + ‖(I − X⁺X) a₀‖²")

#: The claim says GD "converges to" X⁺y; run to a gradient-norm tolerance of 1e-13 in float64,
#: GD ends within ~1e-13 of its limit (measured), so a relative distance of 1e-6 separates
#: convergence to X⁺y from convergence anywhere else (another interpolant differs by O(1)).
LIMIT_TOLERANCE = 1e-6
#: "interpolant": X a = y; the training MSE of an interpolant found in float64 is ~1e-25, so
#: 1e-12 separates interpolation from a least-squares fit with residual.
INTERPOLATION_TOLERANCE = 1e-12
#: "of larger norm": ‖a_random‖ / ‖X⁺y‖ > 1.
NORM_RATIO_THRESHOLD = 1.0


@dataclass(frozen=True)
class Config(ExperimentConfig):
    n: int = 40
    d: int = 200
    init_scale: float = 1.0
    max_steps: int = 20_000

    @classmethod
    def quick(cls) -> Config:
        return cls(n=20, d=100, max_steps=5000)


def run(config: Config, run) -> Result:
    if config.n >= config.d:
        raise ValueError(f"the problem must be under-determined: n < d, got n = {config.n}, "
                         f"d = {config.d}")
    streams = config.streams()
    data_rng = streams.generator("data")
    X = torch.randn(config.n, config.d, generator=data_rng, dtype=torch.float64)
    y = torch.randn(config.n, generator=data_rng, dtype=torch.float64)
    pinv = torch.linalg.pinv(X) @ y
    start_random = config.init_scale * torch.randn(config.d, generator=streams.generator("init"),
                                                   dtype=torch.float64)
    projection = torch.linalg.pinv(X) @ X
    predicted_random_limit = pinv + (torch.eye(config.d, dtype=torch.float64) - projection) \
        @ start_random
    top = float(torch.linalg.eigvalsh(X.T @ X / config.n)[-1])

    def half_mse(out, target):
        return 0.5 * ((out[:, 0] - target) ** 2).mean()

    traces, finals = {}, {}
    for name, start in (("zero", torch.zeros(config.d, dtype=torch.float64)),
                        ("random", start_random)):
        model = nn.Linear(config.d, 1, bias=False, dtype=torch.float64)
        with torch.no_grad():
            model.weight.copy_(start[None, :])
        trace = []

        def record(step, module, trace=trace):
            a = module.weight.detach().cpu()[0]
            trace.append((step, float((a - pinv).norm()), float(a.norm()),
                          float(((X @ a - y) ** 2).mean())))

        record(0, model)
        model, steps, converged = gradient_descent(
            model, half_mse, X, y, lr=1.0 / top, max_iter=config.max_steps, tol=1e-13,
            check_every=5, device=config.device,
            seed=streams.seed("batches"), callback=record)
        traces[name] = trace
        finals[name] = model.weight.detach().cpu()[0]
        run.log({"start": name, "steps": steps, "converged": converged})

    rel = lambda u, v: float((u - v).norm() / v.norm())  # noqa: E731
    zero_to_pinv = rel(finals["zero"], pinv)
    random_to_limit = rel(finals["random"], predicted_random_limit)
    random_to_pinv = rel(finals["random"], pinv)
    residual_zero = float(((X @ finals["zero"] - y) ** 2).mean())
    residual_random = float(((X @ finals["random"] - y) ** 2).mean())
    metrics = {
        "pinv_norm": float(pinv.norm()),
        "gd_zero_norm": float(finals["zero"].norm()),
        "gd_random_norm": float(finals["random"].norm()),
        "rel_dist_zero_start_to_pinv": zero_to_pinv,
        "rel_dist_random_start_to_pinv": random_to_pinv,
        "rel_dist_random_start_to_predicted_limit": random_to_limit,
        "train_mse_zero_start": residual_zero,
        "train_mse_random_start": residual_random,
        "steps_zero": traces["zero"][-1][0],
        "steps_random": traces["random"][-1][0],
    }
    norm_ratio = metrics["gd_random_norm"] / metrics["pinv_norm"]
    predicted_norm = float(predicted_random_limit.norm())
    metrics.update({"norm_ratio_random_to_pinv": norm_ratio,
                    "predicted_random_limit_norm": predicted_norm})
    verdict = Verdict([
        Check.at_most("GD from a₀ = 0 converges to the minimum-norm interpolant: "
                      "‖a − X⁺y‖ / ‖X⁺y‖", zero_to_pinv, LIMIT_TOLERANCE),
        Check.at_most("GD from 0 interpolates: training MSE", residual_zero,
                      INTERPOLATION_TOLERANCE),
        Check.at_most("GD from a random a₀ interpolates: training MSE", residual_random,
                      INTERPOLATION_TOLERANCE),
        Check.at_most("GD from a random a₀ converges to the interpolant X⁺y + (I − P)a₀, not to "
                      "X⁺y: relative distance", random_to_limit, LIMIT_TOLERANCE),
        Check.compare(f"…which has the larger norm: ‖a_random‖ / ‖X⁺y‖ = "
                      f"{metrics['gd_random_norm']:.3f} / {metrics['pinv_norm']:.3f}", norm_ratio,
                      ">", NORM_RATIO_THRESHOLD),
    ])
    published = [
        {"quantity": "‖a‖ reached by GD from 0", "published": metrics["pinv_norm"],
         "ours": metrics["gd_zero_norm"], "source": "closed form ‖X⁺y‖ (pinv)"},
        {"quantity": "‖a‖ reached by GD from a random a₀", "published": predicted_norm,
         "ours": metrics["gd_random_norm"],
         "source": "closed form √(‖X⁺y‖² + ‖(I − X⁺X)a₀‖²)"},
    ]

    fig, (ax_dist, ax_norm) = new_figure(ncols=2)
    for name, trace in traces.items():
        steps = [max(t[0], 1) for t in trace]
        ax_dist.plot(steps, [t[1] for t in trace], label=f"start: {name}")
        ax_norm.plot(steps, [t[2] for t in trace], label=f"start: {name}")
    ax_norm.axhline(float(pinv.norm()), color="gray", ls=":", label="‖X⁺y‖ (minimum norm)")
    ax_dist.set(xscale="log", yscale="log", xlabel="GD step", ylabel="‖a − X⁺y‖",
                title=f"distance to the pinv solution (n = {config.n}, d = {config.d})")
    ax_norm.set(xscale="log", xlabel="GD step", ylabel="‖a‖", title="norm of the iterate")
    ax_dist.legend(fontsize=8)
    ax_norm.legend(fontsize=8)
    return Result(metrics, verdict, [save_figure(fig, run, "min_norm_gd")],
                  published=published)
