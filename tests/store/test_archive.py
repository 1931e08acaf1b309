from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from switchboard.store.archive import AgentRecord, GroupRecord, load_world, messages_between
from switchboard.store.documents import SkillGroup, User
from switchboard.store.writer import StoreWriter
from tests.store.test_writer import message, state


def write(*coroutines_of: tuple[str, dict[str, object]]) -> None:
    async def scenario() -> None:
        writer = StoreWriter()
        for kind, item in coroutines_of:
            if kind == "message":
                await writer.add_message(item)
            else:
                await writer.save_conversation(item)
        await writer.close()

    asyncio.run(scenario())


def add_agent(user_id: str, email: str, groups: list[str]) -> None:
    User(id=user_id, roles=["agent"], email=email, nickname=user_id.upper(), password_hash="x", saturation=3,
         groups=groups, created_at=datetime.now(timezone.utc)).save()


def test_load_world_returns_open_conversations_with_their_client_ids_and_skips_closed_ones(store: str) -> None:
    write(("conversation", state("c1", "assigned", agent="a1", assigned_at=1_700_000_020.0, participants=["a1"])),
          ("message", message("c1", 1, client_id="k1")), ("message", message("c1", 2)),
          ("message", message("c1", 3, client_id="k3")),
          ("conversation", state("c2", "bot", group=None, queued_at=None)),
          ("conversation", state("c3", "closed", closed_at=1_700_000_030.0, close_reason="visitor_left")),
          ("message", message("c3", 1, client_id="k1")))
    world = load_world()
    assert [c["conversation"] for c in world.conversations] == ["c1", "c2"]
    assert world.conversations[0] == {**state("c1", "assigned", agent="a1", assigned_at=1_700_000_020.0,
                                              participants=["a1"]), "last_seq": 3, "last_public_seq": 3}
    assert world.conversations[1]["last_seq"] == 0
    assert world.client_ids == {"c1": {"visitor:v1|k1": 1, "visitor:v1|k3": 3}, "c2": {}}


def test_load_world_knows_the_last_message_a_visitor_saw_when_notes_came_after_it(store: str) -> None:
    note = {**message("c1", 3), "sender_role": "agent", "sender_id": "a1", "kind": "note"}
    write(("conversation", state("c1", "assigned", agent="a1", participants=["a1"])),
          ("message", message("c1", 1)), ("message", message("c1", 2)), ("message", note),
          ("message", {**note, "seq": 4}))
    world = load_world()
    assert (world.conversations[0]["last_seq"], world.conversations[0]["last_public_seq"]) == (4, 2)


def test_load_world_lists_agents_and_groups(store: str) -> None:
    add_agent("a1", "a1@example.com", ["billing"])
    User(id="root", roles=["admin"], email="root@example.com", password_hash="x").save()
    SkillGroup(id="billing", policy="last_agent_first", last_agent_wait_s=20.0).save()
    world = load_world()
    assert world.agents == [AgentRecord("a1", "A1", 3, ("billing",))]
    assert world.groups == [GroupRecord("billing", "last_agent_first", None, 20.0)]


def test_messages_between_returns_the_range_in_seq_order(store: str) -> None:
    write(*[("message", message("c1", seq)) for seq in (5, 1, 4, 2, 3, 6)], ("message", message("c2", 3)))
    assert [m["seq"] for m in messages_between("c1", 1, 4)] == [2, 3, 4]
    assert [m["seq"] for m in messages_between("c1", 2)] == [3, 4, 5, 6]
    assert [m["seq"] for m in messages_between("c1", 0, limit=2)] == [1, 2]
    assert messages_between("c1", 2, 3) == [message("c1", 3)]
    assert messages_between("c9", 0) == []


def test_messages_between_pages_across_holes_in_the_seqs_and_skips_nothing(store: str) -> None:
    seqs = [*range(1, 4), *range(20, 23), 100]  # seqs are dense unless a write was lost: holes are rare, not fatal
    write(*[("message", message("c1", seq)) for seq in seqs])
    assert [m["seq"] for m in messages_between("c1", 0, limit=5)] == [1, 2, 3, 20, 21]
    assert [m["seq"] for m in messages_between("c1", 21, limit=5)] == [22, 100]
    assert [m["seq"] for m in messages_between("c1", 0, 21, limit=10)] == [1, 2, 3, 20, 21]
    assert messages_between("c1", 100, limit=5) == []
