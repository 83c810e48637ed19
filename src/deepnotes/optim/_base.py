"""What the course's optimizers share: validation, closures, lazy state, choosing the form.

Each optimizer is a thin ``torch.optim.Optimizer`` subclass that names its state tensors and
hands the lists to one of three forms of the same update rule (``deepnotes.optim.functional``):

- ``"single"``: the single-tensor loop, eager (the readable reference);
- ``"foreach"``: ``torch._foreach_*`` ops;
- ``"compiled"``: one pass over memory per parameter: where torch has a kernel computing
  exactly the same update, that kernel (``_native``: plain SGD as one in-place ``add_``, SGD
  with momentum or decay on torch's fused SGD kernel, AdaGrad on its fused AdaGrad kernel),
  else the single-tensor loop through ``torch.compile`` (``_compiled.py``).

Which form a group uses (``fused``/``foreach`` arguments, torch.optim's names):
``fused=True`` → compiled; ``foreach=True`` → foreach; otherwise, if either is ``False`` →
single; both ``None`` (default) → the fastest form measured for the device (``choose_form``):
CUDA → foreach; CPU → compiled from ``COMPILE_MIN_NUMEL`` elements up, foreach below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import Tensor

from ..core import checks
from . import _compiled

#: On CPU, groups with at least this many elements use the compiled form by default, smaller
#: ones the multi-tensor form. Measured on this project's 2-core CPU (torch 2.13, one thread,
#: median of 50 interleaved steps; ``benchmarks/optimizers.py --crossover`` re-measures): for
#: small groups the step is dispatch-bound and the foreach form, one dispatch per operation for
#: the whole list, wins — Adam on the MNIST-1D MLP (4 tensors) 104 µs vs 204 µs single-tensor,
#: 10×10k elements 385 vs 711 µs; at 10×100k the two are equal (7.5 vs 7.8 ms) and memory-bound,
#: where a one-pass form (the compiled loop: one pass over memory instead of ~6) is several
#: times faster. A compilation costs ~7–20 s, so it pays off after a few thousand steps at ~1M
#: elements: the threshold is 2²⁰. (SGD and AdaGrad compile nothing: their one-pass form is a
#: torch kernel.)
COMPILE_MIN_NUMEL = 2**20


def choose_form(params: list[Tensor], fused: bool | None, foreach: bool | None) -> str:
    """The form a group of ``params`` runs in (see the module docstring)."""
    if fused:
        return "compiled" if _compiled.compile_available() else "single"
    if foreach:
        return "foreach"
    if fused is None and foreach is None:
        if params[0].device.type == "cuda":
            return "foreach"  # one launch per op for the whole list, as torch.optim does
        numel = sum(p.numel() for p in params)
        if numel >= COMPILE_MIN_NUMEL and _compiled.compile_available():
            return "compiled"
        return "foreach"
    return "single"


# --------------------------------------------------------------------------------------------
# validation (numbers by ``core.checks``)


def check_lr(lr) -> float:
    """lr = ε: a finite number ≥ 0, or a one-element tensor holding one (as torch.optim)."""
    if isinstance(lr, Tensor) and lr.numel() == 1:
        lr = lr.reshape(())
    return checks.nonnegative_number(lr, "lr")


def check_forms(fused, foreach) -> None:
    for name, value in (("fused", fused), ("foreach", foreach)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"{name} must be True, False or None, got {value!r}")
    if fused and foreach:
        raise ValueError("fused=True and foreach=True cannot be used together")


def check_params(params) -> None:
    """``params``: an iterable of tensors or of param-group dicts (torch.optim's contract)."""
    if isinstance(params, (str, bytes)) or not isinstance(params, (Iterable, Tensor)):
        raise TypeError("params must be an iterable of tensors or of dicts (parameter groups), "
                        f"e.g. model.parameters(); got {type(params).__name__}")


def check_state_dict(optimizer: torch.optim.Optimizer, state_dict) -> None:
    """``state_dict`` must have been saved by an optimizer of ``optimizer``'s kind: each group
    carries its hyperparameters, each parameter's state the tensors its update rule keeps.
    Another optimizer's state is refused here, naming what it lacks, instead of failing at the
    next step (torch.optim's ``KeyError: 'exp_avg'`` after Adam loads an SGD state)."""
    kind = type(optimizer).__name__
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be an optimizer's state_dict (a dict with 'state' "
                        f"and 'param_groups'), got {type(state_dict).__name__}")
    if "state" not in state_dict or "param_groups" not in state_dict:
        raise ValueError(f"state_dict is not an optimizer's state_dict: its keys are "
                         f"{sorted(map(str, state_dict))}, not 'state' and 'param_groups'")
    needed = set(optimizer.defaults) - {"foreach", "fused"}
    probe = torch.empty(0)
    for index, group in enumerate(state_dict["param_groups"]):
        lacking = sorted(needed - set(group))
        if lacking:
            raise ValueError(f"state_dict was not saved by {kind}: its param_groups[{index}] "
                             f"lacks the hyperparameters {', '.join(lacking)} (it was saved by "
                             "another kind of optimizer)")
        expected = set(optimizer._init_state(probe, {**optimizer.defaults, **group}))
        for key in group.get("params", ()):
            saved = state_dict["state"].get(key)
            missing = sorted(expected - set(saved)) if saved else []
            if missing:
                raise ValueError(
                    f"state_dict was not saved by {kind}: the state of parameter {key} lacks "
                    f"{', '.join(missing)} (it holds {', '.join(sorted(map(str, saved)))}: "
                    "another kind of optimizer's)")


# --------------------------------------------------------------------------------------------
# the base class


class CourseOptimizer(torch.optim.Optimizer):
    """Base class: subclasses define ``_validate``, ``_init_state``, ``_state_lists``,
    ``_hyperparameters`` and the ``_single``/``_foreach`` update functions."""

    _single: Callable
    _foreach: Callable
    #: torch's own kernel for exactly this update, used by the compiled form when it applies
    #: (returns False when not): SGD with momentum and AdaGrad map onto torch's fused kernels.
    _native: Callable | None = None

    def _compiled_call(self, params, grads, state, hyper) -> tuple[Callable, tuple, dict]:
        """The function the compiled path compiles and its arguments (default: the whole
        single-tensor update); Adam and AdaGrad first compute their per-tensor scalars."""
        return type(self)._single, (params, grads, *state), hyper

    def __init__(self, params, defaults: dict) -> None:
        check_params(params)
        self._validate(defaults)
        check_forms(defaults.get("fused"), defaults.get("foreach"))
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        merged = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        self._validate(merged)
        check_forms(merged.get("fused"), merged.get("foreach"))
        super().add_param_group(param_group)

    def load_state_dict(self, state_dict: dict) -> None:
        """torch.optim's ``load_state_dict``, after ``check_state_dict`` (another optimizer's
        state is refused with the keys it lacks)."""
        check_state_dict(self, state_dict)
        super().load_state_dict(state_dict)

    # subclasses -------------------------------------------------------------------------
    def _validate(self, group: dict) -> None:
        raise NotImplementedError

    def _init_state(self, param: Tensor, group: dict) -> dict:
        raise NotImplementedError

    def _state_lists(self, params: list[Tensor], group: dict) -> list[list]:
        raise NotImplementedError

    def _hyperparameters(self, group: dict) -> dict:
        raise NotImplementedError

    # shared -----------------------------------------------------------------------------
    def form(self, group: dict) -> str:
        """The form (``"single"``, ``"foreach"``, ``"compiled"``) ``group`` runs in."""
        return choose_form(list(group["params"]), group.get("fused"), group.get("foreach"))

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None):
        """One update of every parameter that has a gradient. ``closure`` (re-evaluates the
        model and returns the loss) is called first, with gradients enabled, as in torch.optim;
        its loss is returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads = [], []
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                if torch.is_complex(param):
                    raise TypeError(f"{type(self).__name__} does not support complex parameters")
                if not self.state[param]:
                    self.state[param] = self._init_state(param, group)
                params.append(param)
                grads.append(param.grad)
            if not params:
                continue
            state = self._state_lists(params, group)
            hyper = self._hyperparameters(group)
            form = choose_form(params, group.get("fused"), group.get("foreach"))
            if form == "compiled" and self._native is not None and type(self)._native(
                params, grads, *state, **hyper
            ):
                continue
            if form == "compiled":
                update, args, kwargs = self._compiled_call(params, grads, state, hyper)
                _compiled.run_compiled(update, *args, **kwargs)
            elif form == "foreach":
                type(self)._foreach(params, grads, *state, **hyper)
            else:
                type(self)._single(params, grads, *state, **hyper)
        return loss


def zeros_like(param: Tensor) -> Tensor:
    return torch.zeros_like(param, memory_format=torch.preserve_format)


def step_counter(param: Tensor) -> Tensor:
    """The per-parameter step count t: a 0-d float32 tensor on the parameter's device, as
    torch.optim keeps it (float64 0-d CPU tensors are mis-compiled by inductor in torch 2.13:
    their in-place updates are lost)."""
    return torch.zeros((), dtype=torch.float32, device=param.device)
