"""Pieces of the nn experiments (the generic test runs their quick presets)."""

import torch

from deepnotes.experiments import activation_saturation, batchnorm, cnn_vs_mlp
from deepnotes.nn.models import MLP, count_parameters


def test_models_of_cnn_vs_mlp_have_the_papers_sizes():
    models = {name: factory() for name, factory in cnn_vs_mlp.build_models(100).items()}
    counts = {name: count_parameters(m) for name, m in models.items()}
    assert counts == {"logistic": 410, "mlp": 15_210, "cnn": 5_210}


def test_shuffling_positions_leaves_the_mlp_function_class_unchanged():
    """An MLP on permuted inputs equals the MLP with permuted first-layer columns: the
    shuffled variant cannot help or hurt the MLP, only the CNN (locality)."""
    order = cnn_vs_mlp.position_permutation(40, seed=0)
    assert sorted(order.tolist()) == list(range(40)) and not torch.equal(order, torch.arange(40))
    torch.manual_seed(0)
    mlp = MLP([40, 16, 10])
    permuted = MLP([40, 16, 10])
    permuted.load_state_dict(mlp.state_dict())
    # x'_j = x_{order[j]}, so W' x' = W x for W'[:, j] = W[:, order[j]]
    with torch.no_grad():
        permuted[1].weight.copy_(mlp[1].weight[:, order])
    x = torch.randn(5, 40)
    torch.testing.assert_close(permuted(x[:, order]), mlp(x))
    assert not torch.allclose(mlp(x[:, order]), mlp(x))


def test_steps_to_target():
    history = [{"step": 10, "train_loss": 2.0}, {"step": 20, "eval_loss": 0.1},
               {"step": 20, "train_loss": 0.4}, {"step": 30, "train_loss": 0.2}]
    assert batchnorm.steps_to_target(history, 0.5) == 20
    assert batchnorm.steps_to_target(history, 0.1) is None


def test_layer_gradient_norms_match_autograd():
    torch.manual_seed(0)
    model = MLP([6, 5, 3])
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    norms = activation_saturation.layer_gradient_norms(model, x, y)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, [model[1].weight, model[3].weight])
    assert norms == [float(g.norm()) for g in grads]
