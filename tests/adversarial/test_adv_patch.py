"""Adversarial patch: placement geometry of A(δ, x, l, T), differentiability, and training a
targeted patch that beats random patches of the same size."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepnotes.adversarial import EOT, apply_patch, patch_fraction, predict, train_patch
from deepnotes.adversarial.patch import paste
from deepnotes.engine import make_generator


def test_centred_patch_lands_exactly_in_the_middle():
    images = torch.zeros(3, 2, 12, 12)
    patch = torch.rand(2, 4, 4)
    out = apply_patch(images, patch, EOT(location=False, rotation=0, scale=(1.0, 1.0)))
    expected = images.clone()
    expected[:, :, 4:8, 4:8] = patch
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_random_placement_area_and_centre():
    n, size, side = 64, 24, 6
    eot = EOT(location=True, rotation=30, scale=(0.8, 1.0))
    generator = make_generator(3)
    theta = eot.sample(n, (side, side), (size, size), generator)
    mask = paste(torch.zeros(n, 1, size, size), torch.ones(1, side, side), theta)[:, 0]
    # recover the centre and scale from θ = [A | −A c]
    a, b = theta[:, :, :2].double(), theta[:, :, 2:].double()
    centre = -torch.linalg.solve(a, b).squeeze(-1)  # normalized coordinates
    scale = (size / side) / torch.linalg.det(a).abs().sqrt()
    area = mask.sum((1, 2)).double()
    # a rotated patch near the border is cropped: judge the area on the ones well inside
    inside = (centre.abs() <= 1 - 1.45 * scale[:, None] * side / size).all(1)
    assert inside.sum() >= 10
    torch.testing.assert_close(area[inside], (scale[inside] * side) ** 2, rtol=0.02, atol=0)
    pixels = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1
    cx = (mask.double() * pixels[None, None, :]).sum((1, 2)) / area
    cy = (mask.double() * pixels[None, :, None]).sum((1, 2)) / area
    torch.testing.assert_close(torch.stack([cx, cy], 1)[inside], centre[inside], atol=0.02,
                               rtol=0)
    assert float(scale.min()) >= 0.8 - 1e-6 and float(scale.max()) <= 1.0 + 1e-6


def test_paste_is_differentiable_in_the_patch():
    images = torch.rand(2, 1, 10, 10, dtype=torch.float64)
    theta = EOT(rotation=40).sample(2, (3, 3), (10, 10), make_generator(0)).double()
    patch = torch.rand(1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: paste(images, p, theta), (patch,))


class PatternDetector(nn.Module):
    """Class 1 when a bright-over-dark horizontal edge (a fixed 3×3 kernel, nearly its maximal
    response) appears anywhere, else class 0."""

    def __init__(self):
        super().__init__()
        kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]])
        self.conv = nn.Conv2d(1, 1, 3, bias=False)
        self.conv.weight.data.copy_(kernel[None, None])
        self.threshold = float((kernel > 0).sum()) - 1.5

    def forward(self, x):
        response = F.max_pool2d(self.conv(x), x.shape[-1] - 2).flatten(1)
        score = 4 * (response - self.threshold)
        return torch.cat([torch.zeros_like(score), score], dim=1)


def test_trained_patch_beats_random_patches():
    model = PatternDetector()
    images = torch.rand(128, 1, 16, 16, generator=make_generator(0)) * 0.3
    eot = EOT(location=True, rotation=5, scale=(0.9, 1.0))
    flags = [p.requires_grad for p in model.parameters()]
    patch = train_patch(model, images[:96], 1, size=6, steps=60, transforms=eot, lr=0.2,
                        batch_size=32, device="cpu", seed=0)
    assert patch.shape == (1, 6, 6) and float(patch.min()) >= 0 and float(patch.max()) <= 1
    assert [p.requires_grad for p in model.parameters()] == flags and model.training
    held_out = images[96:]
    hit = predict(model, apply_patch(held_out, patch, eot, rng=make_generator(1))) == 1
    noise = torch.rand(1, 6, 6, generator=make_generator(2))
    hit_noise = predict(model, apply_patch(held_out, noise, eot, rng=make_generator(1))) == 1
    assert float(hit.float().mean()) >= 0.9
    assert float(hit_noise.float().mean()) <= 0.2


def test_patch_fraction():
    assert patch_fraction((10, 10), (32, 32)) == pytest.approx(100 / 1024)
    assert patch_fraction((10, 10), (32, 32), scale=0.5) == pytest.approx(25 / 1024)


def test_patch_bad_inputs():
    model = PatternDetector()
    images = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match="size"):
        train_patch(model, images, 1, size=9, steps=1)
    with pytest.raises(ValueError, match="target"):
        train_patch(model, images, -1, size=3, steps=1)
    with pytest.raises(ValueError, match="channels"):
        apply_patch(images, torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="scale"):
        EOT(scale=(1.0, 0.5))
