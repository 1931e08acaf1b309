"""``switchboard reports rebuild``: recompute every report aggregate and the history's word index from the raw
records, with progress.

The report shards (docs/reports.md) are kept up to date by each store writer's report keeper as records are
stored; this command drops them and recomputes them from the conversations, ratings, messages and presence
intervals (:func:`switchboard.store.reports.rebuild`): after a crash that lost the last seconds of
aggregates, after a change of a figure's definition, or on a store written before reports existed. Like
``switchboard admin``, it connects to ``MONGODB_URI``, to the embedded store a running server holds, or starts
the embedded store of ``data_dir`` for the moment it needs it. Run it with the server stopped, or accept that
records stored during the rebuild are counted only by the next one.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from pymongo.errors import PyMongoError

from switchboard.settings import SettingsError, load_server_settings
from switchboard.store import reports
from switchboard.store.connection import connect, disconnect, ensure_indexes
from switchboard.store.embedded import EmbeddedMongo, EmbeddedServerError, running_store_uri

__all__ = ["add_reports_parser", "run_reports", "Progress"]


class Progress:
    """Prints ``stage done/total`` lines (at most one per stage every `every_s`, and each stage's last)."""

    def __init__(self, out: TextIO, every_s: float = 1.0) -> None:
        self.out, self.every_s = out, every_s
        self._last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last.get(stage, -self.every_s) < self.every_s:
            return
        self._last[stage] = now
        print(f"{stage}: {done}/{total}", file=self.out, flush=True)


def add_reports_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("reports", help="report aggregates (see docs/reports.md)")
    sub = parser.add_subparsers(dest="reports_command", required=True)
    rebuild = sub.add_parser("rebuild", help="recompute every aggregate from the raw records")
    rebuild.add_argument("--settings", default=None, help="settings file (default: $SWITCHBOARD_SETTINGS)")
    return parser


def run_reports(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run a parsed ``reports`` command: 0 on success, 1 on failure (message on stderr)."""
    if args.reports_command != "rebuild":  # pragma: no cover - argparse enforces the choice
        return 2
    embedded: EmbeddedMongo | None = None
    try:
        settings = load_server_settings(args.settings)
        uri = settings.mongodb_uri or running_store_uri(settings.data_dir)
        if not uri:
            embedded = EmbeddedMongo(settings.data_dir)
            uri = embedded.start()
        connect(uri)
        try:
            ensure_indexes()
            started = time.monotonic()
            count = reports.rebuild(progress=Progress(out))
            print(f"rebuilt {count} shards in {time.monotonic() - started:.1f}s", file=out)
        finally:
            disconnect()
        return 0
    except (SettingsError, EmbeddedServerError, PyMongoError) as exc:
        print(f"switchboard reports rebuild: {exc}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()
