"""``switchboard kb``: ingest, list, remove, ask, calibrate and rebuild, from the command line.

The commands work with the server stopped or running. The store is
``MONGODB_URI``, or the embedded store of ``data_dir``: the one a running server
holds (reached on its port), else started for the moment the command needs it.
A running server's bot notices a changed knowledge base by itself (its
``meta.json`` version) and reloads it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from pymongo.errors import PyMongoError

from switchboard.settings import BotSettings, ServerSettings, SettingsError, load_bot_settings, load_server_settings
from switchboard.store.connection import connect, disconnect, ensure_indexes
from switchboard.store.embedded import EmbeddedMongo, EmbeddedServerError
from switchboard.llm.bot import Bot
from switchboard.llm.calibrate import Calibration, calibrate, read_questions
from switchboard.llm.embedders import make_embedder
from switchboard.llm.factory import kb_dir_of, make_generator, open_kb
from switchboard.llm.kb import KbError, KnowledgeBase, Progress
from switchboard.llm.sources import SUFFIXES, SourceError

__all__ = ["add_kb_parser", "run_kb", "store_for"]


@contextmanager
def store_for(settings: ServerSettings) -> Iterator[str]:
    """Connect mongoengine to the configured store for the duration; yields its URI."""
    from switchboard.store.embedded import embedded_store_in_use

    embedded: EmbeddedMongo | None = None
    if settings.mongodb_uri:
        uri = settings.mongodb_uri
    else:
        running = embedded_store_in_use(settings.data_dir)
        if running is not None and running[1] is None:
            raise KbError(f"the embedded store of {settings.data_dir} is in use (pid {running[0]}) on an unknown "
                          f"port: set MONGODB_URI to its address")
        if running is not None:
            uri = f"mongodb://127.0.0.1:{running[1]}/switchboard"
        else:
            embedded = EmbeddedMongo(settings.data_dir)
            uri = embedded.start()
    try:
        connect(uri)
        ensure_indexes()
        yield uri
    finally:
        disconnect()
        if embedded is not None:
            embedded.stop()


class _Bar:
    """A tqdm bar made at the first progress report: a refused file or an unchanged base shows none
    (it printed an empty "0 phrasings" bar)."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: Any = None

    def update(self, done: int, total: int, what: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit=" phrasings", file=sys.stderr, mininterval=0.5)
        self.bar.total, self.bar.n = total, done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress_bar(desc: str) -> tuple[Progress, _Bar]:
    bar = _Bar(desc)
    return bar.update, bar


def _files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise KbError(f"{raw}: no such file or directory")
    if not found:
        raise KbError(f"no knowledge files ({', '.join(SUFFIXES)}) in {' '.join(paths)}")
    return found


# --- commands ------------------------------------------------------------------------------------


def _ingest(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    files = _files(args.paths)
    progress, bar = _progress_bar("embedding")
    started = time.monotonic()
    try:
        report = kb.ingest(files, progress)
    finally:
        bar.close()
    print(f"{len(report.added)} added, {len(report.replaced)} replaced, {len(report.unchanged)} unchanged; "
          f"{report.entries} entries indexed in {time.monotonic() - started:.1f} s; the base now holds "
          f"{len(kb)} entries ({len(kb.index)} vectors, {kb.index.kind} index)")
    return 0


def _list(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    for doc in kb.documents():
        print(f"{doc['name']}\t{doc['kind']}\t{doc['entries']} entries\t{doc['added_at']}")
    t = kb.thresholds
    print(f"# {len(kb)} entries, {len(kb.index)} vectors ({kb.index.kind}), embedder {kb.embedder.signature}, "
          f"thresholds answer {t.answer:.3f} suggest {t.suggest:.3f} ({'calibrated' if t.calibrated else 'defaults'}), "
          f"{len(kb.off_topic_examples)} off-topic examples",
          file=sys.stderr)
    return 0


def _remove(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    missing = [name for name in args.names if not kb.remove(name)]
    for name in missing:
        print(f"switchboard kb remove: no document named {name!r}", file=sys.stderr)
    return 1 if missing else 0


def _ask(kb: KnowledgeBase, args: argparse.Namespace, bot_settings: BotSettings) -> int:
    questions = args.questions or [line.strip() for line in sys.stdin if line.strip()]
    bot = Bot(kb, bot_settings, make_generator(bot_settings))

    async def run() -> None:
        for question in questions:
            started = time.perf_counter()
            reply = await bot.answer(question, [])
            line = {"question": question, **reply.decision.as_json(), "answer": reply.text,
                    "generated": reply.generated, "ms": round((time.perf_counter() - started) * 1000, 2)}
            sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
            sys.stdout.flush()
        if bot.generator is not None:
            await bot.generator.close()
    asyncio.run(run())
    return 0


def _calibrate(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    good = read_questions(Path(args.good))
    bad = [q for q, _ in read_questions(Path(args.bad))]
    result = calibrate(kb, good, bad)
    if not args.dry_run:
        kb.set_thresholds(result.thresholds, result.off_topic)
    print(_calibration_text(result, stored=not args.dry_run))
    return 0


def _calibration_text(c: Calibration, stored: bool) -> str:
    t = c.thresholds
    answer = f"{c.answer_precision:.2f}" if c.answer_precision is not None else "n/a (GOOD lines carry no ids)"
    return (f"thresholds: answer >= {t.answer:.4f}, suggest >= {t.suggest:.4f}, with {len(c.off_topic)} distinct BAD "
            f"questions kept as off-topic examples ({'stored with the index' if stored else 'dry run: not stored'})\n"
            f"on {c.good} GOOD and {c.bad} BAD questions it expects: decline precision {c.decline_precision:.2f}, "
            f"decline recall {c.decline_recall:.2f}, engage precision {c.engage_precision:.2f}, engage recall "
            f"{c.engage_recall:.2f}, direct-answer precision {answer}")


def _rebuild(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    progress, bar = _progress_bar("re-embedding")
    try:
        n = kb.rebuild(progress)
    finally:
        bar.close()
    print(f"re-embedded {n} entries with {kb.embedder.signature}; thresholds reset: calibrate again")
    return 0


# --- the parser ----------------------------------------------------------------------------------


def add_kb_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kb = subparsers.add_parser("kb", help="the bot's knowledge base: ingest, list, remove, ask, calibrate")
    kb.add_argument("--settings", default=None, help="settings file (default: $SWITCHBOARD_SETTINGS)")
    kb.add_argument("--embedder", choices=("hashing", "semantic"), default=None,
                    help="override the bot's embedder setting")
    kb.add_argument("--kb-dir", default=None, help="override the bot's kb_dir setting")
    actions = kb.add_subparsers(dest="kb_command", required=True)
    ingest = actions.add_parser("ingest", help="add or replace markdown documents and FAQ files (or folders of them)")
    ingest.add_argument("paths", nargs="+")
    actions.add_parser("list", help="list the documents")
    remove = actions.add_parser("remove", help="remove documents by name")
    remove.add_argument("names", nargs="+")
    ask = actions.add_parser("ask", help="answer questions (arguments, or one per line on stdin) as JSON lines")
    ask.add_argument("questions", nargs="*")
    cal = actions.add_parser("calibrate", help="set the thresholds from labelled questions")
    cal.add_argument("good", help="questions the bot should answer: one per line, or JSON lines {\"q\", \"id\"}")
    cal.add_argument("bad", help="questions the bot should decline, one per line")
    cal.add_argument("--dry-run", action="store_true", help="report, do not store")
    actions.add_parser("rebuild", help="re-embed every entry (after changing the embedder)")


def run_kb(args: argparse.Namespace) -> int:
    try:
        server = load_server_settings(args.settings)
        bot = load_bot_settings(args.settings)
        if args.kb_dir:
            bot = BotSettings.from_mapping({"kb_dir": args.kb_dir}, bot)
        with store_for(server):
            if args.kb_command == "rebuild":
                kb = KnowledgeBase(kb_dir_of(server, bot), make_embedder(args.embedder or bot.embedder))
                return _rebuild(kb, args)
            kb = open_kb(server, bot, args.embedder)
            if args.kb_command == "ask":
                return _ask(kb, args, bot)
            handler = {"ingest": _ingest, "list": _list, "remove": _remove, "calibrate": _calibrate}[args.kb_command]
            return handler(kb, args)
    except (KbError, SourceError, SettingsError, EmbeddedServerError, ValueError, OSError, RuntimeError) as exc:
        print(f"switchboard kb {args.kb_command}: {exc}", file=sys.stderr)
        return 1
    except PyMongoError as exc:
        print(f"switchboard kb {args.kb_command}: the store failed: {exc}", file=sys.stderr)
        return 1
