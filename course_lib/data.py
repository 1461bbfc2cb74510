"""The course's datasets: MNIST and CIFAR-10 (verified, downloaded atomically, offline-aware),
a generated colour-shapes set for tests and offline demos, and a sample photograph.

Where the files are looked for, and where downloads go, is described in
:mod:`course_lib.download`: the ``root`` argument, then ``$COURSE_DATA_DIR/mnist`` (or
``/cifar10``), then the user cache ``~/.cache/cnn-course/``. Every file is checked against a
published checksum before use; a damaged one is reported (a warning) and never used.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm.auto import tqdm

from ._checks import check_choice, check_int
from .download import (DatasetCorruptError, DatasetNotFoundError, DownloadError, download_verified,
                       file_digest, first_good, mirror_urls, mirrors, not_found_error,
                       search_folders, write_atomic)
from .idx import MAGIC_IMAGES, MAGIC_LABELS, gunzip, read_bytes, read_idx
from .shapes import SHAPE_CLASSES, synthetic_shapes

if TYPE_CHECKING:  # torch is imported only by the functions that return tensors
    import torch
    from torch.utils.data import TensorDataset

__all__ = ["load_mnist", "mnist_tensors", "mnist_dataset", "load_cifar10", "synthetic_shapes",
           "sample_photo", "read_idx", "DatasetNotFoundError", "DatasetCorruptError",
           "MNIST_MEAN", "MNIST_STD", "CIFAR10_CLASSES", "SHAPE_CLASSES", "SAMPLE_PHOTOS"]

SPLITS = ("train", "test")


def _check_bool(value: object, name: str, func: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{func}: argument '{name}' must be True or False, got {value!r}.")


# ----------------------------------------------------------------------------------------- MNIST

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


def _obtain_mnist_file(name: str, folders: list[Path], download_allowed: bool,
                       damaged: list[tuple[Path, str]], failures: list[str]) -> np.ndarray | None:
    """One verified MNIST file from the search folders, else downloaded, else ``None``."""
    candidates = [folder / leaf for folder in folders for leaf in (name, name + ".gz")]
    array = first_good(candidates, lambda path: _decode_mnist(read_bytes(path), name),
                       damaged, stacklevel=4)
    if array is not None or not download_allowed:
        return array
    decoded: list[np.ndarray] = []  # verify() keeps the array, so the file is read only once

    def verify(temp: Path) -> None:
        decoded.append(_decode_mnist(gunzip(temp.read_bytes(), "the download"), name))

    try:
        urls = mirror_urls(mirrors("COURSE_MNIST_MIRRORS", MNIST_MIRRORS), name + ".gz")
        folder = download_verified(name + ".gz", urls, folders, verify).parent
    except DownloadError as err:
        failures.append(f"  {err}")
        return None
    stale = folder / name  # a damaged decompressed copy would shadow the fresh .gz: drop it
    if any(path == stale for path, _ in damaged):
        stale.unlink(missing_ok=True)
    return decoded[-1]


def load_mnist(split: str = "train", root: str | os.PathLike[str] | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST digits: ``(images, labels)``, verified against their published sha256.

    Shapes: ``images`` is ``(N, 28, 28)`` uint8 (0 = background, 255 = ink), ``labels`` is
    ``(N,)`` uint8 in 0..9; N = 60,000 for ``split="train"`` and 10,000 for ``"test"``.

    ``root`` is a folder that holds the files directly (``train-images-idx3-ubyte.gz`` and so
    on, compressed or not). It is searched first, then ``$COURSE_DATA_DIR/mnist``, then
    ``~/.cache/cnn-course/mnist``. With ``download=True`` a missing or damaged file is fetched
    from :data:`MNIST_MIRRORS` into the first writable of these folders. When no good copy can
    be had, raises :class:`DatasetNotFoundError` (a ``FileNotFoundError``) saying where to put
    the files.
    """
    split = check_choice(split, SPLITS, "split", "load_mnist")
    _check_bool(download, "download", "load_mnist")
    folders = search_folders("mnist", root)
    damaged: list[tuple[Path, str]] = []
    failures: list[str] = []
    images_name, labels_name = MNIST_FILES[split]
    images = _obtain_mnist_file(images_name, folders, download, damaged, failures)
    # When the mirrors failed for the images, they will fail for the labels too: don't wait twice.
    labels = _obtain_mnist_file(labels_name, folders, download and images is not None,
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

    _check_bool(normalize, "normalize", "mnist_tensors")
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


# -------------------------------------------------------------------------------------- CIFAR-10

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"  # what the archive unpacks to; also accepted on disk
CIFAR10_BATCHES: dict[str, tuple[str, ...]] = {
    "train": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"),
    "test": ("test_batch",),
}
#: md5 of the archive (from the dataset's page) and of each pickled batch inside it (as
#: published in torchvision's CIFAR10 class, pytorch/vision torchvision/datasets/cifar.py).
CIFAR10_MD5: dict[str, str] = {
    CIFAR10_ARCHIVE: "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
#: Tried in order; ``$COURSE_CIFAR10_MIRRORS`` (space- or comma-separated) replaces this list.
CIFAR10_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10_CLASSES: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck")

# The batches are pickles written by Python 2: a dict holding a NumPy array and lists. Unpickling
# can run arbitrary code, so only the few callables an array needs are allowed (and the md5 has
# been checked before that, too).
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 spells a bytes object
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _PICKLE_ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _decode_cifar_batch(content: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Verify (md5) and decode one pickled batch into ``(N, 3, 32, 32)`` uint8 and ``(N,)`` uint8."""
    digest = hashlib.md5(content).hexdigest()
    if digest != CIFAR10_MD5[name]:
        raise ValueError(f"{name} has md5 {digest}, expected {CIFAR10_MD5[name]}")
    try:
        batch = _ArrayOnlyUnpickler(io.BytesIO(content), encoding="bytes").load()
        data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{name} is not a CIFAR-10 batch ({type(err).__name__}: {err})") from None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32 and labels.shape == (len(data),)
            and np.isin(labels, np.arange(10)).all()):
        raise ValueError(f"{name} does not hold N rows of 3072 uint8 pixels with N labels in 0..9")
    # Each row is the red plane, then green, then blue, each 32x32 row-major: that is NCHW.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.uint8)


class _ProgressFile:
    """A read-only file that advances a progress bar by the bytes read from it."""

    def __init__(self, fh, bar) -> None:
        self._fh, self._bar = fh, bar

    def read(self, size: int = -1) -> bytes:
        block = self._fh.read(size)
        self._bar.update(len(block))
        return block


def _unpack_cifar_archive(archive: Path) -> dict[str, bytes]:
    """All batches from the archive, md5-verified, in one pass (a .tar.gz reads front to back).

    They are also written (atomically) to ``cifar-10-batches-py/`` next to the archive when that
    folder is writable: decompressing 163 MB takes seconds, reading the unpacked batches does not.
    """
    names = [name for split in SPLITS for name in CIFAR10_BATCHES[split]]
    wanted = {f"{CIFAR10_FOLDER}/{name}": name for name in names}
    found: dict[str, bytes] = {}
    try:
        with open(archive, "rb") as fh, \
                tqdm(total=archive.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=f"reading {archive.name}", leave=False) as bar, \
                tarfile.open(fileobj=_ProgressFile(fh, bar), mode="r|gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[wanted[member.name]] = tar.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise ValueError(f"not a readable .tar.gz archive ({type(err).__name__}: {err})") from None
    missing = [name for name in names if name not in found]
    if missing:
        raise ValueError(f"the archive lacks {', '.join(missing)}")
    for name, content in found.items():
        digest = hashlib.md5(content).hexdigest()
        if digest != CIFAR10_MD5[name]:
            raise ValueError(f"{name} has md5 {digest}, expected {CIFAR10_MD5[name]}")
    try:
        (archive.parent / CIFAR10_FOLDER).mkdir(exist_ok=True)
        for name, content in found.items():
            write_atomic(archive.parent / CIFAR10_FOLDER / name, content)
    except OSError:
        pass  # a read-only folder: read the archive again next time
    return found


def _decode_cifar_split(source: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split from the unpacked folder or the archive: ``(N, 3, 32, 32)``, ``(N,)`` uint8."""
    names = CIFAR10_BATCHES[split]
    if source.is_dir():
        contents = {name: (source / name).read_bytes() for name in names}
    else:
        contents = _unpack_cifar_archive(source)
    parts = [_decode_cifar_batch(contents[name], name) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_cifar10(split: str = "train", root: str | os.PathLike[str] | None = None,
                 download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10: ``(images, labels)`` from the python pickle batches, md5-verified.

    Shapes: ``images`` is ``(N, 3, 32, 32)`` uint8, channels first (NCHW, as torch wants; use
    ``images.transpose(0, 2, 3, 1)`` to show one with matplotlib); ``labels`` is ``(N,)`` uint8,
    an index into :data:`CIFAR10_CLASSES`. N = 50,000 for ``"train"``, 10,000 for ``"test"``.

    Each search folder (``root``, ``$COURSE_DATA_DIR/cifar10``, ``~/.cache/cnn-course/cifar10``)
    may hold the unpacked ``cifar-10-batches-py/`` folder or the ``cifar-10-python.tar.gz``
    archive; the first read of an archive also unpacks it (when the folder is writable), which
    makes later loads fast. With ``download=True`` the archive (163 MB) is fetched when no good
    copy exists.
    """
    split = check_choice(split, SPLITS, "split", "load_cifar10")
    _check_bool(download, "download", "load_cifar10")
    folders = search_folders("cifar10", root)
    damaged: list[tuple[Path, str]] = []
    failures: list[str] = []
    candidates = [folder / leaf for folder in folders for leaf in (CIFAR10_FOLDER, CIFAR10_ARCHIVE)]
    result = first_good(candidates, lambda path: _decode_cifar_split(path, split), damaged,
                        stacklevel=3)
    if result is None and download:

        def verify(temp: Path) -> None:
            digest = file_digest(temp, "md5")
            if digest != CIFAR10_MD5[CIFAR10_ARCHIVE]:
                raise ValueError(f"md5 {digest}, expected {CIFAR10_MD5[CIFAR10_ARCHIVE]}")

        try:
            urls = mirror_urls(mirrors("COURSE_CIFAR10_MIRRORS", CIFAR10_MIRRORS), CIFAR10_ARCHIVE)
            result = _decode_cifar_split(download_verified(CIFAR10_ARCHIVE, urls, folders, verify),
                                         split)
        except (DownloadError, ValueError) as err:
            failures.append(f"  {err}")
    if result is None:
        raise not_found_error("load_cifar10", f"CIFAR-10 (the {split!r} split)",
                              [CIFAR10_ARCHIVE, f"(or the unpacked {CIFAR10_FOLDER}/ folder)"],
                              folders, root, damaged, download, failures,
                              mirrors("COURSE_CIFAR10_MIRRORS", CIFAR10_MIRRORS))
    return result


# ------------------------------------------------------------------------------------ sample photo

#: Real images that ship with matplotlib (``matplotlib.cbook.get_sample_data``): a photograph of
#: Grace Hopper (600 x 512 pixels, colour) and an MRI slice of a head (256 x 256, grayscale).
SAMPLE_PHOTOS: tuple[str, ...] = ("grace_hopper.jpg", "s1045.ima.gz")


def sample_photo(name: str = "grace_hopper.jpg", gray: bool = True) -> np.ndarray:
    """A real photograph for the filter demos, no download needed: float64 values in [0, 1].

    Shapes: ``(H, W)`` when ``gray`` (luma ``Y = 0.299 R + 0.587 G + 0.114 B``, ITU-R BT.601),
    else ``(H, W, 3)``. The MRI slice is grayscale already and always ``(H, W)``.

    >>> sample_photo().shape
    (600, 512)
    """
    from matplotlib import cbook
    from matplotlib import image as mpimg

    name = check_choice(name, SAMPLE_PHOTOS, "name", "sample_photo")
    _check_bool(gray, "gray", "sample_photo")
    if name.endswith(".ima.gz"):
        with cbook.get_sample_data(name) as fh:  # matplotlib opens .gz files decompressed
            # 16-bit big-endian words that hold 8-bit values
            pixels = np.frombuffer(fh.read(), dtype=">u2").reshape(256, 256)
        return pixels / pixels.max()
    rgb = mpimg.imread(cbook.get_sample_data(name, asfileobj=False)).astype(np.float64)
    if rgb.max() > 1.0:  # 8-bit files come back as 0..255
        rgb /= 255.0
    rgb = rgb[..., :3]
    return rgb @ np.array([0.299, 0.587, 0.114]) if gray else rgb
