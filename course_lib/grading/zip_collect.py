"""Collecting an LMS download (zip or tar archives, or notebooks), unpacked here with limits.

nbgrader's ``zip_collect`` unpacks whatever it is given. Here every archive is read in memory
with caps on entries and bytes, nested archives and unsafe member names are refused, each
file is mapped to a student by ``FileNameCollectorPlugin.named_regexp``, and a file lands
only under ``submitted/<its own student>/``.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable


from course_lib.grading.release import course_config

# --- zip_collect: an LMS download, unpacked here with limits --------------------------------

ZIP_MAX_FILES = 200             # entries in one archive (files and folders)
ZIP_MAX_BYTES = 50 * 2**20      # uncompressed bytes in one archive (or one loose file)
_TAR_MODES = {".tar": "r:", ".tar.gz": "r:gz", ".tgz": "r:gz", ".tar.bz2": "r:bz2",
              ".tbz2": "r:bz2"}  # no xz: its decoder takes the memory the stream asks for
ARCHIVE_SUFFIXES = (".zip", *_TAR_MODES)
NESTED_SUFFIXES = ARCHIVE_SUFFIXES + (".gz", ".bz2", ".xz", ".txz", ".7z", ".rar", ".zst",
                                      ".jar")
_CHUNK = 1 << 16


class ArchiveRefused(Exception):
    """A whole archive is refused (too big, too many files, unreadable)."""


@dataclass
class _Member:
    origin: str      # for messages: "download.zip: a/b.ipynb" or "b.ipynb"
    name: str        # the path inside the archive ('/'-separated), or the loose file's name
    data: bytes


def _archive_suffix(name: str) -> str | None:
    lower = name.lower()
    return next((s for s in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True)
                 if lower.endswith(s)), None)


def _member_problem(name: str) -> str | None:
    """Why a member name must not be used at all (absolute, '..', NUL), or None."""
    if "\0" in name:
        return "a NUL character in the name"
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in parts:
        return "'..' in the path"
    return None


def _read_limited(stream, origin: str, budget: list[int]) -> bytes:
    """Read a member, counting the bytes actually produced against the archive's budget."""
    chunks = []
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise ArchiveRefused(f"more than {budget[1] // 2**20} MB once unpacked "
                                 f"(reading {origin}): a zip bomb?")
        chunks.append(chunk)


def _is_metadata(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store",
                                                                              "Thumbs.db")


def _unpack(path: Path, max_files: int, max_bytes: int) -> tuple[list[_Member], list[str]]:
    """The members of one input (an archive, or a loose file), read into memory with limits.

    Returns the members to map to students and the lines to report (skips and refusals of
    single members). Raises ArchiveRefused when the whole input is refused; then nothing of it
    is used.
    """
    import tarfile
    import zipfile
    import zlib

    unreadable = (RuntimeError, zipfile.BadZipFile, OSError, EOFError, zlib.error)
    members, lines = [], []
    budget = [max_bytes, max_bytes]
    if not path.is_file():
        raise ArchiveRefused("not a file")
    suffix = _archive_suffix(path.name)

    def consider(name: str, size: int, kind: str) -> bool:
        """Common checks of one entry; True when it should be read."""
        origin = f"{path.name}: {name}"
        budget[0] -= size  # the declared size counts too: skipped members are not free
        if budget[0] < 0:
            raise ArchiveRefused(f"more than {max_bytes // 2**20} MB once unpacked "
                                 f"(declared by {name!r}): a zip bomb?")
        problem = _member_problem(name)
        if problem:
            lines.append(f"REFUSED {origin}: {problem}; not collected.")
        elif kind != "file":
            lines.append(f"REFUSED {origin}: a {kind}, not a plain file; not collected.")
        elif _is_metadata(name):
            lines.append(f"Skipped {origin}: operating-system metadata.")
        elif name.lower().endswith(NESTED_SUFFIXES):
            lines.append(f"Skipped {origin}: an archive inside an archive is never unpacked "
                         f"(extract it yourself and pass it to zip_collect on its own).")
        else:
            budget[0] += size  # counted again, by the bytes actually read
            return True
        return False

    if suffix is None and path.name.lower().endswith(NESTED_SUFFIXES):
        raise ArchiveRefused("an archive type zip_collect does not unpack (it reads .zip, .tar, "
                             ".tar.gz and .tar.bz2): unpack it yourself and pass its files")
    if suffix is None:  # a loose file: a notebook, or whatever the LMS gave
        if path.stat().st_size > max_bytes:
            raise ArchiveRefused(f"larger than {max_bytes // 2**20} MB")
        with open(path, "rb") as fh:
            members.append(_Member(path.name, path.name,
                                   _read_limited(fh, path.name, budget)))
        return members, lines
    if suffix == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise ArchiveRefused(f"not a readable zip file ({err})") from None
        with zf:
            infos = zf.infolist()
            if len(infos) > max_files:
                raise ArchiveRefused(f"{len(infos)} entries, more than {max_files}")
            for info in infos:
                if info.is_dir():
                    continue
                mode = info.external_attr >> 16
                kind = "symbolic link" if stat.S_ISLNK(mode) else "file"
                if not consider(info.filename, info.file_size, kind):
                    continue
                origin = f"{path.name}: {info.filename}"
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    lines.append(f"REFUSED {origin}: compression type {info.compress_type} "
                                 f"(only stored or deflated); not collected.")
                    continue
                try:
                    with zf.open(info) as stream:
                        data = _read_limited(stream, origin, budget)
                except unreadable as err:
                    lines.append(f"REFUSED {origin}: unreadable ({err}); not collected.")
                    continue
                members.append(_Member(origin, info.filename.replace("\\", "/"), data))
        return members, lines
    count = 0
    try:  # a tar archive, maybe compressed: only regular files are read
        with tarfile.open(path, _TAR_MODES[suffix]) as tf:
            for info in tf:
                count += 1
                if count > max_files:
                    raise ArchiveRefused(f"more than {max_files} entries")
                if info.isdir():
                    continue
                kind = "file" if info.isreg() else ("link" if info.issym() or info.islnk()
                                                    else "special file")
                if not consider(info.name, info.size, kind):  # skipping costs its size too
                    continue
                origin = f"{path.name}: {info.name}"
                stream = tf.extractfile(info)
                members.append(_Member(origin, info.name.replace("\\", "/"),
                                       _read_limited(stream, origin, budget)))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ArchiveRefused(f"not a readable tar archive ({err})") from None
    return members, lines


def _collector(root: Path, cfg):
    """The course's file-name collector plugin (``ZipCollectApp.collector_plugin``), quiet."""
    import logging

    from nbgrader.plugins import FileNameCollectorPlugin
    from traitlets.utils.importstring import import_item

    cls = cfg.ZipCollectApp.get("collector_plugin", FileNameCollectorPlugin)
    if isinstance(cls, str):
        if str(root) not in sys.path:  # as nbgrader does: a custom plugin beside the config
            sys.path.insert(0, str(root))
        cls = import_item(cls)
    log = logging.getLogger("course_lib.grading.zip_collect")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return cls(config=cfg, log=log)


def _file_id_problem(file_id: object) -> str | None:
    if not isinstance(file_id, str) or not file_id:
        return "no file name"
    parts = file_id.replace("\\", "/").split("/")
    if file_id.startswith(("/", "\\")) or "\0" in file_id or any(
            p in ("", ".", "..") or p.startswith(".") for p in parts):
        return f"unsafe file name {file_id!r}"
    return None


def _write_submission(root: Path, student: str, assignment: str,
                      files: dict[str, bytes], timestamp) -> Path:
    """Replace ``submitted/<student>/<assignment>/`` by ``files``, never writing elsewhere."""
    base = (Path(root) / "submitted").resolve()
    student_dir = base / student
    if student_dir.is_symlink() or (student_dir.exists() and not student_dir.is_dir()):
        raise RuntimeError(f"{student_dir} is not a plain folder")
    student_dir.mkdir(parents=True, exist_ok=True)
    dest = student_dir / assignment
    staging = Path(tempfile.mkdtemp(prefix=f".incoming-{assignment}-", dir=student_dir))
    try:
        for rel, data in files.items():
            target = (staging / rel).resolve()
            if not target.is_relative_to(staging.resolve()):
                raise RuntimeError(f"{rel!r} would land outside {dest}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if timestamp is not None:
            (staging / "timestamp.txt").write_text(timestamp.isoformat(" "))
        staging.chmod(0o755)
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        elif dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


def zip_collect(root: Path, assignment: str, archives: Iterable[Path],
                max_files: int | None = None, max_bytes: int | None = None) -> str:
    """Collect an LMS download (zip or tar archives, or loose notebooks) into ``submitted/``.

    Each FILE is unpacked here, in memory, never by nbgrader and never onto the disk as it is:

    * an archive with more than ``max_files`` entries (default ``ZIP_MAX_FILES``, or
      ``c.CourseZipCollect.max_files`` in nbgrader_config.py), or more than ``max_bytes``
      once unpacked (``ZIP_MAX_BYTES``, ``c.CourseZipCollect.max_mb``; the bytes actually
      read are counted), is refused whole;
    * a member with an absolute path or ``..``, a link, or a special file is refused; an
      archive inside an archive is skipped, never unpacked;
    * each remaining file is mapped to a student by the course's collector plugin (the
      ``named_regexp`` of ``FileNameCollectorPlugin``); a file that maps to no one is skipped,
      one whose student id is unsafe (:mod:`course_lib.grading.ids`) is refused;
    * an archive whose own name maps to a student X (``X_123_456_work.zip``: its name checked
      as if it ended in ``.ipynb``) was uploaded by X: a file in it that maps to another
      student is refused. An archive whose name maps to no one (``submissions.zip``) is a
      bulk download and may hold every student's files;
    * two files for the same student and notebook are refused, both, with that student's
      other files: nothing is collected for that student until the instructor picks one.

    Every other student's folder ``submitted/<student>/<assignment>/`` is replaced by the
    files found for them. Returns the report: one line per collected student, per refused or
    skipped file, and a summary.
    """
    from nbgrader.utils import parse_utc

    from .ids import check_assignment_id, check_student_id

    root = Path(root)
    check_assignment_id(assignment)
    cfg = course_config(root)
    own = cfg.CourseZipCollect
    max_files = max_files or int(own.get("max_files", ZIP_MAX_FILES))
    max_bytes = max_bytes or int(float(own.get("max_mb", ZIP_MAX_BYTES / 2**20)) * 2**20)
    plugin = _collector(root, cfg)
    released = {p.name for p in (root / cfg.CourseDirectory.get(
        "release_directory", "release") / assignment).glob("*.ipynb")}

    lines: list[str] = []
    found: dict[str, dict[str, list[tuple[str, bytes]]]] = {}   # student -> file -> sources
    stamps: dict[str, Any] = {}
    troubled: dict[str, str] = {}   # student -> why nothing is collected for them
    for archive in archives:
        archive = Path(archive)
        uploader = None
        suffix = _archive_suffix(archive.name)
        if suffix:  # who uploaded it, if its own name says so
            info = plugin.collect(archive.name[:-len(suffix)] + ".ipynb")
            uploader = (info or {}).get("student_id")
            if uploader is not None:
                try:
                    check_student_id(uploader, "student id in the archive name")
                except ValueError as err:
                    lines.append(f"REFUSED {archive}: {err}; nothing collected from it.")
                    continue
        try:
            members, notes = _unpack(archive, max_files, max_bytes)
        except ArchiveRefused as err:
            lines.append(f"REFUSED {archive}: {err}; nothing collected from it.")
            continue
        lines += notes
        for member in members:
            info = plugin.collect(member.name)
            if not info:
                lines.append(f"Skipped {member.origin}: its name does not match the "
                             f"collector's pattern (named_regexp): not a submission.")
                continue
            student, file_id = info.get("student_id"), info.get("file_id")
            try:
                check_student_id(student, "student id")
            except ValueError as err:
                lines.append(f"REFUSED {member.origin}: {err}; not collected.")
                continue
            problem = _file_id_problem(file_id)
            if problem:
                lines.append(f"REFUSED {member.origin}: {problem}; not collected.")
                continue
            if uploader is not None and student != uploader:
                lines.append(f"REFUSED {member.origin}: named for student {student!r}, but "
                             f"{archive.name} was uploaded by {uploader!r}; not collected.")
                continue
            ext = os.path.splitext(member.name)[1]
            rel = os.path.splitext(file_id.replace("\\", "/"))[0] + ext
            if rel.endswith(".ipynb") and released and rel not in released:
                lines.append(f"Note {member.origin}: {rel} is not a notebook of the release "
                             f"({', '.join(sorted(released))}); collected as it is.")
            found.setdefault(student, {}).setdefault(rel, []).append((member.origin,
                                                                      member.data))
            if info.get("timestamp"):
                try:
                    when = parse_utc(info["timestamp"])
                except (ValueError, OverflowError):
                    troubled[student] = f"unreadable timestamp {info['timestamp']!r} in " \
                                        f"{member.origin}"
                    continue
                stamps[student] = max(stamps.get(student, when), when)

    collected = 0
    for student in sorted(found):
        files = found[student]
        dupes = {rel: [o for o, _ in srcs] for rel, srcs in files.items() if len(srcs) > 1}
        for rel, origins in sorted(dupes.items()):
            lines.append(f"REFUSED {student}: two files for {rel}: " + " and ".join(
                repr(o) for o in origins) + "; nothing collected for this student (remove "
                "the wrong one and run zip_collect again).")
        if student in troubled:
            lines.append(f"REFUSED {student}: {troubled[student]}; nothing collected for "
                         f"this student.")
        if dupes or student in troubled:
            continue
        dest = _write_submission(root, student, assignment,
                                 {rel: srcs[0][1] for rel, srcs in files.items()},
                                 stamps.get(student))
        collected += 1
        lines.append(f"Collected {student}: " + ", ".join(
            f"{rel} (from {srcs[0][0]})" for rel, srcs in sorted(files.items()))
            + f" -> {dest.relative_to(root.resolve())}")
    refused = sum(line.startswith("REFUSED") for line in lines)
    skipped = sum(line.startswith("Skipped") for line in lines)
    lines.append(f"zip_collect {assignment}: {collected} student(s) collected, "
                 f"{refused} refused, {skipped} skipped.")
    return "\n".join(lines)
