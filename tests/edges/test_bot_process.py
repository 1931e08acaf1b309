"""The bot in its child process: it answers as the bot does, takes knowledge-base changes at once, is replaced
when it dies, and fails clearly.

A real child process on the embedded store; answers with streamed generation are covered through a real
server in tests/server/test_bot_llm.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard.edges.botworker.process import BotProcess, BotProcessError
from switchboard.llm.embedders import HashingEmbedder
from switchboard.llm.kb import KnowledgeBase
from switchboard.settings import BotSettings, ServerSettings

pytestmark = pytest.mark.timeout(120)

FAQ = """
- id: opening-hours
  question: When is the shop open?
  alternatives: ["opening hours", "what time do you open"]
  answer: Monday to Saturday, 9:00 to 18:00.
"""
HOURS = """
- id: opening-hours
  question: When is the shop open?
  alternatives: ["opening hours", "what time do you open"]
  answer: Every day from 8:00 to 20:00.
"""


def settings(tmp_path: Path) -> tuple[ServerSettings, BotSettings]:
    return ServerSettings(data_dir=str(tmp_path)), BotSettings(kb_dir=str(tmp_path / "kb"), demo_kb=False)


def test_the_bot_process_answers_and_sees_an_upload_made_in_the_edge_at_once(store: str, tmp_path: Path) -> None:
    server, bot = settings(tmp_path)
    kb = KnowledgeBase.open(bot.kb_dir, HashingEmbedder())  # the edge's own handle, as the REST kb routes open it
    (tmp_path / "faq.yaml").write_text(FAQ)
    kb.ingest([tmp_path / "faq.yaml"])

    async def run() -> tuple[str, str, str]:
        child = await BotProcess.start(server, bot, store)
        try:
            before = await child.answer("what time do you open?", [])
            (tmp_path / "faq.yaml").write_text(HOURS)
            kb.ingest([tmp_path / "faq.yaml"])
            await child.kb_changed()
            after = await child.answer("what time do you open?", [])
            return before.decision.kind, before.text, after.text
        finally:
            await child.close()

    kind, before, after = asyncio.run(run())
    assert kind == "answer" and before == "Monday to Saturday, 9:00 to 18:00."
    assert after == "Every day from 8:00 to 20:00."


def test_a_bot_process_that_dies_is_replaced_but_one_that_keeps_dying_is_a_clear_error(
        store: str, tmp_path: Path) -> None:
    server, bot = settings(tmp_path)
    (tmp_path / "faq.yaml").write_text(FAQ)
    KnowledgeBase.open(bot.kb_dir, HashingEmbedder()).ingest([tmp_path / "faq.yaml"])

    async def kill(child: BotProcess) -> None:
        child.proc.kill()
        await child.proc.wait()
        await asyncio.sleep(0.1)  # the reader sees the pipe close

    async def run() -> None:
        child = await BotProcess.start(server, bot, store)
        first = child.proc.pid
        try:
            await kill(child)
            reply = await child.answer("what time do you open?", [])
            assert reply.text == "Monday to Saturday, 9:00 to 18:00." and child.proc.pid != first
            assert child.restarts == 1
            await kill(child)
            with pytest.raises(BotProcessError, match="restarted less than"):
                await child.answer("what time do you open?", [])
        finally:
            await child.close()

    asyncio.run(run())


def test_a_bot_that_cannot_start_says_why(store: str, tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("a file where the knowledge base should be")
    server = ServerSettings(data_dir=str(tmp_path))
    bot = BotSettings(kb_dir=str(tmp_path / "not-a-dir"), demo_kb=False)
    with pytest.raises(BotProcessError, match="failed to start"):
        asyncio.run(BotProcess.start(server, bot, store))
