"""Adversarial training raises robust accuracy; FGSM training masks gradients.

Three copies of one CNN: trained clean, with FGSM training (Goodfellow: α·L(x) + (1 − α)·
L(x_FGSM), α = 0.5) and with PGD training (Madry: L(x_PGD), a 7-step PGD with random start),
all at the training radius ε_train = the largest ε of the grid. The adversarially trained
models start from the clean model's weights (adversarial fine-tuning; ``finetune=False``
trains them from scratch as Madry et al. do). Robust accuracy on the test set is then
measured under FGSM and under PGD-``eval_steps`` (L∞, random start, ``restarts``) at each ε.

On the default data (scikit-learn's 8×8 digits, pixels in [0, 1]) ε is in pixel units; with
``data="idx:FOLDER"`` the same runs on MNIST files the user has (Madry's set-up with fewer
steps; Madry used ε = 0.3 there).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import data
from ..adversarial import AdversarialLoss, accuracy_under_attack, fgsm, pgd
from ..engine import make_generator
from ..nn.models import CNN2d
from .base import Result, Verdict, new_figure, save_figure, train_classifier

CLAIM = ("Adversarial training raises robust accuracy: a clean model's accuracy collapses under "
         "PGD while a PGD-trained one keeps most of it at a small clean-accuracy cost, and "
         "FGSM training is weaker against PGD than against FGSM (gradient masking).")

CLEAN_PGD_MAX = 0.10       # the clean model's PGD accuracy at the largest ε is at most this
ROBUST_PGD_MIN = 0.50      # the PGD-trained model's PGD accuracy at the largest ε
CLEAN_COST_MAX = 0.05      # clean-accuracy cost of PGD training, in accuracy (5 points)
MASKING_GAP_MIN = 0.05     # FGSM-trained: accuracy(FGSM) − accuracy(PGD) at the largest ε


@dataclass(frozen=True)
class Config:
    data: str = "digits"
    channels: tuple[int, ...] = (32, 64)
    batch_norm: bool = False
    epsilons: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15)
    clean_steps: int = 500
    adversarial_steps: int = 1000
    finetune: bool = True
    train_pgd_steps: int = 7
    batch_size: int = 128
    lr: float = 1e-2
    eval_steps: int = 40
    restarts: int = 3
    test_size: int | None = None
    seed: int = 0
    device: str = "auto"

    @classmethod
    def quick(cls) -> Config:
        return cls(channels=(16, 32), epsilons=(0.0, 0.065, 0.13), clean_steps=300,
                   adversarial_steps=450, train_pgd_steps=3, eval_steps=20, restarts=1)

    @classmethod
    def full(cls) -> Config:
        return cls()


def run(config: Config, run) -> Result:
    from ..engine import resolve_device

    device = resolve_device(config.device)
    x_train, y_train = data.load(config.data, "train")
    x_test, y_test = data.load(config.data, "test")
    if config.test_size is not None:
        x_test, y_test = x_test[: config.test_size], y_test[: config.test_size]
    x_test, y_test = x_test.to(device), y_test.to(device)
    num_classes = int(y_train.max()) + 1
    eps_train = max(config.epsilons)

    def train(loss, name, start=None, steps=config.clean_steps):
        if start is None:
            torch.manual_seed(config.seed)
            model = CNN2d(x_train.shape[1], num_classes, config.channels, config.batch_norm)
        else:
            model = copy.deepcopy(start)
        return train_classifier(model, (x_train, y_train), steps=steps,
                                batch_size=config.batch_size, lr=config.lr, run=run, name=name,
                                device=device, seed=config.seed, loss=loss)

    generator = make_generator(config.seed, device)
    clean = train(F.cross_entropy, "clean")
    start = clean if config.finetune else None
    steps = config.adversarial_steps
    models = {
        "clean": clean,
        "fgsm-trained": train(AdversarialLoss("fgsm", eps=eps_train), "fgsm", start, steps),
        "pgd-trained": train(AdversarialLoss("pgd", eps=eps_train, steps=config.train_pgd_steps,
                                             rng=generator), "pgd", start, steps),
    }

    curves: dict[str, dict[str, list[float]]] = {}
    for name, model in models.items():
        curves[name] = {"fgsm": [], "pgd": []}
        for eps in config.epsilons:
            if eps == 0:
                accuracy = accuracy_under_attack(model, None, x_test, y_test)
                curves[name]["fgsm"].append(accuracy)
                curves[name]["pgd"].append(accuracy)
                continue
            curves[name]["fgsm"].append(accuracy_under_attack(model, fgsm, x_test, y_test,
                                                              eps=eps))
            curves[name]["pgd"].append(accuracy_under_attack(
                model, pgd, x_test, y_test, eps=eps, steps=config.eval_steps,
                restarts=config.restarts, rng=generator))

    clean_accuracy = {name: accuracy_under_attack(m, None, x_test, y_test)
                      for name, m in models.items()}
    last = -1
    clean_pgd = curves["clean"]["pgd"][last]
    robust_pgd = curves["pgd-trained"]["pgd"][last]
    cost = clean_accuracy["clean"] - clean_accuracy["pgd-trained"]
    masking_gap = curves["fgsm-trained"]["fgsm"][last] - curves["fgsm-trained"]["pgd"][last]
    metrics = {
        "epsilons": list(config.epsilons),
        "eps_train": eps_train,
        "clean_accuracy": clean_accuracy,
        "accuracy": curves,
        "clean_model_pgd_at_max_eps": clean_pgd,
        "pgd_trained_pgd_at_max_eps": robust_pgd,
        "pgd_training_clean_cost": cost,
        "fgsm_trained_fgsm_at_max_eps": curves["fgsm-trained"]["fgsm"][last],
        "fgsm_trained_pgd_at_max_eps": curves["fgsm-trained"]["pgd"][last],
        "fgsm_trained_masking_gap": masking_gap,
        "pgd_trained_fgsm_minus_pgd": (curves["pgd-trained"]["fgsm"][last]
                                       - curves["pgd-trained"]["pgd"][last]),
    }
    verdict = Verdict.all_of(
        (clean_pgd <= CLEAN_PGD_MAX,
         f"clean model under PGD at ε={eps_train:g}: {clean_pgd:.3f} ≤ {CLEAN_PGD_MAX}"),
        (robust_pgd >= ROBUST_PGD_MIN,
         f"PGD-trained under PGD at ε={eps_train:g}: {robust_pgd:.3f} ≥ {ROBUST_PGD_MIN}"),
        (cost <= CLEAN_COST_MAX,
         f"clean-accuracy cost of PGD training {cost:+.3f} ≤ {CLEAN_COST_MAX}"),
        (masking_gap >= MASKING_GAP_MIN,
         f"FGSM-trained: accuracy under FGSM − under PGD = {masking_gap:.3f} ≥ "
         f"{MASKING_GAP_MIN}"),
    )

    fig, axes = new_figure(ncols=2)
    colors = {"clean": "tab:gray", "fgsm-trained": "tab:orange", "pgd-trained": "tab:blue"}
    for ax, attack in zip(axes, ("fgsm", "pgd"), strict=True):
        for name, curve in curves.items():
            ax.plot(config.epsilons, curve[attack], marker="o", color=colors[name], label=name)
        title = "FGSM" if attack == "fgsm" else f"PGD-{config.eval_steps}"
        ax.set(xlabel="ε (L∞, pixel units)", ylabel="test accuracy", ylim=(-0.02, 1.02),
               title=f"accuracy under {title}")
        ax.axvline(eps_train, color="k", lw=0.6, ls=":")
        ax.legend()
    return Result(metrics, verdict, [save_figure(fig, run, "accuracy_vs_eps")])
