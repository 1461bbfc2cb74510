"""`python3 tasks.py update`: the course's new version comes in, and a student's work stays.

Each test builds a tiny course as a git repository (the "upstream"), clones it as a student
does, lets the student change files, commits a new version upstream, and runs the update in the
clone. Nothing here touches the network or this checkout.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _load_tasks():
    spec = importlib.util.spec_from_file_location("course_tasks_update", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tasks = _load_tasks()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                               "HOME": str(cwd), "PATH": "/usr/bin:/bin"}).stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture()
def course(tmp_path):
    """(upstream working copy, student's clone), both at version 1."""
    upstream = tmp_path / "upstream"
    (upstream / "lectures").mkdir(parents=True)
    (upstream / "assignments").mkdir()
    (upstream / "lectures" / "01.ipynb").write_text("lecture 1, version 1\n")
    (upstream / "lectures" / "02.ipynb").write_text("lecture 2, version 1\n")
    (upstream / "assignments" / "ps1.ipynb").write_text("ps1, version 1\n")
    (upstream / ".gitignore").write_text(".course-backups/\n")
    git(upstream, "init", "-q", "-b", "main")
    commit_all(upstream, "v1")
    student = tmp_path / "student"
    git(tmp_path, "clone", "-q", str(upstream), str(student))
    return upstream, student


def update(student: Path, capsys) -> str:
    assert tasks.cmd_update([], root=student) == 0
    return capsys.readouterr().out


def test_a_file_both_changed_keeps_the_students_version_and_saves_the_new_one(course, capsys):
    upstream, student = course
    (student / "assignments" / "ps1.ipynb").write_text("ps1, my answers\n")
    (upstream / "assignments" / "ps1.ipynb").write_text("ps1, version 2 (a typo fixed)\n")
    (upstream / "lectures" / "02.ipynb").write_text("lecture 2, version 2\n")
    commit_all(upstream, "v2")

    out = update(student, capsys)

    assert (student / "assignments" / "ps1.ipynb").read_text() == "ps1, my answers\n"
    assert (student / "assignments" / "ps1 (updated).ipynb").read_text() == "ps1, version 2 (a typo fixed)\n"
    assert (student / "lectures" / "02.ipynb").read_text() == "lecture 2, version 2\n"
    assert "kept your assignments/ps1.ipynb" in out
    backups = list((student / ".course-backups").glob("*/assignments/ps1.ipynb"))
    assert [b.read_text() for b in backups] == ["ps1, my answers\n"]
    assert git(student, "rev-parse", "HEAD") == git(upstream, "rev-parse", "HEAD")


def test_a_changed_file_the_course_left_alone_is_not_touched(course, capsys):
    upstream, student = course
    (student / "lectures" / "01.ipynb").write_text("lecture 1 with my outputs\n")
    (student / "my_notes.md").write_text("notes\n")
    (upstream / "lectures" / "02.ipynb").write_text("lecture 2, version 2\n")
    commit_all(upstream, "v2")

    update(student, capsys)

    assert (student / "lectures" / "01.ipynb").read_text() == "lecture 1 with my outputs\n"
    assert (student / "my_notes.md").read_text() == "notes\n"
    assert (student / "lectures" / "02.ipynb").read_text() == "lecture 2, version 2\n"
    assert not (student / "lectures" / "01 (updated).ipynb").exists()


def test_a_new_course_file_where_the_student_has_one_keeps_both(course, capsys):
    upstream, student = course
    (student / "lectures" / "03.ipynb").write_text("my own lecture 3 notes\n")
    (upstream / "lectures" / "03.ipynb").write_text("lecture 3, new\n")
    commit_all(upstream, "v2")

    update(student, capsys)

    assert (student / "lectures" / "03.ipynb").read_text() == "my own lecture 3 notes\n"
    assert (student / "lectures" / "03 (updated).ipynb").read_text() == "lecture 3, new\n"


def test_a_file_the_course_deleted_stays_when_the_student_changed_it(course, capsys):
    upstream, student = course
    (student / "lectures" / "02.ipynb").write_text("lecture 2 with my work\n")
    (upstream / "lectures" / "02.ipynb").unlink()
    commit_all(upstream, "v2")

    update(student, capsys)

    assert (student / "lectures" / "02.ipynb").read_text() == "lecture 2 with my work\n"


def test_nothing_new_says_so_and_changes_nothing(course, capsys):
    _, student = course
    (student / "assignments" / "ps1.ipynb").write_text("ps1, my answers\n")
    assert "up to date" in update(student, capsys)
    assert (student / "assignments" / "ps1.ipynb").read_text() == "ps1, my answers\n"
    assert not (student / ".course-backups").exists()


def test_not_a_clone_says_what_to_do(tmp_path):
    with pytest.raises(tasks.SetupError, match="git clone"):
        tasks.cmd_update([], root=tmp_path)
