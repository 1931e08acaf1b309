"""Store parts that fail: the watchdog restarts a killed embedded server, and the store itself refuses to
keep one message twice under its client id (issue 17, finding 1)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable, cast

import pytest
import redis

from switchboard.store.documents import Message
from switchboard.store.embedded import EmbeddedRedis, EmbeddedServerError
from switchboard.store.watchdog import Watchdog
from switchboard.store.writer import StoreWriter, Transactions

NewWriter = Callable[..., StoreWriter]


@pytest.fixture(params=["on", "off"])
def new_writer(request: pytest.FixtureRequest) -> NewWriter:
    return functools.partial(StoreWriter, transactions=cast(Transactions, request.param))


def message(seq: int, client_id: str | None, text: str = "hi", role: str = "visitor") -> dict[str, Any]:
    return {"conversation": "c1", "seq": seq, "sender_role": role, "sender_id": "v1" if role == "visitor" else "",
            "kind": "text", "text": text, "client_id": client_id, "at": 1_700_000_000.0 + seq}


def test_a_killed_embedded_redis_is_restarted_at_the_same_address_with_its_data(tmp_path: Path) -> None:
    with EmbeddedRedis(str(tmp_path)) as server, Watchdog({"Redis": server}, interval_s=0.05, delay_s=0.1) as dog:
        url = server.url
        assert url is not None
        client = redis.Redis.from_url(url)
        client.set("kept", "yes")
        time.sleep(1.2)  # appendfsync everysec
        os.kill(int((tmp_path / "redis" / "redis.pid").read_text()), signal.SIGKILL)

        deadline = time.monotonic() + 20
        while dog.history["Redis"].restarts == 0:
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.05)
        assert server.url == url and client.get("kept") == b"yes"
        assert dog.history["Redis"].deaths == 1 and dog.history["Redis"].down_since is None
        client.close()


class Flaky:
    """A stand-in server: dead once `die()` is called, and its restarts fail `failures` times first."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.status: int | None = None
        self.tries: list[float] = []

    def die(self) -> None:
        self.status = -9

    def exited(self) -> int | None:
        return self.status

    def restart(self) -> str:
        self.tries.append(time.monotonic())
        if self.failures > 0:
            self.failures -= 1
            raise EmbeddedServerError("address already in use\n(the log's tail)")
        self.status = None
        return "unix:///somewhere"


def test_a_restart_that_fails_is_tried_again_with_doubling_delays_while_the_others_are_still_watched(
        caplog: pytest.LogCaptureFixture) -> None:
    stubborn, other = Flaky(failures=3), Flaky()
    with Watchdog({"Redis": stubborn, "store": other}, interval_s=0.01, delay_s=0.05, max_delay_s=0.2) as dog:
        stubborn.die()
        time.sleep(0.08)
        other.die()
        deadline = time.monotonic() + 10
        while dog.history["Redis"].restarts == 0 or dog.history["store"].restarts == 0:
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.01)
    gaps = [later - earlier for earlier, later in zip(stubborn.tries, stubborn.tries[1:])]
    assert len(stubborn.tries) == 4 and gaps[0] >= 0.09 and gaps[1] >= 0.18 and gaps[2] >= 0.18  # 0.1, 0.2, 0.2
    assert other.tries[0] < stubborn.tries[-1], "the store came back while Redis still would not"
    assert dog.history["Redis"].failed_restarts == 3
    assert caplog.text.count("did not restart") == 3 and "Traceback" not in caplog.text


def test_a_re_send_the_engine_forgot_resolves_to_the_stored_seq_and_is_not_stored_again(
        store: str, new_writer: NewWriter) -> None:
    async def scenario() -> tuple[int | None, int | None, int | None]:
        writer = new_writer()
        await writer.start()  # makes the dedupe index
        first = await writer.add_message(message(1, "k1", "first"))
        resent = await writer.add_message(message(300, "k1", "first, again"))  # a new seq from the engine
        replay = await writer.add_message(message(1, "k1", "first"))  # the same seq again: an ordinary replay
        await writer.close()
        return first, resent, replay

    assert asyncio.run(scenario()) == (None, 1, None)
    assert [(m.seq, m.text) for m in Message.objects(conversation="c1")] == [(1, "first")]


def test_messages_without_a_client_id_are_never_taken_for_each_other(store: str, new_writer: NewWriter) -> None:
    async def scenario() -> list[int | None]:
        writer = new_writer()
        await writer.start()
        found = [await writer.add_message(message(seq, None, role="bot")) for seq in (1, 2, 3)]
        await writer.close()
        return found

    assert asyncio.run(scenario()) == [None, None, None]
    assert Message.objects(conversation="c1").count() == 3


def test_a_store_already_holding_a_message_twice_still_starts_and_says_why_it_has_no_dedupe_index(
        store: str, caplog: pytest.LogCaptureFixture) -> None:
    from switchboard.store.writer import ensure_dedupe_index

    collection = Message._get_collection()
    for name, index in collection.index_information().items():  # as before the index existed
        if "client_id" in [key for key, _ in index["key"]]:
            collection.drop_index(name)
    collection.insert_many([{**message(seq, "twice"), "at": None} for seq in (1, 2)])  # from before the index

    ensure_dedupe_index()

    assert "no unique index" in caplog.text
    assert Message.objects(conversation="c1").count() == 2
