"""Fault injection for the pooch downloads of course_lib.data.download.

A loopback ``http.server`` in a thread serves a 16 kB file in several bad ways: it hangs up in
the middle of the body after promising all of it, it serves the wrong bytes, a mirror is dead or
answers 404, the folder is read-only, and two processes download the same file at once. After
each, the folder holds no temporary file, and a good file that was there is still there, intact.
Nothing here touches the internet.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from conftest import skip_or_fail
from course_lib.data import download

ROOT = Path(__file__).resolve().parent.parent
GOOD = bytes(range(256)) * 64  # 16 kB: several of pooch's 1 kB chunks, so a cut lands mid-body
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
KEEP = b"a good file that no failure may touch"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        server = self.server
        with server.lock:
            server.hits[self.path] = server.hits.get(self.path, 0) + 1
            hit = server.hits[self.path]
        mode, body = server.routes.get(self.path, ("missing", b""))
        if mode == "flaky":  # the first request hangs up, the next ones are served
            mode = "hang up" if hit == 1 else "ok"
        if mode == "missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "together":  # hold the body until a second request for it is in flight
            try:
                server.barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
        if mode == "hang up":  # promise everything, send a third, close the connection
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """``server.routes['/path'] = (mode, bytes)``; ``server.hits`` counts requests per path."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.hits, httpd.lock = {}, {}, threading.Lock()
    httpd.barrier = threading.Barrier(2)
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    """No pooch retries (each waits a second) unless a test asks; no proxy for the loopback."""
    monkeypatch.setattr(download, "RETRIES", 0)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def serve(server, name: str, mode: str, body: bytes = GOOD) -> str:
    server.routes[f"/{name}/data.bin"] = (mode, body)
    return f"{server.base}/{name}/data.bin"


def folder_with_a_good_file(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "keep.bin").write_bytes(KEEP)
    return path


def assert_clean(folder: Path, *names: str) -> None:
    """Exactly ``names`` (and keep.bin, intact) in ``folder``: no temporary file is left."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(("keep.bin",) + names)
    assert (folder / "keep.bin").read_bytes() == KEEP


def test_a_server_that_hangs_up_mid_body_leaves_nothing(tmp_path, server):
    folder = folder_with_a_good_file(tmp_path / "cache")
    url = serve(server, "cut", "hang up")
    with pytest.raises(download.DownloadError, match="every mirror failed") as info:
        download.fetch("data.bin", GOOD_SHA, [url], folder)
    assert url in str(info.value)
    assert_clean(folder)


def test_a_wrong_checksum_is_refused_and_nothing_lands(tmp_path, server):
    folder = folder_with_a_good_file(tmp_path / "cache")
    url = serve(server, "wrong", "ok", GOOD[::-1])
    with pytest.raises(download.DownloadError, match=f"(?i)sha256.*{GOOD_SHA}"):
        download.fetch("data.bin", GOOD_SHA, [url], folder)
    assert_clean(folder)


def test_a_damaged_copy_is_replaced_only_by_a_good_download(tmp_path, server):
    folder = folder_with_a_good_file(tmp_path / "cache")
    (folder / "data.bin").write_bytes(b"damaged")
    with pytest.raises(download.DownloadError):
        download.fetch("data.bin", GOOD_SHA, [serve(server, "cut", "hang up")], folder)
    assert (folder / "data.bin").read_bytes() == b"damaged"  # untouched until a good copy exists
    path = download.fetch("data.bin", GOOD_SHA, [serve(server, "good", "ok")], folder)
    assert path.read_bytes() == GOOD
    assert_clean(folder, "data.bin")


def test_a_good_copy_needs_no_network(tmp_path, server):
    folder = folder_with_a_good_file(tmp_path / "cache")
    (folder / "data.bin").write_bytes(GOOD)
    assert download.fetch("data.bin", GOOD_SHA, [serve(server, "good", "ok")], folder).read_bytes() == GOOD
    assert server.hits == {}


def test_dead_mirrors_give_way_to_the_next(tmp_path, server):
    folder = folder_with_a_good_file(tmp_path / "cache")
    urls = ["http://127.0.0.1:1/refused/data.bin", f"{server.base}/missing/data.bin",
            serve(server, "cut", "hang up"), serve(server, "good", "ok")]
    assert download.fetch("data.bin", GOOD_SHA, urls, folder).read_bytes() == GOOD
    assert server.hits == {"/missing/data.bin": 1, "/cut/data.bin": 1, "/good/data.bin": 1}
    assert_clean(folder, "data.bin")


def test_pooch_retries_a_mirror_that_fails_once(tmp_path, server, monkeypatch):
    monkeypatch.setattr(download, "RETRIES", 1)  # pooch waits 1 s before the second attempt
    folder = folder_with_a_good_file(tmp_path / "cache")
    url = serve(server, "flaky", "flaky")
    assert download.fetch("data.bin", GOOD_SHA, [url], folder).read_bytes() == GOOD
    assert server.hits == {"/flaky/data.bin": 2}
    assert_clean(folder, "data.bin")


# --------------------------------------------------------------------------- read-only cache

READ_ONLY_CHILD = """
import json, sys
from pathlib import Path
from course_lib.data import download
download.RETRIES = 0
folder, url, sha = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
report = {"kept": download.fetch("keep.bin", sha, [url], folder).read_bytes().decode()}
try:
    download.fetch("data.bin", sha, [url], folder)
except download.DownloadError as err:
    report["error"] = str(err)
print(json.dumps(report))
"""


def run_without_write_permission(script: str, *args: str) -> dict:
    """Run ``script`` where permissions bite: as this user, or, for root (who may write
    anywhere), as ``nobody`` through ``setpriv``."""
    command = [sys.executable, "-c", script, *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            skip_or_fail("running as root, and setpriv (util-linux) is missing to drop privileges")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    if done.returncode != 0 and os.geteuid() == 0 and "setpriv" in done.stderr:
        skip_or_fail(f"running as root, and setpriv cannot drop privileges: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_read_only_cache_gives_a_clear_error_and_loses_nothing(server):
    # Not tmp_path: pytest makes its base private to this user, and the check may run as nobody.
    with tempfile.TemporaryDirectory() as base:
        os.chmod(base, 0o755)
        folder = folder_with_a_good_file(Path(base) / "cache")
        url = serve(server, "good", "ok", KEEP)
        os.chmod(folder / "keep.bin", 0o444)
        os.chmod(folder, 0o555)
        try:
            report = run_without_write_permission(READ_ONLY_CHILD, str(folder), url,
                                                  hashlib.sha256(KEEP).hexdigest())
        finally:
            os.chmod(folder, 0o755)
        assert report["kept"] == KEEP.decode()  # the good file is read, no network, no write
        assert str(folder) in report["error"] and download.CACHE_ENV in report["error"]
        assert server.hits == {}  # refused before any download started
        assert_clean(folder)


def test_a_cache_that_cannot_be_created_gives_a_clear_error(tmp_path, server):
    (tmp_path / "a-file").write_text("a file where the cache's parent folder should be")
    folder = tmp_path / "a-file" / "cache"
    with pytest.raises(download.DownloadError, match=download.CACHE_ENV) as info:
        download.fetch("data.bin", GOOD_SHA, [serve(server, "good", "ok")], folder)
    assert str(folder) in str(info.value)
    assert server.hits == {}


# ------------------------------------------------------------------------------ two at once

def fetch_in_child(url: str, folder: str, results) -> None:
    """Run in a spawned process: fetch the file, report the sha256 of what landed."""
    path = download.fetch("data.bin", GOOD_SHA, [url], Path(folder))
    results.put(hashlib.sha256(path.read_bytes()).hexdigest())


def test_two_processes_downloading_at_once_both_get_the_intact_file(tmp_path, server):
    folder = folder_with_a_good_file(tmp_path / "cache")
    url = serve(server, "together", "together")
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    children = [context.Process(target=fetch_in_child, args=(url, str(folder), results))
                for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0]
    assert [results.get(timeout=5) for _ in children] == [GOOD_SHA, GOOD_SHA]
    assert server.hits == {"/together/data.bin": 2}  # both really downloaded...
    assert not server.barrier.broken  # ...at the same time
    assert (folder / "data.bin").read_bytes() == GOOD
    assert_clean(folder, "data.bin")
