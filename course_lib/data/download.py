"""Where datasets live and how they arrive: search folders, mirrors, atomic verified downloads.

The loaders in :mod:`course_lib.data` look for a dataset in three places, in this order:

1. the ``root`` folder the caller passes;
2. ``$COURSE_DATA_DIR/<dataset>`` when that environment variable is set;
3. the user cache, ``$XDG_CACHE_HOME/cnn-course/<dataset>`` (``~/.cache/cnn-course/<dataset>``).

A download goes to the first of these folders that can be written to. It is streamed into a
temporary file in that same folder, checked, and only then renamed into place with
``os.replace`` (atomic), so a half-finished or wrong file never carries the real name, even when
several processes download at once.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
CHUNK = 1 << 16  # bytes per read: big enough to be fast, small enough for a smooth progress bar
TIMEOUT_S = 30.0  # per socket operation; a stalled mirror gives way to the next one


class DatasetNotFoundError(FileNotFoundError):
    """No usable copy of a dataset was found, and none could (or was allowed to) be downloaded.

    The message says which files are needed and which folders were searched.
    """


class DatasetCorruptError(DatasetNotFoundError):
    """Copies were found, but they are damaged (checksum, archive or format), and no good copy
    could be downloaded. The message names each damaged file and what is wrong with it."""


class DownloadError(OSError):
    """Every mirror failed; the message lists each URL and why."""


def cache_dir() -> Path:
    """The course's user cache folder: ``$XDG_CACHE_HOME/cnn-course`` or ``~/.cache/cnn-course``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnn-course"


def search_folders(dataset: str, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for ``dataset`` ("mnist", "cifar10"), in order (see the module doc)."""
    folders = [Path(root).expanduser()] if root is not None else []
    data_dir = os.environ.get("COURSE_DATA_DIR")
    if data_dir:
        folders.append(Path(data_dir).expanduser() / dataset)
    folders.append(cache_dir() / dataset)
    return folders


def describe_folders(folders: Sequence[Path], root: object = None) -> str:
    """The folder list for an error message, each labelled with where it came from."""
    labels = (["root argument"] if root is not None else []) + \
        (["$COURSE_DATA_DIR"] if os.environ.get("COURSE_DATA_DIR") else []) + ["user cache"]
    return "\n".join(f"  {i}. {folder}   ({label})"
                     for i, (folder, label) in enumerate(zip(folders, labels), 1))


def mirrors(env_var: str, default: Sequence[str]) -> list[str]:
    """Mirror base URLs: ``$env_var`` (separated by spaces or commas) when set, else ``default``.

    Setting the variable to an empty string means "no mirrors": nothing is downloaded.
    """
    value = os.environ.get(env_var)
    if value is None:
        return list(default)
    return [url for url in value.replace(",", " ").split() if url]


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file, read in chunks (``hashlib.file_digest`` needs Python 3.11)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK * 16), b""):
            digest.update(block)
    return digest.hexdigest()


def writable_folder(folders: Sequence[Path]) -> Path:
    """The first folder that exists (or can be created) and accepts new files."""
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                return folder
        except OSError:
            continue
    raise DownloadError("none of these folders can be written to: " + ", ".join(map(str, folders)))


def _new_temp_file(folder: Path, filename: str) -> Path:
    """A new, empty, uniquely named hidden file in ``folder``.

    Unlike ``tempfile.mkstemp`` (always private, mode 0600) its permissions follow the umask,
    so the final file in a shared data folder is readable by the others who use it.
    """
    while True:
        temp = folder / f".{filename}.{secrets.token_hex(6)}.part"
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return temp
        except FileExistsError:
            continue


def _fetch(url: str, destination: Path, description: str) -> None:
    """Stream ``url`` into ``destination``; a short read (dropped connection) is an error."""
    request = urllib.request.Request(url, headers={"User-Agent": "cnn-course (python urllib)"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, \
            open(destination, "wb") as out:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        received = 0
        with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=description, leave=False) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                received += len(block)
                bar.update(len(block))
    if expected is not None and received != expected:
        raise DownloadError(f"connection closed after {received} of {expected} bytes")


def download_verified(filename: str, urls: Sequence[str], folders: Sequence[Path],
                      verify: Callable[[Path], None]) -> Path:
    """Download ``filename`` into the first writable of ``folders``, trying ``urls`` in order.

    Each attempt goes to a fresh temporary file in that folder; ``verify(temp_path)`` must raise
    ``ValueError`` when the content is wrong. Only a verified file is renamed to
    ``folder / filename``, which is returned; failed attempts leave nothing behind. Raises
    :class:`DownloadError` listing every URL and its failure when none works.
    """
    if not urls:
        raise DownloadError("no download mirrors are configured (the mirror variable is empty)")
    folder = writable_folder(folders)
    final = folder / filename
    failures = []
    for url in urls:
        temp = _new_temp_file(folder, filename)
        try:
            _fetch(url, temp, filename)
            verify(temp)
            os.replace(temp, final)
            return final
        except (OSError, ValueError, http.client.HTTPException) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            failures.append(f"    {url}: {reason}")
        finally:
            temp.unlink(missing_ok=True)
    raise DownloadError(f"{filename}: every mirror failed:\n" + "\n".join(failures))


def mirror_urls(bases: Sequence[str], filename: str) -> list[str]:
    """``base + filename`` for every mirror base URL (a missing trailing slash is added)."""
    return [base.rstrip("/") + "/" + filename for base in bases]


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file and ``os.replace``: readers see
    the old file or the new one, never half of one."""
    temp = _new_temp_file(path.parent, path.name)
    try:
        temp.write_bytes(content)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def first_good(candidates: Sequence[Path], decode: Callable[[Path], T],
               damaged: list[tuple[Path, str]], stacklevel: int) -> T | None:
    """The decoded content of the first candidate that exists and verifies, else ``None``.

    Damaged candidates are appended to ``damaged`` and reported with a warning: never used.
    """
    for path in candidates:
        if not path.exists():
            continue
        try:
            return decode(path)
        except (ValueError, OSError) as err:
            damaged.append((path, str(err)))
            warnings.warn(f"skipping the damaged file {path} ({err}); delete or replace it.",
                          stacklevel=stacklevel)  # points at the line that called the loader
    return None


def not_found_error(func: str, what: str, files: Sequence[str], folders: Sequence[Path],
                    root: object, damaged: Sequence[tuple[Path, str]], download_allowed: bool,
                    failures: Sequence[str], mirror_list: Sequence[str]) -> DatasetNotFoundError:
    """The kind, specific error for "no usable copy": where we looked, what to put where."""
    lines = [f"{func}: could not find a usable copy of {what}.",
             "Searched these folders, in this order:", describe_folders(folders, root)]
    if damaged:
        lines.append("These copies were found but are damaged, so they were not used:")
        lines += [f"  {path}: {reason}" for path, reason in damaged]
    if not download_allowed:
        lines.append("Nothing was downloaded because download=False.")
    else:
        lines += ["Downloading failed:", *failures]
    lines += ["To fix this, put these files into one of the folders above:", "  " + "  ".join(files)]
    if mirror_list:
        lines.append("They can be downloaded from " + " or ".join(mirror_list))
    if root is not None and (Path(root).expanduser() / folders[-1].name).is_dir():
        lines.append(f"Note: 'root' is the folder that holds the files themselves; did you mean "
                     f"root={str(Path(root) / folders[-1].name)!r}?")
    if not os.environ.get("COURSE_DATA_DIR"):
        lines.append("You can also set COURSE_DATA_DIR to a folder that holds a "
                     f"{folders[-1].name}/ subfolder.")
    error = DatasetCorruptError if damaged else DatasetNotFoundError
    return error("\n".join(lines))
