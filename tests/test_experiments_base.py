"""The experiment contract's pieces: checks decide with their standard error, verdicts have three
outcomes, overrides convert by the field's type and refuse what they cannot read."""

import dataclasses
import math

import pytest
from scipy.stats import binomtest

from deepnotes.core.rng import RandomStreams
from deepnotes.experiments.base import (
    FAILED,
    PASSED,
    UNDECIDED,
    Z_95,
    Check,
    ExperimentConfig,
    Result,
    Verdict,
    mean_and_se,
    override,
)


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    steps: int = 100
    lr: float = 1e-2
    widths: tuple[int, ...] = (16, 32)
    pair: tuple[float, float] = (0.5, 0.9)
    ema: float | None = None
    losses: tuple[str, ...] = ("ns", "lsgan")
    decay: bool = True
    name: str = "digits"

    @classmethod
    def quick(cls):
        return cls(steps=10)


# -- checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "se", "expected"),
    [
        (0.60, None, PASSED),   # noise-free: the point decides
        (0.40, None, FAILED),
        (0.60, 0.04, PASSED),   # 0.60 − 1.96·0.04 = 0.52 ≥ 0.5
        (0.60, 0.06, UNDECIDED),  # interval [0.48, 0.72] straddles 0.5
        (0.40, 0.04, FAILED),   # 0.40 + 1.96·0.04 = 0.48 < 0.5
        (0.40, math.inf, UNDECIDED),
        (math.nan, 0.01, UNDECIDED),
    ],
)
def test_at_least_decides_with_the_95_percent_interval(value, se, expected):
    assert Check.at_least("x", value, 0.5, se=se).outcome == expected


def test_interval_edges_use_the_normal_quantile():
    se = 0.1
    just_inside = 0.5 + Z_95 * se + 1e-9
    just_outside = 0.5 + Z_95 * se - 1e-9
    assert Check.at_least("x", just_inside, 0.5, se=se).outcome == PASSED
    assert Check.at_least("x", just_outside, 0.5, se=se).outcome == UNDECIDED
    assert Check.at_most("x", 0.5 - Z_95 * se - 1e-9, 0.5, se=se).outcome == PASSED
    assert Check.compare("x", 1.0, "<", 1.0).outcome == FAILED
    assert Check.compare("x", 1.0, "<=", 1.0).outcome == PASSED


@pytest.mark.parametrize(("wins", "trials"), [(60, 100), (50, 100), (38, 100), (9, 10), (0, 0)])
def test_sign_test_matches_scipys_binomial_test(wins, trials):
    check = Check.sign_test("paired", wins, trials)
    if trials == 0:
        assert check.outcome == UNDECIDED
        return
    greater = binomtest(wins, trials, 0.5, alternative="greater").pvalue
    less = binomtest(wins, trials, 0.5, alternative="less").pvalue
    expected = PASSED if greater < 0.05 else FAILED if less < 0.05 else UNDECIDED
    assert check.outcome == expected
    assert check.value == pytest.approx(wins / trials)


def test_check_refuses_an_unknown_outcome_and_comparison():
    with pytest.raises(ValueError, match="outcome"):
        Check("x", "maybe")
    with pytest.raises(ValueError, match="comparison"):
        Check.compare("x", 1.0, "=>", 0.0)


# -- verdicts ------------------------------------------------------------------------------


def test_verdict_has_three_outcomes():
    passed = Check.exact("a", True)
    failed = Check.exact("b", False)
    undecided = Check.undecided("c", "full preset only")
    assert Verdict([passed, passed]).outcome == "reproduced"
    assert Verdict([passed, undecided]).outcome == "undecided"
    assert Verdict([passed, undecided]).summary() == "consistent so far (1 of 2 checks decided)"
    assert Verdict([failed, undecided, passed]).outcome == "not reproduced"
    assert not Verdict([passed, undecided]).reproduced
    with pytest.raises(ValueError):
        Verdict([])
    with pytest.raises(TypeError):
        Verdict([(True, "an old-style tuple")])


def test_result_records_every_check():
    checks = [Check.at_least("accuracy", 0.9, 0.8, se=0.01), Check.undecided("seeds", "quick")]
    payload = Result({"accuracy": 0.9}, Verdict(checks)).to_dict()
    assert payload["outcome"] == "undecided" and payload["reproduced"] is False
    assert [c["outcome"] for c in payload["checks"]] == [PASSED, UNDECIDED]
    assert payload["checks"][0]["threshold"] == 0.8 and payload["checks"][0]["se"] == 0.01
    with pytest.raises(ValueError, match="published row"):
        Result({}, Verdict(checks), published=[{"quantity": "x"}])


def test_mean_and_se():
    mean, se = mean_and_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert se == pytest.approx(math.sqrt(sum((v - 2.5) ** 2 for v in (1, 2, 3, 4)) / 3) / 2)
    assert mean_and_se([1.0])[1] == math.inf


# -- configs and overrides -----------------------------------------------------------------


def test_config_base_presets():
    assert Config.full() == Config()
    assert Config.quick().steps == 10
    assert (Config().seed, Config().device) == (0, "auto")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"steps": "50"}, {"steps": 50}),
        ({"steps": "1_000"}, {"steps": 1000}),
        ({"lr": "3e-4"}, {"lr": 3e-4}),
        ({"lr": 1}, {"lr": 1.0}),
        ({"widths": "8,16,32"}, {"widths": (8, 16, 32)}),
        ({"widths": "[8, 16]"}, {"widths": (8, 16)}),
        ({"widths": [4]}, {"widths": (4,)}),
        ({"pair": "0.1,0.2"}, {"pair": (0.1, 0.2)}),
        ({"ema": "0.99"}, {"ema": 0.99}),
        ({"ema": "none"}, {"ema": None}),
        ({"losses": "mm"}, {"losses": ("mm",)}),
        ({"decay": "false"}, {"decay": False}),
        ({"name": "idx:/data/mnist"}, {"name": "idx:/data/mnist"}),
        ({"seed": "7"}, {"seed": 7}),
    ],
)
def test_override_converts_by_the_field_type(values, expected):
    config = override(Config(), values)
    for key, value in expected.items():
        assert getattr(config, key) == value
        assert type(getattr(config, key)) is type(value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"colour": "3"}, "no field"),
        ({"steps": "1.5"}, "steps: cannot read '1.5' as an int"),
        ({"steps": True}, "steps"),
        ({"ema": "0.99x"}, "ema"),  # was silently None before
        ({"pair": "0.1"}, "expected 2 values"),
        ({"widths": "8,x"}, "widths"),
        ({"decay": "maybe"}, "bool"),
        ({"name": 3}, "expected a string"),
    ],
)
def test_override_refuses_what_it_cannot_read(values, message):
    with pytest.raises(ValueError, match=message) as info:
        override(Config(), values, experiment="demo")
    assert str(info.value).startswith("demo: ")


def test_random_streams_are_independent_of_each_other():
    streams = RandomStreams(3)
    assert streams.seed("data") == RandomStreams(3).seed("data")
    assert streams.seed("data") != streams.seed("init")
    assert streams.seed("data") != RandomStreams(4).seed("data")
    a = streams.generator("data")
    b = RandomStreams(3).generator("data")
    import torch

    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))
    assert Config(seed=3).streams().seed("x") == streams.seed("x")
