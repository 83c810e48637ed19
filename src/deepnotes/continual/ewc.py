"""Elastic weight consolidation (Kirkpatrick et al. 2017) with the exact diagonal Fisher.

The course (SYLLABUS section 7, "EWC"): while training task B, minimize

    L(θ) = L_B(θ) + Σ_i λ/2 · F_i (θ_i − θ*_{A,i})²,

θ*_A the solution of task A and F_i the diagonal of the Fisher information of the predictor
at θ*_A:

    F_i = E_x E_{y∼p_θ(·|x)} [(∂ log p_θ(y|x) / ∂θ_i)²].

``fisher_diagonal`` computes it from per-example gradients (``torch.func``: ``vmap`` over the
examples of ``jacrev`` of the log-probabilities, through ``functional_call``), never from
squared minibatch means; ``minibatch_fisher`` is that cheaper approximation (the one Avalanche
uses: the square of each minibatch's mean gradient, averaged over minibatches), kept for the
comparison. ``ewc_penalty`` is the quadratic term; ``EWC`` (one anchor and one Fisher per task)
and ``OnlineEWC`` (Schwarz et al. 2018: one running Fisher F ← γF + F_t, one anchor) are
``Strategy`` hooks for ``train_stream``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from ..core import checks
from ..core.rng import RandomStreams
from .strategies import Strategy

__all__ = ["EWC", "OnlineEWC", "ewc_penalty", "fisher_diagonal", "minibatch_fisher"]

LABELS = ("true", "empirical")

#: examples per plain forward pass (the probabilities p_θ(·|x_n)); memory only, not results
FORWARD_CHUNK = 4096


# ---------------------------------------------------------------------------------------------
# argument checks shared by the Fisher functions

def _check_inputs(inputs) -> Tensor:
    inputs = checks.tensor(inputs, "inputs", floating=True)
    if inputs.dim() < 1 or len(inputs) == 0:
        raise ValueError(f"inputs must hold at least one example (first dimension), got shape "
                         f"{tuple(inputs.shape)}")
    return inputs


def _check_targets(targets, inputs: Tensor) -> Tensor:
    targets = checks.tensor(targets, "targets", ndim=1, floating=False)
    if len(targets) != len(inputs):
        raise ValueError(f"targets must have one label per example of inputs ({len(inputs)}), "
                         f"got {len(targets)}")
    return targets


def _check_labels_in_range(targets: Tensor, classes: int) -> None:
    if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= classes):
        raise ValueError(f"targets must be class indices in [0, {classes}) (the columns of "
                         f"logits_fn's output), got values in [{int(targets.min())}, "
                         f"{int(targets.max())}]")


def _trainable(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(parameters to differentiate, everything else functional_call needs), detached."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no parameter with requires_grad=True: the Fisher is empty")
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    frozen.update(dict(model.named_buffers()))
    return params, frozen


def _logits(model: nn.Module, inputs: Tensor, logits_fn) -> Tensor:
    outputs = model(inputs)
    logits = outputs if logits_fn is None else logits_fn(outputs)
    if not isinstance(logits, Tensor) or logits.dim() != 2 or len(logits) != len(inputs):
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"logits_fn(model(inputs)) must be an (N, classes) tensor with N = "
                         f"{len(inputs)}, got {shape}")
    return logits


class _EvalMode:
    """Evaluate the predictor p_θ(y|x) (dropout off, batch-norm running statistics), then
    restore the model's mode."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was_training = model, model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


# ---------------------------------------------------------------------------------------------
# the Fisher

def fisher_diagonal(model: nn.Module, inputs: Tensor, *, labels: str = "true",
                    targets: Tensor | None = None,
                    logits_fn: Callable[[Tensor], Tensor] | None = None,
                    samples: int | None = None, chunk_size: int = 64,
                    rng: torch.Generator | None = None) -> dict[str, Tensor]:
    """The diagonal Fisher F_i = (1/N) Σ_n E_{y∼q_n} [(∂ log p_θ(y|x_n) / ∂θ_i)²].

    One gradient per (example, label): ``vmap`` over the examples of ``jacrev`` of the
    selected log-probabilities log p_θ(y|x_n) = log_softmax(logits_fn(model(x_n)))_y, with the
    parameters as explicit inputs (``functional_call``). Nothing is averaged before squaring.

    Arguments (symbol ↔ argument):
        model: the predictor at θ (θ = its parameters with ``requires_grad``; frozen ones and
            buffers are held fixed). It is evaluated in eval mode, then its mode is restored.
        inputs: x_1..x_N (first dimension = examples).
        labels: which distribution q_n the label y is drawn from —
            ``"true"``: the model's own p_θ(·|x_n), the Fisher information the course defines;
            ``"empirical"``: the data label, q_n = δ_{y_n} (the "empirical Fisher").
        targets: y_1..y_N, class indices into logits_fn's output; required for
            ``"empirical"``, ignored (must be None) for ``"true"``.
        logits_fn: maps the model's outputs to the logits p_θ is the softmax of (a stream's head
            masking: ``lambda out: stream.logits(out, t, training=True)``); None = identity.
            Masked classes (logit −inf) get probability 0 and contribute nothing.
        samples: for ``"true"`` only. None (the default) = the exact expectation over the
            classes, Σ_c p_θ(c|x_n)(∂ log p_θ(c|x_n)/∂θ_i)²: C gradients per example, cheap
            for 10 classes and free of sampling noise. An int S = Monte Carlo, S labels per
            example drawn as ``torch.multinomial(P, S, replacement=True, generator=rng)`` on
            the (N, C) probability matrix P, each weighted 1/S.
        chunk_size: examples per vectorized pass (memory ≈ chunk_size × labels per example ×
            number of parameters floats; for the MNIST-1D MLP on CPU the default 64 ran
            faster than 16, 128 or 256).
        rng: the generator of the Monte Carlo labels (None: torch's global generator).

    Returns: {parameter name: F of that parameter's shape}, for each trainable parameter.
    """
    checks.module(model, "model")
    inputs = _check_inputs(inputs)
    checks.choice(labels, "labels", LABELS)
    if logits_fn is not None:
        checks.function(logits_fn, "logits_fn", "outputs -> (N, classes) logits")
    chunk_size = checks.positive_int(chunk_size, "chunk_size")
    rng = checks.generator(rng, "rng")
    if labels == "empirical":
        if targets is None:
            raise ValueError('targets is required when labels="empirical" (the data labels y_n)')
        if samples is not None:
            raise ValueError('samples applies to labels="true" only (the empirical Fisher uses '
                             f'the one data label per example), got samples={samples!r}')
        targets = _check_targets(targets, inputs)
    else:
        if targets is not None:
            raise ValueError('targets must be None when labels="true" (labels are drawn from '
                             'the model); pass labels="empirical" to use the data labels')
        if samples is not None:
            samples = checks.positive_int(samples, "samples")
    params, frozen = _trainable(model)

    with _EvalMode(model):
        # P = p_θ(·|x_n) for every example: the exact weights or the sampling distribution.
        with torch.no_grad():
            probs = torch.cat([torch.softmax(_logits(model, inputs[s:s + FORWARD_CHUNK],
                                                     logits_fn), dim=-1)
                               for s in range(0, len(inputs), FORWARD_CHUNK)])
        classes = probs.shape[1]
        if labels == "empirical":
            _check_labels_in_range(targets, classes)
            index = targets.to(probs.device).view(-1, 1)
            weights = torch.ones(index.shape, dtype=probs.dtype, device=probs.device)
        elif samples is None:
            index = torch.arange(classes, device=probs.device).expand(len(inputs), classes)
            weights = probs
        else:
            device = probs.device if rng is None else rng.device
            index = torch.multinomial(probs.to(device), samples, replacement=True,
                                      generator=rng).to(probs.device)
            weights = torch.full(index.shape, 1.0 / samples, dtype=probs.dtype,
                                 device=probs.device)

        def scaled_log_probs(theta: dict[str, Tensor], x: Tensor, which: Tensor,
                             scale: Tensor) -> Tensor:
            """√w_k · log p_θ(y_k|x) for the labels y_k = ``which`` of one example."""
            outputs = functional_call(model, (theta, frozen), (x.unsqueeze(0),))
            logits = outputs if logits_fn is None else logits_fn(outputs)
            return torch.log_softmax(logits, dim=-1).squeeze(0).gather(0, which) * scale

        # √w_k ∂ log p_θ(y_k|x_n)/∂θ for every example n and label k of it: (n, k, *θ.shape);
        # the square of that is w_k (∂ log p_θ(y_k|x_n)/∂θ)², summed over n and k below.
        per_example = vmap(jacrev(scaled_log_probs), in_dims=(None, 0, 0, 0))
        scales = weights.sqrt()
        fisher = {name: torch.zeros_like(p) for name, p in params.items()}
        for start in range(0, len(inputs), chunk_size):
            stop = start + chunk_size
            jacobians = per_example(params, inputs[start:stop], index[start:stop],
                                    scales[start:stop].to(inputs.dtype))
            for name, jac in jacobians.items():
                # rows (n, k), squared in place (the block is ours; an expanded or strided view
                # is copied first), summed over the rows by a matrix-vector product (faster on
                # CPU than .sum over the leading dimensions)
                rows = jac.reshape(-1, fisher[name].numel())
                rows = rows if rows.is_contiguous() else rows.contiguous()
                ones = torch.ones(len(rows), dtype=rows.dtype, device=rows.device)
                fisher[name] += (ones @ rows.pow_(2)).view_as(fisher[name])
    return {name: f / len(inputs) for name, f in fisher.items()}


def minibatch_fisher(model: nn.Module, inputs: Tensor, targets: Tensor, *,
                     batch_size: int = 64,
                     logits_fn: Callable[[Tensor], Tensor] | None = None) -> dict[str, Tensor]:
    """The minibatch approximation F̃_i = (1/M) Σ_b (∂/∂θ_i (1/|b|) Σ_{n∈b} log p_θ(y_n|x_n))².

    What Avalanche's EWC computes: the data labels y_n (as the empirical Fisher), the mean
    gradient of each of the M consecutive minibatches b of ``batch_size`` examples (the last
    one may be shorter) squared, then averaged over the minibatches. Since
    E[ḡ_b²] = ḡ² + Var(g)/|b| for a random minibatch, it is not the Fisher: near an optimum
    (mean gradient ḡ ≈ 0) it is about the empirical Fisher divided by the batch size. With
    ``batch_size=1`` it equals ``fisher_diagonal(..., labels="empirical")``.

    No randomness: minibatches are taken in the order of ``inputs`` (shuffle beforehand to
    match a shuffling data loader). Arguments as ``fisher_diagonal``.
    """
    checks.module(model, "model")
    inputs = _check_inputs(inputs)
    targets = _check_targets(targets, inputs)
    batch_size = checks.positive_int(batch_size, "batch_size")
    if logits_fn is not None:
        checks.function(logits_fn, "logits_fn", "outputs -> (N, classes) logits")
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no parameter with requires_grad=True: the Fisher is empty")
    fisher = {name: torch.zeros_like(p) for name, p in params.items()}
    batches = 0
    with _EvalMode(model):
        for start in range(0, len(inputs), batch_size):
            x, y = inputs[start:start + batch_size], targets[start:start + batch_size]
            logits = _logits(model, x, logits_fn)
            if start == 0:
                _check_labels_in_range(targets, logits.shape[1])
            mean_log_prob = torch.log_softmax(logits, dim=-1).gather(
                1, y.to(logits.device).view(-1, 1)).mean()
            grads = torch.autograd.grad(mean_log_prob, list(params.values()))
            for name, g in zip(params, grads, strict=True):
                fisher[name] += g.detach().square()
            batches += 1
    return {name: f / batches for name, f in fisher.items()}


# ---------------------------------------------------------------------------------------------
# the penalty

def _named(value, name: str) -> Mapping[str, Tensor]:
    if isinstance(value, nn.Module):
        return dict(value.named_parameters())
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping {{parameter name: tensor}} or an "
                        f"nn.Module, got {type(value).__name__}")
    for key, tensor in value.items():
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{name}[{key!r}] must be a torch.Tensor, got "
                            f"{type(tensor).__name__}")
    return value


def ewc_penalty(params, anchor: Mapping[str, Tensor], fisher: Mapping[str, Tensor],
                lam: float) -> Tensor:
    """λ/2 · Σ_i F_i (θ_i − θ*_i)², summed over every parameter named in ``fisher``.

    ``params`` θ: a mapping {name: tensor} (e.g. ``dict(model.named_parameters())``) or the
    model itself; ``anchor`` θ*: the same names, detached values; ``fisher`` F: the same names
    and shapes (``fisher_diagonal``'s result); ``lam`` λ ≥ 0. Its gradient in θ_i is
    λ F_i (θ_i − θ*_i).
    """
    params = _named(params, "params")
    anchor = _named(anchor, "anchor")
    fisher = _named(fisher, "fisher")
    lam = checks.nonnegative_number(lam, "lam")
    if not fisher:
        raise ValueError("fisher is empty: no parameter to anchor")
    total = None
    for name, f in fisher.items():
        for other, label in ((params, "params"), (anchor, "anchor")):
            if name not in other:
                raise ValueError(f"{label} has no entry {name!r} (fisher's names: "
                                 f"{sorted(fisher)})")
            if other[name].shape != f.shape:
                raise ValueError(f"{label}[{name!r}] has shape {tuple(other[name].shape)}, "
                                 f"fisher[{name!r}] has {tuple(f.shape)}")
        term = (f * (params[name] - anchor[name]).square()).sum()
        total = term if total is None else total + term
    return 0.5 * lam * total


# ---------------------------------------------------------------------------------------------
# strategies

def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


class EWC(Strategy):
    """Elastic weight consolidation: after each task t, store θ*_t and F_t (the diagonal Fisher
    at θ*_t on task t's training inputs); while training later tasks add

        Σ_{k<t} λ/2 Σ_i F_{k,i} (θ_i − θ*_{k,i})²      (one penalty per earlier task).

    Arguments: ``lam`` λ ≥ 0; ``fisher`` — ``"true"`` (labels from the model, the course's
    Fisher) or ``"empirical"`` (the data labels); ``samples`` — None: exact expectation over the
    classes (default), an int: Monte Carlo labels per example (``fisher_diagonal``); ``seed``:
    the Monte Carlo labels of task t come from stream ``f"fisher-{t}"`` of
    ``RandomStreams(seed)``, so a resumed stream draws the same ones; ``chunk_size`` as in
    ``fisher_diagonal``.

    The Fisher is that of the predictor the stream trains: p_θ = softmax of
    ``stream.logits(outputs, t, training=True)`` (task-IL: task t's head; class-IL: the classes
    seen so far, those the model was trained to tell apart; domain-IL: every output), and with
    ``fisher="empirical"`` the labels are the task's training labels mapped to those columns
    (``stream.targets``).
    """

    name = "ewc"

    def __init__(self, lam: float, fisher: str = "true", samples: int | None = None, *,
                 seed: int = 0, chunk_size: int = 64) -> None:
        self.lam = checks.nonnegative_number(lam, "lam")
        self.fisher = checks.choice(fisher, "fisher", LABELS)
        if samples is not None:
            samples = checks.positive_int(samples, "samples")
            if fisher == "empirical":
                raise ValueError('samples applies to fisher="true" only, got '
                                 f'samples={samples} with fisher="empirical"')
        self.samples = samples
        self.seed = checks.nonnegative_int(seed, "seed")
        self.chunk_size = checks.positive_int(chunk_size, "chunk_size")
        self.anchors: list[dict[str, Tensor]] = []
        self.fishers: list[dict[str, Tensor]] = []

    def task_fisher(self, model: nn.Module, stream, t: int) -> dict[str, Tensor]:
        """F_t: ``fisher_diagonal`` on task t's training inputs under the stream's head rule."""
        x, y = stream.tasks[t].train
        device = next(model.parameters()).device
        rng = None
        if self.fisher == "true" and self.samples is not None:
            rng = RandomStreams(self.seed).generator(f"fisher-{t}", device)
        return fisher_diagonal(
            model, x.to(device), labels=self.fisher,
            targets=(stream.targets(y, t, training=True).to(device)
                     if self.fisher == "empirical" else None),
            logits_fn=lambda outputs: stream.logits(outputs, t, training=True),
            samples=self.samples, chunk_size=self.chunk_size, rng=rng)

    def end_task(self, model, stream, t) -> None:
        self.fishers.append(self.task_fisher(model, stream, t))
        self.anchors.append(_snapshot(model))

    def penalty(self, model, x, y, stream, t):
        if not self.fishers:
            return 0.0
        params = dict(model.named_parameters())
        return sum(ewc_penalty(params, anchor, fisher, self.lam)
                   for anchor, fisher in zip(self.anchors, self.fishers, strict=True))

    def state_dict(self) -> dict:
        return {"anchors": [dict(a) for a in self.anchors],
                "fishers": [dict(f) for f in self.fishers]}

    def load_state_dict(self, state) -> None:
        anchors, fishers = list(state["anchors"]), list(state["fishers"])
        if len(anchors) != len(fishers):
            raise ValueError(f"state has {len(anchors)} anchors but {len(fishers)} Fishers")
        self.anchors, self.fishers = [dict(a) for a in anchors], [dict(f) for f in fishers]

    def __repr__(self) -> str:
        samples = "" if self.samples is None else f", samples={self.samples}"
        return f"EWC(lam={self.lam:g}, fisher={self.fisher!r}{samples})"


class OnlineEWC(EWC):
    """Online EWC (Schwarz et al. 2018, "Progress & compress"): one running Fisher and one
    anchor instead of one pair per task. After task t:

        F ← γ F + F_t   (F = F_0 after the first task),      θ* ← θ*_t,

    and the penalty is λ/2 Σ_i F_i (θ_i − θ*_i)². ``gamma`` γ ∈ [0, 1] discounts older tasks
    (γ = 1: their Fishers add up; γ = 0: only the last task is protected). Other arguments as
    ``EWC``.
    """

    name = "online-ewc"

    def __init__(self, lam: float, gamma: float, *, fisher: str = "true",
                 samples: int | None = None, seed: int = 0, chunk_size: int = 64) -> None:
        super().__init__(lam, fisher, samples, seed=seed, chunk_size=chunk_size)
        self.gamma = checks.probability(gamma, "gamma")
        self.tasks_seen = 0

    @property
    def running_fisher(self) -> dict[str, Tensor] | None:
        return self.fishers[0] if self.fishers else None

    def end_task(self, model, stream, t) -> None:
        self.update(self.task_fisher(model, stream, t), _snapshot(model))

    def update(self, task_fisher: Mapping[str, Tensor], anchor: Mapping[str, Tensor]) -> None:
        """F ← γF + F_t and θ* ← θ*_t (the recursion, separated from the Fisher computation)."""
        previous = self.running_fisher
        if previous is None:
            running = {n: f.detach().clone() for n, f in task_fisher.items()}
        else:
            if set(previous) != set(task_fisher):
                raise ValueError(f"task_fisher's names {sorted(task_fisher)} differ from the "
                                 f"running Fisher's {sorted(previous)}")
            running = {n: self.gamma * previous[n] + f.detach() for n, f in task_fisher.items()}
        self.fishers = [running]
        self.anchors = [{n: a.detach().clone() for n, a in anchor.items()}]
        self.tasks_seen += 1

    def state_dict(self) -> dict:
        return {**super().state_dict(), "tasks_seen": self.tasks_seen}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        if len(self.fishers) > 1:
            raise ValueError(f"OnlineEWC keeps one running Fisher, state has {len(self.fishers)}")
        self.tasks_seen = int(state["tasks_seen"])

    def __repr__(self) -> str:
        samples = "" if self.samples is None else f", samples={self.samples}"
        return (f"OnlineEWC(lam={self.lam:g}, gamma={self.gamma:g}, "
                f"fisher={self.fisher!r}{samples})")
