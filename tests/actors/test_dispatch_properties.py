"""Dispatch invariants under random sequences of commands (hypothesis stateful tests).

A small fixed world (three skill groups, four agents, some in several groups)
is driven through the public engine API, one command at a time, on a manual
clock; after every step (engine quiet) the invariants below are checked on
``engine.inspect`` snapshots and on the deliveries recorded so far:

* auto-assignment never takes an agent above saturation (only invites and
  accepted transfers may);
* every open conversation is in exactly one place: with the bot, in its own
  group's waiting list, or in its agent's active list (and agents, queues
  and the conversations agree); ended ones are nowhere; no reservation
  outlives a quiet engine and each queue's view of its members is accurate;
* each waiting list is in serving order: front tier (requeued, reassigned,
  transferred to the group) first, then priority, then request time;
* the position last told to each waiting visitor is their real position;
* work conservation: nobody waits while a member agent is online with a free
  slot, unless the visitor is held for another agent (designated, last agent)
  or avoids that agent (no-reply reassignment); in a ``familiar`` group nobody
  waits held at all (a familiar agent gets a first offer, never a wait);
* no entity ever fails (``entity_error``).

The queue is event-driven only (``sweep_interval_s=0``): the sweep must never
be what makes these hold. The same machine runs on the inline engine and,
with fewer examples, on the Pykka ``local`` runtime (two hosts).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule, run_state_machine_as_test,
)

from switchboard.actors import errors
from switchboard.actors.address import Address
from switchboard.actors.engine import ManualClock
from switchboard.actors.start import start_engine
from switchboard.actors.events import (
    Assigned, Closed, ConversationAssigned, ConversationRemoved, QueuePosition, Reassigned, Refused, Requeued,
)
from switchboard.actors.messages import (
    AgentWrote, AnswerTransfer, Close, CreateAgent, CreateGroup, Invite, KeepWaiting, LeaveQueue,
    OpenConversation, RequestHuman, SetPresence, SetSaturation, TransferToAgent, TransferToGroup, VisitorWrote,
)
from switchboard.settings import DispatchSettings
from tests.harness import Harness, Recorder

MEMBERS: dict[str, tuple[str, ...]] = {
    "A": ("g1",),
    "B": ("g1", "g2"),
    "C": ("g2", "g3"),
    "D": ("g1", "g2", "g3"),
}
AGENTS = tuple(MEMBERS)
GROUPS = ("g1", "g2", "g3")
VISITORS = tuple(f"v{i}" for i in range(10))
PRESENCES = ("online", "away", "offline")

BALANCED: dict[str, CreateGroup] = {"g1": CreateGroup(), "g2": CreateGroup(), "g3": CreateGroup(max_queue=3)}
HOLDING: dict[str, CreateGroup] = {
    "g1": CreateGroup("designated"),
    "g2": CreateGroup("last_agent_first", last_agent_wait_s=50),
    "g3": CreateGroup(),
}
FAMILIAR: dict[str, CreateGroup] = {"g1": CreateGroup("familiar"), "g2": CreateGroup("familiar"), "g3": CreateGroup()}
EVENT_DRIVEN = DispatchSettings(sweep_interval_s=0)
WITH_NO_REPLY = DispatchSettings(sweep_interval_s=0, no_reply_reassign_s=45)

agents = st.sampled_from(AGENTS)
groups = st.sampled_from(GROUPS)
visitors = st.sampled_from(VISITORS)


class DispatchMachine(RuleBasedStateMachine):
    """Random commands against one engine; the model only remembers what the engine told people."""

    def __init__(self, harness: Harness, dispatch: DispatchSettings, world: dict[str, CreateGroup]) -> None:
        super().__init__()
        self.h = harness.fresh(dispatch)
        self.dispatch = dispatch
        self.world = world
        self.causal = harness.engine.runtime == "inline"  # deliveries arrive in causal order
        self.sat: dict[str, int] = {}
        self.current: dict[str, str] = {}  # visitor -> their current conversation
        self.convs: list[str] = []
        self.opened = 0
        self.seen = 0  # deliveries absorbed so far
        self.serving: dict[str, set[str]] = {a: set() for a in AGENTS}  # as told to the agents
        self.front: set[str] = set()  # conversations told requeued / reassigned
        self.avoid: dict[str, tuple[str, float]] = {}  # conversation -> (silent agent, until)
        self.told: dict[str, int] = {}  # conversation -> last position told
        self.last_agent: dict[str, str] = {}  # visitor -> who served them last
        self.auto_this_step: set[str] = set()
        for group, create in world.items():
            self._send(Address.queue(group), create)
        for agent, member_of in MEMBERS.items():
            self._send(Address.agent(agent), CreateAgent(2, member_of))
            self.sat[agent] = 2

    # --- plumbing ------------------------------------------------------------------------

    def _send(self, to: Address, message: Any) -> None:
        self.h.send(to, message)

    def _absorb(self) -> None:
        """Fold the deliveries since the last step into the model (and check the causal saturation rule)."""
        new = list(self.h.recorder.deliveries[self.seen:])
        self.seen += len(new)
        for d in new:
            ev = d.event
            if isinstance(ev, Refused):
                assert ev.code != errors.ENTITY_ERROR, f"an entity failed: {ev}"
            elif isinstance(ev, QueuePosition):
                self.told[ev.conversation] = ev.position
            elif isinstance(ev, (Requeued, Reassigned)):
                self.front.add(ev.conversation)
            elif isinstance(ev, Assigned):
                assert d.to is not None
                self.last_agent[d.to.id] = ev.agent
                self.avoid.pop(ev.conversation, None)
            elif isinstance(ev, ConversationAssigned):
                assert d.to is not None
                agent = d.to.id
                self.serving[agent].add(ev.conversation)
                if ev.via == "auto":
                    self.auto_this_step.add(agent)
                    if self.causal:
                        assert len(self.serving[agent]) <= self.sat[agent], (
                            f"{ev.conversation} auto-assigned to {agent} at t={d.at}, taking them to "
                            f"{sorted(self.serving[agent])} above saturation {self.sat[agent]}")
            elif isinstance(ev, ConversationRemoved):
                assert d.to is not None
                self.serving[d.to.id].discard(ev.conversation)
                if ev.reason == "no_reply" and self.dispatch.no_reply_reassign_s:
                    self.avoid[ev.conversation] = (d.to.id, d.at + self.dispatch.no_reply_reassign_s)
            elif isinstance(ev, Closed) and d.to is not None and d.to.role == "agent":
                self.serving[d.to.id].discard(ev.conversation)

    # --- rules -----------------------------------------------------------------------------

    conversations = Bundle("conversations")

    @initialize(sats=st.tuples(*[st.integers(1, 2)] * len(AGENTS)),
                presences=st.tuples(*[st.sampled_from(("online", "online", "away", "offline"))] * len(AGENTS)))
    def start(self, sats: tuple[int, ...], presences: tuple[str, ...]) -> None:
        for agent, sat, presence in zip(AGENTS, sats, presences):
            self.sat[agent] = sat
            self._send(Address.agent(agent), SetSaturation(sat))
            self._send(Address.agent(agent), SetPresence(presence))

    @rule(target=conversations, visitor=visitors, group=groups, priority=st.sampled_from((0, 0, 1, 2)),
          designated=st.none() | agents)
    def request_human(self, visitor: str, group: str, priority: int, designated: str | None) -> Any:
        """The visitor asks for a person: in their current conversation, or a new one if it has ended."""
        cur = self.current.get(visitor)
        snap = self.h.inspect(Address.conversation(cur)) if cur is not None else None
        if cur is None or snap is None or snap["phase"] in ("closed", "abandoned"):
            self.opened += 1
            cur = self.current[visitor] = f"{visitor}.{self.opened}"
            self.convs.append(cur)
            self._send(Address.conversation(cur), OpenConversation(visitor))
            snap = None
        request = RequestHuman(group, priority, agent=designated, last_agent=self.last_agent.get(visitor),
                               familiar_agent=designated)  # read by familiar groups only
        self._send(Address.conversation(cur), request)
        return cur if snap is None else multiple()  # an open conversation is in the bundle already

    @rule(agent=agents, presence=st.sampled_from(PRESENCES))
    def presence(self, agent: str, presence: str) -> None:
        self._send(Address.agent(agent), SetPresence(presence))

    @rule(agent=agents, saturation=st.integers(1, 4))
    def saturation(self, agent: str, saturation: int) -> None:
        self.sat[agent] = saturation
        self._send(Address.agent(agent), SetSaturation(saturation))

    @rule(agent=agents, conversation=conversations)
    def invite(self, agent: str, conversation: str) -> None:
        self._send(Address.conversation(conversation), Invite(agent))

    @rule(agent=agents)
    def invite_first_waiting(self, agent: str) -> None:
        """The agent invites the visitor at the head of the first of their groups with anyone waiting."""
        for group in MEMBERS[agent]:
            waiting = self._inspect(Address.queue(group))["waiting"]
            if waiting:
                self._send(Address.conversation(waiting[0]["conversation"]), Invite(agent))
                return

    @rule(conversation=conversations, agent=agents)
    def transfer_to_agent(self, conversation: str, agent: str) -> None:
        awaited_by = [a for a in AGENTS if conversation in self._inspect(Address.agent(a))["pending_transfers"]]
        ref = self.h.send(Address.conversation(conversation), TransferToAgent(agent))
        codes = [r.code for r in self.h.refusals(ref)]
        assert errors.TRANSFER_PENDING not in codes or awaited_by, (
            f"{conversation} refuses a transfer as pending, but no agent has a transfer of it to answer")

    @rule(conversation=conversations, group=groups)
    def transfer_to_group(self, conversation: str, group: str) -> None:
        self._send(Address.conversation(conversation), TransferToGroup(group))

    @rule(accept=st.booleans())
    def answer_transfer(self, accept: bool) -> None:
        """The first agent with a transfer waiting for their answer gives it."""
        for agent in AGENTS:
            pending = self._inspect(Address.agent(agent))["pending_transfers"]
            if pending:
                self._send(Address.agent(agent), AnswerTransfer(pending[0], accept))
                return

    @rule(conversation=conversations, by=st.sampled_from(("agent", "visitor")))
    def close(self, conversation: str, by: str) -> None:
        self._send(Address.conversation(conversation), Close(by))

    @rule(conversation=conversations)
    def leave_queue(self, conversation: str) -> None:
        self._send(Address.conversation(conversation), LeaveQueue())

    @rule(conversation=conversations)
    def keep_waiting(self, conversation: str) -> None:
        self._send(Address.conversation(conversation), KeepWaiting())

    @rule(conversation=conversations, by_agent=st.booleans())
    def write(self, conversation: str, by_agent: bool) -> None:
        self._send(Address.conversation(conversation), AgentWrote() if by_agent else VisitorWrote())

    @rule(seconds=st.sampled_from((1, 10, 20, 30, 45, 60, 90, 181)))
    def advance(self, seconds: int) -> None:
        self.h.at(self.h.now + seconds)

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def dispatch_invariants(self) -> None:
        self._absorb()
        now = self.h.now
        convs = {c: self._inspect(Address.conversation(c)) for c in self.convs}
        people = {a: self._inspect(Address.agent(a)) for a in AGENTS}
        queues = {g: self._inspect(Address.queue(g)) for g in self.world}

        # Saturation: wherever an auto-assignment happened this step, the agent ends within saturation.
        for agent in sorted(self.auto_this_step):
            assert people[agent]["load"] <= self.sat[agent], (
                f"{agent} got an auto-assignment and now serves {people[agent]['active']} "
                f"above saturation {self.sat[agent]}")
        self.auto_this_step.clear()

        # One place per conversation.
        queued_in: dict[str, list[str]] = {}
        for g, q in queues.items():
            for e in q["waiting"]:
                queued_in.setdefault(e["conversation"], []).append(g)
        active_at: dict[str, list[str]] = {}
        for a, snap in people.items():
            assert snap["saturation"] == self.sat[a]
            for c in snap["active"]:
                active_at.setdefault(c, []).append(a)
            assert set(snap["active"]) == self.serving[a], (
                f"{a} counts {sorted(snap['active'])} but was told it serves {sorted(self.serving[a])}")
        assert set(queued_in) <= set(convs) and set(active_at) <= set(convs)
        for c, s in convs.items():
            phase, where = s["phase"], (queued_in.get(c, []), active_at.get(c, []))
            if phase == "queued":
                assert where == ([s["group"]], []) and s["agent"] is None, f"{c} is queued for {s['group']} but {where}"
            elif phase == "assigned":
                assert where == ([], [s["agent"]]), f"{c} is assigned to {s['agent']} but (queued, active) is {where}"
            else:
                assert where == ([], []), f"{c} is {phase} but (queued, active) is {where}"

        # Each queue's view of its members is exact, and no reservation survives a quiet engine.
        for g, q in queues.items():
            for a in AGENTS:
                if g not in MEMBERS[a]:
                    continue
                view, snap = q["members"].get(a), people[a]
                assert view is not None, f"{g} does not know its member {a}"
                seen = (view["presence"], view["active"], view["saturation"], view["reserved"])
                real = (snap["presence"], snap["load"], snap["saturation"], 0)
                assert seen == real, f"{g} sees {a} as {seen}, really {real}"

        for g, q in queues.items():
            waiting = q["waiting"]
            # Serving order: front tier, then priority, then request time.
            keys = []
            for e in waiting:
                c = e["conversation"]
                s = convs[c]
                assert e["reserved_by"] is None, f"{c} still reserved for {e['reserved_by']} in {g}"
                assert e["priority"] == s["priority"]
                front = c in self.front or any(t[3] is not None for t in s["transfers"])
                keys.append((0 if front else 1, -s["priority"], s["queued_at"]))
            assert keys == sorted(keys), (
                f"{g} waits in order {[e['conversation'] for e in waiting]} with (tier, -priority, requested) "
                f"{keys}; the queue has request times {[e['queued_at'] for e in waiting]}")
            # Positions told match the real queue.
            told = [self.told.get(e["conversation"]) for e in waiting]
            assert told == list(range(1, len(waiting) + 1)), (
                f"{g} waits {[e['conversation'] for e in waiting]} but they were last told positions {told}")
            # Work conservation: nobody free may stay idle w.r.t. a waiting visitor they may take.
            free = [a for a in AGENTS if g in MEMBERS[a] and people[a]["presence"] == "online"
                    and people[a]["load"] < people[a]["saturation"]]
            for e in waiting:
                c = e["conversation"]
                assert e["hold"] is None or self.world[g].policy != "familiar", (
                    f"{c} waits in familiar group {g} held for {e['hold']}: a familiar agent gets a first offer, "
                    f"never a wait")
                if e["hold"] is not None:
                    could = [e["hold"]] if e["hold"] in free else []
                else:
                    avoided, until = self.avoid.get(c, (None, 0.0))
                    could = [a for a in free if not (a == avoided and now < until)]
                assert not could, (
                    f"{c} waits in {g} (hold {e['hold']}) at t={now} while {could} are online with a free slot: "
                    f"{ {a: (people[a]['load'], people[a]['saturation']) for a in could} }")

    def _inspect(self, to: Address) -> dict[str, Any]:
        snap = self.h.inspect(to)
        assert snap is not None and not snap.get("error"), f"{to} is missing or failed: {snap}"
        return snap


def _run(harness: Harness, dispatch: DispatchSettings, world: dict[str, CreateGroup],
         examples: int, steps: int) -> None:
    class Machine(DispatchMachine):
        def __init__(self) -> None:
            super().__init__(harness, dispatch, world)

    run_state_machine_as_test(Machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False))


def _harness(runtime: str) -> Harness:
    recorder = Recorder()
    return Harness(start_engine(runtime, clock=ManualClock(0.0), on_delivery=recorder), recorder)


@pytest.fixture(scope="module")
def inline() -> Iterator[Harness]:
    harness = _harness("inline")
    yield harness
    harness.engine.stop()


@pytest.fixture(scope="module")
def local() -> Iterator[Harness]:
    harness = _harness("local")
    yield harness
    harness.engine.stop()


def test_balanced_groups_keep_dispatch_invariants(inline: Harness) -> None:
    _run(inline, EVENT_DRIVEN, BALANCED, examples=600, steps=50)


def test_no_reply_reassignment_keeps_dispatch_invariants(inline: Harness) -> None:
    _run(inline, WITH_NO_REPLY, BALANCED, examples=300, steps=50)


def test_held_visitors_never_block_those_behind_them(inline: Harness) -> None:
    _run(inline, WITH_NO_REPLY, HOLDING, examples=400, steps=50)


def test_familiar_groups_keep_dispatch_invariants_and_never_keep_a_visitor_waiting_for_their_agent(
        inline: Harness) -> None:
    _run(inline, WITH_NO_REPLY, FAMILIAR, examples=250, steps=50)


def test_local_runtime_keeps_dispatch_invariants(local: Harness) -> None:
    _run(local, EVENT_DRIVEN, BALANCED, examples=25, steps=30)
