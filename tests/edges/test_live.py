"""The live view's snapshot, its scope, its bounds, and when it is pushed (switchboard/edges/live.py); a
watched conversation's messages and state, pushed to who may still read it (switchboard/edges/watch.py).

The frame is built from a hand-made :class:`World`; the pushing half runs with a world read from a table
and sockets that only collect frames.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from switchboard.actors.engine import Engine
from switchboard.edges.delivery.names import Names
from switchboard.edges.delivery.sockets import Connection, Sockets
from switchboard.edges.keys import ConvView, live_change, watch_change
from switchboard.edges.live import (AgentRow, Change, LiveEdge, Watch, World, concerns, live_frame,
                                    parse_change, queue_rows, signature)
from switchboard.edges.protocol import Frame
from switchboard.edges.scope import Scope
from switchboard.edges.watch import MAX_WATCHED, Noted, WatchEdge, may_watch, parse_noted

ADMIN = Scope("u-admin", frozenset({"admin"}), frozenset())
BILLING_BOSS = Scope("u-sb", frozenset({"supervisor"}), frozenset({"billing"}))
SALES_BOSS = Scope("u-ss", frozenset({"supervisor"}), frozenset({"sales"}))


def waiting(conv: str, queued_at: float, priority: int = 0) -> dict[str, Any]:
    return {"conversation": conv, "visitor": f"v-{conv}", "priority": priority, "queued_at": queued_at}


def world(*agents: AgentRow, billing: int = 1) -> World:
    return World(agents, {"billing": "Billing", "sales": ""},
                 {"billing": [waiting(f"c{i}", 100.0 + i) for i in range(billing)], "sales": []})


ANN = AgentRow("a-ann", "Ann", ("billing",), "online", 1, 3,
               ({"id": "c9", "visitor": "v9", "group": "billing", "since": 90.0},))
BOB = AgentRow("a-bob", "bob", ("sales",), "away", 0, 2, ())
CID = AgentRow("a-cid", "Cid", (), "offline", 0, 2, ())


def test_an_admin_sees_every_agent_online_first_and_every_queue_with_waits() -> None:
    live = live_frame(world(CID, BOB, ANN), ADMIN, now=110.0)
    assert [a["id"] for a in live["agents"]] == ["a-ann", "a-bob", "a-cid"]
    assert live["agents"][0] == {"id": "a-ann", "name": "Ann", "presence": "online", "load": 1, "saturation": 3,
                                 "groups": ["billing"], "conversations": [{"id": "c9", "visitor": "v9",
                                                                           "group": "billing", "since": 90.0}]}
    assert live["queues"] == [
        {"group": "billing", "name": "Billing", "waiting_total": 1,
         "waiting": [{"conversation": "c0", "visitor": "v-c0", "position": 1, "priority": 0, "waited_s": 10.0}]},
        {"group": "sales", "name": "sales", "waiting_total": 0, "waiting": []}]
    assert (live["type"], live["agents_total"], live["at"]) == ("live", 3, 110.0)


def test_a_supervisor_sees_only_the_agents_and_queues_of_its_groups() -> None:
    live = live_frame(world(ANN, BOB, CID), BILLING_BOSS, now=110.0)
    assert [a["id"] for a in live["agents"]] == ["a-ann"]
    assert [q["group"] for q in live["queues"]] == ["billing"]
    assert live["agents_total"] == 1


def test_the_frame_is_bounded_and_says_how_many_there_are() -> None:
    many = [AgentRow(f"a-{i:03}", f"Agent {i:03}", ("billing",), "online", 0, 1, ()) for i in range(30)]
    live = live_frame(world(*many, billing=50), ADMIN, now=200.0, max_agents=10, max_waiting=5)
    assert len(live["agents"]) == 10 and live["agents_total"] == 30
    billing = live["queues"][0]
    assert [w["position"] for w in billing["waiting"]] == [1, 2, 3, 4, 5] and billing["waiting_total"] == 50


def test_the_signature_ignores_what_only_time_changes() -> None:
    early, late = live_frame(world(ANN), ADMIN, now=110.0), live_frame(world(ANN), ADMIN, now=150.0)
    assert early != late and signature(early) == signature(late)
    assert signature(live_frame(world(ANN, billing=2), ADMIN, now=110.0)) != signature(early)


def test_queue_rows_number_positions_and_never_wait_less_than_nothing() -> None:
    assert queue_rows([waiting("c1", 10.0, 2), waiting("c2", 12.0)], now=11.0) == [
        {"conversation": "c1", "visitor": "v-c1", "position": 1, "priority": 2, "waited_s": 1.0},
        {"conversation": "c2", "visitor": "v-c2", "position": 2, "priority": 0, "waited_s": 0.0}]


def test_a_change_concerns_a_supervisor_only_through_its_groups_or_their_agents() -> None:
    members = {"a-ann": ("billing",), "a-bob": ("sales",)}
    assert concerns(ADMIN, Change(frozenset({"sales"})), members)
    assert concerns(BILLING_BOSS, Change(frozenset({"billing"})), members)
    assert not concerns(BILLING_BOSS, Change(frozenset({"sales"}), frozenset({"a-bob"})), members)
    assert concerns(BILLING_BOSS, Change(agents=frozenset({"a-ann"})), members)
    assert concerns(BILLING_BOSS, Change(agents=frozenset({"a-new"})), members)  # not known yet: may be theirs


def test_a_change_message_round_trips_and_junk_is_no_change() -> None:
    assert parse_change(live_change(["billing", None], ["a-ann", None])) == Change(frozenset({"billing"}),
                                                                                       frozenset({"a-ann"}))
    assert not parse_change(b"not json") and not parse_change(b"[1]") and not parse_change(b'{"g": [1]}')
    assert Change(frozenset({"a"})) | Change(agents=frozenset({"b"})) == Change(frozenset({"a"}), frozenset({"b"}))


# --- pushing -----------------------------------------------------------------------------------------


class FakeConn:
    def __init__(self) -> None:
        self.closed = False
        self.frames: list[Frame] = []

    async def send(self, frame: Frame) -> None:
        self.frames.append(frame)


class TableEdge(LiveEdge):
    """A LiveEdge whose world is `self.now_world`, counting the reads."""

    def __init__(self) -> None:
        super().__init__(cast(Engine, None), cast(Any, None), debounce_s=0.01)
        self.now_world = world(ANN, BOB)
        self.reads = 0

    async def world(self, steered: set[str] | None, panel_groups: set[str], with_agents: bool) -> World:
        self.reads += 1
        self._members = {a.id: a.groups for a in self.now_world.agents}
        return self.now_world


def watch(edge: LiveEdge, scope: Scope | None = None, groups: tuple[str, ...] = ()) -> FakeConn:
    conn = FakeConn()
    edge.watches[cast(Connection, conn)] = Watch(scope, groups)
    return conn


def test_one_world_read_serves_every_steerer_and_each_scope_gets_one_frame() -> None:
    edge = TableEdge()
    admins = [watch(edge, ADMIN) for _ in range(3)]
    billing = watch(edge, BILLING_BOSS)
    asyncio.run(edge.push(Change(frozenset({"billing"}))))
    assert edge.reads == 1
    assert all(len(a.frames) == 1 and a.frames[0]["type"] == "live" for a in [*admins, billing])
    assert admins[0].frames[0] is admins[1].frames[0]  # built once for the scope, not per socket


def test_nothing_is_sent_to_a_scope_whose_view_did_not_change() -> None:
    edge = TableEdge()
    admin, sales = watch(edge, ADMIN), watch(edge, SALES_BOSS)
    asyncio.run(edge.push(Change(frozenset({"billing", "sales"}))))
    edge.now_world = world(ANN, BOB, billing=2)  # one more visitor waits in billing
    asyncio.run(edge.push(Change(frozenset({"billing"}))))
    assert len(admin.frames) == 2
    assert len(sales.frames) == 1  # its first view only


def test_a_queue_panel_gets_its_groups_when_one_of_them_changes() -> None:
    edge = TableEdge()
    panel, other = watch(edge, groups=("billing", "sales")), watch(edge, groups=("sales",))
    asyncio.run(edge.push(Change(frozenset({"billing"}))))
    assert [f["type"] for f in panel.frames] == ["queues"] and other.frames == []
    assert set(panel.frames[0]["queues"]) == {"billing", "sales"}
    assert [w["conversation"] for w in panel.frames[0]["queues"]["billing"]] == ["c0"]


def test_changes_within_the_debounce_are_pushed_once() -> None:
    edge = TableEdge()
    admin = watch(edge, ADMIN)

    async def burst() -> None:
        for i in range(20):
            edge.note(Change(frozenset({"billing"}), frozenset({f"a-{i}"})))
        await asyncio.sleep(0.1)

    asyncio.run(burst())
    assert edge.reads == 1 and len(admin.frames) == 1


def test_a_closed_socket_is_not_sent_anything() -> None:
    edge = TableEdge()
    gone = watch(edge, ADMIN)
    gone.closed = True
    asyncio.run(edge.push(Change(frozenset({"billing"}))))
    assert gone.frames == [] and edge.reads == 0


# --- watching one conversation (switchboard/edges/watch.py) -----------------------------------------

ANN_AGENT = Scope("a-ann", frozenset({"agent"}), frozenset())


def conv_view(conv: str = "c1", group: str | None = "billing", agent: str | None = "a-ann", phase: str = "assigned",
              last_seq: int = 0) -> ConvView:
    return ConvView(conv, "v-1", phase, group, agent, (), "widget", last_seq)


def said(conv: str, seq: int, kind: str = "text") -> Frame:
    return {"type": "message", "conversation": conv, "seq": seq, "kind": kind, "text": f"#{seq}"}


class SeqConn(FakeConn):
    """A socket that remembers what it was sent per conversation, as Connection does."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[str, int] = {}


class SeqSockets:
    async def deliver(self, conn: SeqConn, message: Frame) -> None:
        if message["seq"] > conn.last.get(message["conversation"], 0):
            conn.last[message["conversation"]] = message["seq"]
            await conn.send(message)


class KnownNames(Names):
    async def display(self, role: str, author: str) -> str:
        return author.upper()


class TableWatch(WatchEdge):
    """A WatchEdge reading its views, messages and scopes from tables; it listens to nothing."""

    def __init__(self) -> None:
        super().__init__(cast(Any, None), cast(Sockets, SeqSockets()), KnownNames(), max_watched=MAX_WATCHED)
        self.views: dict[str, ConvView] = {}
        self.said: dict[str, list[Frame]] = {}
        self.roles: dict[str, Scope] = {}

    async def _started(self) -> None:
        pass

    async def view(self, conv: str) -> ConvView | None:
        return self.views.get(conv)

    async def messages(self, conv: str, after: int) -> list[Frame]:
        return [m for m in self.said.get(conv, []) if m["seq"] > after]

    async def scopes(self, users: set[str]) -> dict[str, Scope]:
        return {u: self.roles[u] for u in users}


def watching(edge: TableWatch, view: ConvView, scope: Scope) -> SeqConn:
    conn = SeqConn()
    edge.views[view.conversation] = view

    async def go() -> None:
        assert await edge.watch(cast(Connection, conn), view, scope) is None
        await asyncio.sleep(0)
        while edge._worker is not None:
            await asyncio.sleep(0.001)
    asyncio.run(go())
    return conn


def test_who_may_watch_a_conversation() -> None:
    view = conv_view(group="billing", agent="a-ann")
    assert may_watch(ADMIN, view) and may_watch(BILLING_BOSS, view) and may_watch(ANN_AGENT, view)
    assert not may_watch(SALES_BOSS, view)
    assert not may_watch(Scope("a-bob", frozenset({"agent"}), frozenset()), view)


def test_a_watch_change_message_round_trips_and_junk_is_nothing() -> None:
    assert parse_noted(watch_change(["c1", "c2"], ["c3"])) == Noted(frozenset({"c1", "c2"}), frozenset({"c3"}))
    assert parse_noted(b"nope") == Noted() and parse_noted(b'{"m": [1]}') == Noted()


def test_a_watcher_gets_the_state_at_once_then_each_new_message_once_and_a_state_only_when_it_shows_more() -> None:
    edge = TableWatch()
    boss = watching(edge, conv_view(last_seq=2), BILLING_BOSS)
    assert [f["type"] for f in boss.frames] == ["watch"]
    assert (boss.frames[0]["conversation"], boss.frames[0]["phase"], boss.frames[0]["agent"]) == (
        "c1", "assigned", {"id": "a-ann", "name": "A-ANN"})
    assert boss.last == {"c1": 2}  # new messages from here on; a sync asks for the older ones

    edge.said["c1"] = [said("c1", 1), said("c1", 2), said("c1", 3), said("c1", 4, "note")]
    edge.views["c1"] = conv_view(last_seq=4)
    asyncio.run(edge.push("c1", state=False))
    asyncio.run(edge.push("c1", state=False))  # a repeated notification sends nothing twice
    assert [(f["type"], f.get("seq")) for f in boss.frames[1:]] == [("message", 3), ("message", 4)]

    edge.roles["u-sb"] = BILLING_BOSS
    edge.views["c1"] = conv_view(agent="a-bob", last_seq=4)  # transferred within the group
    asyncio.run(edge.push("c1", state=True))
    edge.views["c1"] = conv_view(agent="a-bob", last_seq=4)  # a state that shows nothing new
    asyncio.run(edge.push("c1", state=True))
    assert [f["type"] for f in boss.frames[3:]] == ["watch"] and boss.frames[3]["agent"]["id"] == "a-bob"


def test_a_conversation_moved_out_of_the_watchers_groups_ends_the_watch_with_an_error() -> None:
    edge = TableWatch()
    boss = watching(edge, conv_view(), BILLING_BOSS)
    admin = watching(edge, conv_view(), ADMIN)
    edge.roles.update({"u-sb": BILLING_BOSS, "u-admin": ADMIN})
    edge.views["c1"] = conv_view(group="sales", agent=None, phase="queued")
    asyncio.run(edge.push("c1", state=True))
    refusal = boss.frames[-1]
    assert (refusal["type"], refusal["code"], refusal["in_reply_to"], refusal["conversation"]) == (
        "error", "not_your_conversation", "watch", "c1")
    assert admin.frames[-1]["type"] == "watch" and admin.frames[-1]["group"] == "sales"
    assert edge.watching(cast(Connection, boss)) == set() and edge.watching(cast(Connection, admin)) == {"c1"}


def test_roles_taken_away_end_the_watch_at_the_next_state() -> None:
    edge = TableWatch()
    boss = watching(edge, conv_view(), BILLING_BOSS)
    edge.roles["u-sb"] = Scope.none("u-sb")  # deactivated meanwhile
    asyncio.run(edge.push("c1", state=True))
    assert boss.frames[-1]["code"] == "not_your_conversation" and not edge.by_conv


def test_a_socket_watches_a_few_conversations_at_most_and_its_end_ends_them_all() -> None:
    edge = TableWatch()
    conn = SeqConn()

    async def go() -> list[str | None]:
        answers = [await edge.watch(cast(Connection, conn), conv_view(f"c{i}"), ADMIN) for i in range(MAX_WATCHED + 1)]
        answers.append(await edge.watch(cast(Connection, conn), conv_view("c0"), ADMIN))  # one it watches already
        edge.unwatch(cast(Connection, conn), "c1")
        answers.append(await edge.watch(cast(Connection, conn), conv_view("c9"), ADMIN))
        return answers

    answers = asyncio.run(go())
    assert answers == [None] * MAX_WATCHED + ["too_many_watched", None, None]
    assert len(edge.watching(cast(Connection, conn))) == MAX_WATCHED
    edge.forget(cast(Connection, conn))
    assert not edge.by_conv and not edge.by_conn


def test_notifications_during_a_push_make_one_more_push_and_others_are_ignored() -> None:
    edge = TableWatch()
    watching(edge, conv_view(), ADMIN)
    pushes = edge.pushes

    async def burst() -> None:
        for _ in range(20):
            edge.note(Noted(messages=frozenset({"c1", "c-not-watched"})))
        await asyncio.sleep(0.05)

    asyncio.run(burst())
    assert edge.pushes - pushes == 1
