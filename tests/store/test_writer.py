from __future__ import annotations

import asyncio
import functools
import tempfile
from typing import Any, Callable, cast

import pytest

from switchboard.store.archive import messages_between
from switchboard.store.connection import connect
from switchboard.store.documents import Conversation, Message, Rating, Visitor, to_epoch
from switchboard.store.embedded import EmbeddedMongo
from pymongo import MongoClient
from pymongo.errors import ConfigurationError, OperationFailure

from switchboard.store import writer as writer_module
from switchboard.store.writer import StoreWriter, Transactions


NewWriter = Callable[..., StoreWriter]


@pytest.fixture(params=["on", "off"])
def transactions(request: pytest.FixtureRequest) -> Transactions:
    """The writer's tests run with batches in transactions (the embedded store has them) and as plain bulk calls."""
    return cast(Transactions, request.param)


@pytest.fixture
def new_writer(transactions: Transactions) -> NewWriter:
    return functools.partial(StoreWriter, transactions=transactions)


def message(conversation: str, seq: int, text: str = "hi", client_id: str | None = None) -> dict[str, Any]:
    return {"conversation": conversation, "seq": seq, "sender_role": "visitor", "sender_id": "v1", "kind": "text",
            "text": text, "client_id": client_id, "at": 1_700_000_000.0 + seq}


def state(conversation: str, phase: str = "queued", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "conversation": conversation, "visitor": "v1", "channel": "widget", "phase": phase, "group": "billing",
        "priority": 0, "tier": 1, "agent": None, "participants": [], "transfers": [], "created_at": 1_700_000_000.0,
        "queued_at": 1_700_000_010.0, "assigned_at": None, "first_agent_reply_at": None, "closed_at": None,
        "close_reason": None,
    }
    return {**base, **changes}


def test_a_message_is_readable_from_the_store_once_add_message_returns(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> list[dict[str, Any]]:
        writer = new_writer()
        await writer.add_message(message("c1", 1, "hello", client_id="k1"))
        found = messages_between("c1", 0)  # before close: the write is done when add_message returns
        await writer.close()
        return found

    assert asyncio.run(scenario()) == [message("c1", 1, "hello", client_id="k1")]
    assert Conversation.objects.get(id="c1").last_seq == 1


def test_a_replayed_message_same_conversation_and_seq_is_written_once(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> None:
        writer = new_writer()
        await writer.add_message(message("c1", 1, "first"))
        await asyncio.gather(writer.add_message(message("c1", 1, "replay")), writer.add_message(message("c1", 2)))
        await writer.close()

    asyncio.run(scenario())
    assert [(m.seq, m.text) for m in Message.objects(conversation="c1").order_by("seq")] == [(1, "first"), (2, "hi")]


def test_many_concurrent_messages_are_written_in_fewer_batches_than_messages(store: str, new_writer: NewWriter) -> None:
    async def producer(writer: StoreWriter, conversation: str) -> None:
        await asyncio.gather(*(writer.add_message(message(conversation, seq)) for seq in range(1, 101)))

    async def scenario() -> StoreWriter:
        writer = new_writer()
        await asyncio.gather(*(producer(writer, f"c{i}") for i in range(5)))
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert Message.objects.count() == 500
    assert writer.stats.items == 500
    assert writer.stats.batches < 50
    assert {c.id: c.last_seq for c in Conversation.objects} == {f"c{i}": 100 for i in range(5)}


def test_conversation_state_upserts_keep_the_latest_state_and_never_lower_last_seq(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> None:
        writer = new_writer()
        await asyncio.gather(writer.save_conversation(state("c1", "bot")), writer.add_message(message("c1", 3)))
        await asyncio.gather(writer.save_conversation(state("c1", "queued")),
                             writer.save_conversation(state("c1", "assigned", agent="a1", assigned_at=1_700_000_020.0)))
        await writer.close()

    asyncio.run(scenario())
    c = Conversation.objects.get(id="c1")
    assert (c.phase, c.agent, c.last_seq, to_epoch(c.assigned_at)) == ("assigned", "a1", 3, 1_700_000_020.0)


def test_last_seq_does_not_go_down_when_an_older_message_is_written_later(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> None:
        writer = new_writer()
        await writer.add_message(message("c1", 5))
        await writer.add_message(message("c1", 4))
        await writer.close()

    asyncio.run(scenario())
    assert Conversation.objects.get(id="c1").last_seq == 5


def test_visitors_and_ratings_are_upserted_by_id(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> None:
        writer = new_writer()
        await writer.save_visitor("v1", name="Ada", created_at=1_700_000_000.0)
        await writer.save_visitor("v1", email="ada@example.com", last_agent="a1")
        await writer.save_rating("c1", "v1", "a1", 4, "ok", 1_700_000_100.0)
        await writer.save_rating("c1", "v1", "a1", 5, "great", 1_700_000_200.0)
        await writer.close()

    asyncio.run(scenario())
    v = Visitor.objects.get(id="v1")
    assert (v.name, v.email, v.last_agent, to_epoch(v.created_at)) == ("Ada", "ada@example.com", "a1", 1_700_000_000.0)
    r = Rating.objects.get(id="c1")
    assert (r.score, r.comment, to_epoch(r.at)) == (5, "great", 1_700_000_200.0)


def test_a_malformed_message_raises_in_its_caller_and_is_not_queued(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> StoreWriter:
        writer = new_writer()
        with pytest.raises(ValueError):
            await writer.add_message({**message("c1", 1), "sender_role": "robot"})
        with pytest.raises(Exception, match="UTF-8|surrogate|utf"):
            await writer.add_message(message("c1", 2, text="\ud800"))
        with pytest.raises(TypeError):
            await writer.save_visitor("v1", shoe_size=42)
        await writer.close()
        return writer

    assert asyncio.run(scenario()).stats.batches == 0


def test_a_write_to_an_unreachable_store_fails_the_sender_after_the_retries(store: str, new_writer: NewWriter) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with EmbeddedMongo(tmp) as doomed:
            uri = doomed.start()
        connect(uri, timeout_s=0.2)  # the server is gone now

        async def scenario() -> None:
            writer = new_writer(retries=1, backoff_s=0.01)
            with pytest.raises(Exception, match="refused|Timeout|timed out"):
                await writer.add_message(message("c1", 1))
            await writer.close()

        try:
            asyncio.run(scenario())
        finally:
            connect(store)
    assert Message.objects.count() == 0


def test_a_crash_between_the_steps_leaves_last_seq_ahead_of_the_messages_never_behind(
        store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a transaction, a crash after one bulk call: a restarted server numbers new messages from
    last_seq, so a stored message above it would take a new message's seq (and its ack, as a replay)."""
    def crash(*args: Any) -> None:
        raise ConnectionError("the server died here")

    monkeypatch.setattr(writer_module, "_insert_messages", crash)

    async def scenario() -> None:
        writer = StoreWriter(transactions="off", retries=0, backoff_s=0.01)
        with pytest.raises(ConnectionError):
            await writer.add_message(message("c-crash", 7))
        await writer.close()

    asyncio.run(scenario())
    assert Message.objects(conversation="c-crash").count() == 0
    assert Conversation.objects.get(id="c-crash").last_seq == 7


def test_flush_waits_for_everything_submitted_and_close_refuses_more(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> None:
        writer = new_writer()
        tasks = [asyncio.create_task(writer.add_message(message("c1", seq))) for seq in range(1, 21)]
        await asyncio.sleep(0)
        await writer.flush()
        assert Message.objects.count() == 20 and all(t.done() for t in tasks)
        await writer.close()
        with pytest.raises(RuntimeError):
            await writer.add_message(message("c1", 21))

    asyncio.run(scenario())


@pytest.mark.parametrize(("journal", "sole", "expected"), [(False, True, "on"), (True, True, "off"), (False, False, "off")])
def test_auto_uses_transactions_on_the_embedded_store_only_for_a_sole_writer_whose_writes_are_not_journaled(
        store: str, journal: bool, sole: bool, expected: str) -> None:
    """nx-27017 ignores a commit's write concern, so a journaled transaction would not be fsynced there; and
    it nests two clients' transactions, so a second writer's would fail."""
    async def scenario() -> StoreWriter:
        writer = StoreWriter(journal=journal, transactions="auto", sole_writer=sole)
        await asyncio.gather(*(writer.add_message(message("c1", seq)) for seq in range(1, 51)))
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert writer.transactions == expected
    assert [m.seq for m in Message.objects(conversation="c1").order_by("seq")] == list(range(1, 51))


def _poison_a_pooled_session(uri: str) -> None:
    """What two writers' overlapping transactions do on nx-27017: the second begins inside the first (a
    SAVEPOINT), the first commits, the second's commit fails ("no such savepoint") and its session, back in
    the writer's client's pool, fails every transaction after it."""
    other: MongoClient[dict[str, Any]] = MongoClient(uri)
    ours = Message._get_collection().database.client  # the client the writer uses
    theirs, mine = other.get_default_database().visitors, ours.get_default_database().visitors
    first, second = other.start_session(), ours.start_session()
    try:
        first.start_transaction()
        theirs.update_one({"_id": "va"}, {"$set": {"n": 1}}, upsert=True, session=first)
        second.start_transaction()
        mine.update_one({"_id": "vb"}, {"$set": {"n": 1}}, upsert=True, session=second)
        first.commit_transaction()
        with pytest.raises(OperationFailure, match="savepoint"):
            second.commit_transaction()
    finally:
        second.end_session()
        first.end_session()
        other.close()


def test_a_writer_whose_transactions_fail_on_the_embedded_store_writes_plainly_and_loses_nothing(
        store: str, caplog: pytest.LogCaptureFixture) -> None:
    _poison_a_pooled_session(store)

    async def scenario() -> StoreWriter:
        writer = StoreWriter(transactions="on", retries=0)
        await asyncio.gather(*(writer.add_message(message("c1", seq)) for seq in range(1, 21)))
        await writer.add_message(message("c1", 21))
        await writer.close()
        return writer

    writer = asyncio.run(scenario())
    assert writer.transactions == "off" and "writing batches as plain bulk calls from now on" in caplog.text
    assert [m.seq for m in Message.objects(conversation="c1").order_by("seq")] == list(range(1, 22))
    assert Conversation.objects.get(id="c1").last_seq == 21


def test_a_replay_in_a_transaction_on_the_embedded_store_loses_no_other_clients_write(
        store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """nx-27017 shares one SQLite transaction among its clients: an abort would take their writes along."""
    other: MongoClient[dict[str, Any]] = MongoClient(store)
    inner = writer_module._insert_messages

    def with_a_rating_meanwhile(*args: Any, **kwargs: Any) -> None:
        if not calls:  # once, while the transaction is open
            other.get_default_database().ratings.insert_one({"_id": "c9", "score": 5})  # acked to that client
            calls.append("rated")
        inner(*args, **kwargs)

    calls: list[str] = []

    async def scenario() -> StoreWriter:
        writer = StoreWriter(transactions="on")
        await writer.add_message(message("c1", 1, "first"))
        monkeypatch.setattr(writer_module, "_insert_messages", with_a_rating_meanwhile)
        await asyncio.gather(writer.add_message(message("c1", 1, "replay")), writer.add_message(message("c1", 2)))
        await writer.close()
        return writer

    try:
        writer = asyncio.run(scenario())
    finally:
        other.close()
    assert calls == ["rated"] and Rating.objects(id="c9").count() == 1
    assert [(m.seq, m.text) for m in Message.objects(conversation="c1").order_by("seq")] == [(1, "first"), (2, "hi")]
    assert writer.transactions == "on"


def test_a_replay_inside_a_transactional_batch_is_stored_once_with_the_rest_of_the_batch(store: str) -> None:
    async def scenario() -> None:
        writer = StoreWriter(transactions="on")
        await writer.add_message(message("c1", 1, "first"))
        await asyncio.gather(writer.add_message(message("c1", 1, "replay")),
                             *(writer.add_message(message("c1", seq)) for seq in range(2, 6)))
        await writer.close()

    asyncio.run(scenario())
    assert [(m.seq, m.text) for m in Message.objects(conversation="c1").order_by("seq")] == \
        [(1, "first")] + [(seq, "hi") for seq in range(2, 6)]
    assert Conversation.objects.get(id="c1").last_seq == 5


def test_a_store_without_transactions_is_recognised_by_its_refusal() -> None:
    standalone = OperationFailure("Transaction numbers are only allowed on a replica set member or mongos", code=20)
    assert writer_module._refuses_transactions(standalone)
    assert writer_module._refuses_transactions(ConfigurationError("Sessions are not supported by this deployment"))
    assert not writer_module._refuses_transactions(OperationFailure("WriteConflict", code=112))


def test_a_batch_a_transaction_may_not_hold_is_written_plainly_without_giving_up_transactions() -> None:
    cannot = OperationFailure("Cannot create namespace in multi-document transaction", code=263)
    assert writer_module._not_in_transaction(cannot) and not writer_module._refuses_transactions(cannot)


def test_an_unknown_transactions_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, on or off"):
        StoreWriter(transactions="sometimes")  # type: ignore[arg-type]
