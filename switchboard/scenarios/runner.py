"""Running a scenario against an engine, with the runner owning a manual clock.

Before each step the runner advances the engine to the step's `t` (timers fire
one at a time, each on a quiet engine, in one order on every runtime: see
docs/dispatch.md), applies the step, and waits until the engine is quiet. Expectations read entity snapshots (assignments, loads,
queues, phases) and the deliveries seen so far (positions told, kinds told,
refusals). A visitor id names that visitor's current conversation; a request
after that conversation ended opens a new one and carries the agent who
served the previous one (what an edge would read from the store).

A scenario's ``clock_start`` is where the clock stands at t=0: the runner moves
the fresh engine's clock there before it creates anything, so a schedule sees
realistic dates and no timer runs through the years before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from switchboard.actors.address import Address
from switchboard.actors.engine import Engine, ManualClock
from switchboard.actors.events import OutsideHours, QueuePosition, Refused
from switchboard.actors.output import Delivery, EngineOutput, Refusal
from switchboard.actors.messages import (
    AgentWrote, AnswerTransfer, Close, Command, ConfigureGroup, CreateAgent, CreateGroup, Invite, JoinGroup,
    KeepWaiting, LeaveGroup, LeaveQueue, OpenConversation, RequestHuman, SetPresence, SetSaturation,
    TransferToAgent, TransferToGroup, VisitorWrote,
)
from switchboard.scenarios.format import Group, Scenario, Step

__all__ = ["ScenarioResult", "run_scenario", "Observer"]

_ENDED = ("closed", "abandoned")


@dataclass
class ScenarioResult:
    scenario: Scenario
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class Observer:
    """Collects deliveries from the engine's threads: positions, kinds told, refusals by ref."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.positions: dict[str, int] = {}
        self.openings: dict[str, float | None] = {}  # the next opening each visitor was last told (outside_hours)
        self.told: dict[str, list[str]] = {}
        self.refused: dict[str, list[Refused]] = {}

    def __call__(self, output: EngineOutput) -> None:
        with self._lock:
            if isinstance(output, Refusal):
                self.refused.setdefault(output.event.ref or "", []).append(output.event)
            elif isinstance(output, Delivery) and output.to.role == "visitor":
                event = output.event
                self.told.setdefault(output.to.id, []).append(event.kind)
                if isinstance(event, QueuePosition):
                    self.positions[output.to.id] = event.position
                elif isinstance(event, OutsideHours):
                    self.openings[output.to.id] = event.next_opening

    def reset(self) -> None:
        with self._lock:
            self.positions.clear()
            self.openings.clear()
            self.told.clear()
            self.refused.clear()


class _Run:
    def __init__(self, scenario: Scenario, engine: Engine, observer: Observer) -> None:
        self.sc, self.engine, self.obs = scenario, engine, observer
        self.result = ScenarioResult(scenario)
        self.conversations: dict[str, str] = {}  # visitor -> current conversation id
        self.opened: dict[str, int] = {}
        self.last_agent: dict[str, str | None] = {}
        self.last_ref: str | None = None
        self.before_refusal: dict[str, Any] | None = None
        self.groups: dict[str, Group] = {g.id: g for g in scenario.groups}  # as configured now

    def run(self) -> ScenarioResult:
        self.engine.advance_to(self.sc.clock_start)  # a fresh world: no timer on the way
        self._setup()
        steps = self.sc.steps
        for i, step in enumerate(steps):
            self.engine.advance_to(self.sc.clock_start + step.t)
            if step.do is not None:
                upcoming = [s for s in (step, steps[i + 1] if i + 1 < len(steps) else None)
                            if s is not None and s.expect and "error" in s.expect]
                if step.do == "request_human":  # the conversation exists (with the bot) before the request
                    self._open_if_needed(step.fields["visitor"], f"step{step.index}")
                    self.engine.wait_quiet()
                self.before_refusal = self._world() if upcoming else None
                self._apply(step)
                self.engine.wait_quiet()
                if not upcoming:
                    self._note_refusals(step)
            if step.expect is not None:
                self._check(step)
        return self.result

    # --- world ------------------------------------------------------------------------------

    def _setup(self) -> None:
        for g in self.sc.groups:
            create = CreateGroup(g.policy, g.max_queue, g.last_agent_wait_s, g.schedule, g.at_closing)
            self._send(Address.queue(g.id), create, "setup")
        self.engine.wait_quiet()
        for a in self.sc.agents:
            self._send(Address.agent(a.id), CreateAgent(a.saturation, a.groups), "setup")
        self.engine.wait_quiet()
        for refusal in self.obs.refused.get("setup", []):
            self.result.failures.append(f"setup refused: {refusal.code} ({refusal.detail})")

    def _send(self, to: Address, msg: Command, ref: str) -> None:
        self.engine.send(to, msg, ref=ref)

    def _conv(self, visitor: str) -> Address:
        return Address.conversation(self.conversations.get(visitor, f"{visitor}#none"))

    def _apply(self, step: Step) -> None:
        f, ref = step.fields, f"step{step.index}"
        self.last_ref = ref
        do = step.do
        if do in ("online", "away", "offline"):
            self._send(Address.agent(f["agent"]), SetPresence(do), ref)
        elif do == "set_saturation":
            self._send(Address.agent(f["agent"]), SetSaturation(f["saturation"]), ref)
        elif do == "join_group":
            self._send(Address.agent(f["agent"]), JoinGroup(f["group"]), ref)
        elif do == "leave_group":
            self._send(Address.agent(f["agent"]), LeaveGroup(f["group"]), ref)
        elif do == "request_human":
            self._request(f, ref)
        elif do == "leave_queue":
            self._send(self._conv(f["visitor"]), LeaveQueue(), ref)
        elif do == "keep_waiting":
            self._send(self._conv(f["visitor"]), KeepWaiting(), ref)
        elif do == "invite":
            for visitor in f["visitors"]:
                self._send(self._conv(visitor), Invite(f["agent"]), ref)
        elif do == "transfer":
            msg = TransferToAgent(f["to_agent"]) if "to_agent" in f else TransferToGroup(f["to_group"])
            self._send(self._conv(f["visitor"]), msg, ref)
        elif do in ("accept_transfer", "decline_transfer"):
            conv = self._conv(f["visitor"]).id
            self._send(Address.agent(f["agent"]), AnswerTransfer(conv, do == "accept_transfer"), ref)
        elif do == "agent_message":
            self._send(self._conv(f["visitor"]), AgentWrote(), ref)
        elif do == "visitor_message":
            self._send(self._conv(f["visitor"]), VisitorWrote(), ref)
        elif do == "close":
            self._send(self._conv(f["visitor"]), Close(f["by"]), ref)
        elif do == "configure_group":
            self._configure(f, ref)

    def _configure(self, f: dict[str, Any], ref: str) -> None:
        """The group's configuration as the runner knows it, with the fields the step gives replaced (as an admin
        page edits one field and sends them all)."""
        old = self.groups.get(f["group"]) or Group(f["group"])
        new = Group(old.id, *(f.get(name, getattr(old, name))
                              for name in ("policy", "max_queue", "last_agent_wait_s", "schedule", "at_closing")))
        self.groups[new.id] = new
        msg = ConfigureGroup(new.policy, new.max_queue, new.last_agent_wait_s, new.schedule, new.at_closing)
        self._send(Address.queue(new.id), msg, ref)

    def _open_if_needed(self, visitor: str, ref: str) -> None:
        """A visitor without an open conversation starts one, remembering who served the last."""
        current = self.conversations.get(visitor)
        snap = self.engine.inspect(Address.conversation(current)) if current else None
        if snap is None or snap["phase"] in _ENDED:
            self.last_agent[visitor] = snap["participants"][-1] if snap and snap["participants"] else None
            n = self.opened[visitor] = self.opened.get(visitor, 0) + 1
            current = self.conversations[visitor] = f"{visitor}#{n}"
            self._send(Address.conversation(current), OpenConversation(visitor), ref)

    def _request(self, f: dict[str, Any], ref: str) -> None:
        visitor = f["visitor"]
        msg = RequestHuman(f["group"], f.get("priority", 0), f.get("agent"), self.last_agent.get(visitor))
        self._send(self._conv(visitor), msg, ref)

    def _world(self) -> dict[str, Any]:
        world: dict[str, Any] = {}
        for g in self.sc.groups:
            world[f"queue:{g.id}"] = self.engine.inspect(Address.queue(g.id))
        for a in self.sc.agents:
            world[f"agent:{a.id}"] = self.engine.inspect(Address.agent(a.id))
        for conv in self.conversations.values():
            world[f"conversation:{conv}"] = self.engine.inspect(Address.conversation(conv))
        return world

    # --- expectations -------------------------------------------------------------------------

    def _fail(self, step: Step, what: str, expected: Any, seen: Any) -> None:
        self.result.failures.append(f"step {step.index} ({step.when}) {what}: expected {expected!r}, saw {seen!r}")

    def _check(self, step: Step) -> None:
        expect = step.expect or {}
        for visitor, agent in (expect.get("assigned") or {}).items():
            snap = self.engine.inspect(self._conv(visitor))
            seen = snap["agent"] if snap and snap["phase"] == "assigned" else None
            if seen != agent:
                self._fail(step, f"assigned[{visitor}]", agent, seen)
        for agent, n in (expect.get("load") or {}).items():
            snap = self.engine.inspect(Address.agent(agent))
            seen = snap["load"] if snap else None
            if seen != n:
                self._fail(step, f"load[{agent}]", n, seen)
        for group, visitors in (expect.get("queue") or {}).items():
            snap = self.engine.inspect(Address.queue(group))
            seen = [w["visitor"] for w in snap["waiting"]] if snap else None
            if seen != list(visitors or []):
                self._fail(step, f"queue[{group}]", list(visitors or []), seen)
        for visitor, n in (expect.get("position") or {}).items():
            seen = self.obs.positions.get(visitor)
            if seen != n:
                self._fail(step, f"position[{visitor}]", n, seen)
        for visitor, opening in (expect.get("next_opening") or {}).items():
            seen = self.obs.openings.get(visitor, "never told")
            if seen != opening:
                self._fail(step, f"next_opening[{visitor}]", self._local(opening), self._local(seen))
        for group, is_open in (expect.get("open") or {}).items():
            snap = self.engine.inspect(Address.queue(group))
            seen = snap["open"] if snap else None
            if seen != is_open:
                self._fail(step, f"open[{group}]", is_open, seen)
        for visitor, phase in (expect.get("phase") or {}).items():
            snap = self.engine.inspect(self._conv(visitor))
            seen = snap["phase"] if snap else None
            if seen != phase:
                self._fail(step, f"phase[{visitor}]", phase, seen)
        for visitor, kinds in (expect.get("told") or {}).items():
            seen = self.obs.told.get(visitor, [])
            missing = [k for k in kinds or [] if k not in seen]
            if missing:
                self._fail(step, f"told[{visitor}]", list(kinds), seen)
        if "error" in expect:
            self._check_error(step, expect["error"])
        for visitor in _visitors_in(expect):
            self.obs.told.pop(visitor, None)

    def _local(self, instant: Any) -> Any:
        """An instant as a local time of the scenario's zone, for a failure people read."""
        if not isinstance(instant, float):
            return instant
        return datetime.fromtimestamp(instant, ZoneInfo(self.sc.timezone)).isoformat()

    def _note_refusals(self, step: Step) -> None:
        """A refusal no expectation asked about is worth a line (a typo in an id?), not a failure."""
        for refusal in self.obs.refused.get(self.last_ref or "", []):
            self.result.notes.append(f"step {step.index} ({step.when}) {step.do} was refused: "
                                     f"{refusal.code} ({refusal.detail})")

    def _check_error(self, step: Step, code: Any) -> None:
        refusals = self.obs.refused.get(self.last_ref or "", [])
        codes = [r.code for r in refusals]
        if not codes or (code != "any" and code not in codes):
            self._fail(step, "error", code, codes or "the step was accepted")
            return
        if self.before_refusal is not None:
            after = self._world()
            changed = [k for k in after if after[k] != self.before_refusal.get(k)]
            if changed:
                self._fail(step, "error (nothing changed)", "no change", f"changed: {', '.join(sorted(changed))}")


def _visitors_in(expect: dict[str, Any]) -> set[str]:
    visitors: set[str] = set()
    for key in ("assigned", "position", "phase", "told", "next_opening"):
        visitors |= set((expect.get(key) or {}).keys())
    for waiting in (expect.get("queue") or {}).values():
        visitors |= set(waiting or [])
    return visitors


def run_scenario(scenario: Scenario, engine: Engine, observer: Observer) -> ScenarioResult:
    """Run `scenario` on a reset `engine` whose deliveries go to `observer`."""
    if not isinstance(engine.clock, ManualClock):
        raise ValueError("scenarios need an engine started with a ManualClock")
    engine.reset(scenario.settings)
    observer.reset()
    return _Run(scenario, engine, observer).run()
