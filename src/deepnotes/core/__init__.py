"""The bottom layer: small modules every package may import; they import only torch and the
standard library (and each other).

- ``checks``: argument checks that raise one clear error naming the argument;
- ``files``: atomic file writes (temp file + rename) and JSON conversion;
- ``rng``: seeds, ``torch.Generator`` construction, named random streams;
- ``linalg``: the one least-squares solver (batched, weighted).
"""
