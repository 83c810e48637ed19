"""The experiment contract (DESIGN.md, "Experiments are data plus one function").

An experiment module ``experiments/<name>.py`` defines:

- ``CLAIM``: one sentence from the course;
- ``Config``: a frozen dataclass with fields ``seed`` and ``device`` among its own, and the
  classmethods ``quick()`` (≤ 20 s on a 2-core CPU, still shows the claim) and ``full()``
  (reproduces the published numbers);
- ``run(config, run) -> Result`` where ``run`` is an ``engine.Run`` (figures go to
  ``run.file("name.png")``).

The verdict is an explicit numeric criterion written in the experiment: ``Verdict(reproduced,
criterion)``, e.g. ``Verdict(max_rel_err < 1e-5, f"max relative error {max_rel_err:.2e} < 1e-5")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """Whether the claim was reproduced, and the numeric criterion that decided it."""

    reproduced: bool
    criterion: str

    @classmethod
    def all_of(cls, *checks: tuple[bool, str]) -> Verdict:
        """Reproduced when every ``(passed, description)`` check passed; lists each one."""
        passed = all(bool(ok) for ok, _ in checks)
        text = "; ".join(f"{'✓' if ok else '✗'} {desc}" for ok, desc in checks)
        return cls(passed, text)


@dataclass
class Result:
    """What an experiment returns: numbers, figure files (under the run folder), a verdict."""

    metrics: dict[str, Any]
    verdict: Verdict
    figures: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "reproduced": bool(self.verdict.reproduced),
            "criterion": self.verdict.criterion,
            "figures": [Path(f).name for f in self.figures],
        }


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.5, height: float = 3.6):
    """A matplotlib figure on the non-interactive Agg canvas (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes.ravel() if nrows * ncols > 1 else axes[0, 0]


def save_figure(fig, run, name: str) -> Path:
    """Write ``fig`` as ``<run>/<name>.png`` (atomically, only on rank 0), close it, return the
    path."""
    import io

    import matplotlib.pyplot as plt

    from ..engine.files import write_bytes

    path = run.file(f"{name}.png")
    if run.writes:
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=110)
        write_bytes(path, buffer.getvalue())
    plt.close(fig)
    return path


def train_classifier(model, train_data, *, steps: int, batch_size: int, lr: float, run,
                     name: str, device, seed: int, loss=None):
    """Fit ``model`` on ``train_data`` = (x, y) with Adam (learning rate ``lr``) through
    ``engine.fit`` — ``steps`` minibatches of ``batch_size``, about 20 records logged under
    ``name`` in ``run`` — minimizing ``loss`` (default cross-entropy; any ``(logits, y) ->
    scalar``, e.g. an ``adversarial.AdversarialLoss``); returns the model in eval mode."""
    import torch

    from ..engine import fit

    if loss is None:
        loss = torch.nn.functional.cross_entropy
    return fit(model, loss, lambda parameters: torch.optim.Adam(parameters, lr=lr), train_data,
               steps=steps, batch_size=batch_size, log_every=max(1, steps // 20), run=run,
               name=name, device=device, seed=seed).model.eval()
