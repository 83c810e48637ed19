"""Bias–variance decomposition, by Monte Carlo over fresh data sets or by the bootstrap, with
all replicas trained at once.

The course (regression y = f(x) + ε, E[ε | x] = 0, an algorithm that maps a training set D to a
predictor f_D, risk R(f_D) = E_{x,y} (f_D(x) − y)²):

    E_D R(f_D) = E_x (f(x) − E_D f_D(x))²  +  E_x Var_D f_D(x)  +  Var(ε)
                 expected squared bias        expected variance      irreducible error

(the notes write E_D R(f) on the left; the expectation is of R(f_D), corrected here).

Two estimators:

- ``decompose``: R data sets D_1..D_R drawn fresh from a known rng, f known on a test
  sample x_1..x_m. Estimates (p_{r,j} = f_{D_r}(x_j), p̄_j = (1/R) Σ_r p_{r,j}, s²_j the
  unbiased variance over r):

      variance  V = (1/m) Σ_j s²_j
      bias²     B = (1/m) Σ_j (p̄_j − f(x_j))² − V / R     (debiased: E[B] = true bias²)
      noise     N = σ² (given) or (1/m) Σ_j (y_j − f(x_j))²
      risk      R̂ = (1/R) Σ_r (1/m) Σ_j (p_{r,j} − f(x_j))² + N

  and R̂ = B + V + N holds exactly (algebraically) on the estimates. Standard errors: the
  jackknife over data sets for B and V, the standard error of the mean over data sets for
  R̂ (both conditional on the test sample), and √(var/m) for N when it is estimated.

- ``bootstrap_decompose``: one fixed training set, R bootstrap resamples (what mlxtend's
  ``bias_variance_decomp`` does), with the noise term reported separately when f is known.
  For the 0-1 loss it computes Domingos' (2000) decomposition with the main prediction
  (the mode over rounds): bias(x) = 1[main(x) ≠ y], variance(x) = P_r(f_r(x) ≠ main(x));
  it is *not* additive: for two classes and noise-free labels
  loss(x) = bias(x) + (1 − 2 bias(x)) variance(x) (variance *reduces* the loss on biased
  points), reported as ``net_variance``.

Training the R replicas (``fit_predict_replicas``):

- a closed form for linear least squares (an estimator whose ``closed_form_least_squares``
  is True — ``supervised.LinearRegression`` with solver "lstsq" — or scikit-learn's
  ``LinearRegression``): one batched solve over the stacked (R, n, d) design by
  ``core.linalg.least_squares`` (``batched_least_squares``); for the bootstrap, a resample is
  a weighted fit on the one design with weights = row multiplicities (0 for rows left out);
- a torch module: all replicas train at once as ONE module, ``StackedModules`` (parameters
  stacked by ``torch.func.stack_module_state``, forward = ``vmap`` of ``functional_call``),
  trained by ``engine.fit`` on the loss summed over replicas, Σ_r L_r(θ_r): the gradient with
  respect to θ_r is ∇L_r alone, so each replica takes exactly its own optimizer step for any
  element-wise optimizer (SGD, momentum, Adam, weight decay; not L-BFGS or global-norm
  clipping). Data layout: replica r's training set is column r of X (n, R, d) and y (n, R), so
  ``fit`` batches along n and every replica sees its own examples (rows at the same positions
  of its own data set, the same batch order as a single-model ``fit`` with the same seed);
- anything else with ``fit``/``predict`` (scikit-learn style): one at a time.

``vectorize=False`` trains the same replicas one at a time with the same initializations and
batch order; the test suite checks that both give the same numbers.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..core import checks, linalg
from ..core.rng import make_generator
from ..engine import fit, resolve_device

# --------------------------------------------------------------------------------------------
# vectorized replicas


class StackedModules(nn.Module):
    """R modules of one architecture, with separate parameters, evaluated as one module.

    ``forward(x)``: with ``shared_input=False`` x has shape (B, R, ...) and replica r gets
    x[:, r]; with ``shared_input=True`` every replica gets the same x of shape (B, ...). The
    output has shape (B, R, ...) (replica axis second, so ``engine.fit`` can batch along the
    first). The stacked parameters are ordinary ``nn.Parameter``s of shape (R, ...): one
    optimizer over ``parameters()`` updates all replicas. ``replica(r)`` returns replica r
    as a standalone module.

    Modules whose buffers change during training (BatchNorm running statistics) are refused:
    vmap cannot update them in place.
    """

    def __init__(self, modules: Sequence[nn.Module], shared_input: bool = False):
        super().__init__()
        modules = list(modules)
        if not modules or not all(isinstance(m, nn.Module) for m in modules):
            raise TypeError("modules must be a non-empty sequence of torch.nn.Module")
        shapes = [[(k, tuple(p.shape)) for k, p in m.named_parameters()] for m in modules]
        if any(shape != shapes[0] for shape in shapes):
            raise ValueError("modules must share one architecture (the same parameter names and "
                             "shapes) to be stacked")
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules[0].modules()):
            raise TypeError("StackedModules cannot vectorize BatchNorm (in-place running "
                            "statistics); train such modules one at a time (vectorize=False)")
        params, buffers = stack_module_state(modules)
        self.names = list(params)
        self.stacked = nn.ParameterDict(
            {name.replace(".", "__"): nn.Parameter(value.detach().clone())
             for name, value in params.items()})
        self.buffer_names = list(buffers)
        for name, value in buffers.items():
            self.register_buffer("buffer__" + name.replace(".", "__"), value.clone())
        base = copy.deepcopy(modules[0]).to("meta")
        object.__setattr__(self, "_base", base)  # not a submodule: holds no real parameters
        self.replicas = len(modules)
        self.shared_input = shared_input

    def _state(self):
        params = {name: self.stacked[name.replace(".", "__")] for name in self.names}
        buffers = {name: getattr(self, "buffer__" + name.replace(".", "__"))
                   for name in self.buffer_names}
        return params, buffers

    def forward(self, x: torch.Tensor, shared_input: bool | None = None) -> torch.Tensor:
        """Outputs (B, R, ...); ``shared_input`` overrides the constructor's choice (e.g. to
        evaluate every replica on one test set)."""
        shared = self.shared_input if shared_input is None else shared_input
        params, buffers = self._state()

        def one(p, b, xi):
            return functional_call(self._base, (p, b), (xi,))

        return vmap(one, in_dims=(0, 0, None if shared else 1), out_dims=1)(params, buffers, x)

    def replica(self, r: int, template: nn.Module) -> nn.Module:
        """A copy of ``template`` carrying replica r's parameters and buffers."""
        module = copy.deepcopy(template)
        params, buffers = self._state()
        state = {name: value[r].detach().clone() for name, value in {**params, **buffers}.items()}
        module.load_state_dict(state)
        return module


class ReplicaLoss:
    """Σ_r loss_fn(output[:, r], y[:, r]): the sum over replicas of each replica's own loss
    (``shared_target=True``: y has no replica axis and every replica is compared with it).
    The gradient of the sum with respect to replica r's parameters is that replica's own."""

    def __init__(self, loss_fn: Callable, shared_target: bool = False):
        self.loss_fn = loss_fn
        self.shared_target = shared_target

    def __call__(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        per_replica = vmap(self.loss_fn, in_dims=(1, None if self.shared_target else 1))(
            output, y)
        return per_replica.sum()


@dataclass(frozen=True)
class Training:
    """How to train torch-module replicas: ``loss_fn(output, y)`` (a batch mean), an
    ``optimizer`` factory ``params -> Optimizer``, and ``steps`` or ``epochs`` (one of them),
    ``batch_size`` (None = full batch). Passed to ``engine.fit``."""

    loss_fn: Callable = F.mse_loss
    optimizer: Callable = field(default=lambda params: torch.optim.Adam(params, lr=1e-2))
    steps: int | None = 500
    epochs: int | None = None
    batch_size: int | None = None

    def __post_init__(self) -> None:
        checks.function(self.loss_fn, "loss_fn", "loss_fn(output, y) -> scalar tensor")
        checks.function(self.optimizer, "optimizer", "(a factory params -> Optimizer)")
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("Training: give exactly one of steps= or epochs= (steps=None to "
                             f"train by epochs), got steps={self.steps!r}, "
                             f"epochs={self.epochs!r}")
        for name in ("steps", "epochs", "batch_size"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, checks.positive_int(getattr(self, name), name))


def make_replicas(make_model: Callable[[], nn.Module], count: int, seed: int) -> list:
    """``count`` models from ``make_model()``, model r built under ``torch.manual_seed`` of the
    r-th seed drawn from a rng seeded ``seed`` (the global RNG is restored after)."""
    checks.function(make_model, "make_model", "make_model() -> nn.Module")
    count = checks.positive_int(count, "count")
    seeds = torch.randint(0, 2**62, (count,), generator=make_generator(seed)).tolist()
    models = []
    with torch.random.fork_rng(devices=[]):
        for s in seeds:
            torch.manual_seed(s)
            models.append(make_model())
    return models


def train_replicas(
    models: Sequence[nn.Module],
    training: Training,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    shared_data: bool = False,
    vectorize: bool = True,
    device: str | torch.device = "auto",
    seed: int = 0,
    name: str = "replicas",
    run=None,
):
    """Train ``models`` (R of them) on their own data sets; return a predictor
    ``x -> outputs (R, m, ...)`` on CPU (x (m, ...) is shared by all replicas).

    Data layout: with ``shared_data=False`` X has shape (n, R, ...) and y (n, R, ...), replica r
    training on (X[:, r], y[:, r]); with ``shared_data=True`` X (n, ...) and y (n, ...) are
    shared by all. ``vectorize=True`` trains one ``StackedModules`` with ``engine.fit`` on
    ``ReplicaLoss``; ``vectorize=False`` calls ``engine.fit`` once per replica with the same
    seed (same batch order).
    """
    device = resolve_device(device)
    fit_kwargs = dict(steps=training.steps, epochs=training.epochs,
                      batch_size=training.batch_size, device=device, seed=seed,
                      log_every=10**9, progress=None, run=run)
    if vectorize:
        stacked = StackedModules(models, shared_input=shared_data)
        loss = ReplicaLoss(training.loss_fn, shared_target=shared_data)
        fit(stacked, loss, training.optimizer(stacked.parameters()), (X, y), name=name,
            **fit_kwargs)
        stacked.eval()

        def predict(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return stacked(x.to(device), shared_input=True).transpose(0, 1).cpu()

        predict.module = stacked
        return predict
    trained = []
    for r, model in enumerate(models):
        data = (X, y) if shared_data else (X[:, r], y[:, r])
        fit(model, training.loss_fn, training.optimizer(model.parameters()), data,
            name=f"{name}-{r}", **fit_kwargs)
        model.eval()
        trained.append(model)

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.stack([m(x.to(device)).cpu() for m in trained])

    predict.module = trained
    return predict


# --------------------------------------------------------------------------------------------
# the replica dispatcher used by both decompositions


def _least_squares_intercept(model) -> bool | None:
    """``fit_intercept`` of an estimator whose fit is plain least squares in closed form (so R
    fits are one batched solve), None for any other estimator: one that declares
    ``closed_form_least_squares`` (``supervised.LinearRegression``), or scikit-learn's
    ``LinearRegression`` without the positivity constraint. (The scikit-learn class is looked
    up only if its module is loaded: a model cannot be an instance of it otherwise.)"""
    declared = getattr(model, "closed_form_least_squares", None)
    sklearn_linear = sys.modules.get("sklearn.linear_model")
    if declared is True or (declared is None and sklearn_linear is not None
                            and type(model) is sklearn_linear.LinearRegression
                            and not model.positive):
        return bool(model.fit_intercept)
    return None


def batched_least_squares(X: torch.Tensor, y: torch.Tensor, fit_intercept: bool = True):
    """Least squares for R problems at once: X (R, n, d), y (R, n) → coef (R, d),
    intercept (R,), by ``core.linalg.least_squares`` (Cholesky on the normal equations where
    every problem is well-conditioned, the minimum-norm SVD solution — scikit-learn's — on the
    others)."""
    if X.dim() != 3 or y.shape != X.shape[:2]:
        raise ValueError(f"X must be (R, n, d) and y (R, n), got {tuple(X.shape)} and "
                         f"{tuple(y.shape)}")
    return tuple(linalg.least_squares(X, y, fit_intercept=fit_intercept))


def weighted_least_squares_batched(X: torch.Tensor, y: torch.Tensor, weights: torch.Tensor,
                                   fit_intercept: bool = True):
    """R weighted least-squares fits on ONE design: X (n, d), y (n,), weights (R, n) ≥ 0 →
    coef (R, d), intercept (R,) by the normal equations (``core.linalg``, method "normal"),
    or None when some problem is too ill-conditioned for them (the caller then takes the SVD
    route, e.g. ``core.linalg.least_squares`` with method "auto").

    A bootstrap resample is the weighted fit with w = the multiplicity of each row, so the R
    resampled designs are never gathered (``core.linalg`` forms the R Gram matrices of the one
    design as one matrix product)."""
    if X.dim() != 2 or y.shape != X.shape[:1] or weights.dim() != 2 \
            or weights.shape[1] != len(X):
        raise ValueError(f"X must be (n, d), y (n,) and weights (R, n), got {tuple(X.shape)}, "
                         f"{tuple(y.shape)} and {tuple(weights.shape)}")
    try:
        fitted = linalg.least_squares(X.double(), y.double(), weights=weights.double(),
                                      fit_intercept=fit_intercept, method="normal")
    except linalg.IllConditionedError:
        return None
    return tuple(fitted)


def fit_predict_replicas(
    make_model: Callable,
    X_sets: torch.Tensor,
    y_sets: torch.Tensor,
    x_eval: torch.Tensor,
    *,
    training: Training | None = None,
    vectorize: bool = True,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> torch.Tensor:
    """Fit one model per training set (X_sets (R, n, d), y_sets (R, n, ...)) and predict on
    ``x_eval`` (m, d): returns (R, m, ...) — for estimators the output of ``predict``, for torch
    modules the module's output. See the module docstring for the three paths."""
    checks.function(make_model, "make_model", "make_model() -> estimator or nn.Module")
    checks.same_length(X_sets, "X_sets", y_sets, "y_sets")
    checks.same_rows(torch.as_tensor(x_eval), "x_eval", X_sets[0], "each training set")
    R = len(X_sets)
    probe = make_model()
    if isinstance(probe, nn.Module):
        models = make_replicas(make_model, R, seed)
        device = resolve_device(device)
        dtype = next(probe.parameters()).dtype
        X = X_sets.transpose(0, 1).to(device, dtype).contiguous()
        y = y_sets.transpose(0, 1).contiguous().to(device)
        if y.is_floating_point():
            y = y.to(dtype)
        x_eval = x_eval.to(dtype)
        vectorize = vectorize and not any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in probe.modules())
        predict = train_replicas(models, training or Training(), X, y, vectorize=vectorize,
                                 device=device, seed=seed)
        return predict(x_eval)
    if not (hasattr(probe, "fit") and hasattr(probe, "predict")):
        raise TypeError("make_model must return a torch.nn.Module or an estimator with fit and "
                        f"predict, got {type(probe).__name__}")
    fit_intercept = _least_squares_intercept(probe) if vectorize else None
    if fit_intercept is not None:
        coef, intercept = batched_least_squares(X_sets.double(), y_sets.double(), fit_intercept)
        return coef @ x_eval.double().T + intercept[:, None]
    outputs = []
    for r in range(R):
        model = clone(probe)  # keeps the user's random_state, as mlxtend does
        model.fit(X_sets[r].numpy(), y_sets[r].numpy())
        outputs.append(torch.as_tensor(np.asarray(model.predict(x_eval.numpy()))))
    return torch.stack(outputs)


# --------------------------------------------------------------------------------------------
# Monte Carlo decomposition over fresh data sets


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error."""

    value: float
    stderr: float

    def __format__(self, spec: str) -> str:
        return f"{format(self.value, spec or '.4g')} ± {format(self.stderr, spec or '.2g')}"


@dataclass(frozen=True)
class Decomposition:
    """E_D R(f_D) = bias² + variance + noise, each an ``Estimate``; ``measured_risk`` is the
    risk against the noisy test labels y_test when they were given. Per-test-point arrays:
    ``mean_prediction`` p̄(x_j), ``pointwise_bias2`` (p̄ − f)², ``pointwise_variance`` s².
    ``per_dataset_risk`` (R,) is each data set's (1/m) Σ_j (p_rj − f_j)² + noise, whose mean is
    ``risk`` (for paired comparisons between algorithms run on the same data sets)."""

    risk: Estimate
    bias2: Estimate
    variance: Estimate
    noise: Estimate
    n_datasets: int
    measured_risk: Estimate | None
    mean_prediction: torch.Tensor
    pointwise_bias2: torch.Tensor
    pointwise_variance: torch.Tensor
    per_dataset_risk: torch.Tensor

    def as_dict(self) -> dict[str, float]:
        out = {}
        for key in ("risk", "bias2", "variance", "noise", "measured_risk"):
            est = getattr(self, key)
            if est is not None:
                out[key], out[f"{key}_stderr"] = est.value, est.stderr
        return out


def _jackknife_stderr(leave_one_out: torch.Tensor) -> float:
    R = len(leave_one_out)
    return float(math.sqrt((R - 1) / R * ((leave_one_out - leave_one_out.mean()) ** 2).sum()))


def decompose_predictions(
    predictions: torch.Tensor,
    f_test: torch.Tensor,
    *,
    noise_var: float | None = None,
    y_test: torch.Tensor | None = None,
) -> Decomposition:
    """The decomposition from the replicas' predictions p (R, m) at the test points, the
    truth f(x_j) (m,), and σ² = ``noise_var`` (or the noisy labels ``y_test`` to estimate
    it). See the module docstring for the estimators."""
    p = torch.as_tensor(predictions, dtype=torch.float64)
    f = torch.as_tensor(f_test, dtype=torch.float64).reshape(-1)
    if p.dim() != 2 or p.shape[1] != len(f):
        raise ValueError(f"predictions must be (n_datasets, m) with m = len(f_test) = {len(f)}, "
                         f"got {tuple(p.shape)}")
    R, m = p.shape
    if R < 3:
        raise ValueError(f"n_datasets must be >= 3 (jackknife standard errors), got {R}")
    if y_test is not None:
        y_test = torch.as_tensor(y_test, dtype=torch.float64).reshape(-1)
        if len(y_test) != m:
            raise ValueError(f"y_test must have {m} entries, got {len(y_test)}")
    if noise_var is not None:
        noise = Estimate(checks.nonnegative_number(noise_var, "noise_var"), 0.0)
    elif y_test is not None:
        squared = (y_test - f) ** 2
        noise = Estimate(float(squared.mean()), float(squared.std() / math.sqrt(m)))
    else:
        raise ValueError("give noise_var (σ²) or y_test (noisy test labels) for the noise term")

    mean = p.mean(0)
    s2 = p.var(0, correction=1)
    variance = float(s2.mean())
    bias2 = float(((mean - f) ** 2).mean()) - variance / R
    per_set = ((p - f) ** 2).mean(1)  # (1/m) Σ_j (p_rj − f_j)²
    risk_value = float(per_set.mean()) + noise.value
    risk_se = math.sqrt(float(per_set.var(correction=1)) / R + noise.stderr**2)

    # jackknife over data sets: leave-one-out means and variances in closed form
    S1, S2 = p.sum(0), (p**2).sum(0)
    loo_mean = (S1 - p) / (R - 1)
    loo_var = ((S2 - p**2) - (S1 - p) ** 2 / (R - 1)) / (R - 2)
    loo_variance = loo_var.mean(1)
    loo_bias2 = ((loo_mean - f) ** 2).mean(1) - loo_variance / (R - 1)

    measured = None
    if y_test is not None:
        squared = (p - y_test) ** 2
        per_set_y, per_point_y = squared.mean(1), squared.mean(0)
        # uncertainty from the data sets and from the test sample's own noise draws
        measured = Estimate(float(per_set_y.mean()),
                            math.sqrt(float(per_set_y.var(correction=1)) / R
                                      + float(per_point_y.var(correction=1)) / m))
    return Decomposition(
        risk=Estimate(risk_value, risk_se),
        bias2=Estimate(bias2, _jackknife_stderr(loo_bias2)),
        variance=Estimate(variance, _jackknife_stderr(loo_variance)),
        noise=noise,
        n_datasets=R,
        measured_risk=measured,
        mean_prediction=mean,
        pointwise_bias2=(mean - f) ** 2,
        pointwise_variance=s2,
        per_dataset_risk=per_set + noise.value,
    )


def _draw_datasets(sample_data: Callable, count: int, rng: torch.Generator):
    Xs, ys = [], []
    for _ in range(count):
        drawn = sample_data(rng)
        if not (isinstance(drawn, tuple) and len(drawn) == 2):
            raise TypeError("sample_data(rng) must return a tuple (X, y) of tensors")
        X, y = (torch.as_tensor(t) for t in drawn)
        Xs.append(X)
        ys.append(y)
    shapes = {tuple(X.shape) for X in Xs}
    if len(shapes) != 1:
        raise ValueError(f"sample_data must return data sets of one shape, got {sorted(shapes)}")
    return torch.stack(Xs), torch.stack(ys)


def decompose(
    make_model: Callable,
    sample_data: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    x_test: torch.Tensor,
    f_test: torch.Tensor,
    n_datasets: int = 200,
    *,
    noise_var: float | None = None,
    y_test: torch.Tensor | None = None,
    training: Training | None = None,
    vectorize: bool = True,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> Decomposition:
    """Monte Carlo bias–variance decomposition over ``n_datasets`` fresh training sets.

    ``make_model()`` returns an unfitted estimator or torch module (the learning algorithm);
    ``sample_data(rng)`` draws one training set (X, y) from the known distribution
    (all randomness from ``rng``); ``x_test`` (m, d) and ``f_test`` = f(x_test) (m,) are
    the test sample and the truth there; σ² is ``noise_var`` or estimated from ``y_test``.
    ``training`` configures torch-module training (see ``Training``); ``vectorize`` picks the
    batched paths (batched lstsq / ``StackedModules``) over one-at-a-time training.

    Returns a ``Decomposition`` with risk = bias² + variance + noise exactly.
    """
    n_datasets = checks.int_at_least(n_datasets, "n_datasets", 3)
    checks.function(make_model, "make_model", "make_model() -> estimator or nn.Module")
    rng = make_generator(seed)
    X_sets, y_sets = _draw_datasets(sample_data, n_datasets, rng)
    checks.same_rows(torch.as_tensor(x_test), "x_test", X_sets[0],
                     "the training data from sample_data")
    predictions = fit_predict_replicas(make_model, X_sets, y_sets, torch.as_tensor(x_test),
                                       training=training, vectorize=vectorize, device=device,
                                       seed=seed)
    return decompose_predictions(predictions.reshape(n_datasets, -1), f_test,
                                 noise_var=noise_var, y_test=y_test)


# --------------------------------------------------------------------------------------------
# bootstrap decomposition on a fixed data set


@dataclass(frozen=True)
class BootstrapDecomposition:
    """Bootstrap decomposition of one data set (plug-in averages over rounds and test points).

    MSE: ``risk`` = ``bias`` + ``variance`` exactly, where ``bias`` = mean (p̄ − y)² is
    mlxtend's "bias" (it contains the noise). With f known: ``bias2`` = mean (p̄ − f)²,
    ``noise`` = σ² or mean (y − f)², and ``cross_term`` = bias − bias2 − noise (zero in
    expectation, the finite-sample remainder).
    0-1 (Domingos): ``bias`` = mean 1[main ≠ y], ``variance`` = mean P_r(p_r ≠ main),
    ``net_variance`` = mean (1 − 2 bias(x)) variance(x): for two classes
    ``risk`` = ``bias`` + ``net_variance`` exactly, while risk ≠ bias + variance in general.
    """

    loss: str
    risk: float
    bias: float
    variance: float
    rounds: int
    bias2: float | None = None
    noise: float | None = None
    cross_term: float | None = None
    net_variance: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def bootstrap_indices(n: int, rounds: int, *, rng: torch.Generator | None = None) -> torch.Tensor:
    """(rounds, n) row indices drawn uniformly with replacement."""
    n = checks.positive_int(n, "n")
    rounds = checks.positive_int(rounds, "rounds")
    rng = checks.generator(rng)
    return torch.randint(0, n, (rounds, n), generator=rng)


def bootstrap_decompose(
    make_model: Callable,
    X_train,
    y_train,
    X_test,
    y_test,
    rounds: int = 200,
    *,
    loss: str = "mse",
    f_test=None,
    noise_var: float | None = None,
    indices=None,
    training: Training | None = None,
    vectorize: bool = True,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> BootstrapDecomposition:
    """Bias–variance decomposition of ``make_model``'s algorithm on one fixed training set by
    ``rounds`` bootstrap resamples (as mlxtend's ``bias_variance_decomp``).

    ``loss``: ``"mse"`` or ``"0-1"`` (class labels; a torch module's logits are turned into
    labels by arg-max, or by z > 0 for a single logit). ``f_test`` (and ``noise_var``) separate
    the noise from the bias for MSE. ``indices`` (rounds, n) fixes the resamples (e.g. to
    reproduce mlxtend's draws); by default they come from a rng seeded ``seed``.
    """
    if loss not in ("mse", "0-1"):
        raise ValueError(f"loss must be 'mse' or '0-1', got {loss!r}")
    X_train, y_train = torch.as_tensor(X_train), torch.as_tensor(y_train)
    X_test, y_test = torch.as_tensor(X_test), torch.as_tensor(y_test)
    if len(X_train) != len(y_train) or len(X_test) != len(y_test):
        raise ValueError("X_train/y_train and X_test/y_test must have matching lengths")
    checks.function(make_model, "make_model", "make_model() -> estimator or nn.Module")
    checks.same_rows(X_test, "X_test", X_train, "X_train")
    if f_test is not None and len(torch.as_tensor(f_test)) != len(X_test):
        raise ValueError(f"f_test must hold f at each of the {len(X_test)} test points, got "
                         f"{len(torch.as_tensor(f_test))} values")
    if noise_var is not None:
        noise_var = checks.nonnegative_number(noise_var, "noise_var")
    if indices is not None:
        indices = torch.as_tensor(indices)
        if indices.dim() != 2 or indices.is_floating_point() or (indices.numel() and (
                int(indices.min()) < 0 or int(indices.max()) >= len(X_train))):
            raise ValueError(f"indices must be a (rounds, n) integer tensor of row indices in "
                             f"[0, {len(X_train)}), got shape {tuple(indices.shape)}")
    if indices is None:
        rounds = checks.int_at_least(rounds, "rounds", 2)
        indices = bootstrap_indices(len(X_train), rounds, rng=make_generator(seed))
    indices = torch.as_tensor(indices, dtype=torch.long)
    R = len(indices)
    probe = make_model()
    fit_intercept = None if not vectorize or isinstance(probe, nn.Module) \
        else _least_squares_intercept(probe)
    if fit_intercept is not None:
        # resample r = the weighted fit with w = each row's multiplicity (0 when left out)
        counts = torch.zeros(R, len(X_train), dtype=torch.float64).scatter_add_(
            1, indices, torch.ones(indices.shape, dtype=torch.float64))
        coef, intercept = linalg.least_squares(X_train.double(), y_train.double(),
                                               weights=counts, fit_intercept=fit_intercept)
        out = coef @ X_test.double().T + intercept[:, None]
    else:
        out = fit_predict_replicas(make_model, X_train[indices], y_train[indices], X_test,
                                   training=training, vectorize=vectorize, device=device,
                                   seed=seed)
    if loss == "mse":
        p = out.reshape(R, -1).double()
        y = y_test.double().reshape(-1)
        main = p.mean(0)
        risk = float(((p - y) ** 2).mean())
        bias = float(((main - y) ** 2).mean())
        variance = float(((p - main) ** 2).mean())
        extra = {}
        if f_test is not None:
            f = torch.as_tensor(f_test, dtype=torch.float64).reshape(-1)
            bias2 = float(((main - f) ** 2).mean())
            noise = float(noise_var) if noise_var is not None else float(((y - f) ** 2).mean())
            extra = dict(bias2=bias2, noise=noise, cross_term=bias - bias2 - noise)
        return BootstrapDecomposition("mse", risk, bias, variance, R, **extra)

    if isinstance(probe, nn.Module):
        labels = out.argmax(-1) if out.dim() == 3 and out.shape[-1] > 1 else \
            (out.reshape(R, -1) > 0).long()
        labels = labels.numpy()
        truth = y_test.numpy()
    else:
        labels, truth = np.asarray(out), y_test.numpy()
    names, encoded = np.unique(np.concatenate([labels.reshape(-1), truth]), return_inverse=True)
    labels = encoded[: labels.size].reshape(labels.shape)
    truth = encoded[labels.size:]
    counts = np.apply_along_axis(np.bincount, 0, labels, minlength=len(names))  # (K, m)
    main = counts.argmax(0)
    biased = (main != truth).astype(float)
    pointwise_variance = (labels != main).mean(0)
    return BootstrapDecomposition(
        "0-1",
        risk=float((labels != truth).mean()),
        bias=float(biased.mean()),
        variance=float(pointwise_variance.mean()),
        rounds=R,
        net_variance=float(((1 - 2 * biased) * pointwise_variance).mean()),
    )
