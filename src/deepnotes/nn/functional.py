"""Logistic function, numerically stable softmax / log-softmax, and image-layout helpers.

Course formulas (slide "Architectural elements"):

    logistic(z) = e^z / (e^z + 1) = 1 / (1 + e^{−z}),   z ∈ ℝ
    softmax: ℝ^N → ℝ^N,  {z_i} ↦ { e^{z_i} / Σ_j e^{z_j} }          (a probability vector)

Written so that no intermediate overflows: logits of ±1e4 give finite values and gradients.
A minibatch of images is a 4-D tensor, N×C×H×W in PyTorch and N×H×W×C in TensorFlow;
``nchw_to_nhwc`` / ``nhwc_to_nchw`` convert between the two.
"""

from __future__ import annotations

import torch

from ..core import checks


def _check_tensor(value, argument: str) -> torch.Tensor:
    return checks.tensor(value, argument, floating=True)


def _check_dim(dim, tensor: torch.Tensor) -> int:
    dim = checks.integer(dim, "dim")
    if tensor.dim() == 0 or not -tensor.dim() <= dim < tensor.dim():
        raise ValueError(f"dim={dim} is out of range for a tensor of shape {tuple(tensor.shape)}")
    return dim


def logistic(z: torch.Tensor) -> torch.Tensor:
    """Logistic (sigmoid) function σ(z) = 1 / (1 + e^{−z}), elementwise on ``z``.

    Stable form: σ(z) = 1/(1 + e^{−z}) for z ≥ 0 and e^{z}/(1 + e^{z}) for z < 0, so every
    exponent is ≤ 0 (no overflow at z = ±1e4, no 0·∞ in the gradient). Each branch only sees
    the inputs it is used for, so the gradient is σ(z)(1 − σ(z)) everywhere, 1/4 at z = 0.
    """
    z = _check_tensor(z, "z")
    zero = torch.zeros((), dtype=z.dtype, device=z.device)
    exp_neg = torch.exp(-torch.where(z >= 0, z, zero))  # e^{−z}, z ≥ 0
    exp_pos = torch.exp(torch.where(z < 0, z, zero))  # e^{z},  z < 0
    return torch.where(z >= 0, 1.0 / (1.0 + exp_neg), exp_pos / (1.0 + exp_pos))


def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax along ``dim``: p_i = e^{z_i} / Σ_j e^{z_j}.

    Computed as e^{z_i − m} / Σ_j e^{z_j − m} with m = max_j z_j (the ratio is unchanged by the
    shift, and every exponent is ≤ 0, so nothing overflows).
    """
    z = _check_tensor(z, "z")
    dim = _check_dim(dim, z)
    shifted = z - z.amax(dim=dim, keepdim=True).detach()
    exp = torch.exp(shifted)
    return exp / exp.sum(dim=dim, keepdim=True)


def log_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Log-softmax along ``dim``: log p_i = z_i − log Σ_j e^{z_j} = (z_i − m) − log Σ_j e^{z_j − m}
    with m = max_j z_j (the log-sum-exp trick; finite even where p_i underflows to 0)."""
    z = _check_tensor(z, "z")
    dim = _check_dim(dim, z)
    shifted = z - z.amax(dim=dim, keepdim=True).detach()
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def _check_images(x, argument: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{argument} must be a 4-D minibatch of images, got shape "
                         f"{tuple(x.shape)}")
    return x


def nchw_to_nhwc(x: torch.Tensor) -> torch.Tensor:
    """PyTorch layout [N, C, H, W] → TensorFlow layout [N, H, W, C] (a contiguous copy)."""
    return _check_images(x, "x").permute(0, 2, 3, 1).contiguous()


def nhwc_to_nchw(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow layout [N, H, W, C] → PyTorch layout [N, C, H, W] (a contiguous copy)."""
    return _check_images(x, "x").permute(0, 3, 1, 2).contiguous()
