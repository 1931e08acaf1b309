"""One process at a time on a data directory: a second `switchboard serve` refuses, touching nothing.

Starting embedded servers replaces the ones named by the data dir's pid files
(that is how a ``kill -9`` leftover is cleaned up); without the lock a second
serve on a dir in use SIGTERMed the running server's Redis and store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from switchboard.store.embedded import LOCK_FILE, DataDirInUse, DataDirLock, EmbeddedMongo
from tests.server.conftest import free_port
from tests.store.test_embedded import _alive

ROOT = Path(__file__).resolve().parents[2]  # the code under test, for the subprocesses too


def _env(data_dir: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "SWITCHBOARD_DATA_DIR": str(data_dir),
            "SWITCHBOARD_SETTINGS": "/dev/null"}


def _switchboard(*args: str) -> list[str]:
    return [sys.executable, "-m", "switchboard.cli", *args]


def _holder(data_dir: Path, code: str) -> subprocess.Popen[bytes]:
    """A Python child that runs `code` (with `d` the data dir), prints "up" and sleeps."""
    child = subprocess.Popen([sys.executable, "-c", f"import sys, time; d = sys.argv[1]; {code}; "
                              "print('up', flush=True); time.sleep(120)", str(data_dir)],
                             env=_env(data_dir), stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"up\n"
    return child


@pytest.fixture
def reap(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes to kill after the test, and then any embedded server still running on tmp_path."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pid_file, marker in ((tmp_path / "redis/redis.pid", "redis-server"), (tmp_path / "mongo.pid", "nx_27017")):
        try:
            pid = int(pid_file.read_text())
            if _alive(pid) and marker in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_the_lock_names_the_holding_pid_and_goes_with_a_kill_9(tmp_path: Path,
                                                              reap: list[subprocess.Popen[bytes]]) -> None:
    holder = _holder(tmp_path, "from switchboard.store.embedded import DataDirLock; DataDirLock(d).acquire()")
    reap.append(holder)
    with pytest.raises(DataDirInUse) as refused:
        DataDirLock(tmp_path).acquire()
    assert refused.value.pid == holder.pid and str(tmp_path.resolve()) in str(refused.value)
    assert f"process {holder.pid}" in str(refused.value)

    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with DataDirLock(tmp_path) as lock, DataDirLock(tmp_path) as again:  # re-entrant within a process
        assert lock.holding and again.holding
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert (tmp_path / LOCK_FILE).resolve() not in DataDirLock._held


def test_an_embedded_server_refuses_a_data_dir_held_by_another_process_and_touches_nothing(
        tmp_path: Path, reap: list[subprocess.Popen[bytes]]) -> None:
    holder = _holder(tmp_path, "from switchboard.store.embedded import EmbeddedMongo; EmbeddedMongo(d).start()")
    reap.append(holder)
    store_pid = int((tmp_path / "mongo.pid").read_text())
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(DataDirInUse, match=f"process {holder.pid}"):
        EmbeddedMongo(str(tmp_path)).start()
    assert _alive(store_pid) and int((tmp_path / "mongo.pid").read_text()) == store_pid
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    holder.send_signal(signal.SIGKILL)  # a crash: the leftover store is cleaned up by the next start
    holder.wait()
    with EmbeddedMongo(str(tmp_path)) as mongo:
        mongo.start()
        assert not _alive(store_pid)


def test_a_second_serve_on_a_data_dir_in_use_fails_at_once_and_the_first_keeps_serving(
        tmp_path: Path, reap: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    log = open(tmp_path / "first.log", "wb")
    first = subprocess.Popen(_switchboard("serve", "--port", str(port)), env=_env(tmp_path), stdout=log,
                             stderr=subprocess.STDOUT)
    reap.append(first)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first serve did not become ready"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        servers = {name: int((tmp_path / name).read_text()) for name in ("redis/redis.pid", "mongo.pid")}
        children = [str(tmp_path / f) for f in ("redis", "mongo")]
        for pid in servers.values():  # the lock is the serve process's alone: no server keeps it alive
            fds = Path(f"/proc/{pid}/fd")
            if fds.is_dir():
                assert str(tmp_path / LOCK_FILE) not in {os.path.realpath(f) for f in fds.iterdir()}

        started = time.monotonic()
        second = subprocess.Popen(_switchboard("serve", "--port", str(free_port())), env=_env(tmp_path),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reap.append(second)
        _, err = second.communicate(timeout=60)
        assert second.returncode != 0
        assert time.monotonic() - started < 30
        message = err.decode()
        assert str(tmp_path.resolve()) in message and f"process {first.pid}" in message, message
        assert "Traceback" not in message

        admin = subprocess.run(_switchboard("admin", "create", "--email", "root@example.com", "--password-stdin"),
                               env=_env(tmp_path), input=b"root-password-1", capture_output=True, timeout=60)
        # the CLI joins the running server's embedded store instead of starting one of its own
        assert admin.returncode == 0 and "created admin adm-" in admin.stdout.decode(), admin.stderr.decode()

        assert all(_alive(pid) for pid in servers.values())
        assert servers == {name: int((tmp_path / name).read_text()) for name in servers}
        assert all(Path(c).is_dir() for c in children)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200

        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0
        time.sleep(0.5)
        assert not any(_alive(pid) for pid in servers.values())
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        log.close()


def test_serve_on_a_port_in_use_says_so_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(_switchboard("serve", "--port", str(port)), env=_env(tmp_path), capture_output=True,
                              timeout=60)
    assert done.returncode == 1 and time.monotonic() - started < 15
    message = done.stderr.decode()
    assert f"cannot listen on 127.0.0.1:{port}" in message and "--port" in message, message
    assert "Traceback" not in message
    assert not (tmp_path / "mongo").exists() and not (tmp_path / "kb").exists()  # nothing was started or ingested
