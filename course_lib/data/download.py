"""Where datasets live and how they arrive: search folders first, then a verified pooch download.

The loaders in :mod:`course_lib.data` look for a dataset in three places, in this order:

1. the ``root`` folder the caller passes;
2. ``$COURSE_DATA_DIR/<dataset>`` when that environment variable is set;
3. the download cache, ``<cache>/<dataset>``: ``<cache>`` is ``$COURSE_CACHE_DIR`` when set,
   else ``pooch.os_cache("cnn-course")`` (``~/.cache/cnn-course`` on Linux, following
   ``$XDG_CACHE_HOME``).

A good copy in any of them is used without touching the network. Otherwise the file is
downloaded with `pooch <https://www.fatiando.org/pooch/>`_ into ``root`` when given, else into
the cache (never into ``$COURSE_DATA_DIR``, which may be shared): each mirror in turn, each tried
``1 + RETRIES`` times. Pooch streams into a temporary file in that folder, checks its sha256, and
only then renames it into place (atomic), so a half-finished or wrong file never carries the
real name, even when several processes download at once.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import pooch

T = TypeVar("T")
CACHE_ENV = "COURSE_CACHE_DIR"  #: the environment variable that moves the download cache
RETRIES = 2  # more attempts per mirror after the first; pooch waits 1 s, then 2 s, in between
TIMEOUT_S = 30.0  # per socket operation; a stalled mirror gives way to the next one


class DatasetNotFoundError(FileNotFoundError):
    """No usable copy of a dataset was found, and none could (or was allowed to) be downloaded.

    The message says which files are needed and which folders were searched.
    """


class DatasetCorruptError(DatasetNotFoundError):
    """Copies were found, but they are damaged (checksum, archive or format), and no good copy
    could be downloaded. The message names each damaged file and what is wrong with it."""


class DownloadError(OSError):
    """Every mirror failed, or the download folder cannot be written; the message says why."""


def cache_dir() -> Path:
    """The download cache: ``$COURSE_CACHE_DIR``, else ``pooch.os_cache("cnn-course")``."""
    return Path(pooch.create(pooch.os_cache("cnn-course"), base_url="", env=CACHE_ENV).abspath)


def search_folders(dataset: str, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for ``dataset`` ("mnist", "cifar10"), in order (see the module doc)."""
    folders = [Path(root).expanduser()] if root is not None else []
    data_dir = os.environ.get("COURSE_DATA_DIR")
    if data_dir:
        folders.append(Path(data_dir).expanduser() / dataset)
    folders.append(cache_dir() / dataset)
    return folders


def download_folder(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where a download of ``dataset`` goes: ``root`` when given, else ``<cache>/<dataset>``."""
    return Path(root).expanduser() if root is not None else cache_dir() / dataset


def describe_folders(folders: Sequence[Path], root: object = None) -> str:
    """The folder list for an error message, each labelled with where it came from."""
    cache_label = (f"${CACHE_ENV}" if os.environ.get(CACHE_ENV)
                   else f"download cache, moved by ${CACHE_ENV}")
    labels = (["root argument"] if root is not None else []) + \
        (["$COURSE_DATA_DIR"] if os.environ.get("COURSE_DATA_DIR") else []) + [cache_label]
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


def mirror_urls(bases: Sequence[str], filename: str) -> list[str]:
    """``base + filename`` for every mirror base URL (a missing trailing slash is added).

    >>> mirror_urls(["https://a.org/mnist", "https://b.org/"], "x.gz")
    ['https://a.org/mnist/x.gz', 'https://b.org/x.gz']
    """
    return [base.rstrip("/") + "/" + filename for base in bases]


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check that new files can go there (else DownloadError)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise DownloadError(
            f"cannot download into {folder}: {err.strerror or err}. Set {CACHE_ENV} to a folder "
            f"you can write to (downloads go there), or download the files yourself into a "
            f"folder that COURSE_DATA_DIR points to.") from None


def fetch(filename: str, sha256: str, urls: Sequence[str], folder: Path) -> Path:
    """``folder / filename`` with the given sha256, downloaded with pooch if it is not there yet.

    ``urls`` are tried in order, each with pooch's retries; a wrong checksum counts as a failed
    attempt. Failed attempts leave nothing behind in ``folder``. Raises :class:`DownloadError`
    listing every URL and its failure when none works, or when ``folder`` cannot be written.
    """
    path = folder / filename
    if path.is_file() and pooch.file_hash(str(path)) == sha256:
        return path  # offline first: a good copy means no network and no write
    if not urls:
        raise DownloadError(f"{filename}: no download mirrors are configured "
                            f"(the mirror variable is empty)")
    check_writable(folder)
    failures = []
    for url in urls:
        mirror = pooch.create(folder, base_url="", registry={filename: f"sha256:{sha256}"},
                              urls={filename: url}, retry_if_failed=RETRIES)
        downloader = pooch.HTTPDownloader(progressbar=True, timeout=TIMEOUT_S)  # a tqdm.auto bar
        try:
            return Path(mirror.fetch(filename, downloader=downloader))
        except (OSError, ValueError) as err:  # requests' errors are OSErrors
            failures.append(f"    {url}: {type(err).__name__}: {err}")
    raise DownloadError(f"{filename}: every mirror failed:\n" + "\n".join(failures))


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file and ``os.replace``: readers see
    the old file or the new one, never half of one."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


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
    dataset = folders[-1].name
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
    if root is not None and (Path(root).expanduser() / dataset).is_dir():
        lines.append(f"Note: 'root' is the folder that holds the files themselves; did you mean "
                     f"root={str(Path(root) / dataset)!r}?")
    lines.append(f"Or set COURSE_DATA_DIR to a folder that holds a {dataset}/ subfolder with "
                 f"them (read only, never written), or set {CACHE_ENV} to a writable folder for "
                 f"downloads.")
    error = DatasetCorruptError if damaged else DatasetNotFoundError
    return error("\n".join(lines))
