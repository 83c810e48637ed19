"""Seeds and random streams: every random draw in deepnotes goes through a ``torch.Generator``.

A function that draws random numbers takes ``rng`` (keyword-only): a ``torch.Generator`` or
None (torch's global generator). ``make_generator(seed)`` builds one. ``RandomStreams(seed)``
spawns independent named streams from one seed, so an experiment draws its data, its
initialization and its attack noise from separate streams: ``streams.generator("data")``,
``streams.seed("init")``. A stream's seed depends only on (seed, name), so adding a stream
never shifts another one (unlike ad-hoc offsets such as ``seed + 1``).
"""

from __future__ import annotations

import hashlib

import torch

from .checks import integer

__all__ = ["RandomStreams", "check_seed", "make_generator"]


def check_seed(seed) -> int:
    """A seed: an integer in [0, 2⁶³)."""
    value = integer(seed, "seed")
    if not 0 <= value < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {value}")
    return value


def make_generator(seed, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` ("auto": CUDA when present) seeded with ``seed``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(check_seed(seed))
    return generator


class RandomStreams:
    """Independent named random streams spawned from one ``seed``.

    ``seed(name)`` = the first 8 bytes of SHA-256(f"{seed}/{name}") (63 bits): a pure function
    of (seed, name), different names giving unrelated streams.

    >>> streams = RandomStreams(0)
    >>> streams.seed("data") == RandomStreams(0).seed("data") != streams.seed("init")
    True
    """

    def __init__(self, seed) -> None:
        self.root = check_seed(seed)

    def seed(self, name: str) -> int:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a stream name must be a non-empty str, got {name!r}")
        digest = hashlib.sha256(f"{self.root}/{name}".encode()).digest()
        return int.from_bytes(digest[:8], "little") >> 1

    def generator(self, name: str, device: str | torch.device = "cpu") -> torch.Generator:
        """A fresh ``torch.Generator`` for stream ``name`` on ``device``."""
        return make_generator(self.seed(name), device)

    def manual_seed(self, name: str) -> None:
        """Seed torch's global generator with stream ``name`` (for ``nn.Module`` initializers,
        which draw from the global generator)."""
        torch.manual_seed(self.seed(name))

    def __repr__(self) -> str:
        return f"RandomStreams({self.root})"
