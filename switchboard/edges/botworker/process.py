"""The bot in a child process of its own: questions in over a pipe, answers (and streamed text) out.

Retrieval's libraries (scikit-learn, Faiss, the word lists; torch for the semantic embedder) and its
CPU work stay out of the process that holds the sockets: the edge keeps only :class:`BotProcess`, a
small client, and the child runs :class:`~switchboard.llm.bot.Bot` as built by
:func:`~switchboard.llm.factory.open_bot`. Decision 006 has the figures that chose a process.

The pipe carries one JSON object per line (orjson). The first line down is the
child's start-up (the settings, pickled: both ends run the same code); the first
line up is ``{"ready": true, "entries": N}`` or ``{"error": "..."}``. Then:

* down ``{"id": 7, "q": "...", "turns": [[role, text], ...], "streak": 0}``: a
  question; up come any number of ``{"id": 7, "delta": "..."}`` (generated text
  as it streams) and one ``{"id": 7, "reply": {...}}`` or ``{"id": 7, "error": "..."}``.
* down ``{"refresh": true}``: the knowledge base changed (an upload through
  REST in the edge): reload it now rather than at the next periodic check.

Closing the pipe asks the child to finish what it was asked and exit. The
child's own stdout is moved to stderr, so a library that prints cannot corrupt
the protocol; its logs reach the server's stderr.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
import math
import pickle
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, TypedDict

import orjson

from switchboard.llm.bot import Bot, Reply, Turn
from switchboard.llm.factory import open_bot
from switchboard.llm.tuning import Tuner
from switchboard.llm.policy import Decision
from switchboard.settings import BotSettings, ServerSettings
from switchboard.store import connection

__all__ = ["BotProcess", "BotProcessError"]

log = logging.getLogger("switchboard.bot")

_LINE_LIMIT = 4 * 1024 * 1024  # a reply with long generated text still fits one line
_START_TIMEOUT_S = 600.0  # a first start ingests the demo base; the semantic embedder loads torch
_RESTART_GAP_S = 30.0  # a bot process that keeps dying is restarted at most this often
_Line = dict[str, object]  # one JSON line of the pipe, either way


class BotProcessError(RuntimeError):
    """The bot process failed to start, or ended while questions were waiting."""


class _Question(TypedDict):
    """A question, down the pipe."""

    id: int
    q: str
    turns: Sequence[Sequence[str]]  # [role, text] pairs
    streak: int


class _ReplyJson(TypedDict):
    """A reply, up the pipe: what the edge uses of it (the matches stay in the child)."""

    kind: str
    decision_text: str
    suggestions: list[dict[str, str]]
    sources: list[dict[str, str]]
    low: bool
    text: str
    generated: bool
    fallback: str | None
    document: str | None  # the best on-topic match's document (the hand-off's group)


class BotProcess:
    """The edge's side: ask questions of the bot in the child process, as :meth:`Bot.answer` would answer."""

    def __init__(self, proc: asyncio.subprocess.Process, entries: int,
                 start_args: tuple[ServerSettings, BotSettings, str]) -> None:
        self.proc, self.entries = proc, entries
        self._start_args = start_args
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[asyncio.Future[Reply], Callable[[str], Awaitable[None]] | None]] = {}
        self._reader = asyncio.create_task(self._read(), name="bot-process-reader")
        self._restarting = asyncio.Lock()
        self._restarted_at = -math.inf
        self.restarts = 0

    @classmethod
    async def start(cls, server: ServerSettings, settings: BotSettings, mongodb_uri: str) -> BotProcess:
        proc, entries = await _spawn(server, settings, mongodb_uri)
        return cls(proc, entries, (server, settings, mongodb_uri))

    async def answer(self, question: str, turns: list[Turn], low_streak: int = 0,
                     on_delta: Callable[[str], Awaitable[None]] | None = None) -> Reply:
        if self._reader.done():
            await self._restart()
        qid = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[qid] = (future, on_delta)
        try:
            await self._send(_Question(id=qid, q=question, turns=turns, streak=low_streak))
        except (BrokenPipeError, ConnectionResetError) as exc:  # it died just now: the reader fails the rest
            self._waiting.pop(qid, None)
            raise BotProcessError(f"the bot process ended: {exc}") from None
        return await future

    async def _restart(self) -> None:
        """Start a new child for one that died (the questions it held have failed already)."""
        async with self._restarting:
            if not self._reader.done():
                return  # another question restarted it meanwhile
            if time.monotonic() - self._restarted_at < _RESTART_GAP_S:
                raise BotProcessError(f"the bot process has ended (status {self.proc.returncode}) and was restarted "
                                      f"less than {_RESTART_GAP_S:.0f} s ago")
            log.warning("the bot process ended (status %s); starting a new one", self.proc.returncode)
            self._restarted_at = time.monotonic()
            self.proc, self.entries = await _spawn(*self._start_args)
            self._reader = asyncio.create_task(self._read(), name="bot-process-reader")
            self.restarts += 1

    async def kb_changed(self) -> None:
        """Have the child reload the knowledge base at once (after an upload or a delete in this process)."""
        if not self._reader.done():
            await self._send({"refresh": True})

    async def close(self, timeout_s: float = 5.0) -> None:
        """End the child: it finishes the questions it has, then exits (killed if it does not in time)."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def _send(self, message: _Line | _Question) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(message) + b"\n")
        await self.proc.stdin.drain()

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.error("the bot process sent a line that is not JSON: %r", line[:200])
                continue
            future, on_delta = self._waiting.get(message.get("id"), (None, None))
            if future is None:
                continue
            if "delta" in message:
                if on_delta is not None:
                    await on_delta(message["delta"])
                continue
            del self._waiting[message["id"]]
            if "reply" in message:
                future.set_result(_reply(message["reply"]))
            else:
                future.set_exception(BotProcessError(message.get("error", "no answer")))
        status = await self.proc.wait()
        if self._waiting:
            log.error("the bot process ended (status %s) with %d questions unanswered", status, len(self._waiting))
        for future, _ in self._waiting.values():
            future.set_exception(BotProcessError(f"the bot process ended (status {status})"))
        self._waiting.clear()


async def _spawn(server: ServerSettings, settings: BotSettings,
                 mongodb_uri: str) -> tuple[asyncio.subprocess.Process, int]:
    """Start a child and wait until its bot is ready: (the process, the knowledge base's entries)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.edges.botworker.process", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, limit=_LINE_LIMIT)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(base64.b64encode(pickle.dumps((server, settings, mongodb_uri))) + b"\n")
    await proc.stdin.drain()
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), _START_TIMEOUT_S)
    except asyncio.TimeoutError:
        line = b'{"error": "no answer within %d s"}' % _START_TIMEOUT_S
    hello = orjson.loads(line) if line else {"error": "it exited"}
    if not hello.get("ready"):
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        raise BotProcessError(f"the bot process failed to start: {hello.get('error')} (status {proc.returncode})")
    log.info("bot process %d ready: %d knowledge-base entries", proc.pid, hello.get("entries", 0))
    return proc, int(hello.get("entries", 0))


def _reply(data: _ReplyJson) -> Reply:
    """A reply as the edge uses it: the decision's kind, wording and offers; matches stay in the child."""
    decision = Decision(data["kind"], data["decision_text"], [], data["suggestions"], data["sources"], data["low"],
                        data.get("document"))
    return Reply(decision, data["text"], data["generated"], data.get("fallback"))


def _reply_json(reply: Reply) -> _ReplyJson:
    d = reply.decision
    return {"kind": d.kind, "decision_text": d.text, "suggestions": d.suggestions, "sources": d.sources, "low": d.low,
            "text": reply.text, "generated": reply.generated, "fallback": reply.fallback, "document": d.document}


# --- the child ------------------------------------------------------------------------------------------------


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group: the server decides when this child ends
    # (it closes the pipe once the questions are answered), so the child does not stop on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)  # the pipe to the edge; fd 1 becomes stderr below
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(_child(protocol))


async def _child(protocol: IO[bytes]) -> int:
    def send(message: _Line) -> None:
        protocol.write(orjson.dumps(message) + b"\n")

    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    server, settings, mongodb_uri = pickle.loads(base64.b64decode(await reader.readline()))
    try:
        bot = await asyncio.to_thread(_open, server, settings, mongodb_uri)
    except Exception as exc:
        log.exception("the bot could not start")
        send({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    send({"ready": True, "entries": len(bot.kb)})
    tuner = Tuner(bot.kb).start()  # trains the base's head in the background (switchboard.llm.tuning)
    asked: set[asyncio.Task[None]] = set()
    while line := await reader.readline():
        message = orjson.loads(line)
        if message.get("refresh"):
            await asyncio.to_thread(bot.kb.refresh, 0.0)
            continue
        task = asyncio.create_task(_answer_one(bot, message, send))
        asked.add(task)
        task.add_done_callback(asked.discard)
    await asyncio.gather(*asked, return_exceptions=True)
    await asyncio.to_thread(tuner.stop)
    if bot.generator is not None:
        await bot.generator.close()
    return 0


def _open(server: ServerSettings, settings: BotSettings, mongodb_uri: str) -> Bot:
    connection.connect(mongodb_uri)
    bot = open_bot(server, settings)
    if bot is None:
        raise BotProcessError("the bot is turned off (bot.enabled: false)")
    return bot


async def _answer_one(bot: Bot, message: _Question, send: Callable[[_Line], None]) -> None:
    qid = message["id"]

    async def delta(text: str) -> None:
        send({"id": qid, "delta": text})

    try:
        turns: list[Turn] = [(role, text) for role, text in message["turns"]]
        reply = await bot.answer(message["q"], turns, message["streak"], on_delta=delta)
    except Exception as exc:
        log.exception("the bot failed on question %s", qid)
        send({"id": qid, "error": f"{type(exc).__name__}: {exc}"})
        return
    send({"id": qid, "reply": _reply_json(reply)})


if __name__ == "__main__":
    sys.exit(main())
