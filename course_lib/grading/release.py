"""Generating the release from ``solutions/``, and the nbgrader steps around autograding.

``assignments/`` is nbgrader's release folder and is committed; :func:`generate` rebuilds it
with ``nbgrader generate_assignment`` (which also records the cells in ``gradebook.db``), and
:func:`release_differences` tells whether the committed release still matches a fresh one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[2]


def nbgrader(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run one nbgrader command in the course folder (where nbgrader_config.py is)."""
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root,
                            capture_output=True, text=True, env=tool_env())
    if check and result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n"
                           f"{result.stdout[-4000:]}{result.stderr[-4000:]}")
    return result


def ensure_tool_path() -> None:
    """Put this interpreter's scripts on PATH: nbgrader's Gradebook runs ``alembic`` by name."""
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def tool_env() -> dict[str, str]:
    """The environment with this interpreter's scripts first on PATH (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def source_assignments(root: Path) -> list[str]:
    """Assignments that have a folder with a notebook in ``solutions/``."""
    return sorted(p.name for p in (Path(root) / "solutions").iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


def generate(root: Path = ROOT, assignments: Iterable[str] | None = None) -> list[str]:
    """Regenerate ``assignments/<name>/`` from ``solutions/<name>/``; return the names."""
    root = Path(root)
    names = list(assignments) if assignments else source_assignments(root)
    for name in names:
        if not (root / "solutions" / name).is_dir():
            raise ValueError(f"generate: no folder solutions/{name}; have "
                             f"{source_assignments(root)}.")
        nbgrader(root, "generate_assignment", name, "--force")
        for nb_path in (root / "assignments" / name).glob("*.ipynb"):
            _normalise(nb_path)
    return names


def _normalise(path: Path) -> None:
    """Keep the committed release free of outputs, counts and volatile metadata."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def notebook_signature(path: Path) -> list[dict[str, Any]]:
    """What matters in a released notebook: cell types, sources and nbgrader metadata."""
    nb = json.loads(Path(path).read_text())
    cells = []
    for cell in nb["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cells.append({"type": cell["cell_type"], "source": source,
                      "nbgrader": cell.get("metadata", {}).get("nbgrader")})
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    return [{"kernel": kernel}] + cells


def release_differences(root: Path = ROOT, assignments: Iterable[str] | None = None,
                        fresh_course: Path | None = None) -> list[str]:
    """List how the committed release differs from a fresh ``generate_assignment``.

    The fresh release is generated in a scratch copy of the course, unless ``fresh_course``
    names a course folder where it was generated already.
    """
    root = Path(root)
    names = list(assignments) if assignments else source_assignments(root)
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(fresh_course) if fresh_course else Path(tmp)
        if fresh_course is None:
            shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
            for name in names:
                shutil.copytree(root / "solutions" / name, course / "solutions" / name)
            generate(course, names)
        return [problem for name in names
                for problem in _compare_release(root / "assignments" / name,
                                                course / "assignments" / name, name)]


def _compare_release(committed: Path, fresh: Path, name: str) -> list[str]:
    def files(folder: Path) -> list[str]:
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                      if p.is_file()) if folder.is_dir() else []

    if files(fresh) != files(committed):
        return [f"{name}: files {files(committed)} != fresh {files(fresh)}"]
    problems = []
    for rel in files(fresh):
        if rel.endswith(".ipynb"):
            a, b = notebook_signature(committed / rel), notebook_signature(fresh / rel)
            if a != b:
                where = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
                             min(len(a), len(b)))
                problems.append(f"{name}/{rel}: differs from a fresh release at cell "
                                f"{where - 1} ({len(a) - 1} vs {len(b) - 1} cells)")
        elif (committed / rel).read_bytes() != (fresh / rel).read_bytes():
            problems.append(f"{name}/{rel}: differs from a fresh release")
    return problems


def release(root: Path, assignment: str, exchange: bool = False) -> Path:
    """Regenerate the release and, with ``exchange``, publish it to nbgrader's exchange."""
    generate(root, [assignment])
    if exchange:
        nbgrader(root, "release_assignment", assignment, "--force")
    return Path(root) / "assignments" / assignment


def course_config(root: Path):
    """The traitlets config of the course's ``nbgrader_config.py``."""
    from traitlets.config import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


# --- collect: nbgrader's exchange, with the owner of every inbound folder checked ------------

_CHEATING = re.compile(r"claims to be submitted by (\S+) but is owned by (.*?); cheating attempt\?")


def inbound_problem(folder: Path, assignment: str, check_owner: bool = True) -> str | None:
    """Why an inbound folder ``<student>+<assignment>+<timestamp>[+<random>]`` of nbgrader's
    exchange must not be collected, or None when it may be.

    The student is parsed as nbgrader parses it (``name.rsplit('+', 3)[0]``). Refused: a name
    that is not of that form or whose timestamp nbgrader cannot read (it would stop the whole
    collect), an unsafe student id, a symbolic link or anything but a folder, and (with
    ``check_owner``) a folder whose owner's user name (``pwd``) is not the student it claims.
    """
    import pwd

    from nbgrader.utils import parse_utc

    from .ids import check_student_id

    parts = folder.name.rsplit("+", 3)
    if len(parts) < 3 or parts[1] != assignment:
        return "not an nbgrader submission name (<student>+<assignment>+<timestamp>+<random>)"
    student = parts[0]
    try:
        check_student_id(student, "student id in the folder name")
    except ValueError as err:
        return str(err)
    try:
        parse_utc(parts[2])
    except (ValueError, OverflowError):
        return f"unreadable timestamp {parts[2]!r}"
    st = folder.lstat()
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link, not a folder"
    if not stat.S_ISDIR(st.st_mode):
        return "not a folder"
    if check_owner:
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = None
        if owner != student:
            who = f"user {owner!r}" if owner else f"uid {st.st_uid}, which is no user"
            return f"claims to be submitted by {student!r} but is owned by {who}"
    return None


def collect(root: Path, assignment: str) -> str:
    """Collect submissions from nbgrader's exchange into ``submitted/``; return the report.

    Every inbound folder of ``assignment`` (``<Exchange.root>/<course_id>/inbound/``) is
    checked first (:func:`inbound_problem`); a refused one is named, with the reason, and never
    collected: nbgrader collects from a private view of the inbound folder that holds only the
    accepted ones. nbgrader's own log (stderr: warnings such as "cheating attempt?") is part of
    the report. A submission nbgrader still calls a cheating attempt is removed again.
    """
    from nbgrader.exchange.abc.collect import ExchangeCollect
    from nbgrader.exchange.default.exchange import Exchange

    from .ids import check_assignment_id, is_safe_student_id

    root = Path(root)
    check_assignment_id(assignment)
    cfg = course_config(root)
    exchange_root = Path(cfg.Exchange.get("root", Exchange.root.default_value))
    course_id = cfg.CourseDirectory.get("course_id", "")
    check_owner = bool(cfg.ExchangeCollect.get("check_owner", cfg.CollectApp.get(
        "check_owner", ExchangeCollect.check_owner.default_value)))
    inbound = exchange_root / course_id / "inbound"
    if not course_id or not inbound.is_dir():  # nbgrader says what is wrong
        return nbgrader(root, "collect", assignment, "--update").stdout

    lines, accepted = [], []
    if not check_owner:
        lines.append("WARNING: ExchangeCollect.check_owner is False in nbgrader_config.py: the "
                     "owners of inbound folders are NOT checked against the student ids.")
    for folder in sorted(inbound.iterdir()):
        if f"+{assignment}+" not in folder.name:
            continue
        problem = inbound_problem(folder, assignment, check_owner)
        if problem:
            lines.append(f"REFUSED {folder}: {problem}; not collected.")
        else:
            accepted.append(folder)
    with tempfile.TemporaryDirectory(prefix="collect-view-") as view:
        view_inbound = Path(view) / course_id / "inbound"
        view_inbound.mkdir(parents=True)
        for folder in accepted:  # nbgrader follows the link; the owner it sees is the real one
            (view_inbound / folder.name).symlink_to(folder, target_is_directory=True)
        result = nbgrader(root, "collect", assignment, "--update", f"--Exchange.root={view}",
                          check=False)
    said = (result.stderr.strip() + "\n" + result.stdout.strip()).strip()
    if result.returncode != 0:
        failed = f"nbgrader collect failed (exit {result.returncode}):"
        raise RuntimeError("\n".join([*lines, failed, said[-8000:]]))
    for match in _CHEATING.finditer(said):  # the owner changed after the check: undo it
        student = match.group(1)
        dest = root / "submitted" / student / assignment
        if is_safe_student_id(student) and dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        lines.append(f"REFUSED {student}: nbgrader saw a folder owned by {match.group(2)}; "
                     f"removed {dest} again.")
    refused = sum(line.startswith("REFUSED") for line in lines)
    lines.append(f"{len(accepted)} inbound folder(s) of {assignment} passed the checks, "
                 f"{refused} refused.")
    if said:
        lines += ["nbgrader collect said:", said]
    return "\n".join(lines)


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


def feedback(root: Path, assignment: str) -> str:
    """Feedback HTML for every autograded submission (hidden tests left out)."""
    return nbgrader(root, "generate_feedback", assignment, "--force").stdout
