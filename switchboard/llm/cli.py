"""``switchboard kb``: ingest, list, remove, ask, calibrate and rebuild, from the command line.

The commands work with the server stopped or running. The store is
``MONGODB_URI``, or the embedded store of ``data_dir`` (``--data-dir`` as for ``serve``): the one a running
server holds (reached on its port), else started for the moment the command needs it.
A running server's bot notices a changed knowledge base by itself (its
``meta.json`` version) and reloads it.

A base remembers the embedder it was built with (``--embedder`` only for a new base or a ``rebuild``), and
``--kb-dir`` naming a directory other than the configured one is a base of its own: it shares no entries
with the server's. ``list`` loads no model; ``ask`` says how to ask a running server when loading the
model would take longer than the answer.
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
from switchboard.llm.calibrate import Calibration, Figures, calibrate, read_questions
from switchboard.llm.embedders import make_embedder
from switchboard.llm.factory import embedder_of, kb_dir_of, make_generator, open_kb
from switchboard.llm.kb import KbError, KnowledgeBase, Progress, stored_meta
from switchboard.llm.sources import SUFFIXES, SourceError, read_source, repository_files
from switchboard.store import kb as kb_store
from switchboard.store.kb import DEFAULT_BASE

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


def _files(paths: list[str]) -> list[tuple[Path, str]]:
    """Each file named, and each folder's supported files named by their paths within it."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise KbError(f"{raw}: no such file or directory")
        found += repository_files(path)
    if not found:
        raise KbError(f"no knowledge files ({', '.join(SUFFIXES)}) in {' '.join(paths)}")
    return found


# --- commands ------------------------------------------------------------------------------------


def _ingest(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    sources = [read_source(path, name=name) for path, name in _files(args.paths)]
    progress, bar = _progress_bar("embedding")
    started = time.monotonic()
    try:
        report = kb.ingest_sources(sources, progress)
    finally:
        bar.close()
    print(f"{len(report.added)} added, {len(report.replaced)} replaced, {len(report.unchanged)} unchanged; "
          f"{report.entries} entries indexed in {time.monotonic() - started:.1f} s; the base now holds "
          f"{len(kb)} entries ({len(kb.index)} vectors, {kb.index.kind} index)")
    return _tune_here(kb, args)


def _tune_here(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    """Train the head now, with a progress bar, unless a running server's bot does it in the background."""
    if kb.head_current:
        return 0
    if args.server_running:
        print("the running server's bot tunes the knowledge base in the background (see `switchboard kb list`)",
              file=sys.stderr)
        return 0
    return _tune(kb, args)


def _tune(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from switchboard.llm.tuning import tune

    with tqdm(total=3, desc="tuning", file=sys.stderr, bar_format="{desc}: {n}/{total} {postfix}") as bar:
        def step(done: int, total: int, stage: str) -> None:
            bar.n = done
            bar.set_postfix_str(stage)

        head = tune(kb, step)
    if head is None:
        print("nothing to tune: a head needs at least two entries, and at most 2,000" if not kb.head_current
              else "the head is up to date", file=sys.stderr)
    else:
        print(f"tuned the head on {len(head.entries)} entries in {head.seconds:.1f} s", file=sys.stderr)
    return 0


def _list(directory: Path, base: str) -> int:
    """The documents and the base's state from the store and ``meta.json``: no model is loaded."""
    documents = kb_store.documents(base)
    for doc in documents:
        added = doc.added_at.isoformat() if doc.added_at else None
        print(f"{doc.name}\t{doc.kind}\t{doc.entries} entries\t{added}" + ("\tdemo" if doc.demo else ""))
    meta = stored_meta(directory)
    thresholds = meta.get("thresholds")
    calibrated = (f"thresholds answer {thresholds['answer']:.3f} suggest {thresholds['suggest']:.3f} (calibrated)"
                  if isinstance(thresholds, dict) else "default thresholds")
    off_topic = meta.get("off_topic")
    print(f"# {sum(d.entries for d in documents)} entries in {len(documents)} documents, embedder "
          f"{meta.get('signature', '(none yet)')}, {calibrated}, "
          f"{len(off_topic) if isinstance(off_topic, list) else 0} off-topic examples, demo {meta.get('demo', 'auto')}",
          file=sys.stderr)
    return 0


def _remove(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    missing = [name for name in args.names if not kb.remove(name)]
    for name in missing:
        print(f"switchboard kb remove: no document named {name!r}", file=sys.stderr)
    _tune_here(kb, args)
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


def _ask_hint(server: ServerSettings, directory: Path, bot: BotSettings, override: str | None, running: bool) -> None:
    """Before a slow start, say how to ask a running server instead (it has its model loaded already)."""
    slow = embedder_of(directory, bot, override) == "semantic"
    if slow or running:
        why = "loading the semantic model takes several seconds" if slow else "a server is running on this data"
        print(f"switchboard kb ask: {why}; a running server answers at once: the Knowledge page's \"Test the bot\" "
              f"box, or GET {_site(server)}/api/admin/kb/ask?q=... with an admin's bearer token", file=sys.stderr)


def _site(server: ServerSettings) -> str:
    return f"http://{server.host}:{server.port}"


def _calibrate(kb: KnowledgeBase, args: argparse.Namespace) -> int:
    good = read_questions(Path(args.good))
    bad = [q for q, _ in read_questions(Path(args.bad))]
    near = [q for q, _ in read_questions(Path(args.near))] if args.near else []
    if args.decline_share is not None and not 0 < args.decline_share <= 1:
        raise ValueError("--decline-share is a share of the BAD questions, above 0 and at most 1")
    result = calibrate(kb, good, bad, near=near, decline_share=args.decline_share)
    if result.unknown_ids:
        shown = ", ".join(result.unknown_ids[:10]) + (" ..." if len(result.unknown_ids) > 10 else "")
        print(f"switchboard kb calibrate: warning: {len(result.unknown_ids)} ids in {args.good} match no entry of the "
              f"base (those lines count as engaged, never as answered right or wrong): {shown}", file=sys.stderr)
    if not args.dry_run:
        kb.set_thresholds(result.thresholds, result.off_topic, result.learned)
    print(_calibration_text(result, stored=not args.dry_run))
    return 0 if args.dry_run else _tune_here(kb, args)


def _figures_text(f: Figures) -> str:
    answer = (f"direct answers for {f.answered:.0%} of the GOOD questions with ids, {f.answer_precision:.2f} of them "
              f"right" if f.answered is not None and f.answer_precision is not None
              else "direct-answer precision n/a (GOOD lines carry no ids)")
    return (f"decline precision {f.decline_precision:.2f}, decline recall {f.decline_recall:.2f}, engage precision "
            f"{f.engage_precision:.2f}, engage recall {f.engage_recall:.2f}, {answer}")


def _calibration_text(c: Calibration, stored: bool) -> str:
    t = c.thresholds
    lines = [f"thresholds: suggest >= {t.suggest:.4f}, answer >= {t.answer:.4f}, confident >= {t.confident:.4f}, with "
             f"{len(c.off_topic)} distinct BAD questions kept as off-topic examples "
             f"({'stored with the index' if stored else 'dry run: not stored'})"]
    if c.held_out is not None:
        lines.append(f"expected on new questions ({c.folds}-fold cross-validation over {c.good} GOOD and {c.bad} BAD "
                     f"lines, each measured under thresholds chosen without it): {_figures_text(c.held_out)}")
    else:
        lines.append(f"too few lines to cross-validate ({c.good} GOOD, {c.bad} BAD: at least 2 of each); on the lines "
                     f"fitted (optimistic): {_figures_text(c.fitted)}")
    return "\n".join(lines)


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
    kb.add_argument("--data-dir", default=None, help="the server's data directory, as for serve (default: ./var)")
    kb.add_argument("--embedder", choices=("hashing", "semantic"), default=None,
                    help="the embedder of a new base, or of a rebuild (a base remembers its own)")
    kb.add_argument("--kb-dir", default=None,
                    help="another base's directory (its entries are its own, apart from the server's base)")
    actions = kb.add_subparsers(dest="kb_command", required=True)
    ingest = actions.add_parser("ingest", help="add or replace documents and FAQ files, or folders of them (each "
                                               "file named by its path within the folder)")
    ingest.add_argument("paths", nargs="+")
    actions.add_parser("list", help="list the documents")
    remove = actions.add_parser("remove", help="remove documents by name")
    remove.add_argument("names", nargs="+")
    ask = actions.add_parser("ask", help="answer questions (arguments, or one per line on stdin) as JSON lines")
    ask.add_argument("questions", nargs="*")
    cal = actions.add_parser("calibrate", help="set the thresholds from labelled questions")
    cal.add_argument("good", help="questions the bot should answer: one per line, or JSON lines {\"q\", \"id\"}")
    cal.add_argument("bad", help="questions the bot should decline, one per line")
    cal.add_argument("--decline-share", type=float, default=None, metavar="SHARE",
                     help="put the decline line as low as declines this share (0-1) of the BAD questions, engaging "
                          "with as many GOOD ones as it can (default: the best precision + recall)")
    cal.add_argument("--near", default=None, help="questions on the subject that the base cannot answer, one per "
                                                  "line: never to be answered directly, but not declined either")
    cal.add_argument("--dry-run", action="store_true", help="report, do not store")
    actions.add_parser("rebuild", help="re-embed every entry (after changing the embedder)")
    actions.add_parser("tune", help="train the base's head now (ingest and remove do it; a running server's bot "
                                    "does it in the background)")


def _base(server: ServerSettings, bot: BotSettings, kb_dir: str | None) -> tuple[BotSettings, str]:
    """The settings with ``--kb-dir`` applied, and the store's base it names: the server's own base
    (:data:`DEFAULT_BASE`) for its configured directory, else one named by the directory's full path."""
    if not kb_dir:
        return bot, DEFAULT_BASE
    configured = kb_dir_of(server, bot).resolve()
    chosen = Path(kb_dir).resolve()
    return BotSettings.from_mapping({"kb_dir": str(chosen)}, bot), (DEFAULT_BASE if chosen == configured else str(chosen))


def run_kb(args: argparse.Namespace) -> int:
    try:
        server = load_server_settings(args.settings)
        if args.data_dir:
            server = ServerSettings.from_mapping({"data_dir": args.data_dir}, server)
        bot, base = _base(server, load_bot_settings(args.settings), args.kb_dir)
        directory = kb_dir_of(server, bot)
        from switchboard.store.embedded import embedded_store_in_use

        # A server runs on this data directory's embedded store, and serves this base (never another one).
        args.server_running = (base == DEFAULT_BASE and not server.mongodb_uri
                               and embedded_store_in_use(server.data_dir) is not None)
        if args.kb_command == "ask":
            _ask_hint(server, directory, bot, args.embedder, args.server_running)
        with store_for(server):
            if args.kb_command == "list":
                return _list(directory, base)
            if args.kb_command == "rebuild":
                kb = KnowledgeBase(directory, make_embedder(embedder_of(directory, bot, args.embedder)), base)
                return _rebuild(kb, args)
            kb = open_kb(server, bot, args.embedder, base)
            if args.kb_command == "ask":
                return _ask(kb, args, bot)
            handler = {"ingest": _ingest, "remove": _remove, "calibrate": _calibrate, "tune": _tune}[args.kb_command]
            return handler(kb, args)
    except (KbError, SourceError, SettingsError, EmbeddedServerError, ValueError, OSError, RuntimeError) as exc:
        print(f"switchboard kb {args.kb_command}: {exc}", file=sys.stderr)
        return 1
    except PyMongoError as exc:
        print(f"switchboard kb {args.kb_command}: the store failed: {exc}", file=sys.stderr)
        return 1
