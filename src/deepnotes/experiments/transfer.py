"""White box vs black box: adversarial examples transfer from a surrogate model.

The target is a CNN; the attacker's surrogate is an MLP with another seed (another
architecture, same task). FGSM and PGD (L∞, ``pgd_steps`` steps) are crafted on the target
itself (white box) and on the surrogate (black box, then submitted to the target); a random
sign perturbation of the same ε is the baseline. Success rates are over the test images the
target classifies correctly.

The known results: attacks transfer (well above the noise baseline), and PGD with many steps
transfers worse than its white-box rate (it overfits the surrogate's decision boundary;
Kurakin et al. 2017 find iterative attacks even transfer worse than FGSM).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import data
from ..adversarial import fgsm, pgd, predict, random_perturbation, success, transfer_attack
from ..engine import make_generator, resolve_device
from ..nn.models import MLP, CNN2d
from .base import Result, Verdict, new_figure, save_figure, train_classifier

CLAIM = ("Adversarial examples crafted on a surrogate model transfer to an unseen target (a "
         "black-box attack) far above random noise, while PGD with many steps transfers worse "
         "than it succeeds white-box.")

NOISE_MARGIN = 0.10  # transfer success must exceed the random-noise rate by this much


@dataclass(frozen=True)
class Config:
    data: str = "digits"
    eps: float = 0.15
    pgd_steps: int = 100
    target_channels: tuple[int, ...] = (32, 64)
    surrogate_hidden: tuple[int, ...] = (256, 256)
    train_steps: int = 600
    batch_size: int = 128
    lr: float = 1e-2
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(pgd_steps=20, target_channels=(16, 32), surrogate_hidden=(128,),
                   train_steps=200)

    @classmethod
    def full(cls) -> Config:
        return cls()


def run(config: Config, run) -> Result:
    device = resolve_device(config.device)
    x_train, y_train = data.load(config.data, "train")
    x_test, y_test = data.load(config.data, "test")
    x_test, y_test = x_test.to(device), y_test.to(device)
    num_classes = int(y_train.max()) + 1
    inputs = x_train[0].numel()

    def train(model, name, seed):
        return train_classifier(model, (x_train, y_train), steps=config.train_steps,
                                batch_size=config.batch_size, lr=config.lr, run=run, name=name,
                                device=device, seed=seed)

    torch.manual_seed(config.seed)
    target = train(CNN2d(x_train.shape[1], num_classes, config.target_channels), "target",
                   config.seed)
    torch.manual_seed(config.seed + 1)
    surrogate = train(MLP([inputs, *config.surrogate_hidden, num_classes]), "surrogate",
                      config.seed + 1)

    eligible = predict(target, x_test) == y_test
    x, y = x_test[eligible], y_test[eligible]
    attacks = {
        "fgsm": (fgsm, {}),
        f"pgd-{config.pgd_steps}": (pgd, {"steps": config.pgd_steps}),
    }
    rates: dict[str, dict[str, float]] = {}
    for name, (attack, kwargs) in attacks.items():
        white = attack(target, x, y, eps=config.eps, rng=make_generator(config.seed, device),
                       **kwargs)
        black = transfer_attack(attack, surrogate, target, x, y, eps=config.eps,
                                rng=make_generator(config.seed, device), **kwargs)
        rates[name] = {
            "white_box": float(success(target, white, y).float().mean()),
            "transfer": black.transfer_rate,
            "on_surrogate": black.surrogate_rate,
        }
    noise = random_perturbation(x, eps=config.eps, rng=make_generator(config.seed, device))
    noise_rate = float(success(target, noise, y).float().mean())

    pgd_name = f"pgd-{config.pgd_steps}"
    metrics = {
        "eps": config.eps,
        "target_accuracy": float(eligible.float().mean()),
        "surrogate_accuracy": float((predict(surrogate, x_test) == y_test).float().mean()),
        "rates": rates,
        "noise_rate": noise_rate,
        "fgsm_transfer_minus_pgd_transfer": rates["fgsm"]["transfer"] - rates[pgd_name]["transfer"],
    }
    verdict = Verdict.all_of(
        (rates[pgd_name]["transfer"] < rates[pgd_name]["white_box"],
         f"{pgd_name}: transfer {rates[pgd_name]['transfer']:.3f} < white box "
         f"{rates[pgd_name]['white_box']:.3f}"),
        (rates["fgsm"]["transfer"] >= noise_rate + NOISE_MARGIN,
         f"FGSM transfer {rates['fgsm']['transfer']:.3f} ≥ noise {noise_rate:.3f} + "
         f"{NOISE_MARGIN}"),
        (rates[pgd_name]["transfer"] >= noise_rate + NOISE_MARGIN,
         f"{pgd_name} transfer {rates[pgd_name]['transfer']:.3f} ≥ noise {noise_rate:.3f} + "
         f"{NOISE_MARGIN}"),
    )

    fig, ax = new_figure(width=6.0)
    names = list(rates)
    positions = torch.arange(len(names), dtype=torch.float64)
    ax.bar(positions - 0.2, [rates[n]["white_box"] for n in names], width=0.4,
           label="white box (on the target)")
    ax.bar(positions + 0.2, [rates[n]["transfer"] for n in names], width=0.4,
           label="black box (transfer from surrogate)")
    ax.axhline(noise_rate, color="k", ls="--", lw=1, label=f"random noise ε={config.eps:g}")
    ax.set_xticks(positions.tolist(), names)
    ax.set(ylabel="attack success on the target", ylim=(0, 1.05),
           title=f"white box vs transfer, L∞ ε={config.eps:g}")
    ax.legend(fontsize=8)
    return Result(metrics, verdict, [save_figure(fig, run, "transfer_rates")])
