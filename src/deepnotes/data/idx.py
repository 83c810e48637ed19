"""Reader for IDX files (the MNIST / Fashion-MNIST format) that the user already has.

Layout: two zero bytes, a type code, the number of dimensions k, then k big-endian uint32
sizes, then the data in big-endian order. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64. Files may be gzip-compressed. Every malformed file
raises one ``ValueError`` that names the file and the problem.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_ELEMENTS = 2**40  # a header claiming more is corrupt (and would not fit in memory anyway)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ValueError(f"IDX file {path}: no such file")
    if not path.is_file():
        raise ValueError(f"IDX file {path}: not a regular file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"IDX file {path}: corrupt gzip data ({err})") from err
    return raw


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into a native-endian numpy array."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"raw must be the bytes of an IDX file, got {type(raw).__name__}")
    if len(raw) < 4:
        raise ValueError(f"IDX file {name}: truncated header ({len(raw)} bytes, need 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"IDX file {name}: bad magic number {raw[:4].hex()} (must start with two zero bytes)"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise ValueError(f"IDX file {name}: unknown data type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise ValueError(f"IDX file {name}: zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"IDX file {name}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = 1
    for size in shape:
        count *= size
    if count > MAX_ELEMENTS:
        raise ValueError(
            f"IDX file {name}: dimension product overflow ({' x '.join(map(str, shape))} = "
            f"{count} elements exceeds {MAX_ELEMENTS})"
        )
    dtype = IDX_TYPES[code]
    expected = count * dtype.itemsize
    available = len(raw) - header
    if available < expected:
        raise ValueError(
            f"IDX file {name}: truncated data (shape {shape} of {dtype.name} needs {expected} "
            f"bytes, found {available})"
        )
    if available > expected:
        raise ValueError(
            f"IDX file {name}: {available - expected} unexpected bytes after the data "
            f"(shape {shape} of {dtype.name} needs {expected})"
        )
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def idx(path: str | Path) -> torch.Tensor:
    """Read one IDX file (gzip or not) into a tensor of its own dtype and shape."""
    path = Path(path)
    return torch.from_numpy(parse_idx(_read_bytes(path), str(path)))


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(directory: Path, stem: str) -> Path:
    for candidate in (stem, f"{stem}.gz", stem.replace("-idx", ".idx"),
                      stem.replace("-idx", ".idx") + ".gz"):
        if (directory / candidate).is_file():
            return directory / candidate
    raise ValueError(f"IDX folder {directory}: no {stem} or {stem}.gz")


def idx_dataset(directory: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-style folder → X (N×1×H×W float32 in [0, 1]) and y (N,) int64.

    Looks for ``train-images-idx3-ubyte[.gz]`` / ``train-labels-idx1-ubyte[.gz]`` (and the
    ``t10k-`` pair for ``split="test"``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"IDX folder {directory}: not a directory")
    if split not in _IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_path, labels_path = (_find(directory, stem) for stem in _IDX_FILES[split])
    images, labels = idx(images_path), idx(labels_path)
    if images.dim() != 3:
        raise ValueError(f"IDX file {images_path}: expected N×H×W images, got shape "
                         f"{tuple(images.shape)}")
    if labels.dim() != 1 or len(labels) != len(images):
        raise ValueError(f"IDX file {labels_path}: expected {len(images)} labels, got shape "
                         f"{tuple(labels.shape)}")
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    return images.float().div_(scale).unsqueeze(1), labels.long()
