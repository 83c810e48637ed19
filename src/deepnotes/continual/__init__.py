"""Continual learning (SYLLABUS section 7): task streams, metrics, strategies, the stream trainer.

A ``tasks.Stream`` is a sequence of (train, test) tasks with its scenario (task-, domain- or
class-incremental); ``train.train_stream`` trains one model on it task after task through
``engine.fit``, with a ``strategies.Strategy`` (finetune, joint, replay, EWC, LwF) hooked
around each fit, and returns the accuracy matrix R[i, j] that ``metrics`` summarizes.
"""

from .ewc import EWC, OnlineEWC, ewc_penalty, fisher_diagonal, minibatch_fisher
from .lwf import LwF, distillation_loss
from .metrics import (
    average_accuracy,
    average_forgetting,
    backward_transfer,
    check_accuracy_matrix,
    forgetting,
    forward_transfer,
)
from .strategies import Finetune, Joint, Replay, Reservoir, Strategy, with_task
from .tasks import (
    SCENARIOS,
    Stream,
    Task,
    permuted_mnist1d,
    permuted_stream,
    split_digits,
    split_mnist1d,
    split_stream,
)
from .train import ContinualResult, train_stream

__all__ = [
    "SCENARIOS", "ContinualResult", "Finetune", "Joint", "Replay", "Reservoir", "Strategy",
    "Stream", "Task", "average_accuracy", "average_forgetting", "backward_transfer",
    "check_accuracy_matrix", "forgetting", "forward_transfer", "permuted_mnist1d",
    "permuted_stream", "split_digits", "split_mnist1d", "split_stream", "train_stream",
    "with_task",
    "EWC", "LwF", "OnlineEWC", "distillation_loss", "ewc_penalty", "fisher_diagonal",
    "minibatch_fisher",
]
