"""The instructor side of intake: hostile student ids, LMS downloads and the exchange.

End to end through the documented commands (``python -m course_lib.grading zip_collect``,
``collect``, ``export``, ``autograde``), run as subprocesses with ``--root`` on a scratch course
built from a copy of ``nbgrader_config.py`` and ``solutions/ps1_convolution``. Each test gets
its own copy of the course, in which the students ``alice`` and ``bob`` already have a
submission, an autograded notebook and a status file: no hostile input may touch them.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pwd
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from course_lib.grading import collect as collect_module
from course_lib.grading import release as rel
from course_lib.grading import zip_collect as zc
from course_lib.grading.ids import check_student_id
from course_lib.grading.report import status_path, write_status

from test_grading import PS1, Submission, _solutions

ROOT = Path(__file__).resolve().parent.parent
COURSE_ID = "cnn_intake"
TIMESTAMP = "2024-03-01 10:00:00.000000 UTC"
NB = f"{PS1}.ipynb"

pytestmark = pytest.mark.grading


# --- the scratch course ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A course with a fresh release of ps1 (and its cells in the gradebook)."""
    course = tmp_path_factory.mktemp("intake-template")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / PS1, course / "solutions" / PS1)
    rel.generate(course, [PS1])
    return course


@pytest.fixture
def course(template, tmp_path) -> Path:
    """A private copy of the template, with earlier work of alice and bob to protect."""
    course = tmp_path / "course"
    shutil.copytree(template, course)
    for student in ("alice", "bob"):
        for folder in ("submitted", "autograded"):
            path = course / folder / student / PS1 / NB
            path.parent.mkdir(parents=True)
            path.write_text(f'{{"earlier work of": "{student}"}}')
        path = course / "grading_status" / PS1 / f"{student}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"student": student, "status": "ok"}))
    return course


def notebook(course: Path, extra: str = "") -> bytes:
    """A complete submission of ps1, with ``extra`` in a markdown cell."""
    sub = Submission(course / "assignments" / PS1 / NB,
                     _solutions(course / "solutions" / PS1 / NB)).complete()
    if extra:
        sub.nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": extra,
                                "id": "extra-markdown"})
    return json.dumps(sub.nb, indent=1, ensure_ascii=False).encode("utf-8")


def grading(root: Path, *args: str) -> subprocess.CompletedProcess:
    """One documented command, as the instructor runs it."""
    return subprocess.run([sys.executable, "-m", "course_lib.grading", "--root", str(root),
                           *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (the gradebook left out: nbgrader may touch it)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != "gradebook.db"}


def assert_untouched(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert not changed, f"files of other students changed or vanished: {changed}"


def refused_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("REFUSED")]


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


class Zeros(io.RawIOBase):
    """``size`` zero bytes, read in pieces (a tar member that is never in memory whole)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def raw_deflate_zip(path: Path, name: str, zeros: int, declared: int | None = None) -> Path:
    """A one-member zip of ``zeros`` zero bytes, written by hand so the header can lie."""
    comp, crc, chunk = zlib.compressobj(9, zlib.DEFLATED, -15), 0, b"\0" * 2**20
    parts = []
    for _ in range(zeros // len(chunk)):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    data, size = b"".join(parts), declared if declared is not None else zeros
    raw = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size,
                        len(raw), 0) + raw
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data),
                          size, len(raw), 0, 0, 0, 0, 0, 0) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)
    return path


# --- hostile student ids --------------------------------------------------------------------

def test_check_student_id_accepts_only_safe_ids():
    for good in ("alice", "bob.smith", "s1234567", "a+b@uni.edu", "x_y-z"):
        assert check_student_id(good) == good
    for bad in (".status", "..", ".", "a/b", "a\\b", ".hidden", "", "-x", "x" * 65, "é",
                "a b", "a\nb", None):
        with pytest.raises(ValueError, match="student_id: expected"):
            check_student_id(bad)


def test_hostile_ids_in_an_lms_download_touch_no_one(course, tmp_path):
    """``.status``, ``..`` and a dotfile id are refused; alice and bob keep every file."""
    good = notebook(course)
    download = make_zip(tmp_path / "submissions.zip", {
        f".status_1_2_{NB}": b'{"overwrites": "statuses"}',
        f".._1_2_{NB}": b'{"escapes": "submitted/"}',
        f".hidden_1_2_{NB}": b'{"dotfile": 1}',
        f"carol_1_2_{NB}": good,
    })
    loose = tmp_path / f".status_3_4_{NB}"  # a loose file as well as an archive member
    loose.write_bytes(b"{}")
    before = files(course)
    out = grading(course, "zip_collect", PS1, download, loose)
    assert out.returncode == 1, out.stderr  # something was refused: the exit code says so
    refused = refused_lines(out.stdout)
    for name in (f".status_1_2_{NB}", f".._1_2_{NB}", f".hidden_1_2_{NB}", loose.name):
        assert any(name in line and "student id" in line for line in refused), (name, out.stdout)
    assert_untouched(before, files(course))
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob", "carol"]
    assert (course / "submitted" / "carol" / PS1 / NB).read_bytes() == good
    assert not (course / PS1).exists() and not (course / "submitted" / PS1).exists()
    assert not (course / "grading_status" / PS1 / ".status.json").exists()


def test_a_permissive_regexp_still_cannot_map_a_path_as_a_student(course, tmp_path):
    """An instructor's regexp that lets '/' into the id: ``a/b`` is refused all the same."""
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write('\nc.FileNameCollectorPlugin.named_regexp = '
                 'r"^(?P<student_id>.+)_\\d+_\\d+_(?P<file_id>[^/]+\\.ipynb)$"\n')
    download = make_zip(tmp_path / "submissions.zip", {f"alice/bob_1_2_{NB}": b"{}",
                                                       f"carol_1_2_{NB}": notebook(course)})
    before = files(course)
    out = grading(course, "zip_collect", PS1, download)
    assert out.returncode == 1, out.stderr  # something was refused: the exit code says so
    assert any(f"alice/bob_1_2_{NB}" in line and "'alice/bob'" in line
               for line in refused_lines(out.stdout)), out.stdout
    assert_untouched(before, files(course))
    assert (course / "submitted" / "carol" / PS1 / NB).is_file()


def test_statuses_live_outside_autograded_and_refuse_unsafe_ids(course):
    assert status_path(course, PS1, "alice") == course / "grading_status" / PS1 / "alice.json"
    before = files(course)
    for bad in (".status", "..", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="student_id"):
            write_status(course, {"assignment": PS1, "student": bad, "status": "ok"})
    assert_untouched(before, files(course))
    assert ".status" not in {p.name for p in (course / "autograded").iterdir()}


def test_autograde_skips_unsafe_submission_folders(course, capsys):
    from course_lib.grading.autograde import submissions

    for name in (".status", ".hidden", "bad name"):
        (course / "submitted" / name / PS1).mkdir(parents=True)
    (course / "submitted" / "mallory").symlink_to(course / "submitted" / "alice")
    assert submissions(course, PS1) == ["alice", "bob"]
    err = capsys.readouterr().err
    for name in (".status", ".hidden", "bad name"):
        assert f"'{name}' is not a valid student id" in err, err
    assert "mallory" in err and "symbolic link" in err
    with pytest.raises(ValueError, match="--student"):
        submissions(course, PS1, ["a/b"])


def test_autograde_command_refuses_an_unsafe_student_argument(course):
    before = files(course)
    out = grading(course, "autograde", PS1, "--student", "a/b", "--jobs", "1")
    assert out.returncode != 0
    assert "--student: expected" in out.stderr, out.stderr[-2000:]
    assert_untouched(before, files(course))


def test_export_marks_unsafe_gradebook_ids_and_touches_nothing(course, tmp_path):
    from nbgrader.api import Gradebook

    rel.ensure_tool_path()
    hostile = [".status", "a/b", "..", '=HYPERLINK("http://x")']
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ["alice", *hostile]:
            gb.add_student(student)
    before = files(course)
    out_csv = tmp_path / "grades.csv"
    out = grading(course, "export", "-o", out_csv, "--assignment", PS1)
    assert out.returncode == 0, out.stderr
    assert_untouched(before, files(course))
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    by_id = {r["student_id"]: r for r in rows}
    assert by_id["alice"]["status"] == "missing"
    for student in hostile:
        cell = "'" + student if student.startswith("=") else student
        row = by_id[cell]
        assert row["status"] == "failed" and row["score"] == "", row
        assert "unsafe student id" in row["reason"], row
    assert not any(r["student_id"].startswith("=") for r in rows)


# --- zip_collect: archives ----------------------------------------------------------------

def test_a_zip_bomb_is_refused_with_nothing_left_on_disk(course, tmp_path):
    bomb = raw_deflate_zip(tmp_path / "dave_1_2_work.zip", f"dave_1_2_{NB}", 210 * 2**20)
    liar = raw_deflate_zip(tmp_path / "erin_1_2_work.zip", f"erin_1_2_{NB}", 210 * 2**20,
                           declared=1000)  # a header that claims 1 kB for 210 MB
    crowd = make_zip(tmp_path / "frank_1_2_work.zip",
                     {f"frank_1_2_{NB}": notebook(course),
                      **{f"frank_1_2_junk{i}.txt": b"x" for i in range(zc.ZIP_MAX_FILES)}})
    tar_bomb = tmp_path / "gina_1_2_work.tar.gz"
    with tarfile.open(tar_bomb, "w:gz") as tf:
        info = tarfile.TarInfo(f"gina_1_2_{NB}")
        info.size = 210 * 2**20
        tf.addfile(info, Zeros(info.size))
    assert max(p.stat().st_size for p in (bomb, liar, tar_bomb)) < 400_000
    before = files(course)
    out = grading(course, "zip_collect", PS1, bomb, liar, crowd, tar_bomb)
    assert out.returncode == 1, out.stderr  # something was refused: the exit code says so
    refused = refused_lines(out.stdout)
    for archive in (bomb, tar_bomb):
        assert any(archive.name in line and "MB once unpacked" in line
                   for line in refused), out.stdout
    assert any("erin" in line and "unreadable" in line for line in refused), out.stdout
    assert any(crowd.name in line and f"more than {zc.ZIP_MAX_FILES}" in line
               for line in refused), out.stdout
    after = files(course)
    assert set(after) == set(before), sorted(set(after) ^ set(before))
    assert_untouched(before, after)
    assert not (course / "downloaded").exists()
    assert sum(p.stat().st_size for p in course.rglob("*") if p.is_file()) < 10 * 2**20


def test_a_nested_archive_is_skipped_not_unpacked(course, tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr(f"carol_1_2_{NB}", notebook(course))
    tar_inner = io.BytesIO()
    with tarfile.open(fileobj=tar_inner, mode="w:gz") as tf:
        info = tarfile.TarInfo(f"dave_1_2_{NB}")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"{}"))
    good = notebook(course)
    download = make_zip(tmp_path / "submissions.zip", {
        "carol_1_2_work.zip": inner.getvalue(), "dave_1_2_work.tar.gz": tar_inner.getvalue(),
        f"erin_1_2_{NB}": good})
    seven = tmp_path / "frank_1_2_work.7z"  # a kind of archive zip_collect does not read
    seven.write_bytes(b"7z\xbc\xaf\x27\x1c")
    out = grading(course, "zip_collect", PS1, download, seven)
    assert out.returncode == 1, out.stderr  # something was refused: the exit code says so
    assert any(seven.name in line and "does not unpack" in line
               for line in refused_lines(out.stdout)), out.stdout
    skipped = [line for line in out.stdout.splitlines() if line.startswith("Skipped")]
    for name in ("carol_1_2_work.zip", "dave_1_2_work.tar.gz"):
        assert any(name in line and "never unpacked" in line for line in skipped), out.stdout
    assert not (course / "submitted" / "carol").exists()
    assert not (course / "submitted" / "dave").exists()
    assert (course / "submitted" / "erin" / PS1 / NB).read_bytes() == good


def test_members_with_dotdot_or_absolute_paths_are_refused(course, tmp_path):
    good = notebook(course)
    download = make_zip(tmp_path / "submissions.zip", {
        f"../evil_1_2_{NB}": b"{}", f"sub/../../evil2_1_2_{NB}": b"{}",
        f"/tmp/evil3_1_2_{NB}": b"{}", f"carol_1_2_{NB}": good})
    tarball = tmp_path / "upload.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:
        for name in (f"../../evil4_1_2_{NB}", f"dave_1_2_{NB}"):
            info = tarfile.TarInfo(name)
            info.size = len(good)
            tf.addfile(info, io.BytesIO(good))
        link = tarfile.TarInfo(f"frank_1_2_{NB}")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    before = files(course)
    out = grading(course, "zip_collect", PS1, download, tarball)
    assert out.returncode == 1, out.stderr  # something was refused: the exit code says so
    refused = refused_lines(out.stdout)
    for name, why in ((f"../evil_1_2_{NB}", "'..'"), (f"sub/../../evil2_1_2_{NB}", "'..'"),
                      (f"/tmp/evil3_1_2_{NB}", "absolute"), (f"../../evil4_1_2_{NB}", "'..'"),
                      (f"frank_1_2_{NB}", "link")):
        assert any(name in line and why in line for line in refused), (name, out.stdout)
    assert_untouched(before, files(course))
    for place in (tmp_path, course, course / "submitted", Path("/tmp")):
        assert not list(place.glob("evil*")), place
    assert sorted(p.name for p in (course / "submitted").iterdir()) == \
        ["alice", "bob", "carol", "dave"]
    assert (course / "submitted" / "dave" / PS1 / NB).read_bytes() == good


def test_two_files_for_the_same_student_and_notebook_are_refused(course, tmp_path):
    good = notebook(course)
    download = make_zip(tmp_path / "submissions.zip", {f"alice_1_2_{NB}": good,
                                                       f"carol_1_2_{NB}": good})
    again = tmp_path / f"alice_LATE_7_8_{NB}"
    again.write_bytes(b'{"second": true}')
    before = files(course)
    out = grading(course, "zip_collect", PS1, download, again)
    assert out.returncode == 1, out.stderr  # something was refused: the exit code says so
    [line] = [line for line in refused_lines(out.stdout) if line.startswith("REFUSED alice")]
    assert f"alice_1_2_{NB}" in line and again.name in line and "two files" in line, line
    assert_untouched(before, files(course))  # alice keeps her earlier submission
    assert (course / "submitted" / "carol" / PS1 / NB).read_bytes() == good


def test_an_archive_from_one_student_cannot_hold_another_students_file(course, tmp_path):
    good = notebook(course)
    upload = make_zip(tmp_path / "erin_111_222_my_work.zip", {
        f"erin_111_222_{NB}": good, f"alice_1_2_{NB}": b'{"written by": "erin"}'})
    before = files(course)
    out = grading(course, "zip_collect", PS1, upload)
    assert out.returncode == 1, out.stderr  # something was refused: the exit code says so
    assert any(f"alice_1_2_{NB}" in line and "'alice'" in line and "uploaded by 'erin'" in line
               for line in refused_lines(out.stdout)), out.stdout
    assert_untouched(before, files(course))
    assert (course / "submitted" / "erin" / PS1 / NB).read_bytes() == good


def test_an_honest_download_is_collected(course, tmp_path):
    """Two students in a bulk download, unicode content, harmless extras; twice, the same."""
    alice = notebook(course, "Réponse : convolution — 畳み込み ✓ (naïve, ∑ wᵢ xᵢ)")
    carol = notebook(course)
    download = make_zip(tmp_path / "submissions.zip", {
        f"alice_1_2_{NB}": alice, f"carol_LATE_3_4_{NB}": carol,
        "alice_1_2_scratch.ipynb": b'{"cells": []}',          # an extra notebook: kept
        "README.txt": "Exported by the LMS ✓".encode(),       # not a submission: skipped
        f"__MACOSX/._alice_1_2_{NB}": b"\0\5\26\7",           # macOS metadata: skipped
    })
    for _ in range(2):
        out = grading(course, "zip_collect", PS1, download)
        assert out.returncode == 0, out.stderr
        assert not refused_lines(out.stdout), out.stdout
        assert "2 student(s) collected, 0 refused" in out.stdout, out.stdout
        folder = course / "submitted" / "alice" / PS1
        assert sorted(p.name for p in folder.iterdir()) == [NB, "scratch.ipynb"]
        assert (folder / NB).read_bytes() == alice
        text = json.loads((folder / NB).read_text(encoding="utf-8"))["cells"][-1]["source"]
        assert "畳み込み ✓" in text
        assert (course / "submitted" / "carol" / PS1 / NB).read_bytes() == carol
        assert (course / "submitted" / "bob" / PS1 / NB).read_text() == \
            '{"earlier work of": "bob"}'
        assert not list((course / "submitted" / "alice").glob(".incoming-*"))
    assert "README.txt" in out.stdout and "not a submission" in out.stdout
    assert "scratch.ipynb is not a notebook of the release" in out.stdout


# --- collect: nbgrader's exchange -----------------------------------------------------------

def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _owners() -> tuple[pwd.struct_passwd, pwd.struct_passwd]:
    """(an honest student, another existing user), both mapped by pwd.

    As root, folders are chowned to existing system users (no useradd needed); otherwise the
    honest student is this user, and the folder claiming another user is simply ours.
    """
    if os.geteuid() == 0:
        honest = _user("daemon") or pwd.getpwuid(0)
    else:
        honest = pwd.getpwuid(os.geteuid())
    other = next((u for u in map(_user, ("bin", "sys", "nobody", "daemon", "root"))
                  if u and u.pw_name != honest.pw_name), None)
    for user in (honest, other):
        try:
            check_student_id(user.pw_name if user else None)
        except ValueError:
            pytest.skip(f"no two users with safe names on this machine ({honest}, {other})")
    return honest, other


@pytest.fixture
def exchange(course, tmp_path) -> Path:
    """The inbound folder of an exchange under tmp, named in the course's config."""
    root = tmp_path / "exchange"
    inbound = root / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.Exchange.root = {str(root)!r}\n"
                 f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
    return inbound


def submit(inbound: Path, student: str, uid: int | None, data: bytes,
           timestamp: str = TIMESTAMP, name: str | None = None) -> Path:
    """An inbound folder as ``nbgrader submit`` writes it, owned by ``uid``."""
    folder = inbound / (name or f"{student}+{PS1}+{timestamp}+r{abs(hash(student)) % 10**6}")
    folder.mkdir()
    (folder / NB).write_bytes(data)
    (folder / "timestamp.txt").write_text(timestamp)
    if uid is not None and uid != os.geteuid():
        for path in (folder, folder / NB, folder / "timestamp.txt"):
            os.chown(path, uid, -1)
    return folder


def test_collect_refuses_folders_not_owned_by_the_student_they_claim(course, exchange):
    honest, other = _owners()
    good = notebook(course, "Unicode too: ∂L/∂w ✓")
    submit(exchange, honest.pw_name, honest.pw_uid, good)
    forged = submit(exchange, other.pw_name, honest.pw_uid, b'{"forged by": "honest"}')
    dotted = submit(exchange, ".status", honest.pw_uid, b"{}")
    bad_time = submit(exchange, honest.pw_name, honest.pw_uid, b"{}", timestamp="yesterday")
    linked = exchange / f"alice+{PS1}+{TIMESTAMP}+link"
    linked.symlink_to(forged)
    unknown = None
    if os.geteuid() == 0:
        uid = next(u for u in range(59000, 60000) if not _uid_known(u))
        unknown = submit(exchange, "bob", uid, b'{"forged by": "no one"}')
    before = files(course)
    out = grading(course, "collect", PS1)
    assert out.returncode == 1, out.stdout + out.stderr  # refused folders: the exit code says so
    refused = refused_lines(out.stdout)

    def says(folder: Path, why: str) -> bool:
        return any(folder.name in line and why in line for line in refused)

    assert says(forged, f"claims to be submitted by '{other.pw_name}' but is owned by user "
                        f"'{honest.pw_name}'"), out.stdout
    assert says(dotted, "student id"), out.stdout
    assert says(bad_time, "unreadable timestamp"), out.stdout
    assert says(linked, "symbolic link"), out.stdout
    if unknown:
        assert says(unknown, "which is no user"), out.stdout
    assert "nbgrader collect said:" in out.stdout and "Collecting submission" in out.stdout
    assert_untouched(before, files(course))  # alice and bob (the latter forged) keep theirs
    assert not (course / "submitted" / other.pw_name).exists()
    assert not (course / "submitted" / ".status").exists()
    assert (course / "submitted" / honest.pw_name / PS1 / NB).read_bytes() == good


def _uid_known(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def test_collect_shows_nbgraders_warnings_and_undoes_a_cheat_it_reports(course, exchange,
                                                                         monkeypatch):
    """If a folder passes the check and nbgrader still sees a forged owner (the owner changed
    in between), nbgrader's "cheating attempt?" warning reaches the instructor and the
    collected copy is removed again. Simulated by switching the first check off."""
    honest, other = _owners()
    submit(exchange, other.pw_name, honest.pw_uid, b'{"forged by": "honest"}')
    monkeypatch.setattr(collect_module, "inbound_problem", lambda *args, **kwargs: None)
    report = collect_module.collect(course, PS1)
    assert "cheating attempt?" in report, report
    assert f"REFUSED {other.pw_name}: nbgrader saw a folder owned by {honest.pw_name}" in report
    assert not (course / "submitted" / other.pw_name / PS1).exists()


def test_collect_with_nothing_to_collect_shows_nbgraders_warning(course, exchange):
    out = grading(course, "collect", PS1)
    assert out.returncode == 0, out.stderr
    assert "No submissions of 'ps1_convolution'" in out.stdout, out.stdout
