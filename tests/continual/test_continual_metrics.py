"""continual.metrics on hand-built accuracy matrices with hand-computed answers."""

import math

import pytest
import torch

from deepnotes.continual import (
    average_accuracy,
    average_forgetting,
    backward_transfer,
    forgetting,
    forward_transfer,
)

# R[i, j]: accuracy on task j after training on task i. Task 0 peaks after task 1 (0.95 > its
# diagonal 0.9), so forgetting (max over earlier rows) and BWT (diagonal) differ.
R = [[0.90, 0.20, 0.10],
     [0.95, 0.80, 0.30],
     [0.50, 0.70, 0.96]]
B = [0.1, 0.15, 0.1]  # accuracies at random initialization


def test_average_accuracy_is_the_mean_of_the_last_row():
    assert average_accuracy(R) == pytest.approx((0.50 + 0.70 + 0.96) / 3, abs=1e-12)
    assert average_accuracy([[0.4]]) == pytest.approx(0.4)


def test_forgetting_is_the_best_earlier_accuracy_minus_the_final_one():
    f = forgetting(R)
    assert f.dtype == torch.float64 and f.shape == (2,)
    assert f.tolist() == pytest.approx([0.95 - 0.50, 0.80 - 0.70], abs=1e-12)
    assert average_forgetting(R) == pytest.approx((0.45 + 0.10) / 2, abs=1e-12)
    # an earlier row before the task was trained counts too (Chaudhry et al. 2018)
    ahead = [[0.9, 0.6], [0.3, 0.5]]
    assert forgetting(ahead).tolist() == pytest.approx([0.6])
    # no forgetting: a task that only improves has f = max(earlier) - final < 0 allowed
    improving = [[0.5, 0.1], [0.7, 0.9]]
    assert forgetting(improving).tolist() == pytest.approx([-0.2])


def test_backward_and_forward_transfer():
    assert backward_transfer(R) == pytest.approx(((0.50 - 0.90) + (0.70 - 0.80)) / 2, abs=1e-12)
    assert forward_transfer(R, B) == pytest.approx(((0.20 - 0.15) + (0.30 - 0.10)) / 2, abs=1e-12)
    # percentages work the same
    R100 = (torch.tensor(R) * 100).tolist()
    assert backward_transfer(R100) == pytest.approx(100 * backward_transfer(R))
    assert forward_transfer(torch.tensor(R), torch.tensor(B) * 0) == pytest.approx(0.25)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="R must be a square"):
        average_accuracy([[0.1, 0.2]])
    with pytest.raises(ValueError, match="R must cover at least 2"):
        forgetting([[0.5]])
    with pytest.raises(ValueError, match="R must cover at least 2"):
        backward_transfer([[0.5]])
    with pytest.raises(ValueError, match="R holds NaN"):
        average_accuracy([[math.nan]])
    with pytest.raises(ValueError, match="R must cover at least 1"):
        average_accuracy(torch.zeros(0, 0))
    with pytest.raises(ValueError, match="baseline must hold one accuracy per task"):
        forward_transfer(R, [0.1, 0.1])
    with pytest.raises(TypeError, match="R must be"):
        average_accuracy("accuracies")
