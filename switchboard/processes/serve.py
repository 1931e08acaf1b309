"""``switchboard serve``: the main job, with embedded defaults.

With no REDIS_URL it starts an embedded Redis, with no MONGODB_URI an embedded
MongoDB-wire store, both under the data directory (:mod:`.backends`); then the
engine (local runtime by default) and the Starlette app under uvicorn. uvicorn
owns SIGINT and SIGTERM: it stops accepting, the app's shutdown drains and
flushes, and then the embedded servers this command started are stopped
(:mod:`.graceful`).

``--edges N`` (N > 1) runs the engine on Ray (a local cluster unless
``--ray-address``) in this process, with the relay and recovery, and N edge
processes (uvicorn workers sharing the port through SO_REUSEPORT) that attach
to the same Ray hosts: see :mod:`switchboard.processes.multiedge`.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from contextlib import ExitStack
from pathlib import Path

from switchboard.processes.backends import Backends
from switchboard.processes.banner import print_urls
from switchboard.settings import (
    BotSettings, DispatchSettings, MailSettings, ServerSettings, SettingsError, load_bot_settings,
    load_dispatch_settings, load_mail_settings, load_server_settings, unknown_variables,
)

__all__ = ["add_serve_parser", "run_serve", "port_taken", "settings_path"]

log = logging.getLogger("switchboard.processes.serve")


def add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("serve", help="run the server (embedded Redis and store unless REDIS_URL / MONGODB_URI)")
    sp.add_argument("--host", default=None, help="address to listen on (default: settings, 127.0.0.1)")
    sp.add_argument("--port", type=int, default=None, help="port (default: settings, 8000)")
    sp.add_argument("--data-dir", default=None, help="where embedded servers keep their data (default: ./var)")
    sp.add_argument("--settings", default=None, help="settings file (default: SWITCHBOARD_SETTINGS or config/switchboard.yaml)")
    sp.add_argument("--edges", type=int, default=1, help="edge processes; more than 1 runs the engine on Ray")
    sp.add_argument("--ray-address", default=None, help="an existing Ray cluster (implies the Ray runtime)")
    sp.add_argument("--hosts", type=int, default=None, help="engine hosts (default: 2 local, 4 ray)")
    sp.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def settings_path(args: argparse.Namespace) -> str | None:
    """The settings file: --settings, else SWITCHBOARD_SETTINGS, else config/switchboard.yaml where it exists."""
    path: str | None = args.settings or os.environ.get("SWITCHBOARD_SETTINGS")
    if path is None and Path("config/switchboard.yaml").exists():
        path = "config/switchboard.yaml"
    return path


def _settings(args: argparse.Namespace) -> tuple[ServerSettings, DispatchSettings, BotSettings, MailSettings]:
    path = settings_path(args)
    server = load_server_settings(path)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("data_dir", args.data_dir)) if v is not None}
    return (ServerSettings.from_mapping(overrides, server), load_dispatch_settings(path), load_bot_settings(path),
            load_mail_settings(path))


def run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings, dispatch, bot, mail = _settings(args)
    except SettingsError as exc:
        print(f"switchboard serve: {exc}", file=sys.stderr)
        return 2
    for note in unknown_variables():
        print(f"switchboard serve: warning: {note}", file=sys.stderr, flush=True)
    if args.edges < 1:
        print("switchboard serve: --edges must be at least 1", file=sys.stderr)
        return 2
    taken = port_taken(settings.host, settings.port)
    if taken is not None:
        print(f"switchboard serve: cannot listen on {settings.host}:{settings.port} ({taken}); is another server "
              f"running there? Choose another port with --port or SWITCHBOARD_PORT.", file=sys.stderr, flush=True)
        return 1
    print(f"Switchboard starting (data dir {settings.data_dir})", flush=True)
    from switchboard.store.embedded import EmbeddedServerError

    with ExitStack() as stack:
        try:
            backends = Backends(settings, stack)
        except EmbeddedServerError as exc:  # DataDirInUse among them: another process has the data dir
            print(f"switchboard serve: {exc}", file=sys.stderr, flush=True)
            return 1
        if args.edges > 1 or args.ray_address:
            from switchboard.processes.multiedge import run_multi_edge

            return run_multi_edge(settings, dispatch, bot, mail, backends, args)
        return _run_single(settings, dispatch, bot, mail, backends, args)


def port_taken(host: str, port: int) -> str | None:
    """Why `host`:`port` cannot be listened on, or None: asked before the embedded servers start and the
    knowledge base is ingested, not only by uvicorn at the end (a taken port cost a whole start-up)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"the address does not resolve: {exc}"
    for family, kind, proto, _, address in infos:  # each address the name gives, as uvicorn binds them all
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no obstacle
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return f"{address[0]}: {exc.strerror or exc}"
    return None


def _run_single(settings: ServerSettings, dispatch: DispatchSettings, bot: BotSettings, mail: MailSettings,
                backends: Backends, args: argparse.Namespace) -> int:
    from switchboard.edges.app import AppConfig, create_app
    from switchboard.processes.graceful import GracefulServer, server_config

    config = AppConfig(settings, dispatch, backends.redis_url, backends.mongodb_uri, hosts=args.hosts, bot=bot,
                       mail=mail)
    app = create_app(config)
    print_urls(settings)
    server = GracefulServer(server_config(app, settings, args.log_level, settings.host, settings.port))
    server.run()
    print("Switchboard stopped; flushing and stopping the embedded servers.", flush=True)
    return 0

