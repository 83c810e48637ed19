"""The fast path for large CPU groups: ``torch.compile`` of the single-tensor update rules
(RMSProp and Adam; SGD and AdaGrad run torch's own one-pass kernels instead, and come here only
where those do not apply — see ``optim._base``).

Inductor turns each parameter's update (all the element-wise lines of the algorithm) into one
fused, vectorised, multi-threaded loop that reads and writes every tensor once, which is what
torch's hand-written ``fused=True`` kernels do. The compiled function is the single-tensor
reference's own element-wise function (for Adam and AdaGrad the per-tensor scalars — bias
corrections, decayed rates — are computed eagerly first, by the reference's own helper: inlined
into the element loop they would be recomputed for every vector of elements), so the two cannot
drift apart; ``tests/optim`` checks that they agree.

Compilation costs ~10–20 s per distinct graph on a 2-core CPU. A graph is specialised on the
parameter-group layout (number of tensors, shapes, dtypes) and on the constant hyperparameters
(betas, eps, momentum, ...); ``lr`` and the step counts enter as tensors, so schedulers and the
growing step count do not trigger recompiles. torch.compile keeps its compiled graphs (one per
layout) in its own cache keyed by these guards. If compilation is impossible (no C++ compiler,
an unsupported platform), the first failure is reported once as a warning and every later call
runs the eager single-tensor form.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

_compiled: dict[Callable, Callable] = {}
_broken: str | None = None


def compile_available() -> bool:
    """False once a compilation has failed in this process (then everything runs eagerly)."""
    return _broken is None


def run_compiled(update: Callable, *args, **kwargs) -> None:
    """Call ``update(*args, **kwargs)`` through its compiled version (eager if compiling fails).

    ``kwargs['lr']`` (if present) is turned into a 0-d float32 tensor on the parameters'
    device, so a new learning rate reuses the compiled graph.
    """
    global _broken
    params = args[0]
    if "lr" in kwargs:
        kwargs["lr"] = torch.as_tensor(kwargs["lr"], dtype=torch.float32,
                                       device=params[0].device)
    if _broken is None:
        fn = _compiled.get(update)
        if fn is None:
            fn = _compiled[update] = torch.compile(update, fullgraph=True, dynamic=False)
        try:
            fn(*args, **kwargs)
            return
        except Exception as error:  # noqa: BLE001 - any compiler failure means: run eagerly
            _broken = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            warnings.warn(
                f"deepnotes.optim: torch.compile failed ({_broken}); using the eager "
                "single-tensor update from now on",
                RuntimeWarning,
                stacklevel=3,
            )
    update(*args, **kwargs)
