"""ImageNet-style folders for AlexNet: the cache, its statistics, and batches that keep a GPU fed.

The pipeline, from JPEGs to the network's input:

1. :func:`cache_image_folder` (from :mod:`course_lib.data.jpeg_cache`) decodes ``root/<class>/*.jpg``
   once, in parallel, into a checksummed uint8 array of 256×256 squares on disk;
2. :func:`rgb_statistics` measures the mean, the spread and the principal colour directions of
   the training pixels (for normalising, and for the PCA colour jitter);
3. :class:`FolderBatches` serves ``(x, y)`` batches on the device: the uint8 squares go to the GPU
   (all at once when they fit in its memory, else batch by batch, read ahead by a thread), and
   the GPU cuts the random crop, flips, jitters and normalises them in one fused step
   (:func:`course_lib.data.augment.crop_flip_jitter`). ``course_lib.train.fit`` takes it as
   its ``train_data`` and ``val_data``. Without a GPU the same code runs on the CPU.

The course's default folder is Imagenette (10 easy ImageNet classes, about 9,500 training and
3,900 validation images; https://github.com/fastai/imagenette): unpack ``imagenette2-320.tgz``
as ``$COURSE_DATA_DIR/imagenette`` (holding ``train/`` and ``val/``). Any ImageNet subset in
the same layout works. :func:`write_jpeg_folder` writes a generated stand-in for tests and offline.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from course_lib._checks import check_bool, check_int
from course_lib.data.augment import PCAColorJitter, center_view, crop_flip_jitter
from course_lib.data.jpeg_cache import CachedImages, cache_image_folder
from course_lib.data.shapes import SHAPE_CLASSES, synthetic_shapes

__all__ = ["CachedImages", "cache_image_folder", "imagenette_dir", "write_jpeg_folder",
           "rgb_statistics", "FolderBatches"]


def imagenette_dir() -> Path | None:
    """``$COURSE_DATA_DIR/imagenette`` if it holds ``train/`` and ``val/`` class folders, else ``None``."""
    base = os.environ.get("COURSE_DATA_DIR")
    if not base:
        return None
    for name in ("imagenette", "imagenette2-320", "imagenette2"):
        path = Path(base) / name
        if (path / "train").is_dir() and (path / "val").is_dir():
            return path
    return None


def write_jpeg_folder(root: str | os.PathLike, per_class: int, *, image_size: int = 96,
                      num_classes: int = 10, seed: int = 0, quality: int = 90) -> Path:
    """Write ``per_class`` generated JPEGs for each of ``num_classes`` classes of
    :func:`course_lib.data.synthetic_shapes` as ``root/<class>/<i>.jpg``; return ``root``.

    Half of them are made wider than tall (a strip is cut off the top and bottom), so the
    short-side resize of the cache has something to do. Same ``seed``, same files.
    """
    from PIL import Image

    func = "write_jpeg_folder"
    per_class = check_int(per_class, "per_class", func, 1)
    image_size = check_int(image_size, "image_size", func, 16)
    root = Path(root)
    images, labels = synthetic_shapes(per_class * num_classes, image_size=image_size,
                                      num_classes=num_classes, seed=seed)
    counts = [0] * num_classes
    strip = image_size // 8
    for i, (image, label) in enumerate(zip(images.transpose(0, 2, 3, 1), labels)):
        folder = root / SHAPE_CLASSES[label].replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        if i % 2:
            image = image[strip:-strip]
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"{counts[label]:05d}.jpg", quality=quality)
        counts[label] += 1
    return root


def rgb_statistics(cached: CachedImages, max_images: int = 2000, sigma: float = 0.1, seed: int = 0
                   ) -> tuple[tuple[float, float, float], tuple[float, float, float], PCAColorJitter]:
    """``(mean, std, colour)`` of the pixels of up to ``max_images`` random images of ``cached``
    (every 4th pixel of each, in [0, 1] units): the normalisation, and Krizhevsky's PCA colour
    jitter fitted to them (``sigma``: the paper's 0.1)."""
    n = len(cached)
    pick = np.sort(np.random.default_rng(seed).permutation(n)[:max_images])
    pixels = torch.from_numpy(np.ascontiguousarray(cached.images[pick, ::4, ::4])).float().div_(255)
    pixels = pixels.reshape(-1, 3)
    mean, std = pixels.mean(0), pixels.std(0)
    colour = PCAColorJitter.from_data(pixels.T[None, :, :, None], sigma=sigma)
    return tuple(mean.tolist()), tuple(std.tolist()), colour


class FolderBatches:
    """``(x, y)`` batches of a :class:`CachedImages` on ``device``, cut and normalised there.

    ``train=True``: shuffled every epoch, random ``size`` crops with flips and ``colour`` jitter,
    the last incomplete batch dropped (same shapes every step, which ``torch.compile`` likes);
    ``train=False``: in order, the central crop, every image once. ``size``: the crop, 227 for
    ``AlexNet("2012")`` (or 224 with ``pad_to=227``). ``resident``: keep all the uint8 images on
    the device (``"auto"``: on CUDA when they take under half its free memory; on the CPU the
    memory-mapped file is read in place). x: (B, 3, size, size) float32 channels_last; y: (B,) int64.
    ``seed`` fixes the order and the augmentation, which still differ from epoch to epoch.
    """

    def __init__(self, cached: CachedImages, batch_size: int, *, train: bool, mean, std,
                 size: int = 227, pad_to: int | None = None, colour: PCAColorJitter | None = None,
                 device: torch.device | str | None = None, resident: bool | str = "auto", seed: int = 0):
        func = "FolderBatches"
        if not isinstance(cached, CachedImages):
            raise TypeError(f"{func}: argument 'cached' must be a CachedImages (from cache_image_folder), "
                            f"got {type(cached).__name__}.")
        self.batch_size = check_int(batch_size, "batch_size", func, 1)
        self.size = check_int(size, "size", func, 1)
        self.train = check_bool(train, "train", func)
        if self.size > cached.images.shape[1]:
            raise ValueError(f"{func}: argument 'size' ({size}) is larger than the cached images "
                             f"({cached.images.shape[1]}×{cached.images.shape[2]}).")
        if resident not in ("auto", True, False):
            raise ValueError(f"{func}: argument 'resident' must be 'auto', True or False, got {resident!r}.")
        from course_lib.gpu.device import pick_device

        self.device = torch.device(device) if device is not None else pick_device()
        self.mean, self.std, self.colour, self.pad_to = mean, std, colour, pad_to
        self.generator = torch.Generator().manual_seed(check_int(seed, "seed", func, 0))
        self.cached = cached
        self.labels = torch.from_numpy(cached.labels)
        if resident == "auto":
            resident = self.device.type == "cuda" and cached.images.nbytes < 0.5 * torch.cuda.mem_get_info(self.device)[0]
        self.resident = bool(resident) and self.device.type != "cpu"
        if self.resident:  # one copy, in chunks, so the host never holds a second full copy
            self.images = torch.empty(cached.images.shape, dtype=torch.uint8, device=self.device)
            for start in range(0, len(cached), 1024):
                chunk = np.ascontiguousarray(cached.images[start:start + 1024])
                self.images[start:start + len(chunk)].copy_(torch.from_numpy(chunk))
            self.labels = self.labels.to(self.device)

    def __len__(self) -> int:
        n = len(self.cached)
        return n // self.batch_size if self.train and n >= self.batch_size else math.ceil(n / self.batch_size)

    def _indices(self) -> list[torch.Tensor]:
        n = len(self.cached)
        order = torch.randperm(n, generator=self.generator) if self.train else torch.arange(n)
        # Sorted within a batch (its order is irrelevant): reads from the memory map go forward on disk.
        return [order[i * self.batch_size:(i + 1) * self.batch_size].sort().values for i in range(len(self))]

    def _host_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(self.cached.images[idx.numpy()]))
        if self.device.type == "cuda":
            x = x.pin_memory()
        return x, self.labels[idx]

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        if self.train:
            return crop_flip_jitter(x, self.size, self.mean, self.std, self.colour, pad_to=self.pad_to,
                                    generator=self.generator)
        return center_view(x, self.size, self.mean, self.std, pad_to=self.pad_to)

    def __iter__(self):
        batches = self._indices()
        if self.resident:
            for idx in batches:
                idx = idx.to(self.device, non_blocking=True)
                yield self._view(self.images[idx]), self.labels[idx]
            return
        # Read the next batch from disk on a thread while the device works on this one.
        with ThreadPoolExecutor(1) as reader:
            future = reader.submit(self._host_batch, batches[0]) if batches else None
            for i in range(len(batches)):
                x, y = future.result()
                if i + 1 < len(batches):
                    future = reader.submit(self._host_batch, batches[i + 1])
                yield self._view(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True)
