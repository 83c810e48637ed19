"""The library on a GPU: every experiment's quick preset with ``--device cuda``, one step of
each optimizer in each form, the attacks, ``fit`` and the GAN trainer — each compared with the
same computation on the CPU.

Marked ``cuda``: skipped (with the reason) when no GPU is visible; ``make test-cuda`` runs them.
``DEEPNOTES_TEST_DEVICE=cpu`` runs the same tests on the CPU (to check their logic without a
GPU: every comparison is then CPU against CPU).
"""

import json
import os

import pytest
import torch
from torch import nn

from deepnotes import adversarial, experiments, optim
from deepnotes.engine import fit
from deepnotes.generative import Discriminator, Generator, train_gan

pytestmark = pytest.mark.cuda
#: as in conftest.py: "cuda" unless DEEPNOTES_TEST_DEVICE says otherwise
TEST_DEVICE = os.environ.get("DEEPNOTES_TEST_DEVICE", "cuda")
DEVICE = torch.device(TEST_DEVICE)


def _mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 4))


def _data(n: int = 64, seed: int = 0):
    rng = torch.Generator().manual_seed(seed)
    return torch.rand(n, 12, generator=rng), torch.randint(0, 4, (n,), generator=rng)


# --------------------------------------------------------------------------------------------
# experiments


@pytest.mark.parametrize("name", experiments.names())
def test_quick_preset_runs_on_the_device(name, tmp_path):
    """The quick preset runs with ``device=cuda``, records that device, fails no check."""
    config = experiments.preset(name, "quick", device=TEST_DEVICE)
    result = experiments.execute(name, config, tmp_path, preset="quick")
    assert result["device"].startswith(DEVICE.type)
    assert result["outcome"] != "not reproduced", json.dumps(result["checks"], indent=1)


# --------------------------------------------------------------------------------------------
# optimizers: one step in each form equals torch.optim's step on the same device, and the CPU's

OPTIMIZERS = {
    "sgd-momentum": (lambda p, **form: optim.SGD(p, lr=0.1, momentum=0.9, **form),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "adagrad": (lambda p, **form: optim.AdaGrad(p, lr=0.1, **form),
                lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-7)),
    "rmsprop-torch-form": (lambda p, **form: optim.RMSProp(p, lr=0.01, eps_inside_sqrt=False,
                                                           **form),
                           lambda p: torch.optim.RMSprop(p, lr=0.01)),
    "adam": (lambda p, **form: optim.Adam(p, lr=0.01, **form),
             lambda p: torch.optim.Adam(p, lr=0.01)),
}
FORMS = {"single": {"foreach": False, "fused": False}, "foreach": {"foreach": True},
         "compiled": {"fused": True}}


def _three_steps(make, device) -> dict[str, torch.Tensor]:
    model = _mlp().to(device)
    x, y = (t.to(device) for t in _data())
    opt = make(model.parameters())
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_forms_on_the_device(name, form):
    ours, reference = OPTIMIZERS[name]
    try:
        on_device = _three_steps(lambda p: ours(p, **FORMS[form]), DEVICE)
    except TypeError as err:  # an option this optimizer does not take
        pytest.skip(str(err))
    torch_on_device = _three_steps(reference, DEVICE)
    on_cpu = _three_steps(lambda p: ours(p, **FORMS[form]), torch.device("cpu"))
    for key in on_device:
        torch.testing.assert_close(on_device[key], torch_on_device[key], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(on_device[key], on_cpu[key], rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------
# attacks, fit, the GAN trainer


def _trained_classifier(device):
    model = _mlp()
    fit(model, nn.functional.cross_entropy, lambda p: torch.optim.Adam(p, lr=1e-2), _data(256),
        steps=60, batch_size=64, device=device, progress=False, seed=0)
    return model.eval()


def test_fit_on_the_device_matches_the_cpu():
    on_device = _trained_classifier(DEVICE)
    assert next(on_device.parameters()).device.type == DEVICE.type
    on_cpu = _trained_classifier("cpu")
    for a, b in zip(on_device.parameters(), on_cpu.parameters(), strict=True):
        torch.testing.assert_close(a.detach().cpu(), b.detach(), rtol=1e-3, atol=1e-4)


def test_attacks_on_the_device_match_the_cpu():
    model = _trained_classifier("cpu")
    x, y = _data(32, seed=1)
    cpu_fgsm = adversarial.fgsm(model, x, y, eps=0.1)
    cpu_pgd = adversarial.pgd(model, x, y, eps=0.1, steps=10, random_start=False)
    model.to(DEVICE)
    x, y = x.to(DEVICE), y.to(DEVICE)
    device_fgsm = adversarial.fgsm(model, x, y, eps=0.1)
    device_pgd = adversarial.pgd(model, x, y, eps=0.1, steps=10, random_start=False)
    assert device_fgsm.device.type == DEVICE.type
    # sign(gradient) may flip where a gradient entry is ~0: compare all but a few entries
    assert (device_fgsm.cpu() - cpu_fgsm).abs().gt(1e-5).float().mean() < 0.01
    assert (device_pgd.cpu() - cpu_pgd).abs().max() <= 0.1 + 1e-6  # inside the same ball
    assert (device_pgd.cpu() - cpu_pgd).abs().gt(1e-3).float().mean() < 0.05


def test_gan_trainer_on_the_device():
    data = torch.randn(512, 2)
    torch.manual_seed(0)
    generator, discriminator = Generator(4, 2), Discriminator(2)
    result = train_gan(generator, discriminator, data, loss="ns", steps=20, batch_size=64,
                       device=TEST_DEVICE, progress=False, seed=0)
    assert next(result.generator.parameters()).device.type == DEVICE.type
    losses = [r["d_loss"] for r in result.history if "d_loss" in r]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
