"""The IDX file format that MNIST ships in, read with every header field checked.

An IDX file is a tiny header followed by raw big-endian numbers::

    bytes 0-1   0x00 0x00              (always zero)
    byte  2     dtype code             0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                       0x0D float32, 0x0E float64
    byte  3     number of dimensions   d >= 1
    4 * d bytes the size of each dimension, big-endian uint32
    the data    prod(sizes) * itemsize bytes, row-major, big-endian

So MNIST's label files start with the magic number ``0x00000801`` (uint8, one dimension) and
its image files with ``0x00000803`` (uint8, three dimensions: N, 28, 28).
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Union

import numpy as np

#: dtype code (byte 2 of the magic number) -> NumPy dtype; multi-byte types are big-endian.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAGIC_LABELS = 0x00000801  #: uint8, 1-D: an MNIST label file
MAGIC_IMAGES = 0x00000803  #: uint8, 3-D: an MNIST image file

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def gunzip(data: bytes, where: str = "data") -> bytes:
    """Decompress gzip ``data``; a damaged archive raises ``ValueError``.

    (gzip's own errors come in three kinds, ``OSError``, ``EOFError`` and ``zlib.error``; one
    kind is easier to handle.)
    """
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{where} is not a valid gzip archive ({type(err).__name__}: {err}); "
                         f"it is probably truncated or damaged") from None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The content of ``path``, decompressed when its name ends in ``.gz``."""
    raw = Path(path).read_bytes()
    return gunzip(raw, str(path)) if str(path).endswith(".gz") else raw


def read_idx(source: Source, ndim: int | None = None) -> np.ndarray:
    """Decode an IDX file (a path, ``.gz`` or not, or the bytes themselves) into an array.

    Shapes: a file with ``d`` dimensions of sizes ``(n_1, ..., n_d)`` gives an array of that
    shape, in native byte order and writable. ``ndim``, when given, is the number of dimensions
    the caller expects (1 for a label file, 3 for an image file).

    Raises ``ValueError`` naming what is wrong: a non-zero first two bytes (not an IDX file), an
    unknown dtype code, zero or unexpected dimensions, or a data section whose size disagrees
    with the header (a truncated or padded file).

    >>> header = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big")
    >>> read_idx(header + bytes([7, 8, 9]))
    array([7, 8, 9], dtype=uint8)
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, where = bytes(source), "IDX data"
    elif isinstance(source, (str, os.PathLike)):
        data, where = read_bytes(source), str(source)
    else:
        raise TypeError(f"read_idx: argument 'source' must be a path or bytes, "
                        f"got {type(source).__name__}.")

    if len(data) < 4:
        raise ValueError(f"read_idx: {where} is only {len(data)} bytes long; an IDX file starts "
                         f"with a 4-byte magic number.")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"read_idx: {where} does not start like an IDX file: magic number "
                         f"0x{magic:08X}, expected 0x0000TTDD (for MNIST 0x{MAGIC_LABELS:08X} labels "
                         f"or 0x{MAGIC_IMAGES:08X} images).")
    code, dims = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"read_idx: {where} has unknown dtype code 0x{code:02X} "
                         f"(magic 0x{magic:08X}); known codes are {known}.")
    if dims == 0:
        raise ValueError(f"read_idx: {where} declares 0 dimensions (magic 0x{magic:08X}).")
    if ndim is not None and dims != ndim:
        raise ValueError(f"read_idx: {where} has {dims} dimensions (magic 0x{magic:08X}), "
                         f"expected {ndim}.")

    header_size = 4 + 4 * dims
    if len(data) < header_size:
        raise ValueError(f"read_idx: {where} ends inside its header: {dims} dimensions need "
                         f"{header_size} header bytes, the file has {len(data)}.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_size
    if got != expected:
        problem = "truncated" if got < expected else "longer than its header says"
        raise ValueError(f"read_idx: {where} is {problem}: the header declares shape {shape} of "
                         f"{dtype.name} ({expected} data bytes), but {got} data bytes follow.")
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    # astype copies: the result is writable and in native byte order.
    return array.astype(dtype.newbyteorder("="))
