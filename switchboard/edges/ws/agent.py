"""``/ws/agent``: the workspace's socket.

The hello carries the token from ``POST /api/auth/login`` (in the frame, never
in the URL, so it stays out of access logs); it is checked like a REST call
(signature, expiry, live session, password version). The welcome is a
snapshot: the agent's presence and conversations, the transfers waiting for
their answer, and the queues of their groups. Commands go to the engine with
the agent's id as the actor, so the entities refuse what is not this agent's
to do; transfer, whose message names no actor, and typing are checked here
against the conversation's agent in Redis. When an agent's last socket anywhere closes, the agent goes offline
(the offline grace period keeps their conversations for a reconnect).

Roles (:mod:`switchboard.edges.scope`): any user may open the socket, but only one holding the agent role
takes chats (presence, messages, notes, typing, invite, answering transfers; anyone else gets ``forbidden``).
An admin, or a supervisor of the conversation's group, may also transfer, close and read (sync) a
conversation that is not theirs, and sees the queues of the groups they steer; the user's roles are read
again from the store for each such action, so a role taken away counts at once.

Pushed, never polled (:mod:`switchboard.edges.live`, docs/live.md): a steerer that sends ``live`` gets the
live view now and again whenever it changes; every socket gets ``queues`` again when a group it shows changes.
A socket that sends ``watch`` for a conversation it may read gets that conversation's new messages and state
pushed (:mod:`switchboard.edges.watch`) until it stops, the socket ends or the conversation leaves its scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Awaitable, Callable

from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from switchboard.actors import messages as m
from switchboard.actors.address import Address, UserRef
from switchboard.store.groups import list_groups
from switchboard.store.users import get_user
from switchboard.edges import codes
from switchboard.edges import protocol as p
from switchboard.edges.auth import AuthError, check_session, decode_token
from switchboard.edges.delivery.sockets import Connection, TokenBucket
from switchboard.edges.keys import LIVE_CHANNEL, ConvView, as_str, conv_key, live_change
from switchboard.edges.live import LiveEdge, live_edge, queue_rows
from switchboard.edges.scope import Scope, scope_now
from switchboard.edges.watch import WatchEdge, may_watch, watch_edge
from switchboard.edges.protocol import CLOSE_AUTH, CLOSE_POLICY, Frame, frame, parse_agent
from switchboard.edges.services import Services
from switchboard.edges.ws.session import (SyncGate, command, conversation_info, hold, last_seq_of, origin_allowed,
                                          read_hello, send_error)

log = logging.getLogger("switchboard.agent_ws")

__all__ = ["agent_endpoint", "authenticate_agent"]


async def authenticate_agent(services: Services, token: str) -> tuple[str, str, str, Scope]:
    """(user id, nickname, sid, scope) for a valid user token; raises AuthError."""
    claims = decode_token(token, secret=services.secret)
    user = await asyncio.to_thread(get_user, claims.user_id)
    if user is None or user.deleted_at is not None:
        raise AuthError(codes.TOKEN_INVALID, "the token names no user")
    await check_session(services.redis, claims, user.token_version)
    if not user.active:
        raise AuthError(codes.SESSION_ENDED, "the account is deactivated")
    return user.id, user.nickname or user.id, claims.sid, Scope.of(user)


async def agent_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    if not origin_allowed(ws, await services.site.origins()):
        await ws.close(CLOSE_POLICY)
        return
    await ws.accept()
    hello = await read_hello(ws, parse_agent, p.AgentHello, services.settings.max_frame_bytes,
                             services.settings.hello_timeout_s)
    if hello is None:
        return
    try:
        agent_id, nickname, sid, scope = await authenticate_agent(services, hello.token)
    except AuthError as exc:
        await send_error(ws, exc.code, exc.message)
        await ws.close(CLOSE_AUTH)
        return
    services.names.set_agent(agent_id, nickname)
    bucket = TokenBucket(services.settings.rate_limit_per_s, services.settings.rate_limit_burst)
    conn = Connection(ws, UserRef.agent(agent_id), services.next_conn_id(), bucket, sid=sid)

    async def offline() -> None:  # the agent's last socket anywhere (the grace period keeps the conversations)
        if scope.is_agent:
            services.engine.send(Address.agent(agent_id), m.SetPresence("offline"))
            with contextlib.suppress(RedisError):  # the live view shows it (edges/live.py)
                await services.redis.publish(LIVE_CHANNEL, live_change(agents=[agent_id]))

    session = AgentSession(services, conn, scope)
    try:
        await hold(services, conn, session, hello, parse_agent, offline)
    finally:
        session.live.forget(conn)
        session.watches.forget(conn)


class AgentSession:
    def __init__(self, services: Services, conn: Connection, scope: Scope) -> None:
        self.s, self.conn = services, conn
        self.agent = conn.user.id
        self.scope = scope  # as at the hello; steering actions read it again (:meth:`steers`)
        self.sync_gate = SyncGate(services.settings)
        self.live: LiveEdge = live_edge(services.hub, services.engine, services.redis)
        self.watches: WatchEdge = watch_edge(services.hub, services.redis, services.sockets, services.names)

    async def welcome(self, hello: p.AgentHello) -> None:
        snapshot = await self.snapshot()
        await self.conn.send(frame("welcome", v=p.VERSION, edge=self.s.edge_id, agent={"id": self.agent, "name": await self.s.names.display("agent", self.agent)},
                                   **snapshot))
        for conv in snapshot["conversations"]:
            self.conn.last[conv["id"]] = conv["last_seq"]
        serving = {conv["id"] for conv in snapshot["conversations"]}  # the engine's list (it may hold some briefly)
        for conv, last in hello.last_seq.items():
            if await self.may_read(conv) or (conv in serving and await self.engine_lets_read(conv)):
                self.conn.last[conv] = max(0, min(last, await last_seq_of(self.s, conv)))  # a bogus value cannot mute the socket
                sent = await self.s.sockets.heal(self.conn, conv, last, None)
                log.info("agent %s resumed conversation %r after seq %d: %d missed message(s) sent", self.agent,
                         conv[:64], last, sent)
            else:  # the id as the client sent it: quoted and cut, so it cannot forge or flood log lines
                log.info("agent %s may not read conversation %r: not resumed", self.agent, conv[:64])
        await self.live.watch_queues(self.conn, snapshot["queues"])  # pushed when they change (edges/live.py)

    async def snapshot(self) -> Frame:
        me = await asyncio.to_thread(self.s.engine.inspect, Address.agent(self.agent)) if self.scope.is_agent else None
        if me is None:
            return {"presence": "offline", "saturation": 0, "groups": [], "conversations": [], "pending_transfers": [],
                    "queues": await self.queues(await self.queue_groups([]))}
        conversations = [c for c in [await conversation_info(self.s, conv) for conv in me.get("active", [])] if c]
        pending = [{"conversation": o["conversation"], "from_agent": o["from_agent"]} for o in me.get("transfer_offers", [])]
        return {"presence": me["presence"], "saturation": me["saturation"], "groups": me["groups"],
                "conversations": conversations, "pending_transfers": pending,
                "queues": await self.queues(await self.queue_groups(me["groups"]))}

    async def queue_groups(self, own: list[str]) -> list[str]:
        """The groups whose queues this user sees: its own as an agent, and those it steers."""
        if not self.scope.steers:
            return own
        every = [g.id for g in await asyncio.to_thread(list_groups)]
        return list(dict.fromkeys([*own, *self.scope.visible_groups(every)]))

    async def queues(self, groups: list[str]) -> dict[str, list[Frame]]:
        now, result = time.time(), {}
        for group in groups:
            queue = await asyncio.to_thread(self.s.engine.inspect, Address.queue(group))
            result[group] = queue_rows(queue["waiting"] if queue else [], now)
        return result

    async def may_read(self, conv: str) -> bool:
        agent, participants = (as_str(v) for v in await self.s.redis.hmget(conv_key(conv), ["agent", "participants"]))
        return agent == self.agent or (participants is not None and f'"{self.agent}"' in participants)

    async def engine_lets_read(self, conv: str) -> bool:
        """The conversation's own word, for one of ours that Redis does not show as ours: Redis is the
        engine's cache and can lag or lose a state (a state the store refused never reached it, once)."""
        state = await asyncio.to_thread(self.s.engine.inspect, Address.conversation(conv))
        return state is not None and (state.get("agent") == self.agent or self.agent in state.get("participants", ()))

    async def is_mine(self, conv: str, quiet: bool = False) -> bool:
        if as_str(await self.s.redis.hget(conv_key(conv), "agent")) == self.agent:
            return True
        if not quiet:
            await self.not_yours(conv)
        return False

    async def not_yours(self, conv: str) -> None:
        await self.conn.send(frame("error", code=codes.NOT_YOUR_CONVERSATION, message=f"conversation {conv[:64]!r} is not yours",
                                   conversation=conv[:64]))

    async def steers(self, conv: str) -> ConvView | None:
        """The conversation's view if this user, as the store has its roles now, steers its group (an admin,
        or the group's supervisor); else None."""
        view = ConvView.from_hash(conv, await self.s.redis.hgetall(conv_key(conv)))
        if view is None:
            return None
        self.scope = await asyncio.to_thread(scope_now, self.agent)
        return view if self.scope.manages(view.group) else None

    async def handle(self, f: p.AgentFrame) -> None:
        handler = _HANDLERS.get(type(f))
        if handler is None:
            await self.conn.send(frame("error", code=codes.UNKNOWN_TYPE, message=f"an agent cannot send {type(f).__name__}"))
            return
        if type(f) in _AGENT_ONLY and not self.scope.is_agent:
            await self.conn.send(frame("error", code=codes.FORBIDDEN_ACTION, in_reply_to=_frame_name(f),
                                       message="only a user with the agent role takes chats"))
            return
        await handler(self, f)

    def _to(self, conv: str, msg: m.Command, frame_type: str, client_id: str | None = None) -> None:
        command(self.s, self.conn, Address.conversation(conv), msg, frame_type, client_id)

    async def _presence(self, f: p.Presence) -> None:
        command(self.s, self.conn, Address.agent(self.agent), m.SetPresence(f.presence), "presence")
        for conn in self.s.sockets.of(self.conn.user):
            await conn.send(frame("presence", presence=f.presence))
        with contextlib.suppress(RedisError):  # the live view shows it (edges/live.py)
            await self.s.redis.publish(LIVE_CHANNEL, live_change(agents=[self.agent]))

    async def _message(self, f: p.AgentMessage | p.Note) -> None:
        kind = "note" if isinstance(f, p.Note) else "text"
        self._to(f.conversation, m.Post("agent", self.agent, f.text, kind=kind, client_id=f.client_id),
                 kind if kind == "note" else "message", f.client_id)

    async def _typing(self, f: p.AgentTyping) -> None:
        if await self.is_mine(f.conversation):
            visitor = as_str(await self.s.redis.hget(conv_key(f.conversation), "visitor"))
            if visitor:
                self.s.hub.to_user(UserRef.visitor(visitor), frame("typing", conversation=f.conversation, sender="agent",
                                                                typing=f.typing))

    async def _invite(self, f: p.Invite) -> None:
        self._to(f.conversation, m.Invite(self.agent), "invite")

    async def _transfer(self, f: p.Transfer) -> None:
        if (f.to_agent is None) == (f.to_group is None):
            await self.conn.send(frame("error", code=codes.INVALID_FRAME, message="name exactly one of to_agent and to_group"))
            return
        if await self.is_mine(f.conversation, quiet=True) or await self.steers(f.conversation) is not None:
            msg = m.TransferToAgent(f.to_agent) if f.to_agent is not None else m.TransferToGroup(f.to_group or "")
            self._to(f.conversation, msg, "transfer")
        else:
            await self.not_yours(f.conversation)

    async def _answer_transfer(self, f: p.AnswerTransfer) -> None:
        command(self.s, self.conn, Address.agent(self.agent), m.AnswerTransfer(f.conversation, f.accept), "answer_transfer")

    async def _close(self, f: p.AgentClose) -> None:
        if self.scope.is_agent and await self.is_mine(f.conversation, quiet=True):
            self._to(f.conversation, m.Close("agent", agent=self.agent), "close")
            return
        view = await self.steers(f.conversation)
        if view is None:  # not a steerer's: the engine refuses it in the usual words
            self._to(f.conversation, m.Close("agent", agent=self.agent), "close")
        else:  # an assigned one closes as its agent would; a waiting one is given up, as the system does
            self._to(f.conversation, m.Close("agent") if view.phase == "assigned" else m.Close("system"), "close")

    async def _queues(self, f: p.Queues) -> None:
        me = await asyncio.to_thread(self.s.engine.inspect, Address.agent(self.agent)) if self.scope.is_agent else None
        queues = await self.queues(await self.queue_groups(me["groups"] if me else []))
        await self.live.watch_queues(self.conn, queues)  # the agent's groups may have changed since the welcome
        await self.conn.send(frame("queues", queues=queues))

    async def _live(self, f: p.Live) -> None:
        if not f.on:
            self.live.unsubscribe(self.conn)
            return
        self.scope = await asyncio.to_thread(scope_now, self.agent)  # roles as the store has them now
        if not self.scope.steers:
            await self.conn.send(frame("error", code=codes.FORBIDDEN_ACTION, in_reply_to="live",
                                       message="only an admin or a group's supervisor sees the live view"))
            return
        await self.live.subscribe(self.conn, self.scope)

    async def _watch(self, f: p.WatchConversation) -> None:
        if not f.on:
            self.watches.unwatch(self.conn, f.conversation)
            return
        view = ConvView.from_hash(f.conversation, await self.s.redis.hgetall(conv_key(f.conversation)))
        if view is not None:
            self.scope = await asyncio.to_thread(scope_now, self.agent)  # roles as the store has them now
        if view is None or not may_watch(self.scope, view):
            await self.conn.send(frame("error", code=codes.NOT_YOUR_CONVERSATION, in_reply_to="watch",
                                       conversation=f.conversation, message="not a conversation you may read"))
            return
        refused = await self.watches.watch(self.conn, view, self.scope)
        if refused is not None:
            await self.conn.send(frame("error", code=refused, in_reply_to="watch", conversation=f.conversation,
                                       message=f"a socket watches at most {self.watches.max_watched} conversations"))

    async def _sync(self, f: p.Sync) -> None:
        if not await self.sync_gate.admits(self.conn):
            return
        if not await self.may_read(f.conversation) and await self.steers(f.conversation) is None:
            await self.conn.send(frame("error", code=codes.NOT_YOUR_CONVERSATION, message="not a conversation of yours"))
            return
        await self.sync_gate.serve(self.s, self.conn, f.conversation, f.after)

    async def _ping(self, f: p.Ping) -> None:
        await self.conn.send(frame("pong", time=time.time()))


# What only a user holding the agent role may send: taking chats. Transfer, close, sync, queues, live, watch and
# ping are also a steerer's (checked in their handlers).
_AGENT_ONLY: frozenset[type] = frozenset({p.Presence, p.AgentMessage, p.Note, p.AgentTyping, p.Invite,
                                          p.AnswerTransfer})


def _frame_name(f: object) -> str:
    """The frame's wire type (its msgspec tag), for ``in_reply_to``."""
    config = getattr(type(f), "__struct_config__", None)
    return str(getattr(config, "tag", None) or type(f).__name__)


# by frame type; each handler takes its own frame type (hence Any: a table cannot say which)
_HANDLERS: dict[type, Callable[[AgentSession, Any], Awaitable[None]]] = {
    p.Presence: AgentSession._presence, p.AgentMessage: AgentSession._message, p.Note: AgentSession._message,
    p.AgentTyping: AgentSession._typing, p.Invite: AgentSession._invite, p.Transfer: AgentSession._transfer,
    p.AnswerTransfer: AgentSession._answer_transfer, p.AgentClose: AgentSession._close,
    p.Queues: AgentSession._queues, p.Live: AgentSession._live, p.WatchConversation: AgentSession._watch,
    p.Sync: AgentSession._sync, p.Ping: AgentSession._ping,
}
