"""MNIST: 70,000 handwritten digits in IDX files, verified by sha256, found offline or downloaded."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from course_lib._checks import check_bool, check_choice, check_int
from course_lib.data.download import (DownloadError, download_folder, fetch, first_good,
                                      mirror_urls, mirrors, not_found_error, search_folders)
from course_lib.data.idx import MAGIC_IMAGES, MAGIC_LABELS, read_bytes, read_idx

if TYPE_CHECKING:  # torch is imported only by the functions that return tensors
    import torch
    from torch.utils.data import TensorDataset

__all__ = ["load_mnist", "mnist_tensors", "mnist_dataset", "MNIST_MEAN", "MNIST_STD"]

SPLITS = ("train", "test")

#: split -> (images file, labels file); each may sit in a folder as ``name`` or ``name.gz``.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: sha256 of the *decompressed* files, so any faithful recompression is accepted too.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
#: sha256 of the published ``.gz`` archives: pooch's registry, checked on every download.
MNIST_GZ_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
#: Tried in order; ``$COURSE_MNIST_MIRRORS`` (space- or comma-separated) replaces this list.
#: yann.lecun.com is the original home but often refuses downloads, so it comes last.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: Mean and standard deviation of the training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def _decode_mnist(content: bytes, name: str) -> np.ndarray:
    """Verify (sha256 of the decompressed bytes) and decode the content of one MNIST file.

    Raises ``ValueError`` saying what is wrong: wrong checksum, wrong magic number, bad header.
    """
    digest = hashlib.sha256(content).hexdigest()
    if digest != MNIST_SHA256[name]:
        raise ValueError(f"its content has sha256 {digest}, expected {MNIST_SHA256[name]} "
                         f"(a truncated, damaged or different file)")
    is_images = "images" in name
    magic = int.from_bytes(content[:4], "big")
    expected_magic = MAGIC_IMAGES if is_images else MAGIC_LABELS
    if magic != expected_magic:
        raise ValueError(f"magic number 0x{magic:08X}, expected 0x{expected_magic:08X}")
    array = read_idx(content, ndim=3 if is_images else 1)
    if is_images and array.shape[1:] != (28, 28):
        raise ValueError(f"images of size {array.shape[1:]}, expected (28, 28)")
    return array


def _obtain_mnist_file(name: str, folders: list[Path], destination: Path | None,
                       damaged: list[tuple[Path, str]], failures: list[str]) -> np.ndarray | None:
    """One verified MNIST file from the search folders, else downloaded into ``destination``
    (``None``: no download), else ``None``."""
    candidates = [folder / leaf for folder in folders for leaf in (name, name + ".gz")]
    array = first_good(candidates, lambda path: _decode_mnist(read_bytes(path), name),
                       damaged, stacklevel=4)
    if array is not None or destination is None:
        return array
    try:
        urls = mirror_urls(mirrors("COURSE_MNIST_MIRRORS", MNIST_MIRRORS), name + ".gz")
        path = fetch(name + ".gz", MNIST_GZ_SHA256[name + ".gz"], urls, destination)
        array = _decode_mnist(read_bytes(path), name)
    except (DownloadError, ValueError) as err:
        failures.append(f"  {err}")
        return None
    stale = destination / name  # a damaged decompressed copy would shadow the fresh .gz: drop it
    if any(bad == stale for bad, _ in damaged):
        stale.unlink(missing_ok=True)
    return array


def load_mnist(split: str = "train", root: str | os.PathLike[str] | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST digits: ``(images, labels)``, verified against their published sha256.

    Shapes: ``images`` is ``(N, 28, 28)`` uint8 (0 = background, 255 = ink), ``labels`` is
    ``(N,)`` uint8 in 0..9; N = 60,000 for ``split="train"`` and 10,000 for ``"test"``.

    ``root`` is a folder that holds the files directly (``train-images-idx3-ubyte.gz`` and so
    on, compressed or not). It is searched first, then ``$COURSE_DATA_DIR/mnist``, then the
    download cache (``$COURSE_CACHE_DIR/mnist``, by default ``~/.cache/cnn-course/mnist``). With
    ``download=True`` a missing or damaged file is fetched with pooch from :data:`MNIST_MIRRORS`
    into ``root`` when given, else into the cache. When no good copy can be had, raises
    :class:`DatasetNotFoundError` (a ``FileNotFoundError``) saying where to put the files.
    """
    split = check_choice(split, SPLITS, "split", "load_mnist")
    check_bool(download, "download", "load_mnist")
    folders = search_folders("mnist", root)
    damaged: list[tuple[Path, str]] = []
    failures: list[str] = []
    images_name, labels_name = MNIST_FILES[split]
    destination = download_folder("mnist", root) if download else None
    images = _obtain_mnist_file(images_name, folders, destination, damaged, failures)
    # When the mirrors failed for the images, they will fail for the labels too: don't wait twice.
    labels = _obtain_mnist_file(labels_name, folders, destination if images is not None else None,
                                damaged, failures)
    if images is None or labels is None:
        files = [name + ".gz" for pair in MNIST_FILES.values() for name in pair]
        files.append("(decompressed copies work too)")
        raise not_found_error("load_mnist", f"MNIST (the {split!r} split)", files, folders, root,
                              damaged, download, failures,
                              mirrors("COURSE_MNIST_MIRRORS", MNIST_MIRRORS))
    if len(images) != len(labels):
        raise ValueError(f"load_mnist: {len(images)} images but {len(labels)} labels in the "
                         f"{split!r} split; the two files do not belong together.")
    return images, labels


def mnist_tensors(split: str = "train", root: str | os.PathLike[str] | None = None,
                  download: bool = True, normalize: bool = True,
                  pad_to: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as torch tensors ready for a network: ``(x, y)``.

    Shapes: ``x`` is ``(N, 1, H, W)`` float32 with ``H = W = pad_to or 28``, ``y`` is ``(N,)``
    int64. Pixels are scaled to [0, 1]; ``pad_to=32`` adds a blank border (LeNet-5's 32x32 input,
    the digit stays centred). With ``normalize=True``,
    ``x = (x - MNIST_MEAN) / MNIST_STD`` with mean 0.1307 and std 0.3081 (the training pixels'),
    so the padding has the background's value.
    """
    import torch

    check_bool(normalize, "normalize", "mnist_tensors")
    if pad_to is not None:
        pad_to = check_int(pad_to, "pad_to", "mnist_tensors", 28)
    images, labels = load_mnist(split, root, download)
    if pad_to is not None and pad_to > 28:
        before = (pad_to - 28) // 2
        after = pad_to - 28 - before
        # Zeros are the background; padding the uint8 images first keeps the float work small.
        images = np.pad(images, ((0, 0), (before, after), (before, after)))
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32)
    if normalize:  # (x / 255 - mean) / std, in two in-place passes
        x.mul_(1.0 / (255.0 * MNIST_STD)).sub_(MNIST_MEAN / MNIST_STD)
    else:
        x.div_(255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def mnist_dataset(split: str = "train", root: str | os.PathLike[str] | None = None,
                  download: bool = True, normalize: bool = True,
                  pad_to: int | None = None) -> TensorDataset:
    """:func:`mnist_tensors` wrapped in a ``torch.utils.data.TensorDataset`` of ``(x_i, y_i)``."""
    from torch.utils.data import TensorDataset

    return TensorDataset(*mnist_tensors(split, root, download, normalize, pad_to))
