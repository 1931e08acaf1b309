"""The report keeper in a process of its own (what ``serve`` runs): the same figures as the thread, a killed child
replaced without a record lost, and no child outliving its writer's process.

The history and its helpers are tests/store/test_reports.py's (its docstring describes it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from switchboard.store import reports
from switchboard.store.documents import (AgentPresence, Conversation, Message, Rating, ReportShard, ReportWriter,
                                         TermShard)
from switchboard.store.report_process import ReportProcess
from switchboard.store.writer import StoreWriter
from tests.store.test_reports import HISTORY, _feed, clocks, feed, report_store, shards  # noqa: F401 (fixture)

RAW = (Conversation, Message, Rating, AgentPresence)


def forget_everything() -> None:
    for document in (ReportShard, ReportWriter, TermShard, *RAW):
        document._get_collection().delete_many({})


def wait_until_dead(keeper: ReportProcess) -> None:
    deadline = time.monotonic() + 10
    while keeper.alive():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_keeper_process_stores_the_figures_a_keeper_thread_stores(report_store: str) -> None:
    feed()
    by_thread = shards(), clocks()
    forget_everything()

    feed(keeper="process")

    assert (shards(), clocks()) == by_thread


def test_a_keeper_process_of_a_restarted_writer_carries_on_from_what_is_stored(report_store: str) -> None:
    feed()
    whole = shards(), clocks()
    forget_everything()

    feed(HISTORY[:16], keeper="process")
    feed(HISTORY[16:], keeper="process")

    assert (shards(), clocks()) == whole


def test_a_killed_keeper_process_is_replaced_and_no_record_or_stored_figure_is_lost(
        report_store: str, caplog: pytest.LogCaptureFixture) -> None:
    feed()
    whole = shards(), clocks()
    forget_everything()

    async def run() -> ReportProcess:
        writer = StoreWriter(keeper="process")
        await writer.start()
        keeper = writer.keeper
        assert isinstance(keeper, ReportProcess)
        await _feed(writer, HISTORY[:16], one_by_one=True)
        await writer.flush_reports()  # stored: the child's death loses nothing
        first = keeper.pid()
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_until_dead(keeper)  # as a batch prepared meanwhile would be lost with it
        await _feed(writer, HISTORY[16:], one_by_one=True)
        await writer.close()
        assert keeper.pid() != first
        return keeper

    with caplog.at_level(logging.ERROR, logger="switchboard.store.report_process"):
        keeper = asyncio.run(run())

    assert keeper.restarts == 1 and "exited (code -9)" in caplog.text
    assert Conversation._get_collection().count_documents({}) == 4 and Message._get_collection().count_documents({}) == 4
    assert (shards(), clocks()) == whole  # the new child read the stored states, as a restarted writer does
    reports.rebuild()
    assert (shards(), clocks()) == whole


WRITER_SCRIPT = """
import asyncio, sys, time
from switchboard.store.connection import connect
from switchboard.store.writer import StoreWriter

async def main():
    connect(sys.argv[1])
    writer = StoreWriter(keeper="process")
    await writer.start()
    await writer.save_conversation({"conversation": "lone", "visitor": "v", "channel": "widget", "phase": "bot",
                                    "group": "sales", "priority": 0, "tier": 1, "agent": None, "participants": [],
                                    "transfers": [], "created_at": time.time()})
    await writer.flush()
    print(writer.keeper.pid(), flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_the_keeper_process_stores_what_it_has_and_exits_when_its_writers_process_is_killed(
        report_store: str) -> None:
    forget_everything()
    writer = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, report_store], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        child = psutil.Process(int(writer.stdout.readline()))
        time.sleep(1.0)  # the batch is in the pipe (the writer flushed it before printing)
        writer.kill()
        writer.wait(timeout=10)

        child.wait(timeout=30)  # the pipe ended: the child stored its shards and left
    finally:
        writer.kill()

    opened = sum(v for (part, _), dims in shards().items() if part == "conv"
                 for names in dims.values() for v in names.get("opened", {}).values())
    assert opened == 1
