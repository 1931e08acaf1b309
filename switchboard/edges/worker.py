"""One edge process of ``switchboard serve --edges N`` (started by :mod:`switchboard.multiedge`).

It serves the app on a socket bound with SO_REUSEPORT, so N of these share one
port, and attaches to the engine's named Ray hosts instead of running its own.
Its configuration arrives as JSON in ``SWITCHBOARD_EDGE_CONFIG``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys

import orjson

from ..settings import BotSettings, DispatchSettings, ServerSettings


def main() -> int:
    config = orjson.loads(os.environ["SWITCHBOARD_EDGE_CONFIG"])
    settings = ServerSettings.from_mapping(config["settings"])
    from ..serve import GracefulServer
    from .app import AppConfig, create_app

    import ray
    import uvicorn

    from ..actors.ray_runtime import NAMESPACE

    # Join the cluster before uvicorn installs its signal handlers: ray.init installs a SIGTERM
    # handler that exits at once, which would skip the graceful shutdown.
    ray.init(address=config["ray_address"], namespace=NAMESPACE, logging_level=logging.WARNING)
    app = create_app(AppConfig(settings, DispatchSettings(), config["redis_url"], config["mongodb_uri"],
                               runtime="ray", hosts=config["hosts"], ray_address=config["ray_address"], attach=True,
                               bot=BotSettings.from_mapping(config.get("bot", {}))))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.host, settings.port))
    sock.set_inheritable(True)
    server = GracefulServer(uvicorn.Config(app, log_level=config["log_level"], ws_per_message_deflate=False,
                                           timeout_graceful_shutdown=10, lifespan="on"))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
