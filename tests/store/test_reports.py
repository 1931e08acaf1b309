"""Report aggregates on a small hand-made history, live (through the real writer) and rebuilt, figures by hand.

The history (UTC, day D = 2026-03-10, group sales, channel widget; docs/reports.md defines each figure):

- c1 (visitor v1): bot only. Created 09:00, the bot answers at 09:01 citing faq.md, closed 09:05.
- c2 (v2): spans midnight, transferred, rated. Created 23:40, the bot hands off 23:44, queued 23:45, assigned
  to ann 23:50, ann writes 23:52 ("hello there friend"), transferred to bob 23:58, bob writes 00:05 on D+1
  ("bye now"), closed by bob 00:10 on D+1, rated 4 (bob).
- c3 (v3): abandoned in the queue. Created 10:00, queued 10:01, left 10:11.
- c4 (v1): missed. Created and queued 11:00, assigned to bob 11:02, closed by the idle timer 11:30, no reply.
- ann's presence: online 22:00, away 23:30, online 23:40, offline 00:30 on D+1.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Iterator

import orjson
import pytest

from switchboard.store import report_reads, reports
from switchboard.store.report_counts import pack, unpack
from switchboard.store.documents import (AgentPresence, Conversation, Message, Rating, ReportShard, ReportWriter,
                                         TermShard)
from switchboard.store.writer import StoreWriter

D = datetime(2026, 3, 10, tzinfo=timezone.utc).timestamp()
H = 3600.0
M = 60.0


def at(hour: float, minute: float = 0, day: int = 0) -> float:
    return D + day * 86_400 + hour * H + minute * M


def state(cid: str, visitor: str, phase: str, created: float, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "conversation": cid, "visitor": visitor, "channel": "widget", "phase": phase, "group": "sales",
        "priority": 0, "tier": 1, "agent": None, "participants": [], "transfers": [], "created_at": created,
        "queued_at": None, "assigned_at": None, "first_agent_reply_at": None, "closed_at": None, "close_reason": None,
    }
    return {**base, **changes}


def text(cid: str, seq: int, role: str, author: str, words: str, when: float,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"conversation": cid, "seq": seq, "sender_role": role, "sender_id": author, "kind": "text", "text": words,
            "client_id": None, "at": when, "extra": extra}


TRANSFER = {"at": at(23, 58), "from_agent": "ann", "to_agent": "bob", "to_group": None}
C2_CLOSED = state("c2", "v2", "closed", at(23, 40), queued_at=at(23, 45), assigned_at=at(23, 50),
                  first_agent_reply_at=at(23, 52), closed_at=at(0, 10, day=1), agent="bob",
                  participants=["ann", "bob"], transfers=[TRANSFER], close_reason="agent")

# (kind, payload) in the engine's order
HISTORY: list[tuple[str, Any]] = [
    ("state", state("c1", "v1", "bot", at(9))),
    ("message", text("c1", 1, "bot", "bot", "Refunds take 5 days.", at(9, 1),
                     {"decision": "answer", "sources": [{"id": "faq.md#refunds", "title": "Refunds"}]})),
    ("state", state("c1", "v1", "closed", at(9), closed_at=at(9, 5), close_reason="visitor")),
    ("state", state("c3", "v3", "bot", at(10))),
    ("state", state("c3", "v3", "queued", at(10), queued_at=at(10, 1))),
    ("state", state("c3", "v3", "abandoned", at(10), queued_at=at(10, 1), closed_at=at(10, 11),
                    close_reason="left_queue")),
    ("state", state("c4", "v1", "queued", at(11), queued_at=at(11))),
    ("state", state("c4", "v1", "assigned", at(11), queued_at=at(11), assigned_at=at(11, 2), agent="bob",
                    participants=["bob"])),
    ("state", state("c4", "v1", "closed", at(11), queued_at=at(11), assigned_at=at(11, 2), agent="bob",
                    participants=["bob"], closed_at=at(11, 30), close_reason="idle_timeout")),
    ("presence", ("ann", "offline", "online", at(22))),
    ("presence", ("ann", "online", "away", at(23, 30))),
    ("state", state("c2", "v2", "bot", at(23, 40))),
    ("presence", ("ann", "away", "online", at(23, 40))),
    ("message", text("c2", 1, "bot", "bot", "Let me find someone.", at(23, 44), {"decision": "handoff"})),
    ("state", state("c2", "v2", "queued", at(23, 40), queued_at=at(23, 45))),
    ("state", state("c2", "v2", "assigned", at(23, 40), queued_at=at(23, 45), assigned_at=at(23, 50), agent="ann",
                    participants=["ann"])),
    ("message", text("c2", 2, "agent", "ann", "hello there friend", at(23, 52))),
    ("state", state("c2", "v2", "assigned", at(23, 40), queued_at=at(23, 45), assigned_at=at(23, 50), agent="ann",
                    participants=["ann"], first_agent_reply_at=at(23, 52))),
    ("state", {**C2_CLOSED, "phase": "assigned", "closed_at": None, "close_reason": None}),
    ("message", text("c2", 3, "agent", "bob", "bye now", at(0, 5, day=1))),
    ("state", C2_CLOSED),
    ("rating", ("c2", "v2", "bob", 4, "quick", at(0, 11, day=1))),
    ("presence", ("ann", "online", "offline", at(0, 30, day=1))),
    # replays: the last state, a message and a presence record again count nothing more
    ("state", C2_CLOSED),
    ("message", text("c2", 3, "agent", "bob", "bye now", at(0, 5, day=1))),
    ("presence", ("ann", "online", "offline", at(0, 30, day=1))),
]


@pytest.fixture
def report_store(store: str) -> Iterator[str]:
    for document in (ReportShard, TermShard, ReportWriter, AgentPresence):
        document._get_collection().delete_many({})
    yield store


async def _feed(writer: StoreWriter, history: list[tuple[str, Any]], one_by_one: bool) -> None:
    pending = []
    for kind, payload in history:
        if kind == "state":
            pending.append(writer.submit_conversation(payload))
        elif kind == "message":
            pending.append(writer.submit_message(payload))
        elif kind == "presence":
            pending.append(writer.submit_presence(*payload))
        else:
            await asyncio.gather(*pending)
            pending = []
            await writer.save_rating(*payload)
        if one_by_one:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


def feed(history: list[tuple[str, Any]] = HISTORY, one_by_one: bool = True, **options: Any) -> None:
    """Write `history` through a real StoreWriter (one batch per record, or as batches form); closing it
    stores its report shards."""
    async def run() -> None:
        writer = StoreWriter(**options)
        await writer.start()
        await _feed(writer, history, one_by_one)
        await writer.close()
    asyncio.run(run())


def shards() -> dict[tuple[str, str], dict[str, dict[str, dict[str, float]]]]:
    """Every (part, day) shard, summed over the writers that stored one."""
    out: dict[tuple[str, str], dict[str, dict[str, dict[str, float]]]] = {}
    for doc in ReportShard._get_collection().find({}):
        shard = out.setdefault((doc["part"], doc["day"]), {})
        for dim, names in unpack(orjson.loads(doc["data"])).items():
            for name, hours in names.items():
                into = shard.setdefault(dim, {}).setdefault(name, {})
                for hh, amount in hours.items():
                    into[hh] = into.get(hh, 0) + amount
    return out


def stored_shards() -> int:
    """Report shards and the history's word index shards."""
    return sum(d._get_collection().count_documents({}) for d in (ReportShard, TermShard))


def clocks() -> dict[str, list[Any]]:
    return {agent: a.snapshot() for agent, a in report_reads.read_agents_now().items()}


def summed(part: str, start: float, end: float, dim: str | None = None) -> dict[str, float]:
    total: dict[str, float] = {}
    for _, d, name, amount in reports.read_hours(part, start, end):
        if dim is None or d == dim:
            total[name] = total.get(name, 0) + amount
    return total


def test_conversation_counters_of_each_day_are_the_hand_computed_ones(report_store: str) -> None:
    feed()

    day = summed("conv", D, D + 86_400, "sales|widget")
    next_day = summed("conv", D + 86_400, D + 2 * 86_400, "sales|widget")

    assert day == {"opened": 4, "handed_off": 3, "assigned": 2, "abandoned": 1, "closed": 2, "bot_only": 1,
                   "resolved": 1, "handled": 1, "missed": 1, "handling_s": 28 * M,
                   "wait_n": 2, "wait_s": 5 * M + 2 * M, "first_response_n": 1, "first_response_s": 7 * M}
    assert next_day == {"closed": 1, "resolved": 1, "handled": 1, "handling_s": 20 * M,
                        "rated": 1, "score_sum": 4, "score_4": 1}


def test_agent_counters_split_a_transferred_conversation_and_count_words(report_store: str) -> None:
    feed()

    ann = summed("agent", D, D + 2 * 86_400, "ann")
    bob = summed("agent", D, D + 2 * 86_400, "bob")

    # ann: online 22:00-23:30 and 23:40-00:30, away 23:30-23:40; held c2 23:50-23:58 while online; the offline
    # interval from 00:30 is still running (the reports add it up to now)
    assert ann == {"conversations": 1, "chat_n": 1, "chat_s": 8 * M, "messages": 1, "words": 3,
                   "online_s": 90 * M + 50 * M, "away_s": 10 * M, "busy_s": 8 * M}
    # bob: c4 11:02-11:30, c2 23:58-00:10; rated 4 on c2
    assert bob == {"conversations": 2, "chat_n": 2, "chat_s": 28 * M + 12 * M, "messages": 1, "words": 2,
                   "rated": 1, "score_sum": 4}


def test_presence_seconds_are_split_at_the_utc_hour(report_store: str) -> None:
    feed()

    assert summed("agent", at(23), at(0, day=1), "ann") == {
        "online_s": 30 * M + 20 * M, "away_s": 10 * M, "busy_s": 8 * M, "conversations": 1, "chat_n": 1,
        "chat_s": 8 * M, "messages": 1, "words": 3}
    assert summed("agent", at(0, day=1), at(1, day=1), "ann") == {"online_s": 30 * M}
    assert report_reads.read_agent_totals(at(23), at(1, day=1), ["ann"]) == {"ann": {
        "online_s": 80 * M, "away_s": 10 * M, "busy_s": 8 * M, "conversations": 1, "chat_n": 1, "chat_s": 8 * M,
        "messages": 1, "words": 3}}
    assert clocks()["ann"] == ["offline", at(0, 30, day=1), []]


def test_bot_counters_by_decision_and_by_knowledge_document(report_store: str) -> None:
    feed()

    assert summed("bot", D, D + 86_400, "widget|") == {"answer": 1, "handoff": 1}
    assert summed("bot", D, D + 86_400, "widget|faq.md") == {"answer": 1}


def test_presence_intervals_are_stored_and_the_last_stays_open(report_store: str) -> None:
    feed()

    got = sorted((s, state, e) for _, state, s, e in reports.read_presence(["ann"], D, D + 2 * 86_400))
    assert got == [(at(22), "online", at(23, 30)), (at(23, 30), "away", at(23, 40)),
                   (at(23, 40), "online", at(0, 30, day=1)), (at(0, 30, day=1), "offline", None)]


def test_replayed_records_and_batching_do_not_change_the_counters(report_store: str) -> None:
    feed()
    one_by_one = shards(), clocks()
    for document in (ReportShard, ReportWriter, TermShard, AgentPresence, Conversation, Message, Rating):
        document._get_collection().delete_many({})

    feed(one_by_one=False)  # as batches form: several records of one conversation in one batch

    assert (shards(), clocks()) == one_by_one


@pytest.mark.parametrize("split", [9, 16, 20])
def test_a_writer_restarted_mid_history_carries_on_from_what_is_stored(report_store: str, split: int) -> None:
    feed()
    whole = shards(), clocks()
    for document in (ReportShard, ReportWriter, TermShard, AgentPresence, Conversation, Message, Rating):
        document._get_collection().delete_many({})

    # the second writer has seen none of the conversations: it reads their stored states before overwriting
    # them, and takes over the agents' clocks the first one stored (ann online, holding c2, at split 16)
    feed(HISTORY[:split])
    first_writer = ReportWriter._get_collection().find_one({})["_id"]
    feed(HISTORY[split:])

    assert (shards(), clocks()) == whole
    assert [d["_id"] for d in ReportWriter._get_collection().find({}) if d.get("clock")] == [
        d["_id"] for d in ReportWriter._get_collection().find({}) if d["_id"] != first_writer]


def test_a_rebuild_from_the_raw_records_equals_the_live_aggregates(report_store: str) -> None:
    feed()
    live = shards(), clocks()
    seen: list[tuple[str, int, int]] = []

    count = reports.rebuild(progress=lambda stage, done, total: seen.append((stage, done, total)), chunk=2)

    assert (shards(), clocks()) == live and count == stored_shards()
    assert [s for s, _, _ in seen][-1] == "shards" and ("conversations", 4, 4) in seen


def test_a_writer_without_reports_keeps_presence_but_no_buckets(report_store: str) -> None:
    feed(reports=False)

    assert shards() == {} and clocks() == {}
    assert len(reports.read_presence(["ann"], D, D + 2 * 86_400)) == 4
    reports.rebuild()
    assert summed("conv", D, D + 86_400)["opened"] == 4


def test_the_rebuild_command_shows_progress_and_leaves_the_live_figures(report_store: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import io

    from switchboard.processes.reports_cli import run_reports
    from switchboard.store.connection import connect

    feed()
    live = shards()
    monkeypatch.setenv("MONGODB_URI", report_store)
    out = io.StringIO()

    code = run_reports(argparse.Namespace(reports_command="rebuild", settings=None), out)

    connect(report_store)  # the command disconnects when it is done
    assert code == 0 and shards() == live
    lines = out.getvalue().splitlines()
    assert "conversations: 4/4" in lines and lines[-1].startswith(f"rebuilt {stored_shards()} shards in ")


def test_batches_written_as_transactions_give_the_same_figures(report_store: str) -> None:
    feed()
    plain = shards(), clocks()
    for document in (ReportShard, ReportWriter, TermShard, AgentPresence, Conversation, Message, Rating):
        document._get_collection().delete_many({})

    feed(one_by_one=False, transactions="on", journal=False)

    assert (shards(), clocks()) == plain


def test_a_failed_shard_write_is_logged_and_tried_again_at_the_next_flush(report_store: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = ReportShard._get_collection
    failures = [OSError("the store is away")]

    class Flaky:
        def __getattr__(self, name: str) -> Any:
            return getattr(real(), name)

        def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
            if failures:
                raise failures.pop()
            return real().bulk_write(*args, **kwargs)

    monkeypatch.setattr(ReportShard, "_get_collection", lambda: Flaky())
    keeper = reports.ReportKeeper()
    keeper.submit({"c1": state("c1", "v1", "bot", at(9))}, {}, [], [], reports.Prepared())

    keeper.flush()
    assert keeper.errors == 1 and shards() == {}

    keeper.flush()
    assert keeper.errors == 1 and summed("conv", D, D + 86_400) == {"opened": 1}


def test_a_reader_decodes_a_shard_again_only_once_its_writer_stored_it_again(report_store: str) -> None:
    keeper = reports.ReportKeeper()
    keeper.submit({"c1": state("c1", "v1", "bot", at(9))}, {}, [], [], reports.Prepared())
    keeper.flush()

    [(day, first)] = report_reads.read_dense("conv", "20260310", "20260310")
    [(_, again)] = report_reads.read_dense("conv", "20260310", "20260310")
    assert day == "20260310" and again is first and first.values.sum() == 1

    keeper.submit({"c3": state("c3", "v3", "bot", at(10))}, {}, [], [], reports.Prepared())
    keeper.flush()

    [(_, after)] = report_reads.read_dense("conv", "20260310", "20260310")
    assert after is not first and after.values.sum() == 2 and after.names == ("opened",)


def test_a_visitor_counts_once_the_writers_shards_of_a_day_sum_above_zero() -> None:
    # writer A filed v1's conversation under sales|widget; after a restart, writer B moved it to support|widget
    a = report_reads.Present.of({"sales|widget": {"v1": {"09": 1}, "v2": {"09": 1}}})
    b = report_reads.Present.of({"sales|widget": {"v1": {"09": -1}}, "support|widget": {"v1": {"09": 1}}})

    merged = report_reads.Present.merged([a, b])

    assert a.present["sales|widget"][9] == {"v1", "v2"} and b.present["sales|widget"][9] == set()
    assert merged.present["sales|widget"][9] == {"v2"} and merged.present["support|widget"][9] == {"v1"}


def test_a_counters_shard_is_stored_packed_and_reads_back_the_same() -> None:
    hourly = {"sales|widget": {"opened": {"09": 2.0, "23": 1.0}, "wait_s": {"09": 90.0}}, "|email": {"opened": {"00": 1.0}}}
    daily = {"ann": {"online_s": {"": 3600.0}}, "bob": {"words": {"": 12.0}}}

    assert unpack(pack(hourly)) == hourly and unpack(pack(daily)) == daily and unpack(daily) == daily
    dense = report_reads.Dense.of(pack(hourly))
    assert dense.dims == ("sales|widget", "|email") or dense.dims == ("|email", "sales|widget")
    assert report_reads.Dense.of(pack(hourly)).values.tolist() == report_reads.Dense.of(hourly).values.tolist()
