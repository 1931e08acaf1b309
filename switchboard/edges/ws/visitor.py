"""``/ws/visitor``: the widget's socket.

A visitor is anonymous until the first hello, which mints a visitor id and a
signed visitor token; later hellos bring the token back. A visitor has at most
one open conversation, opened lazily by their first message or request for a
person; frames may name it, and naming any other conversation is refused
(``not_your_conversation``). Who owns a conversation is read from Redis
(``sb:conv:{id}``, written by the relay), never from anything the client says.

Anonymous sockets are cheap to open, so what they leave behind is bounded (issue 17). The visitors of
one client address may hold only so many conversations open and queued (:mod:`.per_address`). A
visitor's Redis hash expires ``visitor_state_ttl_s`` after their last hello, and the store keeps a
visitor only once there is something to keep: a conversation, or an email or name they gave. The
engine hears when a visitor's last socket closes and when one comes back (``VisitorGone``,
``VisitorBack``), so a queued request of a visitor who went away leaves the queue after a grace period.

A page on a site that is not among the allowed ones (``services.site.origins()``) gets its socket
accepted, then one ``origin_not_allowed`` error frame naming its origin and the setting, then a 1008
close: refused before the accept, a browser would only say "failed", and the site's developer could not
tell why. The server logs a warning once per such origin.

Routing (issue 20, docs/identity.md, docs/site.md): ``request_human`` may name a group only among those the
site's widget lists (or the default group), while it lists any; a group it may not name is refused with
``unknown_group``, as a group that does not exist is. A visitor is anonymous unless the page vouches for them
with an ``identify`` frame signed by the customer's server: only then do the identity's ``priority`` and
``agent`` reach the engine, and their familiar agent (who served this customer most) is looked up for groups
with the ``familiar`` policy. The frame's own ``agent`` field is ignored. What a verified identity gives is
kept for this socket, and in the visitor's Redis hash (``id_*`` fields) for the bot's hand-offs; every hello
forgets the hash's copy, so a page that stops identifying its visitor (a log-out) stops vouching.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Awaitable, Callable, cast

import orjson
from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from switchboard.actors import messages as m
from switchboard.actors.address import Address, UserRef
from switchboard.edges import codes
from switchboard.edges import protocol as p
from switchboard.edges.auth import AuthError, decode_visitor_token, issue_visitor_token
from switchboard.edges.identity import IdentityError, VerifiedUser, verify
from switchboard.edges.delivery.claims import claim, claimed
from switchboard.edges.delivery.sockets import Connection, TokenBucket
from switchboard.edges.keys import HashFields, as_str, conv_key, history_key, visitor_key
from switchboard.edges.limits import client_address
from switchboard.edges.protocol import CLOSE_AUTH, CLOSE_POLICY, EMAIL_PATTERN, Frame, frame, parse_visitor
from switchboard.edges.services import Services
from switchboard.edges.ws.per_address import AddressLimits
from switchboard.edges.ws.session import (OriginWarnings, SyncGate, command, conversation_info, hold, last_seq_of,
                                          read_hello, refused_origin, send_error)
from switchboard.store.familiar import familiar_agent

__all__ = ["visitor_endpoint", "REFUSED_ORIGINS", "IDENTITY_FIELDS"]

log = logging.getLogger("switchboard.ws")

REFUSED_ORIGINS = OriginWarnings(limit=1000)  # this process's refused origins, each logged once

# what a verified identity leaves in the visitor's Redis hash for the bot's hand-offs (forgotten at each hello)
IDENTITY_FIELDS = ("id_user", "id_priority", "id_agent", "id_familiar")

_RECENT_RESENDS = 64  # messages of the last ended conversation searched for a re-sent client id


async def visitor_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    origin = refused_origin(ws, await services.site.origins())
    if origin is not None:
        await _refuse(ws, origin)
        return
    await ws.accept()
    hello = await read_hello(ws, parse_visitor, p.VisitorHello, services.settings.max_frame_bytes,
                             services.settings.hello_timeout_s)
    if hello is None:
        return
    visitor_id = await _identify(ws, services, hello)
    if visitor_id is None:
        return
    bucket = TokenBucket(services.settings.rate_limit_per_s, services.settings.rate_limit_burst)
    conn = Connection(ws, UserRef.visitor(visitor_id), services.next_conn_id(), bucket)
    session = VisitorSession(services, conn, client_address(ws))
    await hold(services, conn, session, hello, parse_visitor, session.gone)


async def _refuse(ws: WebSocket, origin: str) -> None:
    """Accept, say why in an error frame (the widget shows it and stops), close 1008; log it once."""
    shown = origin[:200]
    if REFUSED_ORIGINS.first(shown):
        log.warning("refused the widget's socket from %r: that site is not allowed; add it under Admin > Widget > "
                    "Allowed sites (setting allowed_origins) if the widget belongs there", shown)
    await ws.accept()
    await send_error(ws, codes.ORIGIN_NOT_ALLOWED,
                     f"this chat is not enabled on {shown}: add {shown} under Admin → Widget → Allowed sites "
                     f"(setting allowed_origins)")
    await ws.close(CLOSE_POLICY)


async def _identify(ws: WebSocket, services: Services, hello: p.VisitorHello) -> str | None:
    if hello.token is None:
        return f"v-{uuid.uuid4().hex[:16]}"
    try:
        return decode_visitor_token(hello.token, secret=services.secret)
    except AuthError as exc:
        await send_error(ws, exc.code, exc.message)
        await ws.close(CLOSE_AUTH)
        return None


class VisitorSession:
    """One visitor socket's handlers."""

    def __init__(self, services: Services, conn: Connection, address: str = "unknown") -> None:
        self.s, self.conn = services, conn
        self.visitor = conn.user.id
        self.channel = "widget"
        settings = services.settings
        self.address = AddressLimits(services.redis, address, settings.visitor_open_per_address,
                                     settings.visitor_queued_per_address)
        self.sync_gate = SyncGate(settings, services.sync_buckets.of(address, settings.sync_rate_per_s,
                                                                     settings.sync_burst))
        self._unsaved: dict[str, str] | None = None  # the hello's details, stored once there is something to keep
        self.verified: VerifiedUser | None = None  # a signed identity this socket showed (identify)
        self.familiar: str | None = None  # who served that customer most, for the familiar policy

    async def welcome(self, hello: p.VisitorHello) -> None:
        self.channel = hello.channel or "widget"
        fields = {k: v for k, v in (("channel", hello.channel), ("page", hello.page), ("email", hello.email),
                                    ("name", hello.name)) if isinstance(v, str) and not m.is_blank(v)}
        if hello.email is not None and not _valid_email(hello.email):
            fields.pop("email")
            await self.conn.send(frame("error", code=codes.INVALID_EMAIL, message="that does not look like an email address"))
        await self._remember(fields)
        await self.s.redis.hdel(visitor_key(self.visitor), *IDENTITY_FIELDS)  # vouched for again, or not at all
        current = await self.current()
        if current is not None or "email" in fields or "name" in fields:
            self._save(fields)
        else:  # an anonymous hello leaves no store document (issue 17): only a conversation makes one
            self._unsaved = fields
        if current is not None:  # back within the grace period: a queued request keeps its place
            self.s.engine.send(Address.conversation(current), m.VisitorBack())
        info = await conversation_info(self.s, current) if current else None
        token = issue_visitor_token(self.visitor, self.s.settings.visitor_token_ttl_s, secret=self.s.secret)
        email = await self.s.redis.hget(visitor_key(self.visitor), "email")
        await self.conn.send(frame("welcome", v=p.VERSION, edge=self.s.edge_id, visitor=self.visitor, token=token,
                                   conversation=info, require_email=bool(self.s.settings.require_email),
                                   email=as_str(email), max_frame_bytes=self.s.settings.max_frame_bytes))
        for conv, last in hello.last_seq.items():
            if not await self.owns(conv):
                await self.conn.send(frame("error", code=codes.NOT_YOUR_CONVERSATION, message=f"no conversation {conv[:64]!r} of yours",
                                           conversation=conv[:64]))
                continue
            self.conn.last[conv] = max(0, min(last, await last_seq_of(self.s, conv)))  # a bogus value cannot mute the socket
            await self.s.sockets.heal(self.conn, conv, last, None)
        if info is not None and current not in hello.last_seq:
            self.conn.last[info["id"]] = info["last_seq"]

    async def gone(self) -> None:
        """The visitor's last socket anywhere closed (:func:`~.session.hold`): the open conversation hears it.

        Which one is read from the claim in Redis, not this socket's cache: the last socket to close may have
        said hello before another tab opened the conversation, and never have sent a frame naming it."""
        try:
            current = await claimed(self.s.redis, self.visitor)
        except RedisError:  # Redis is down (hold saw it a moment ago): what this socket knows is all there is
            current = self.conn.current
        if current is not None:
            self.s.engine.send(Address.conversation(current), m.VisitorGone())

    def _save(self, fields: dict[str, str]) -> None:
        asyncio.ensure_future(self.s.writer.save_visitor(self.visitor, seen_at=time.time(), **fields))
        self._unsaved = None

    async def current(self) -> str | None:
        """The open conversation: cached on the socket (a Redis read per message is costly: decision 009),
        forgotten by :class:`Sockets` when a ``closed``/``abandoned`` frame or an ``conversation_ended``
        refusal reaches this socket."""
        if self.conn.current is None:
            self.conn.current = as_str(await self.s.redis.hget(visitor_key(self.visitor), "conv"))
        return self.conn.current

    async def owns(self, conversation: str) -> bool:
        return as_str(await self.s.redis.hget(conv_key(conversation), "visitor")) == self.visitor

    async def handle(self, f: p.VisitorFrame) -> None:
        handler = _HANDLERS.get(type(f))
        if handler is None:
            await self.conn.send(frame("error", code=codes.UNKNOWN_TYPE, message=f"a visitor cannot send {type(f).__name__}"))
            return
        await handler(self, f)

    # --- frames ----------------------------------------------------------------------------------------

    async def _target(self, named: str | None, *, open_new: bool) -> str | None:
        """The visitor's open conversation (opened now if `open_new`); refuses a conversation not theirs."""
        current = await self.current()
        if named is not None and named != current:
            code = codes.CONVERSATION_ENDED if await self.owns(named) else codes.NOT_YOUR_CONVERSATION
            await self.conn.send(frame("error", code=code, message=f"conversation {named[:64]!r} is not open for you"))
            return None
        if current is None and open_new:
            fresh = f"c-{uuid.uuid4().hex[:16]}"
            if not await self.address.reserve_open(fresh):
                await self.conn.send(frame("error", code=codes.TOO_MANY_CONVERSATIONS,
                                           message="too many open conversations from your network; try later"))
                return None
            current = await self._open(fresh)
            if current != fresh:  # another socket of this visitor opened one first (or none could be claimed)
                await self.address.release_open(fresh)
        if current is None:
            await self.conn.send(frame("error", code=codes.NO_CONVERSATION, message="you have no open conversation"))
        return current

    async def _open(self, fresh: str) -> str | None:
        """Open a conversation, or join the one another socket of this visitor opened a moment before.

        The claim (HSETNX, :mod:`.claims`) makes the choice atomic: two sockets (on any edges) sending their
        first message at once open one conversation, not two. The winner sends OpenConversation straight after
        it, before any other await, so the other socket's message (two more Redis round trips) follows it.
        """
        for _ in range(3):  # another socket's conversation may end between our two reads: try again
            if await claim(self.s.redis, self.visitor, fresh):
                break
            self.conn.current = None
            found = await self.current()
            if found is not None:
                return found
        else:
            return None
        self.conn.current = fresh
        self.conn.last[fresh] = 0
        command(self.s, self.conn, Address.conversation(fresh), m.OpenConversation(self.visitor, self.channel), "open")
        await self.s.redis.hset(conv_key(fresh), mapping={"visitor": self.visitor, "phase": "bot"})
        await self.s.redis.expire(visitor_key(self.visitor), int(self.s.settings.visitor_state_ttl_s))
        if self._unsaved is not None:
            self._save(self._unsaved)
        return fresh

    async def _message(self, f: p.VisitorMessage) -> None:
        if f.conversation is None and await self.current() is None:
            stored = await self._stored_before(f.client_id)
            if stored is not None:  # its ack was lost and its conversation ended meanwhile: ack it, open nothing
                await self.conn.send({**stored, "type": "ack"})
                return
        conv = await self._target(f.conversation, open_new=True)
        if conv is not None:
            post = m.Post("visitor", self.visitor, f.text, client_id=f.client_id)
            command(self.s, self.conn, Address.conversation(conv), post, "message", f.client_id)

    async def _stored_before(self, client_id: str) -> Frame | None:
        """This visitor's message `client_id` among the last ones of their last ended conversation, if there.

        Dedupe is per conversation, so a re-send whose first copy was stored (its ack lost with the socket)
        just before the conversation closed would open a new conversation with the same text. The widget
        re-sends what it holds unacknowledged at once on reconnecting, before the resume that would have
        told it. Only the first message of a new conversation pays this one Redis read."""
        conv = as_str(await self.s.redis.hget(visitor_key(self.visitor), "last_conv"))
        if conv is None:
            return None
        recent = await self.s.redis.zrange(history_key(conv), -_RECENT_RESENDS, -1)
        for raw in reversed(recent):
            message: Frame = orjson.loads(cast(bytes, raw))
            if message.get("client_id") == client_id and message.get("sender", {}).get("id") == self.visitor:
                return message
        return None

    async def _remember(self, fields: dict[str, str]) -> None:
        """Channel, page, email and name in Redis: the workspace shows them, hand-offs check the email."""
        key = visitor_key(self.visitor)
        async with self.s.redis.pipeline(transaction=False) as pipe:
            if fields:
                mapping: HashFields = {name: value for name, value in fields.items()}
                pipe.hset(key, mapping=mapping)
            pipe.expire(key, int(self.s.settings.visitor_state_ttl_s))  # from the last hello (issue 17)
            await pipe.execute()

    async def _profile(self, f: p.Profile) -> None:
        fields = {k: v.strip() for k, v in (("email", f.email), ("name", f.name)) if isinstance(v, str) and not m.is_blank(v)}
        if "email" in fields and not _valid_email(fields["email"]):
            await self.conn.send(frame("error", code=codes.INVALID_EMAIL, message="that does not look like an email address",
                                       in_reply_to="profile"))
            return
        await self._remember(fields)
        if fields:
            asyncio.ensure_future(self.s.writer.save_visitor(self.visitor, **fields))
        await self.conn.send(frame("profile", **fields))

    async def _identify_user(self, f: p.Identify) -> None:
        site = await self.s.site.site()
        try:
            user = verify(str(site.identity_secret or ""), f.user)
        except IdentityError as exc:
            self.verified, self.familiar = None, None
            await self.conn.send(frame("error", code=codes.IDENTITY_INVALID, in_reply_to="identify", message=str(exc)))
            return
        try:
            familiar = await asyncio.to_thread(familiar_agent, user.id, self.visitor)
        except Exception as exc:  # the store is down: served as under balanced, and said so in the log
            log.warning("could not look up the familiar agent (%s)", type(exc).__name__)
            familiar = None
        self.verified, self.familiar = user, familiar
        fields = {k: v for k, v in (("email", user.email), ("name", user.name)) if v and not m.is_blank(v)}
        if "email" in fields and not _valid_email(fields["email"]):
            fields.pop("email")
        identity: dict[str, str] = {"id_user": user.id, "id_priority": str(user.priority)}
        if user.agent:
            identity["id_agent"] = user.agent
        if familiar:
            identity["id_familiar"] = familiar
        await self._remember({**fields, **identity})
        record: dict[str, str] = {**fields, "external_id": user.id}
        if "email" in fields:
            record["verified_email"] = fields["email"]
        self._save({**(self._unsaved or {}), **record})
        await self.conn.send(frame("identified", user={"id": user.id, "email": user.email, "name": user.name}))

    async def _request_human(self, f: p.RequestHuman) -> None:
        default = self.s.settings.default_group
        if f.group is not None and not await self.s.site.reachable(f.group, default):
            await self.conn.send(frame("error", code=codes.UNKNOWN_GROUP, in_reply_to="request_human",
                                       message=f"no group {f.group[:64]!r} to ask for here"))
            return
        if self.s.settings.require_email and not await self.s.redis.hget(visitor_key(self.visitor), "email"):
            await self.conn.send(frame("error", code=codes.EMAIL_REQUIRED, in_reply_to="request_human",
                                       message="leave an email address (a profile frame) before asking for a person"))
            return
        conv = await self._target(f.conversation, open_new=True)
        if conv is None:
            return
        if not await self.address.reserve_queue(conv):
            await self.conn.send(frame("error", code=codes.TOO_MANY_WAITING, in_reply_to="request_human",
                                       message="too many visitors from your network wait for a person; try later"))
            return
        last = as_str(await self.s.redis.hget(visitor_key(self.visitor), "last_agent"))
        group = f.group or as_str(await self.s.redis.hget(conv_key(conv), "kb_group")) or default
        user = self.verified  # the frame's own `agent` is ignored: only a signed identity designates
        msg = m.RequestHuman(group, priority=user.priority if user else 0, agent=user.agent if user else None,
                             last_agent=last, familiar_agent=self.familiar if user else None)
        command(self.s, self.conn, Address.conversation(conv), msg, "request_human")

    async def _simple(self, f: p.LeaveQueue | p.KeepWaiting | p.VisitorClose) -> None:
        conv = await self._target(f.conversation, open_new=False)
        if conv is not None:
            commands: dict[type, m.Command] = {p.LeaveQueue: m.LeaveQueue(), p.KeepWaiting: m.KeepWaiting(),
                                               p.VisitorClose: m.Close("visitor")}
            msg = commands[type(f)]
            command(self.s, self.conn, Address.conversation(conv), msg, str(f.__struct_config__.tag))

    async def _typing(self, f: p.VisitorTyping) -> None:
        conv = await self._target(f.conversation, open_new=False)
        if conv is None:
            return
        agent = as_str(await self.s.redis.hget(conv_key(conv), "agent"))
        if agent:
            self.s.hub.to_user(UserRef.agent(agent), frame("typing", conversation=conv, sender="visitor", typing=f.typing))

    async def _rate(self, f: p.Rate) -> None:
        if not await self.owns(f.conversation):
            await self.conn.send(frame("error", code=codes.NOT_YOUR_CONVERSATION, message="you can only rate your own conversations"))
            return
        if not 1 <= f.score <= 5:
            await self.conn.send(frame("error", code=codes.INVALID_FRAME, message="score must be 1 to 5"))
            return
        phase, agent = (as_str(v) for v in await self.s.redis.hmget(conv_key(f.conversation), ["phase", "agent"]))
        if phase not in ("closed", "abandoned"):
            await self.conn.send(frame("error", code=codes.NOT_CLOSED, message="a conversation is rated once it is closed"))
            return
        await self.s.writer.save_rating(f.conversation, self.visitor, agent or None, f.score, f.comment[:2000], time.time())
        await self.conn.send(frame("rated", conversation=f.conversation, score=f.score))

    async def _sync(self, f: p.Sync) -> None:
        if not await self.sync_gate.admits(self.conn):
            return
        if not await self.owns(f.conversation):
            await self.conn.send(frame("error", code=codes.NOT_YOUR_CONVERSATION, message="no such conversation of yours"))
            return
        await self.sync_gate.serve(self.s, self.conn, f.conversation, f.after)

    async def _ping(self, f: p.Ping) -> None:
        await self.conn.send(frame("pong", time=time.time()))


# by frame type; each handler takes its own frame type (hence Any: a table cannot say which)
_HANDLERS: dict[type, Callable[[VisitorSession, Any], Awaitable[None]]] = {
    p.VisitorMessage: VisitorSession._message, p.RequestHuman: VisitorSession._request_human,
    p.Profile: VisitorSession._profile, p.Identify: VisitorSession._identify_user,
    p.LeaveQueue: VisitorSession._simple, p.KeepWaiting: VisitorSession._simple, p.VisitorClose: VisitorSession._simple,
    p.VisitorTyping: VisitorSession._typing, p.Rate: VisitorSession._rate, p.Sync: VisitorSession._sync,
    p.Ping: VisitorSession._ping,
}


def _valid_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL_PATTERN.fullmatch(value.strip()) is not None
