"""store.inbox: left messages per group, taken, numbered and answered, read back per visitor."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from switchboard.store import inbox
from switchboard.store.documents import Message, to_datetime
from switchboard.store.errors import NotFound

T = 1_796_000_000.0


def test_entries_are_listed_per_group_newest_first_and_counted_while_open(store: str) -> None:
    inbox.add_entry("c-1", "v-1", "support", "a@x.example", "Ann", "\n  First line  \nsecond", "closed", T)
    inbox.add_entry("c-2", "v-2", "sales", "b@x.example", "", "Hello", "queue_full", T + 1)
    inbox.add_entry("c-3", "v-1", "support", "a@x.example", "Ann", "Again", "no_agents", T + 2)
    assert inbox.get_entry("c-1").preview == "First line"  # type: ignore[union-attr]
    assert [e.id for e in inbox.list_entries(None)] == ["c-3", "c-2", "c-1"]
    assert [e.id for e in inbox.list_entries(["support"])] == ["c-3", "c-1"]
    assert (inbox.count_open(None), inbox.count_open(["sales"]), inbox.count_open([])) == (3, 1, 0)

    taken = inbox.assign("c-1", "ag-rosa", T + 10)
    assert (taken.assigned_to, inbox.entry_json(taken)["assigned_at"]) == ("ag-rosa", T + 10)
    answered = inbox.mark_replied("c-3", "ag-bob", T + 20)
    assert (answered.state, answered.replied_by, answered.assigned_to) == ("answered", "ag-bob", "ag-bob")
    assert inbox.count_open(["support"]) == 1
    assert [e.id for e in inbox.list_entries(["support"], "answered")] == ["c-3"]
    assert [e.id for e in inbox.visitor_entries("v-1")] == ["c-3", "c-1"]
    with pytest.raises(NotFound):
        inbox.assign("c-404", "ag-rosa", T)


def test_replies_take_the_next_seq_atomically_and_messages_are_read_in_order(store: str) -> None:
    inbox.add_entry("c-1", "v-1", "support", "a@x.example", "", "Hi", "offered", T)
    with ThreadPoolExecutor(4) as pool:
        seqs = sorted(pool.map(lambda _: inbox.next_seq("c-1"), range(8)))
    assert seqs == list(range(2, 10))
    for seq, role in ((2, "agent"), (1, "visitor")):
        Message(conversation="c-1", seq=seq, sender_role=role, sender_id="x", text=f"m{seq}", at=to_datetime(T)).save()
    assert [(m["seq"], m["role"], m["text"]) for m in inbox.messages_of(["c-1"])["c-1"]] == \
        [(1, "visitor", "m1"), (2, "agent", "m2")]
    assert inbox.messages_of([]) == {}
