#!/usr/bin/env python
"""Reports, history and live view over a realistic history: query latency, and what the aggregates cost the writer.

    .venv/bin/python load/bench_reports.py                     # 100,000 conversations, ~1,000,000 messages,
                                                               # 200 agents, 90 days (generation takes a while)
    .venv/bin/python load/bench_reports.py --conversations 3000 --agents 20 --days 10   # a quick check

What it does, in one process, against a fresh embedded store (nx-27017, EmbeddedMongo) in ``--data-dir``:

1. **Generation** (not timed). A fixed random seed draws a history ending now: conversations arrive in office
   hours (an hourly profile peaking 9-17 UTC, weekends at about 40 %), on several channels and groups; about a
   third end with the bot alone, the rest are handed off to a group and either abandoned in the queue or
   assigned to an agent of that group on shift (some transferred, a few never answered), and ratings come on
   about 30 % of the handled ones. Conversations still running at the end of the range stay open in the phase
   they reached. Agents work shifts on most weekdays with breaks (AgentPresence intervals). Documents are
   written with raw pymongo ``insert_many`` through each document's ``_get_collection()`` with the field names
   of switchboard/store/documents.py (User, SkillGroup, Visitor, Conversation, Message, Rating, AgentPresence).
2. **Aggregates** (not timed): :func:`switchboard.store.reports.rebuild` builds the report shards.
3. **Reports** over the last 30 days, each timed ``--repeat`` times after one untimed warm-up, called as the
   REST handlers call them (:mod:`switchboard.edges.rest.reports` with ``parse_query`` of a query string):
   the overview (by day, and by group and channel), the agents table for every agent, one agent's month
   (their row and their presence timeline), the channels and the bot reports; four of them again "cold" (the
   process's cache of decoded shards emptied before each run, as after a restart). reports_p99_ms is the worst
   p99, warm or cold (both are in the JSON too).
4. **History** (:func:`switchboard.store.history.search_conversations`, an admin scope, first page of 25, ``now``
   as the REST handler passes it): a text search for a common and a rare word, and a list filtered by group,
   channel, phase and the month. history_search_p99_ms is the worst p99 of the three.
5. **Live view first load**: a local engine (``start_engine("local")``) holds the same agents and groups, about
   60 % online and loaded with assigned conversations, and visitors waiting in some queues; the conversations'
   views are written to an embedded Redis as the relay writes them. Each repetition is what an admin's
   ``{"type": "live", "on": true}`` does on a fresh :class:`~switchboard.edges.live.LiveEdge`: ``subscribe``
   (start the Redis listener, read the world from the store and the engine, build and send the frame).
   live_view_first_load_ms is its p99; the build alone is shown beside it.
6. **Aggregate write overhead**: the StoreWriter (``journal=False`` as ``serve`` has it by default) writes the
   same workload of conversations (states bot, queued, assigned, closed; visitor, bot and agent messages;
   ratings), each conversation waiting for its previous write as the relay does, all of them at once, each run
   into a fresh database of its own on the same server (the history above stays as generated) with
   ``reports=True`` (the keeper where ``serve`` has it: a child process, ``--keeper``, started and ready before
   the clock starts, as in a running server) and ``reports=False``, alternating in pairs (on/off, off/on, ...)
   after an untimed warm-up; the time includes storing the last aggregates. aggregate_write_overhead_pct =
   median over pairs of (throughput off / on - 1).

Targets: reports_p99_ms < 200, history_search_p99_ms < 300, live_view_first_load_ms < 300,
aggregate_write_overhead_pct < 10. With ``--repeat 30`` the p99 is the slowest repetition but one (nearest
rank). Progress goes to stderr; the table and, last, one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, cast

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switchboard.store.documents import (  # noqa: E402
    AgentPresence, Conversation, Message, Rating, SkillGroup, User, Visitor,
)

KEEPER: Literal["process", "thread"] = "process"  # where the writer counts the aggregates (--keeper), as serve does

TARGETS = {"reports_p99_ms": 200.0, "history_search_p99_ms": 300.0, "live_view_first_load_ms": 300.0,
           "aggregate_write_overhead_pct": 10.0}
ADMIN_ID = "u-bench-admin"
GROUPS = {"billing": "Billing", "sales": "Sales", "support": "Support", "tech": "Technical", "returns": "Returns",
          "vip": "VIP desk"}
GROUP_WEIGHTS = {"billing": 0.22, "sales": 0.2, "support": 0.3, "tech": 0.15, "returns": 0.09, "vip": 0.04}
CHANNELS = {"widget": 0.55, "mobile": 0.2, "whatsapp": 0.12, "facebook": 0.08, "email": 0.05}
# arrivals per UTC hour, relative (office hours peak)
HOURLY = [0.1, 0.08, 0.06, 0.05, 0.05, 0.08, 0.2, 0.5, 0.9, 1.2, 1.3, 1.25, 1.1, 1.2, 1.3, 1.25, 1.1, 0.9, 0.7,
          0.55, 0.45, 0.35, 0.25, 0.15]
WEEKDAY = [1.0, 1.0, 1.0, 1.0, 0.95, 0.45, 0.35]
TOPICS = {
    "billing": "invoice payment charge refund card receipt subscription plan vat billing overcharged discount",
    "sales": "price quote demo trial licence upgrade seats offer enterprise contract pricing order",
    "support": "account password login email settings profile notification access reset locked setup",
    "tech": "error crash api integration webhook timeout bug browser sync upload export install",
    "returns": "return parcel delivery tracking damaged exchange label courier warehouse shipment lost",
    "vip": "priority manager renewal migration onboarding custom dedicated escalation review sla",
}
COMMON = ("hello hi thanks please could you help me with my the a an is it not working since yesterday today "
          "again how do i can we need to know about when will this be done sure let check one moment great "
          "perfect okay understood sorry for trouble anything else have nice day").split()
RARE_WORD = "chargeback"  # in about 0.3 % of billing conversations
COMMON_WORD = "refund"  # in most billing conversations
SCORES = ([5] * 45) + ([4] * 30) + ([3] * 12) + ([2] * 6) + ([1] * 7)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(math.ceil(p / 100 * len(s))) - 1)]


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


# --- generation ----------------------------------------------------------------------------------------


class History:
    """Draws and inserts the history (module docstring, step 1); counts what it wrote."""

    def __init__(self, rng: random.Random, conversations: int, mpc: float, agents: int, days: int, end: float) -> None:
        self.rng, self.n_conv, self.mpc, self.n_agents, self.days = rng, conversations, mpc, agents, days
        self.end = end
        self.start = end - days * 86400
        self.sizes: dict[str, int] = defaultdict(int)
        self.agents: list[dict[str, Any]] = []
        self.by_group: dict[str, list[str]] = defaultdict(list)
        self.shifts: dict[str, dict[int, tuple[float, float]]] = {}
        self.visitors: dict[str, dict[str, Any]] = {}

    # people, groups, shifts

    def people(self) -> None:
        rng = self.rng
        groups = list(GROUPS)
        now = at(self.start)
        SkillGroup._get_collection().insert_many(
            [{"_id": g, "name": name, "policy": "balanced", "max_queue": None, "last_agent_wait_s": None,
              "created_at": now} for g, name in GROUPS.items()])
        users = [{"_id": ADMIN_ID, "roles": ["admin"], "supervises": [], "email": "bench-admin@example.com",
                  "nickname": "Bench Admin", "avatar_url": "", "phone": "", "password_hash": "",
                  "must_change_password": False, "active": True, "deleted_at": None, "token_version": 0,
                  "saturation": 5, "groups": [], "created_at": now}]
        for i in range(self.n_agents):
            aid = f"a-bench-{i:04d}"
            own = rng.sample(groups, 1 if rng.random() < 0.55 else 2)
            if i < len(groups):  # every group has at least one agent
                own = list(dict.fromkeys([groups[i], *own]))
            user = {"_id": aid, "roles": ["agent"], "supervises": [], "email": f"agent{i}@bench.example.com",
                    "nickname": f"Agent {i:04d}", "avatar_url": "", "phone": "", "password_hash": "",
                    "must_change_password": False, "active": True, "deleted_at": None, "token_version": 0,
                    "saturation": rng.choice([2, 3, 3, 4, 4, 5, 6]), "groups": own, "created_at": now}
            users.append(user)
            self.agents.append(user)
            for g in own:
                self.by_group[g].append(aid)
        User._get_collection().insert_many(users)
        self.sizes["users"] = len(users)
        self.sizes["groups"] = len(GROUPS)

    def presence(self) -> None:
        """Shifts on most weekdays, some weekends, with one or two breaks; the last interval stays open."""
        rng, docs = self.rng, []
        day0 = self.start - self.start % 86400
        for agent in self.agents:
            aid = str(agent["_id"])
            shifts: dict[int, tuple[float, float]] = {}
            state, since = "offline", self.start
            events: list[tuple[float, str]] = []
            for d in range(self.days + 1):
                base = day0 + d * 86400
                weekday = datetime.fromtimestamp(base, tz=timezone.utc).weekday()
                if rng.random() > (0.85 if weekday < 5 else 0.25):
                    continue
                s = base + rng.uniform(6.5, 10.5) * 3600
                e = s + rng.uniform(6.5, 9.0) * 3600
                if s < self.start or s >= self.end:
                    continue
                shifts[d] = (s, e)
                events.append((s, "online"))
                for _ in range(rng.choice([1, 1, 2])):
                    b = rng.uniform(s + 3600, e - 3600)
                    events.append((b, "away"))
                    events.append((b + rng.uniform(10, 45) * 60, "online"))
                events.append((e, "offline"))
            events.sort()
            for t, new in events:
                if t >= self.end:
                    break
                if new == state or t <= since:
                    continue
                docs.append({"_id": f"{aid}|{since!r}", "agent": aid, "state": state, "start": at(since), "end": at(t)})
                state, since = new, t
            docs.append({"_id": f"{aid}|{since!r}", "agent": aid, "state": state, "start": at(since), "end": None})
            self.shifts[aid] = shifts
        for i in range(0, len(docs), 10000):
            AgentPresence._get_collection().insert_many(docs[i:i + 10000], ordered=False)
        self.sizes["presence_intervals"] = len(docs)

    # conversations

    def arrivals(self) -> list[float]:
        slots, weights = [], []
        first_hour = self.start - self.start % 3600
        t = first_hour
        while t < self.end:
            dt = datetime.fromtimestamp(t, tz=timezone.utc)
            slots.append(t)
            weights.append(HOURLY[dt.hour] * WEEKDAY[dt.weekday()])
            t += 3600
        picked = self.rng.choices(slots, weights=weights, k=self.n_conv)
        times = [min(self.end - 1, max(self.start, s + self.rng.random() * 3600)) for s in picked]
        return sorted(times)

    def visitor_for(self, t: float, channel: str) -> str:
        rng = self.rng
        if self.visitors and rng.random() < 0.3:  # a returning visitor (recent ones more likely)
            ids = self._visitor_ids
            vid = ids[max(0, len(ids) - 1 - int(rng.expovariate(1 / max(1.0, len(ids) / 8))))]
            self.visitors[vid]["seen_at"] = at(t)
            return vid
        vid = f"v-{len(self.visitors):07d}"
        n = len(self.visitors)
        self.visitors[vid] = {"_id": vid, "email": f"visitor{n}@mail.example.org" if rng.random() < 0.4 else "",
                              "name": f"Visitor {n}" if rng.random() < 0.5 else "", "channel": channel,
                              "page": rng.choice(["/", "/pricing", "/help", "/account", "/checkout", "/docs"]),
                              "last_agent": None, "open_conversation": None, "created_at": at(t), "seen_at": at(t)}
        self._visitor_ids.append(vid)
        return vid

    def text(self, group: str | None, words: int, topical: float = 0.35) -> str:
        rng = self.rng
        topic = TOPICS[group].split() if group else TOPICS[rng.choice(list(TOPICS))].split()
        return " ".join(rng.choice(topic) if rng.random() < topical else rng.choice(COMMON) for _ in range(words))

    def conversation(self, i: int, t0: float) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
        rng, end = self.rng, self.end
        cid = f"c-{i:08d}"
        channel = rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]
        visitor = self.visitor_for(t0, channel)
        topic = rng.choices(list(GROUP_WEIGHTS), weights=list(GROUP_WEIGHTS.values()))[0]
        roll = rng.random()
        kind = "bot_only" if roll < 0.35 else "abandoned" if roll < 0.35 + 0.05 else "handled"
        mean = self.mpc * {"bot_only": 0.5, "abandoned": 0.4, "handled": 1.45}[kind]
        n_msgs = max(2, int(round(rng.gauss(mean, mean / 3))))
        msgs: list[tuple[float, str, str, str, str, dict[str, Any] | None]] = []  # at, role, sender, kind, text, extra
        conv: dict[str, Any] = {"_id": cid, "visitor": visitor, "channel": channel, "phase": "bot", "group": None,
                                "priority": 0, "tier": 1, "agent": None, "participants": [], "transfers": [],
                                "created_at": at(t0), "queued_at": None, "queued_at_s": None, "assigned_at": None,
                                "first_agent_reply_at": None, "closed_at": None, "close_reason": None}

        def bot_turns(n: int, start: float, last: str) -> float:
            t = start
            for k in range(n):
                t += rng.uniform(5, 40)
                word = RARE_WORD if topic == "billing" and rng.random() < 0.003 else None
                words = self.text(topic, rng.randint(5, 18))
                msgs.append((t, "visitor", visitor, "text", f"{words} {word}" if word else words, None))
                t += rng.uniform(1, 4)
                decision = last if k == n - 1 else rng.choices(["answer", "suggest", "decline"], [0.7, 0.2, 0.1])[0]
                doc = f"{topic}-faq.md" if rng.random() < 0.6 else f"{topic}-guide.md"
                extra = {"decision": decision, "suggestions": [],
                         "sources": [{"id": f"{doc}#{rng.randint(1, 40)}"}] if decision in ("answer", "suggest") else []}
                msgs.append((t, "bot", "bot", "text", self.text(topic, rng.randint(10, 40), 0.5), extra))
            return t

        rating = None
        if kind == "bot_only":
            t = bot_turns(max(1, n_msgs // 2), t0, "answer")
            conv.update(phase="closed", closed_at=at(t + rng.uniform(20, 300)), close_reason=rng.choice(["visitor", "system"]))
        else:
            t = bot_turns(rng.randint(1, 2), t0, "handoff")
            group = topic
            queued = t + rng.uniform(0.5, 3)
            conv.update(phase="queued", group=group, queued_at=at(queued), queued_at_s=queued,
                        priority=2 if group == "vip" else 0)
            msgs.append((queued, "system", "", "system", f"waiting for {GROUPS[group]}", None))
            hour = datetime.fromtimestamp(queued, tz=timezone.utc).hour
            wait = rng.expovariate(1 / (40 + 80 * HOURLY[hour]))
            if kind == "abandoned":
                for k in range(max(0, n_msgs - 3)):
                    msgs.append((queued + wait * (k + 1) / n_msgs, "visitor", visitor, "text", self.text(group, 6), None))
                conv.update(phase="abandoned", closed_at=at(queued + wait + 60),
                            close_reason=rng.choice(["left_queue", "visitor_gone"]))
            else:
                assigned = queued + wait
                day = int((assigned - (self.start - self.start % 86400)) // 86400)
                pool = self.by_group[group]
                on = [a for a in pool if (sh := self.shifts[a].get(day)) and sh[0] <= assigned < sh[1]]
                agent = rng.choice(on or pool)
                conv.update(phase="assigned", agent=agent, participants=[agent], assigned_at=at(assigned))
                msgs.append((assigned, "system", "", "system", f"Agent {agent} joined", None))
                t = assigned
                missed = rng.random() < 0.03
                first = True
                transfer_at = n_msgs // 2 if rng.random() < 0.07 and len(pool) > 1 else -1
                for k in range(max(1, n_msgs - len(msgs))):
                    if k == transfer_at:
                        to = rng.choice([a for a in pool if a != agent])
                        t += rng.uniform(5, 30)
                        conv["transfers"].append({"at": t, "from_agent": agent, "to_agent": to, "to_group": None})
                        msgs.append((t, "system", "", "system", f"transferred to {to}", None))
                        agent = to
                        conv["participants"].append(to)
                        conv["agent"] = to
                    if missed or k % 2 == 1:
                        t += rng.uniform(10, 90)
                        msgs.append((t, "visitor", visitor, "text", self.text(group, rng.randint(4, 20)), None))
                    else:
                        t += rng.uniform(5, 60) if first else rng.uniform(15, 120)
                        if rng.random() < 0.05:
                            msgs.append((t, "agent", agent, "note", self.text(group, 8), None))
                        msgs.append((t, "agent", agent, "text", self.text(group, rng.randint(6, 35)), None))
                        if first:
                            conv["first_agent_reply_at"] = at(t)
                            first = False
                closed = t + rng.uniform(20, 240)
                conv.update(phase="closed", closed_at=at(closed), close_reason=rng.choice(["agent", "agent", "visitor"]))
                self.visitors[visitor]["last_agent"] = agent
                if rng.random() < 0.3:
                    rating = {"_id": cid, "visitor": visitor, "agent": agent, "score": rng.choice(SCORES),
                              "comment": self.text(group, 8, 0.2) if rng.random() < 0.3 else "",
                              "at": at(closed + rng.uniform(5, 120))}
        # what has not happened yet by the end of the range: still open in the phase reached
        if conv["closed_at"] is not None and conv["closed_at"].timestamp() > end:
            rating = None
            conv.update(closed_at=None, close_reason=None)
            for name, phase in (("assigned_at", "assigned"), ("queued_at", "queued")):
                if conv[name] is not None and conv[name].timestamp() > end:
                    conv.update({name: None, **({"queued_at_s": None} if name == "queued_at" else {}),
                                 **({"agent": None, "participants": [], "transfers": [],
                                     "first_agent_reply_at": None} if name == "assigned_at" else {})})
                elif conv[name] is not None:
                    conv["phase"] = phase
                    break
            else:
                conv.update(phase="bot", group=None)
            if conv["first_agent_reply_at"] is not None and conv["first_agent_reply_at"].timestamp() > end:
                conv["first_agent_reply_at"] = None
            conv["transfers"] = [x for x in conv["transfers"] if x["at"] <= end]
            if conv["phase"] != "closed":
                self.visitors[visitor]["open_conversation"] = cid
        docs = []
        for seq, (t, role, sender, mkind, text, extra) in enumerate(sorted((m for m in msgs if m[0] <= end),
                                                                       key=lambda m: m[0]), start=1):
            doc = {"conversation": cid, "seq": seq, "sender_role": role, "sender_id": sender, "kind": mkind,
                   "text": text, "client_id": f"m{seq}" if role in ("visitor", "agent") else None, "at": at(t)}
            if extra:
                doc["extra"] = extra
            docs.append(doc)
        conv["last_seq"] = len(docs)
        return conv, docs, rating

    def generate(self, chunk: int = 2000) -> None:
        self._visitor_ids: list[str] = []
        times = self.arrivals()
        convs_col, msgs_col, ratings_col = (Conversation._get_collection(), Message._get_collection(),
                                            Rating._get_collection())
        for i in range(0, len(times), chunk):
            convs, msgs, ratings = [], [], []
            for j, t0 in enumerate(times[i:i + chunk], start=i):
                conv, docs, rating = self.conversation(j, t0)
                convs.append(conv)
                msgs.extend(docs)
                if rating:
                    ratings.append(rating)
                self.sizes[f"conversations_{conv['phase']}"] += 1
                if conv["phase"] == "closed" and conv["queued_at"] is None:
                    self.sizes["conversations_bot_only"] += 1
                self.sizes["transfers"] += len(conv["transfers"])
            convs_col.insert_many(convs, ordered=False)
            for k in range(0, len(msgs), 10000):
                msgs_col.insert_many(msgs[k:k + 10000], ordered=False)
            if ratings:
                ratings_col.insert_many(ratings, ordered=False)
            self.sizes["conversations"] += len(convs)
            self.sizes["messages"] += len(msgs)
            self.sizes["ratings"] += len(ratings)
            print(f"\r  generated {self.sizes['conversations']:,} / {len(times):,} conversations, "
                  f"{self.sizes['messages']:,} messages", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        vis = list(self.visitors.values())
        for k in range(0, len(vis), 10000):
            Visitor._get_collection().insert_many(vis[k:k + 10000], ordered=False)
        self.sizes["visitors"] = len(vis)
        self.sizes["agents"] = len(self.agents)
        self.sizes["days"] = self.days


# --- timing ----------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm-up, untimed
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def month_of(end: float, days: int) -> tuple[str, str]:
    last = datetime.fromtimestamp(end, tz=timezone.utc).date()
    first = max(last - timedelta(days=29), datetime.fromtimestamp(end - days * 86400, tz=timezone.utc).date())
    return first.isoformat(), last.isoformat()


def report_queries(agent: str, first: str, last: str, repeat: int) -> dict[str, list[float]]:
    from switchboard.edges.rest import reports as rr

    month = {"from": first, "to": last, "tz": "UTC"}
    now = time.time()
    q = rr.parse_query(month)
    runs: dict[str, Callable[[], Any]] = {
        "overview (month, by day)": lambda: rr.overview(rr.parse_query(month)),
        "overview (month, group+channel)": lambda: rr.overview(rr.parse_query({**month, "group": "billing",
                                                                               "channel": "widget"})),
        "agents table (month, all agents)": lambda: rr.agents_report(rr.parse_query(month), now),
        "agents table (month, Europe/Paris)": lambda: rr.agents_report(rr.parse_query(
            {**month, "tz": "Europe/Paris"}), now),
        "overview (month, by hour, Europe/Paris)": lambda: rr.overview(rr.parse_query(
            {**month, "tz": "Europe/Paris", "by": "hour"})),
        "one agent's month (row)": lambda: rr.agents_report(rr.parse_query({**month, "agent": agent}), now),
        "one agent's month (timeline)": lambda: rr.timeline(q, agent, now),
        "channels (month)": lambda: rr.channels_report(rr.parse_query(month)),
        "bot (month)": lambda: rr.bot_report(rr.parse_query(month)),
    }
    from switchboard.store.report_reads import clear_cache

    def cold(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            clear_cache()
            return fn()
        return run

    for name in ("overview (month, by day)", "agents table (month, all agents)", "channels (month)", "bot (month)"):
        runs[f"{name} (cold)"] = cold(runs[name])
    out = {}
    for name, fn in runs.items():
        log(f"timing report: {name}")
        out[name] = timed(fn, repeat)
    return out


def history_queries(first: str, repeat: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    from switchboard.store.history import HistoryFilter, HistoryScope, search_conversations

    scope = HistoryScope(ADMIN_ID, is_admin=True)
    since = datetime.combine(date.fromisoformat(first), datetime.min.time(), timezone.utc)
    filters = {
        f"text search '{COMMON_WORD}' (common)": HistoryFilter(q=COMMON_WORD),
        f"text search '{RARE_WORD}' (rare)": HistoryFilter(q=RARE_WORD),
        "list: group+channel+closed, month": HistoryFilter(group="billing", channel="widget", phase="closed",
                                                           since=since, until=datetime.now(timezone.utc)),
    }
    out, found = {}, {}
    for name, f in filters.items():
        log(f"timing history: {name}")
        out[name] = timed(lambda: search_conversations(f, scope, limit=25, now=datetime.now(timezone.utc)), repeat)
        found[name] = len(search_conversations(f, scope, limit=25, now=datetime.now(timezone.utc)).items)
    return out, found


# --- the live view ----------------------------------------------------------------------------------------


class _Collector:
    closed = False

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)


def live_world(h: History, redis_url: str, rng: random.Random) -> tuple[Any, dict[str, int]]:
    """A local engine with the history's agents and groups, ~60 % online and loaded, visitors waiting in some
    queues; the open conversations' views written to Redis as the relay writes them."""
    import redis as sync_redis

    from switchboard.actors import messages as m
    from switchboard.actors.address import Address
    from switchboard.actors.start import start_engine
    from switchboard.edges.keys import conv_key

    engine = start_engine("local")
    for g in GROUPS:
        engine.send(Address.queue(g), m.CreateGroup())
    online_capacity: dict[str, int] = defaultdict(int)
    presence = {"online": 0, "away": 0, "offline": 0}
    for a in h.agents:
        aid = str(a["_id"])
        engine.send(Address.agent(aid), m.CreateAgent(saturation=int(a["saturation"]), groups=tuple(a["groups"]),
                                                      name=str(a["nickname"])))
        state = rng.choices(["online", "away", "offline"], [0.6, 0.1, 0.3])[0]
        presence[state] += 1
        if state != "offline":
            engine.send(Address.agent(aid), m.SetPresence(state))
        if state == "online":
            for g in a["groups"]:
                online_capacity[g] += int(a["saturation"]) // len(a["groups"])
    engine.wait_quiet(60)
    requests = []
    for g in GROUPS:  # ~70 % of the online capacity, plus a few waiting in the two busiest groups
        extra = 8 if g in ("support", "billing") else 0
        requests += [g] * (int(online_capacity[g] * 0.7) + extra)
    rng.shuffle(requests)
    views = {}
    for i, g in enumerate(requests):
        cid, vid = f"live-{i:05d}", f"live-v-{i:05d}"
        channel = rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]
        engine.send(Address.conversation(cid), m.OpenConversation(vid, channel))
        engine.send(Address.conversation(cid), m.RequestHuman(g))
        views[cid] = (vid, g, channel)
    engine.wait_quiet(60)
    client = sync_redis.Redis.from_url(redis_url)
    assigned = 0
    with client.pipeline(transaction=False) as pipe:
        for a in h.agents:
            snap = engine.inspect(Address.agent(str(a["_id"]))) or {}
            for cid in snap.get("active", []):
                vid, g, channel = views[cid]
                engine.send(Address.conversation(cid), m.AgentWrote())
                pipe.hset(conv_key(cid), mapping={"visitor": vid, "phase": "assigned", "group": g,
                                                  "agent": str(a["_id"]), "participants": orjson.dumps([a["_id"]]),
                                                  "channel": channel, "last_seq": 3})
                assigned += 1
        for cid, (vid, g, channel) in views.items():
            pipe.hsetnx(conv_key(cid), "visitor", vid)
            pipe.hsetnx(conv_key(cid), "phase", "queued")
            pipe.hsetnx(conv_key(cid), "group", g)
        pipe.execute()
    client.close()
    engine.wait_quiet(60)
    waiting = sum(len((engine.inspect(Address.queue(g)) or {}).get("waiting", [])) for g in GROUPS)
    return engine, {**{f"live_agents_{k}": v for k, v in presence.items()}, "live_conversations_assigned": assigned,
                    "live_visitors_waiting": waiting}


def live_timings(engine: Any, redis_url: str, repeat: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    import redis.asyncio as aioredis

    from switchboard.edges.delivery.sockets import Connection
    from switchboard.edges.live import LiveEdge
    from switchboard.edges.scope import Scope

    admin = Scope(ADMIN_ID, frozenset({"admin"}), frozenset())

    async def run() -> tuple[dict[str, list[float]], dict[str, Any]]:
        client = aioredis.Redis.from_url(redis_url)
        first, build = [], []
        shape: dict[str, Any] = {}
        try:
            for i in range(repeat + 1):  # the first is the warm-up
                edge = LiveEdge(engine, client)
                conn = _Collector()
                t0 = time.perf_counter()
                await edge.subscribe(cast(Connection, conn), admin)
                t1 = time.perf_counter()
                edge.forget(cast(Connection, conn))
                frame = conn.frames[-1]
                t2 = time.perf_counter()
                await edge.build(admin)
                t3 = time.perf_counter()
                if i:
                    first.append((t1 - t0) * 1000)
                    build.append((t3 - t2) * 1000)
                shape = {"agents_in_frame": len(frame["agents"]), "queues_in_frame": len(frame["queues"]),
                         "open_conversations_in_frame": sum(len(a["conversations"]) for a in frame["agents"]),
                         "waiting_in_frame": sum(q["waiting_total"] for q in frame["queues"])}
                await asyncio.sleep(0)
        finally:
            await client.aclose()
        return {"live view first load (subscribe)": first, "live view build (world + frame)": build}, shape

    return asyncio.run(run())


# --- the writer's overhead --------------------------------------------------------------------------------


def writer_run(tag: str, conversations: int, agents: list[str], reports_on: bool, seed: int) -> tuple[float, int]:
    """Items per second the StoreWriter takes for one workload (module docstring, step 6), in a database of its
    own (a store that grows run after run would favour the earlier runs)."""
    from switchboard.store.connection import connect, current_uri, ensure_indexes
    from switchboard.store.writer import StoreWriter, ensure_dedupe_index

    uri = current_uri()
    assert uri is not None
    connect(f"{uri.rsplit('/', 1)[0]}/writer_{tag}", timeout_s=60)
    ensure_indexes()
    ensure_dedupe_index()

    rng = random.Random(seed)  # the same workload for every run (only the ids differ)

    async def one(writer: StoreWriter, i: int, base: float) -> int:
        cid, vid, agent = f"w-{tag}-{i:05d}", f"wv-{tag}-{i:05d}", agents[i % len(agents)]
        group = list(GROUPS)[i % len(GROUPS)]
        t = base + i * 0.01
        seq, n = 0, 0
        state: dict[str, Any] = {"conversation": cid, "visitor": vid, "channel": "widget", "phase": "bot",
                                 "group": None, "priority": 0, "tier": 1, "agent": None, "participants": [],
                                 "transfers": [], "created_at": t}

        async def msg(role: str, sender: str, text: str, extra: dict[str, Any] | None = None) -> None:
            nonlocal seq, n, t
            seq += 1
            t += 1.0
            await writer.add_message({"conversation": cid, "seq": seq, "sender_role": role, "sender_id": sender,
                                      "kind": "text", "text": text, "at": t, "extra": extra,
                                      "client_id": f"m{seq}" if role in ("visitor", "agent") else None})
            n += 1

        async def save(**fields: Any) -> None:
            nonlocal n
            state.update(fields)
            await writer.save_conversation(dict(state))
            n += 1

        words = TOPICS[group].split() + COMMON

        def say(k: int) -> str:
            return " ".join(rng.choice(words) for _ in range(k))

        await save()
        for d in ("answer", "handoff"):
            await msg("visitor", vid, say(10))
            await msg("bot", "bot", say(20), {"decision": d, "suggestions": [],
                                              "sources": [{"id": f"{group}-faq.md#3"}] if d == "answer" else []})
        await save(phase="queued", group=group, queued_at=t + 1)
        await save(phase="assigned", agent=agent, participants=[agent], assigned_at=t + 5)
        for k in range(4):
            await msg("agent", agent, say(15))
            if k == 0:
                await save(first_agent_reply_at=t)
            await msg("visitor", vid, say(8))
        await save(phase="closed", closed_at=t + 30, close_reason="agent")
        if i % 3 == 0:
            await writer.save_rating(cid, vid, agent, 1 + i % 5, "", t + 40)
            n += 1
        return n

    async def run() -> tuple[float, int]:
        writer = StoreWriter(journal=False, reports=reports_on, keeper=KEEPER)
        await writer.start()
        await writer.flush_reports()  # the keeper ready (a process has started), as in a running server
        base = time.time()  # created after the writer started, as a relay's new conversations are
        t0 = time.perf_counter()
        counts = await asyncio.gather(*(one(writer, i, base) for i in range(conversations)))
        await writer.flush_reports()  # the aggregates' thread has counted and stored everything too
        elapsed = time.perf_counter() - t0
        await writer.close()
        return sum(counts) / elapsed, sum(counts)

    try:
        return asyncio.run(run())
    finally:
        import mongoengine

        mongoengine.get_connection().drop_database(f"writer_{tag}")
        connect(uri, timeout_s=60)


def writer_overhead(conversations: int, pairs: int, agents: list[str]) -> dict[str, Any]:
    log(f"writer warm-up ({conversations} conversations)")
    run = f"{int(time.time())}"  # fresh ids in every run (a --reuse run writes into the same store)
    writer_run(f"{run}warm", conversations, agents, True, 1)
    on, off, overheads = [], [], []
    for p in range(pairs):
        order = (True, False) if p % 2 == 0 else (False, True)
        got = {}
        for flag in order:
            thr, items = writer_run(f"{run}{p}{'on' if flag else 'off'}", conversations, agents, flag, 1)
            got[flag] = thr
            log(f"writer pair {p + 1}/{pairs}, aggregates {'on ' if flag else 'off'}: {thr:,.0f} items/s ({items:,} items)")
        on.append(got[True])
        off.append(got[False])
        overheads.append((got[False] / got[True] - 1) * 100)
    return {"writer_items_per_s_aggregates_on": round(statistics.median(on), 1),
            "writer_items_per_s_aggregates_off": round(statistics.median(off), 1),
            "writer_overhead_pct_by_pair": [round(x, 2) for x in overheads],
            "aggregate_write_overhead_pct": round(statistics.median(overheads), 2)}


# --- main ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per-conversation", type=float, default=10.0,
                        help="the mean (bot-only ones are shorter, handled ones longer)")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=30, help="timed repetitions of each query")
    parser.add_argument("--seed", type=int, default=20260310)
    parser.add_argument("--writer-conversations", type=int, default=2000,
                        help="conversations per writer run (about 16 writes each)")
    parser.add_argument("--writer-pairs", type=int, default=7, help="on/off pairs of writer runs")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary dir, removed after")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    parser.add_argument("--keeper", choices=("process", "thread"), default="process",
                        help="where the writer counts the aggregates (serve's setting report_keeper)")
    parser.add_argument("--reuse", action="store_true",
                        help="time again over the history a --keep run left in --data-dir (no generation)")
    args = parser.parse_args()
    global KEEPER
    KEEPER = args.keeper

    from switchboard.store.connection import connect, disconnect, ensure_indexes
    from switchboard.store.embedded import EmbeddedMongo, EmbeddedRedis
    from switchboard.store.reports import rebuild
    from switchboard.store.writer import ensure_dedupe_index

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-reports-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    mongo, redis_srv, engine = EmbeddedMongo(str(data_dir)), EmbeddedRedis(str(data_dir)), None
    try:
        uri = mongo.start()
        redis_url = redis_srv.start()
        connect(uri, timeout_s=60)
        ensure_indexes()
        ensure_dedupe_index()
        log(f"store {uri}, redis {redis_url}, data dir {data_dir}")
        rng = random.Random(args.seed)
        meta_file = data_dir / "bench-meta.json"
        if args.reuse:  # the history and aggregates a run with --keep left: only the timings again
            meta = orjson.loads(meta_file.read_bytes())
            end, gen_s, rebuild_s, shards = meta["end"], meta["generate_s"], meta["rebuild_s"], meta["shards"]
            h = History(rng, args.conversations, args.messages_per_conversation, args.agents, args.days, end)
            h.sizes.update(meta["sizes"])
            h.agents = list(User._get_collection().find({"roles": "agent"}))
            busiest_id = meta["busiest"]
            log(f"reusing the history of {time.strftime('%Y-%m-%d %H:%M', time.gmtime(end))} UTC")
        else:
            end = time.time()
            h = History(rng, args.conversations, args.messages_per_conversation, args.agents, args.days, end)
            started = time.perf_counter()
            h.people()
            h.presence()
            h.generate()
            gen_s = time.perf_counter() - started
            log(f"generated in {gen_s:.0f} s: {dict(h.sizes)}")

            started = time.perf_counter()
            last_stage: list[str] = [""]

            def progress(stage: str, done: int, total: int) -> None:
                if stage != last_stage[0] and last_stage[0]:
                    print(file=sys.stderr)
                last_stage[0] = stage
                print(f"\r  rebuild {stage}: {done:,} / {total:,}", end="", file=sys.stderr, flush=True)

            shards = rebuild(progress=progress)
            print(file=sys.stderr)
            rebuild_s = time.perf_counter() - started
            log(f"rebuilt {shards:,} shards in {rebuild_s:.0f} s")
            busiest_id = str(max(h.agents, key=lambda a: len(h.shifts[str(a["_id"])]))["_id"])
            meta_file.write_bytes(orjson.dumps({"end": end, "generate_s": gen_s, "rebuild_s": rebuild_s,
                                                "shards": shards, "sizes": dict(h.sizes), "busiest": busiest_id}))

        first, last = month_of(end, args.days)
        times: dict[str, list[float]] = {}
        report_times = report_queries(busiest_id, first, last, args.repeat)
        history_times, found = history_queries(first, args.repeat)
        log("live view: engine with the agents and groups")
        engine, live_shape = live_world(h, redis_url, random.Random(args.seed + 1))
        live_times, frame_shape = live_timings(engine, redis_url, args.repeat)
        engine.stop()
        engine = None
        # the writer runs go to databases of their own: they would otherwise add to the history timed above
        writer = writer_overhead(args.writer_conversations, args.writer_pairs, [str(a["_id"]) for a in h.agents])
        times = {**report_times, **history_times, **live_times}

        def p99(names: dict[str, list[float]]) -> float:
            return max(pct(v, 99) for v in names.values())

        warm = {k: v for k, v in report_times.items() if not k.endswith("(cold)")}
        cold = {k: v for k, v in report_times.items() if k.endswith("(cold)")}
        figures = {"reports_p99_ms": round(p99(report_times), 2), "history_search_p99_ms": round(p99(history_times), 2),
                   "live_view_first_load_ms": round(pct(live_times["live view first load (subscribe)"], 99), 2),
                   "aggregate_write_overhead_pct": writer["aggregate_write_overhead_pct"]}
        sizes = {**dict(h.sizes), "report_shards": shards, **live_shape, **frame_shape}
        print(f"\n{sizes['conversations']:,} conversations, {sizes['messages']:,} messages, {sizes['agents']} agents, "
              f"{sizes['visitors']:,} visitors, {sizes['ratings']:,} ratings, {args.days} days; generated in "
              f"{gen_s:.0f} s, aggregates rebuilt in {rebuild_s:.0f} s ({shards:,} shards); month {first}..{last}; "
              f"{args.repeat} timed repetitions each after a warm-up")
        print(f"{'query':<44}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for label, lat in times.items():
            extra = f"   ({found[label]} found)" if label in found else ""
            print(f"{label:<44}{statistics.median(lat):>10.2f}{pct(lat, 99):>10.2f}{max(lat):>10.2f}{extra}")
        print(f"writer: {writer['writer_items_per_s_aggregates_on']:,.0f} items/s with aggregates, "
              f"{writer['writer_items_per_s_aggregates_off']:,.0f} without (median of {args.writer_pairs} "
              f"alternating pairs; overhead by pair {writer['writer_overhead_pct_by_pair']} %)")
        print(f"\n{'figure':<32}{'value':>12}{'target':>12}  met")
        met = {}
        for name, value in figures.items():
            met[name] = value < TARGETS[name]
            unit = " %" if name.endswith("pct") else " ms"
            print(f"{name:<32}{value:>10.2f}{unit}{'< ' + format(TARGETS[name], 'g'):>12}  {'ok' if met[name] else 'MISS'}")
        result = {**figures, "targets": TARGETS, "met": met, "all_met": all(met.values()),
                  "queries": {k: {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(pct(v, 99), 3)}
                              for k, v in times.items()},
                  "reports_warm_p99_ms": round(p99(warm), 2), "reports_cold_p99_ms": round(p99(cold), 2),
                  "history_found": found, **writer, "sizes": sizes, "repeat": args.repeat, "seed": args.seed,
                  "generate_s": round(gen_s, 1), "rebuild_s": round(rebuild_s, 1)}
        print(orjson.dumps(result).decode())
        return 0
    finally:
        if engine is not None:
            engine.stop()
        disconnect()
        redis_srv.stop()
        mongo.stop()
        if args.keep:
            log(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
