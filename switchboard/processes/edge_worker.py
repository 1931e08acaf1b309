"""One edge process of ``switchboard serve --edges N`` (started by :mod:`switchboard.processes.multiedge`).

It serves the app on a socket bound with SO_REUSEPORT, so N of these share one
port, and attaches to the engine's named Ray hosts instead of running its own.
Its configuration arrives as JSON in ``SWITCHBOARD_EDGE_CONFIG``: every server, dispatch and bot setting
the serve process has, so an edge behaves as the single-process server does. Once it serves, it writes
its edge id into the pipe ``report_fd``: the serve process supervises its edges, and when one dies it
forgets that id's sockets in Redis.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from types import FrameType

import orjson
from starlette.applications import Starlette

from switchboard.processes.graceful import GracefulServer, server_config
from switchboard.settings import BotSettings, DispatchSettings, MailSettings, ServerSettings


def main() -> int:
    config = orjson.loads(os.environ["SWITCHBOARD_EDGE_CONFIG"])
    settings = ServerSettings.from_mapping(config["settings"])
    # As serve's own: without it an edge's INFO lines (resumes, slow sockets) were lost and its warnings bare.
    logging.basicConfig(level=getattr(logging, str(config["log_level"]).upper()),
                        format=f"%(asctime)s edge{config.get('index', '?')} %(name)s %(levelname)s %(message)s")
    _end_with(config.get("parent"))
    from switchboard.edges.app import AppConfig, create_app

    import ray

    from switchboard.actors.ray_runtime import NAMESPACE

    # Join the cluster before uvicorn installs its signal handlers: ray.init installs a SIGTERM
    # handler that exits at once, which would skip the graceful shutdown.
    ray.init(address=config["ray_address"], namespace=NAMESPACE, logging_level=logging.WARNING)
    app = create_app(AppConfig(settings, DispatchSettings.from_mapping(config.get("dispatch", {})), config["redis_url"],
                               config["mongodb_uri"], runtime="ray", hosts=config["hosts"],
                               ray_address=config["ray_address"], attach=True,
                               bot=BotSettings.from_mapping(config.get("bot", {})),
                               mail=MailSettings.from_mapping(config.get("mail", {}))))
    if config.get("report_fd") is not None:
        _report_edge_id(app, config["report_fd"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.host, settings.port))
    sock.set_inheritable(True)
    server = _EdgeServer(server_config(app, settings, config["log_level"]))  # as serve's single process
    server.run(sockets=[sock])
    return 0


class _EdgeServer(GracefulServer):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A Ctrl-C reaches an edge twice, from the terminal and forwarded by serve; uvicorn takes a second
        # SIGINT for "force exit", which would cut this edge's graceful shutdown short. serve kills it after 20 s.
        if not (sig == signal.SIGINT and self.should_exit):
            super().handle_exit(sig, frame)


def _end_with(parent: int | None) -> None:
    """Ask Linux for SIGTERM when serve goes, however it goes: a serve killed with SIGKILL cannot stop its
    edges, and an orphan would go on taking connections on the shared port with no engine behind it."""
    if parent is None:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    except (OSError, AttributeError) as exc:  # not Linux: serve's clean stop still stops the edges
        logging.getLogger("switchboard.worker").warning("this edge cannot follow serve's death: %s", exc)
        return
    if os.getppid() != parent:  # serve went before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _report_edge_id(app: Starlette, fd: int) -> None:
    """Write the edge id into `fd` once the app has started (before any socket is served, so before any
    is registered under that id), then close it."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[None]:
        async with inner(a):  # the app's own lifespan yields no state
            try:
                os.write(fd, a.state.services.edge_id.encode())
            finally:
                os.close(fd)
            yield

    app.router.lifespan_context = lifespan


if __name__ == "__main__":
    sys.exit(main())
