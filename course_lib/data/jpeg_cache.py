"""Decode a folder of JPEGs once into a uint8 array on disk, the way AlexNet's data was prepared.

Krizhevsky et al. rescaled every ImageNet image so that its short side was 256 pixels and cut
out the central 256×256 square; training then read those squares, never the JPEGs. This module
does the same for any folder laid out as ``root/<class>/<image>.jpg`` (ImageNet, Imagenette, or
the generated folders of :func:`course_lib.data.folder.write_jpeg_folder`):

1. list the class folders (sorted names: label 0, 1, ...) and their image files;
2. decode each image with Pillow in parallel worker processes (``min(os.cpu_count(), 8)``),
   convert it to RGB (grey-scale, CMYK, palette and RGBA images included), resize its short
   side to ``size`` and keep the central ``size``×``size`` square;
3. write the squares into one ``.npy`` array, (N, size, size, 3) uint8, with a JSON manifest
   beside it: the configuration (size, classes, a digest of the file list), the labels, the
   files skipped as unreadable, and the SHA-256 of the array.

Both files are written under temporary names and renamed into place, manifest last, so a crash
leaves no half-written cache (and no temporary files). Opening checks the manifest's
configuration against the one asked for, and the array's shape and checksum: a cache built
for another configuration is rebuilt, a damaged one too; neither is ever used silently.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from course_lib._checks import check_bool, check_int

__all__ = ["CachedImages", "cache_image_folder", "list_image_folder", "decode_square", "IMAGE_SUFFIXES"]

#: The file names taken as images (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FORMAT_VERSION = 1


@dataclass
class CachedImages:
    """A decoded image folder: ``images`` (N, S, S, 3) uint8, memory-mapped read-only;
    ``labels`` (N,) int64; ``classes`` the folder names in label order; ``path`` the .npy file."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    path: Path
    manifest: dict

    def __len__(self) -> int:
        return len(self.labels)


def list_image_folder(root: str | os.PathLike, classes: list[str] | None = None
                      ) -> tuple[list[str], list[tuple[str, int]]]:
    """The classes (sorted sub-folder names, or ``classes`` as given) and the ``(file, label)``
    pairs under ``root``, files sorted within each class. An empty class folder is refused:
    it would be a class the network is asked to score but never sees."""
    func = "cache_image_folder"
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{func}: argument 'root' must be a folder of class folders "
                                f"(root/<class>/<image>.jpg), but {str(root)!r} is not a folder.")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = found if classes is None else list(classes)
    if not classes:
        raise ValueError(f"{func}: argument 'root' ({str(root)!r}) holds no class folders; "
                         "expected root/<class>/<image>.jpg.")
    missing = [c for c in classes if c not in found]
    if missing:
        raise ValueError(f"{func}: argument 'classes' names folders missing under {str(root)!r}: {missing}.")
    files = []
    for label, name in enumerate(classes):
        names = sorted(p.name for p in (root / name).iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not names:
            raise ValueError(f"{func}: the class folder {str(root / name)!r} holds no images "
                             f"({', '.join(IMAGE_SUFFIXES)}); add some, or remove the folder.")
        files += [(f"{name}/{n}", label) for n in names]
    return classes, files


def decode_square(path: str | os.PathLike, size: int) -> np.ndarray | None:
    """One image file as (size, size, 3) uint8 RGB: short side resized to ``size`` (bilinear,
    antialiased), then the central square. ``None`` if Pillow cannot read the file.

    >>> decode_square("no/such/file.jpg", 8) is None
    True
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when that is enough
            img = img.convert("RGB")         # L, CMYK, P, RGBA ... -> RGB
            w, h = img.size
            scale = size / min(w, h)
            w, h = max(size, round(w * scale)), max(size, round(h * scale))
            img = img.resize((w, h), Image.BILINEAR, reducing_gap=None)
            left, top = (w - size) // 2, (h - size) // 2
            return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None


def _decode_job(job: tuple[str, int]) -> bytes | None:
    # Module level, so spawned workers can import it; bytes pickle faster than arrays.
    square = decode_square(*job)
    return None if square is None else square.tobytes()


def _digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _config(root: Path, classes: list[str], files: list[tuple[str, int]], size: int) -> dict:
    # The file list with sizes and modification times: a changed, added or removed image
    # changes the digest, and so the cache.
    listing = hashlib.sha256()
    for name, label in files:
        st = (root / name).stat()
        listing.update(f"{name}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"format": FORMAT_VERSION, "size": size, "classes": classes, "count": len(files),
            "files_sha256": listing.hexdigest()}


def _open(npy: Path, manifest_path: Path, config: dict, verify: bool) -> CachedImages | None:
    """The cache, if it exists and matches ``config``; ``None`` (with the reason warned) if not."""
    if not (npy.is_file() and manifest_path.is_file()):
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        images = np.load(npy, mmap_mode="r")
    except (OSError, ValueError) as err:
        warnings.warn(f"cache_image_folder: {npy.name} is unreadable ({err}); rebuilding it.", stacklevel=3)
        return None
    problem = None
    if manifest.get("config") != config:
        problem = "it was built for another configuration (size, classes or files)"
    elif images.dtype != np.uint8 or images.shape != (config["count"], config["size"], config["size"], 3):
        problem = f"its array has shape {images.shape} and dtype {images.dtype}"
    elif verify and _sha256_file(npy) != manifest.get("sha256"):
        problem = "its SHA-256 does not match the manifest (a damaged or altered file)"
    if problem:
        warnings.warn(f"cache_image_folder: not using {npy}: {problem}; rebuilding it.", stacklevel=3)
        return None
    labels = np.asarray(manifest["labels"], dtype=np.int64)
    # Unreadable files leave unused rows at the end: the first ``kept`` rows are the images.
    return CachedImages(images[:manifest["kept"]], labels, list(config["classes"]), npy, manifest)


def _decoded(root: Path, files: list[tuple[str, int]], size: int, workers: int, progress: bool, desc: str):
    """Each file's square as bytes (or None), in order, decoded by ``workers`` processes."""
    jobs = [(str(root / name), size) for name, _ in files]
    bar = dict(total=len(jobs), desc=desc, unit="img", disable=not progress)
    if workers <= 1:
        yield from tqdm(map(_decode_job, jobs), **bar)
        return
    # spawn: safe with torch and CUDA in the parent, and the same on Linux, macOS and Windows.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from tqdm(pool.imap(_decode_job, jobs, chunksize=16), **bar)


def _write(root: Path, files, size: int, workers: int, progress: bool, npy: Path, manifest_path: Path,
           config: dict, desc: str) -> None:
    """Decode into temporary files, then rename them into place; remove them on any failure."""
    fd, tmp_npy = tempfile.mkstemp(prefix=npy.name + ".", suffix=".tmp", dir=npy.parent)
    os.close(fd)
    tmp_manifest = tmp_npy + ".json"
    try:
        out = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.uint8, shape=(len(files), size, size, 3))
        labels, skipped, n = [], [], 0
        for (name, label), square in zip(files, _decoded(root, files, size, workers, progress, desc)):
            if square is None:
                skipped.append(name)
                continue
            out[n] = np.frombuffer(square, np.uint8).reshape(size, size, 3)
            labels.append(label)
            n += 1
        out.flush()
        del out
        if not n:
            raise ValueError(f"cache_image_folder: no image under {str(root)!r} could be read.")
        if skipped:
            warnings.warn(f"cache_image_folder: skipped {len(skipped)} unreadable image(s) under "
                          f"{root}: {skipped[:5]}{' ...' if len(skipped) > 5 else ''}", stacklevel=3)
        manifest = {"config": config, "kept": n, "labels": labels, "skipped": skipped,
                    "sha256": _sha256_file(Path(tmp_npy))}
        Path(tmp_manifest).write_text(json.dumps(manifest))
        os.replace(tmp_npy, npy)
        os.replace(tmp_manifest, manifest_path)  # last: the manifest's presence marks a whole cache
    finally:
        for leftover in (tmp_npy, tmp_manifest):
            if os.path.exists(leftover):
                os.remove(leftover)


def cache_image_folder(root: str | os.PathLike, cache_dir: str | os.PathLike | None = None, *,
                       size: int = 256, classes: list[str] | None = None, workers: int | None = None,
                       verify: bool = True, progress: bool = True) -> CachedImages:
    """The images under ``root/<class>/`` as a :class:`CachedImages`, decoded once and cached.

    ``cache_dir``: where the ``.npy`` and ``.json`` go (default ``root/../.cache-<root name>``);
    their name carries a digest of the configuration, so different sizes or file lists never
    share a file. ``classes``: the class folders in label order (give the training set's to a
    validation set so the labels agree); default all sub-folders, sorted. ``workers``: decoding
    processes, default ``min(os.cpu_count(), 8)`` (fewer for a few hundred files; ``0`` or ``1``
    decodes here). ``verify``: check the array's SHA-256 on opening.
    Unreadable files are skipped with a warning and listed in ``manifest["skipped"]``.
    """
    func = "cache_image_folder"
    size = check_int(size, "size", func, 8)
    verify, progress = check_bool(verify, "verify", func), check_bool(progress, "progress", func)
    if workers is not None:
        workers = check_int(workers, "workers", func, 0)
    root = Path(root).resolve()
    classes, files = list_image_folder(root, classes)
    config = _config(root, classes, files, size)
    cache_dir = Path(cache_dir) if cache_dir is not None else root.parent / f".cache-{root.name}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{root.name}-{size}px-{_digest(config)[:16]}"
    npy, manifest_path = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"
    cached = _open(npy, manifest_path, config, verify)
    if cached is not None:
        return cached
    if workers is None:  # a process pool costs about a second to start: not worth it for a few files
        workers = min(os.cpu_count() or 1, 8, max(1, len(files) // 200))
    _write(root, files, size, workers, progress, npy, manifest_path, config,
           desc=f"decoding {root.name} ({len(files):,} images)")
    cached = _open(npy, manifest_path, config, verify=False)
    assert cached is not None, "a cache just written must open"
    return cached
