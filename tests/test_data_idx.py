"""IDX reader: valid files round-trip; every kind of corruption gives one clear ValueError."""

import gzip
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepnotes.data import idx, idx_dataset, parse_idx

CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def encode(array: np.ndarray, code: int) -> bytes:
    """Reference IDX writer (straight from the format description)."""
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(CODES[code]).tobytes()


arrays = st.sampled_from(sorted(CODES)).flatmap(
    lambda code: st.tuples(
        st.just(code),
        hnp.arrays(
            np.dtype(CODES[code]).newbyteorder("="),
            hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
            elements={"allow_nan": False} if CODES[code][1] == "f" else None,
        ),
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays, st.booleans())
def test_valid_files_round_trip(tmp_path_factory, case, compress):
    code, array = case
    raw = encode(array, code)
    path = tmp_path_factory.mktemp("idx") / ("f.idx.gz" if compress else "f.idx")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    tensor = idx(path)
    assert tuple(tensor.shape) == array.shape
    np.testing.assert_array_equal(tensor.numpy(), array)


corruptions = st.sampled_from(["truncate", "magic", "code", "overflow", "trailing", "short"])


@settings(max_examples=300, deadline=None)
@given(arrays, corruptions, st.data())
def test_corrupt_files_raise_one_clear_error(case, corruption, draw):
    code, array = case
    raw = bytearray(encode(array, code))
    header = 4 + 4 * array.ndim
    if corruption == "truncate":
        if array.size == 0:
            cut = draw.draw(st.integers(0, header - 1))
        else:
            cut = draw.draw(st.integers(0, len(raw) - 1))
        raw = raw[:cut]
        expected = "truncated"
    elif corruption == "magic":
        raw[draw.draw(st.integers(0, 1))] = draw.draw(st.integers(1, 255))
        expected = "bad magic"
    elif corruption == "code":
        raw[2] = draw.draw(st.integers(0, 255).filter(lambda c: c not in CODES))
        expected = "data type code"
    elif corruption == "overflow":
        raw[4:8] = struct.pack(">I", 2**32 - 1)
        raw[3] = max(array.ndim, 2)
        raw = raw[:4] + struct.pack(">I", 2**32 - 1) * raw[3] + raw[4 + 4 * array.ndim :]
        expected = "overflow"
    elif corruption == "trailing":
        raw += bytes(draw.draw(st.integers(1, 16)))
        expected = "unexpected bytes"
    else:  # zero dimensions
        raw[3] = 0
        expected = "zero dimensions"
    with pytest.raises(ValueError, match=expected) as info:
        parse_idx(bytes(raw), "sample.idx")
    assert "sample.idx" in str(info.value)


def test_file_level_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        idx(tmp_path / "missing.idx")
    with pytest.raises(ValueError, match="not a regular file"):
        idx(tmp_path)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02ab")[:-6])
    with pytest.raises(ValueError, match=r"broken\.gz.*gzip"):
        idx(broken)


def test_mnist_style_folder(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, 6).astype(np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(encode(images, 0x08)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(encode(labels, 0x08))
    x, y = idx_dataset(tmp_path, "test")
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    np.testing.assert_allclose(x[:, 0].numpy(), images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        idx_dataset(tmp_path, "train")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(encode(images, 0x08))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(encode(labels[:5], 0x08))
    with pytest.raises(ValueError, match="expected 6 labels"):
        idx_dataset(tmp_path, "train")
