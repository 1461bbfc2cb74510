"""CIFAR-10: 60,000 colour images in 10 classes, verified (sha256, md5) and unpickled safely."""
from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from course_lib._checks import check_bool, check_choice
from course_lib.data.download import (DownloadError, download_folder, fetch, first_good,
                                      mirror_urls, mirrors, not_found_error, search_folders,
                                      write_atomic)

__all__ = ["load_cifar10", "CIFAR10_CLASSES"]

SPLITS = ("train", "test")

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"  # what the archive unpacks to; also accepted on disk
CIFAR10_BATCHES: dict[str, tuple[str, ...]] = {
    "train": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"),
    "test": ("test_batch",),
}
#: md5 of each pickled batch inside the archive (as published in torchvision's CIFAR10 class,
#: pytorch/vision torchvision/datasets/cifar.py), so an unpacked folder is checked too.
CIFAR10_MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
#: sha256 of the archive: pooch's registry, checked on every download.
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
#: Tried in order; ``$COURSE_CIFAR10_MIRRORS`` (space- or comma-separated) replaces this list.
#: The second is the copy Keras downloads; the sha256 proves it is the same file.
CIFAR10_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",
                                    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/")
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

    Each search folder (``root``, ``$COURSE_DATA_DIR/cifar10``, the download cache's
    ``cifar10/``, see :mod:`course_lib.data.download`) may hold the unpacked
    ``cifar-10-batches-py/`` folder or the ``cifar-10-python.tar.gz`` archive; the first read
    of an archive also unpacks it (when the folder is writable), which makes later loads fast.
    With ``download=True`` the archive (163 MB) is fetched with pooch, sha256-verified, into
    ``root`` when given, else into the download cache, when no good copy exists.
    """
    split = check_choice(split, SPLITS, "split", "load_cifar10")
    check_bool(download, "download", "load_cifar10")
    folders = search_folders("cifar10", root)
    damaged: list[tuple[Path, str]] = []
    failures: list[str] = []
    candidates = [folder / leaf for folder in folders for leaf in (CIFAR10_FOLDER, CIFAR10_ARCHIVE)]
    result = first_good(candidates, lambda path: _decode_cifar_split(path, split), damaged,
                        stacklevel=3)
    if result is None and download:
        try:
            urls = mirror_urls(mirrors("COURSE_CIFAR10_MIRRORS", CIFAR10_MIRRORS), CIFAR10_ARCHIVE)
            archive = fetch(CIFAR10_ARCHIVE, CIFAR10_SHA256, urls, download_folder("cifar10", root))
            result = _decode_cifar_split(archive, split)
        except (DownloadError, ValueError) as err:
            failures.append(f"  {err}")
    if result is None:
        raise not_found_error("load_cifar10", f"CIFAR-10 (the {split!r} split)",
                              [CIFAR10_ARCHIVE, f"(or the unpacked {CIFAR10_FOLDER}/ folder)"],
                              folders, root, damaged, download, failures,
                              mirrors("COURSE_CIFAR10_MIRRORS", CIFAR10_MIRRORS))
    return result
