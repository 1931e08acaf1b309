"""The counters behind the connection limits (switchboard/edges/limits.py), without a server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from switchboard.edges.limits import UNKNOWN_ADDRESS, Ledger, Tally, client_address


def test_a_connection_counted_by_both_protocols_of_its_transport_counts_once() -> None:
    ledger, transport = Ledger(total=10, per_address=2), object()
    ledger.add(transport, "192.0.2.1")
    ledger.add(transport, "192.0.2.1")  # the websocket protocol takes the transport over
    assert ledger.refusal("192.0.2.1") is None
    ledger.remove(transport)
    ledger.remove(transport)
    assert ledger.peers == {} and ledger.by_address == {}


def test_past_the_per_address_limit_only_that_address_is_refused() -> None:
    ledger = Ledger(total=10, per_address=2)
    for _ in range(2):
        ledger.add(object(), "192.0.2.1")
    assert ledger.refusal("192.0.2.1") == "over the per-address limit (2)"
    assert ledger.refusal("192.0.2.2") is None


def test_at_the_total_limit_everyone_is_refused_and_a_trusted_proxy_only_by_the_total() -> None:
    ledger = Ledger(total=3, per_address=1, exempt=("10.0.0.0/8",))
    ledger.add(object(), "10.1.2.3")
    assert ledger.refusal("10.1.2.3") is None  # a proxy carries many clients
    ledger.add(object(), "10.1.2.3")
    ledger.add(object(), "192.0.2.9")
    assert ledger.refusal("10.1.2.3") == ledger.refusal("192.0.2.1") == "at the total limit (3)"


def test_the_client_address_is_the_scope_s_client_or_unknown() -> None:
    assert client_address({"type": "http", "client": ("203.0.113.7", 5000)}) == "203.0.113.7"
    assert client_address({"type": "http", "client": None}) == UNKNOWN_ADDRESS


def test_a_burst_of_events_is_logged_as_one_line_now_and_one_summed_line_after_the_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    async def burst() -> None:
        tally = Tally(0.2, "connections refused")
        for _ in range(50):
            tally.count("over the per-address limit")
        tally.count("at the total limit")
        await asyncio.sleep(0.4)

    with caplog.at_level(logging.WARNING, logger="switchboard.limits"):
        asyncio.run(burst())
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].endswith("1 over the per-address limit")
    assert lines[1].endswith("49 over the per-address limit, 1 at the total limit")
