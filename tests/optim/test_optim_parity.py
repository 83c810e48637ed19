"""deepnotes.optim against torch.optim and direct transcriptions of the textbook algorithms."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from deepnotes import optim

SHAPES = ((5, 3), (7,), (2, 2, 2))
EAGER_FORMS = {"single": {"foreach": False, "fused": False}, "foreach": {"foreach": True}}


def make_params(seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    values = [torch.randn(s, generator=g, dtype=dtype) for s in SHAPES]
    return [torch.nn.Parameter(v.clone()) for v in values], [torch.nn.Parameter(v.clone())
                                                              for v in values]


def gradient_stream(steps, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=g, dtype=dtype) for s in SHAPES] for _ in range(steps)]


def run_pair(ours, reference, steps=100, on_step=None, dtype=torch.float32):
    a, b = make_params(dtype=dtype)
    opt_a, opt_b = ours(a), reference(b)
    for k, grads in enumerate(gradient_stream(steps, dtype=dtype)):
        for params in (a, b):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
        opt_a.step()
        opt_b.step()
        if on_step is not None:
            on_step(k, opt_a, opt_b)
    return [p.detach() for p in a], [p.detach() for p in b]


def assert_close(xs, ys, rtol, atol):
    for x, y in zip(xs, ys, strict=True):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol)


@pytest.mark.parametrize("form", EAGER_FORMS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_sgd_momentum_trajectory_equals_torch_at_constant_lr(form, weight_decay):
    ours, ref = run_pair(
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=weight_decay,
                            **EAGER_FORMS[form]),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=weight_decay),
    )
    assert_close(ours, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", EAGER_FORMS)
def test_plain_sgd_equals_torch(form):
    ours, ref = run_pair(lambda p: optim.SGD(p, lr=0.1, **EAGER_FORMS[form]),
                         lambda p: torch.optim.SGD(p, lr=0.1))
    assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def test_sgd_momentum_differs_from_torch_after_an_lr_change_and_follows_the_textbook():
    """v ← αv − εg keeps the old ε inside v; torch's buffer b is rescaled by the new ε."""
    alpha, lr_before, lr_after, switch = 0.9, 0.1, 0.01, 10
    grads = gradient_stream(20)
    theta = [p.detach().clone() for p in make_params()[0]]
    velocity = [torch.zeros_like(t) for t in theta]
    for k, g in enumerate(grads):  # Goodfellow Alg. 8.2, transcribed
        eps = lr_before if k < switch else lr_after
        velocity = [alpha * v - eps * gi for v, gi in zip(velocity, g, strict=True)]
        theta = [t + v for t, v in zip(theta, velocity, strict=True)]

    def switch_lr(k, opt_a, opt_b):
        if k == switch - 1:
            for opt in (opt_a, opt_b):
                opt.param_groups[0]["lr"] = lr_after

    ours, ref = run_pair(lambda p: optim.SGD(p, lr=lr_before, momentum=alpha),
                         lambda p: torch.optim.SGD(p, lr=lr_before, momentum=alpha),
                         steps=20, on_step=switch_lr)
    assert_close(ours, theta, rtol=1e-5, atol=1e-5)
    gap = max(float((x - y).abs().max()) for x, y in zip(ours, ref, strict=True))
    assert gap > 1e-2


@pytest.mark.parametrize("form", EAGER_FORMS)
@pytest.mark.parametrize("options", [{}, {"lr_decay": 0.01, "weight_decay": 0.1,
                                          "initial_accumulator_value": 0.1}])
def test_adagrad_equals_torch(form, options):
    ours, ref = run_pair(
        lambda p: optim.AdaGrad(p, lr=0.1, eps=1e-7, **options, **EAGER_FORMS[form]),
        lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-7, **options),
    )
    assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def test_adagrad_default_delta_is_the_books():
    opt = optim.AdaGrad([torch.nn.Parameter(torch.zeros(1))])
    assert opt.defaults["eps"] == 1e-7


@pytest.mark.parametrize("form", EAGER_FORMS)
def test_rmsprop_pytorch_form_equals_torch(form):
    ours, ref = run_pair(
        lambda p: optim.RMSProp(p, lr=0.01, alpha=0.9, eps_inside_sqrt=False, weight_decay=0.01,
                                **EAGER_FORMS[form]),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, weight_decay=0.01),
    )
    assert_close(ours, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("form", EAGER_FORMS)
def test_rmsprop_course_form_equals_algorithm_8_5(form):
    eps, rho, delta = 0.01, 0.9, 1e-6
    theta = [p.detach().clone() for p in make_params()[0]]
    r = [torch.zeros_like(t) for t in theta]
    for g in gradient_stream(100):
        r = [rho * ri + (1 - rho) * gi * gi for ri, gi in zip(r, g, strict=True)]
        theta = [t - eps / torch.sqrt(delta + ri) * gi
                 for t, ri, gi in zip(theta, r, g, strict=True)]
    ours, torch_form = run_pair(
        lambda p: optim.RMSProp(p, lr=eps, alpha=rho, **EAGER_FORMS[form]),
        lambda p: torch.optim.RMSprop(p, lr=eps, alpha=rho, eps=delta),
    )
    assert optim.RMSProp(make_params()[0]).defaults["eps"] == 1e-6
    assert_close(ours, theta, rtol=1e-6, atol=1e-6)
    # and it is a different rule from torch's at the same δ: far beyond the 1e-6 agreement above
    assert max(float((x - y).abs().max()) for x, y in zip(ours, torch_form, strict=True)) > 1e-5


def test_rmsprop_course_form_survives_float16_underflow_where_pytorch_form_blows_up():
    """g = 1e-4 in float16: g² = 1e-8 underflows to 0, so r = 0. PyTorch's √r + δ with its
    δ = 1e-8 (0 in float16) divides by zero; the book's √(δ + r) with δ = 1e-6 stays √δ."""
    grad = torch.full((4,), 1e-4, dtype=torch.float16)
    assert float((grad * grad).max()) == 0.0
    results = {}
    for name, make in {
        "course": lambda p: optim.RMSProp(p, lr=1.0),
        "ours-pytorch-form": lambda p: optim.RMSProp(p, lr=1.0, eps_inside_sqrt=False),
        "torch": lambda p: torch.optim.RMSprop(p, lr=1.0),
    }.items():
        param = torch.nn.Parameter(torch.zeros(4, dtype=torch.float16))
        opt = make([param])
        param.grad = grad.clone()
        opt.step()
        results[name] = param.detach()
    assert torch.isfinite(results["course"]).all()
    # one step of the book's rule with r = 0: −ε g / √δ, δ as float16 stores it
    delta16 = float(torch.tensor(1e-6, dtype=torch.float16))
    expected = -float(grad[0]) / delta16**0.5
    torch.testing.assert_close(results["course"].double(), torch.full((4,), expected,
                               dtype=torch.float64), rtol=2e-3, atol=0)
    assert not torch.isfinite(results["torch"]).any()
    assert not torch.isfinite(results["ours-pytorch-form"]).any()


@pytest.mark.parametrize("form", EAGER_FORMS)
@pytest.mark.parametrize("options", [{}, {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.01}])
def test_adam_equals_torch_over_100_steps(form, options):
    ours, ref = run_pair(lambda p: optim.Adam(p, **options, **EAGER_FORMS[form]),
                         lambda p: torch.optim.Adam(p, **options))
    assert_close(ours, ref, rtol=0, atol=1e-6)


def test_adam_defaults_are_the_papers():
    defaults = optim.Adam(make_params()[0]).defaults
    assert (defaults["lr"], defaults["betas"], defaults["eps"]) == (1e-3, (0.9, 0.999), 1e-8)


def test_param_groups_and_scheduler_match_torch():
    def groups(params):
        return [{"params": params[:1], "lr": 0.05}, {"params": params[1:]}]

    def make_scheduled(cls, **kwargs):
        def make(params):
            opt = cls(groups(params), lr=0.01, **kwargs)
            make.scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
            return opt
        return make

    ours_make, ref_make = make_scheduled(optim.Adam), make_scheduled(torch.optim.Adam)

    def step_schedulers(k, opt_a, opt_b):
        ours_make.scheduler.step()
        ref_make.scheduler.step()

    ours, ref = run_pair(ours_make, ref_make, steps=30, on_step=step_schedulers)
    assert_close(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls, kwargs", [
    (optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.AdaGrad, {"lr": 0.1}),
    (optim.RMSProp, {"lr": 0.01}), (optim.Adam, {"lr": 0.01}),
])
def test_state_dict_round_trip_resumes_identically(cls, kwargs):
    grads = gradient_stream(10)
    a, _ = make_params()
    opt = cls(a, **kwargs)
    resumed_params = None
    for k, g in enumerate(grads):
        if k == 5:  # a checkpoint round trip, loaded as engine.Checkpointer does
            buffer = io.BytesIO()
            torch.save(opt.state_dict(), buffer)
            buffer.seek(0)
            saved = torch.load(buffer, weights_only=True)
            resumed_params = [torch.nn.Parameter(p.detach().clone()) for p in a]
            resumed = cls(resumed_params, **kwargs)
            resumed.load_state_dict(saved)
        for p, gi in zip(a, g, strict=True):
            p.grad = gi.clone()
        opt.step()
        if resumed_params is not None:
            for p, gi in zip(resumed_params, g, strict=True):
                p.grad = gi.clone()
            resumed.step()
    for x, y in zip(a, resumed_params, strict=True):
        assert torch.equal(x, y)


def test_adam_state_dict_loads_into_torch_adam_and_continues_identically():
    grads = gradient_stream(20)
    a, b = make_params()
    ours = optim.Adam(a, lr=0.01)
    for g in grads[:10]:
        for p, gi in zip(a, g, strict=True):
            p.grad = gi.clone()
        ours.step()
    with torch.no_grad():
        for p, q in zip(b, a, strict=True):
            p.copy_(q)
    reference = torch.optim.Adam(b, lr=0.01)
    reference.load_state_dict(copy.deepcopy(ours.state_dict()))
    for g in grads[10:]:
        for params, opt in ((a, ours), (b, reference)):
            for p, gi in zip(params, g, strict=True):
                p.grad = gi.clone()
            opt.step()
    assert_close([p.detach() for p in a], [p.detach() for p in b], rtol=0, atol=1e-6)


def test_step_calls_the_closure_with_grad_enabled_and_returns_its_loss():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = optim.SGD([w], lr=0.1)

    def closure():
        assert torch.is_grad_enabled()
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(5.0)
    torch.testing.assert_close(w.detach(), torch.tensor([0.8, -1.6]))  # w − 0.1·2w


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    used, unused = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = optim.Adam([used, unused], lr=0.1)
    used.grad = torch.ones(2)
    opt.step()
    assert torch.equal(unused.detach(), torch.ones(2)) and unused not in opt.state
    opt.zero_grad()
    assert used.grad is None


def test_training_through_engine_fit_matches_torch_adam():
    from deepnotes.engine import fit

    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 3, generator=g), torch.randn(64, generator=g)
    finals = []
    for cls in (optim.Adam, torch.optim.Adam):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        result = fit(model, lambda out, t: ((out.squeeze(-1) - t) ** 2).mean(),
                     cls(model.parameters(), lr=0.05), (X, y), steps=20, batch_size=16,
                     device="cpu", progress=False)
        finals.append(torch.cat([p.detach().reshape(-1) for p in result.model.parameters()]))
    torch.testing.assert_close(finals[0], finals[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=-0.1), "lr"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), "momentum"),
    (lambda p: optim.AdaGrad(p, eps=0.0), "eps"),
    (lambda p: optim.RMSProp(p, alpha=1.5), "alpha"),
    (lambda p: optim.RMSProp(p, eps=-1e-6), "eps"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), "beta2"),
    (lambda p: optim.Adam(p, betas=(-0.1, 0.99)), "beta1"),
    (lambda p: optim.Adam(p, eps=0), "eps"),
    (lambda p: optim.Adam(p, weight_decay=-1), "weight_decay"),
    (lambda p: optim.Adam(p, lr=float("nan")), "lr"),
    (lambda p: optim.Adam(p, foreach=True, fused=True), "fused"),
    (lambda p: optim.Adam([{"params": p, "lr": -1.0}]), "lr"),
])
def test_bad_hyperparameters_raise_value_error_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make(make_params()[0])


def test_wrong_types_raise_type_error():
    params = make_params()[0]
    with pytest.raises(TypeError, match="lr"):
        optim.SGD(params, lr="0.1")
    with pytest.raises(TypeError, match="betas"):
        optim.Adam(params, betas=0.9)
    with pytest.raises(TypeError, match="eps_inside_sqrt"):
        optim.RMSProp(params, eps_inside_sqrt="yes")


@pytest.mark.parametrize("make, match", [
    (lambda p: optim.SGD(p, lr=float("inf")), "lr"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=float("nan")), "weight_decay"),
    (lambda p: optim.AdaGrad(p, eps=float("inf")), "eps"),
    (lambda p: optim.AdaGrad(p, lr_decay=float("inf")), "lr_decay"),
    (lambda p: optim.RMSProp(p, alpha=float("nan")), "alpha"),
    (lambda p: optim.Adam(p, betas=(0.9, float("nan"))), "beta2"),
])
def test_non_finite_hyperparameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make(make_params()[0])


def test_numpy_and_tensor_hyperparameters_are_accepted_and_equal_floats():
    np = pytest.importorskip("numpy")
    ours, ref = run_pair(
        lambda p: optim.SGD(p, lr=torch.tensor(0.05), momentum=np.float64(0.9),
                            weight_decay=np.float32(0.0)),
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9), steps=5)
    assert_close(ours, ref, rtol=0, atol=0)
