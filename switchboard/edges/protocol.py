"""The websocket protocol, version 1: every client frame as a typed struct, the one parser, and refs.

A frame is a JSON object with a ``type``. Parsing is the only place wire bytes
become values, so it is where bad input stops: a frame over the size limit,
not JSON, not an object, of an unknown type, or with a field of the wrong type
(an object such as ``{"$ne": null}`` where a string belongs) raises
:class:`ProtocolError` with a code from :mod:`.codes` and nothing else happens.
orjson reads the bytes; msgspec checks them against the structs below (strict:
no coercion of ``"5"`` to ``5``, unknown fields ignored so newer clients work).
Server frames are plain dicts (:data:`Frame`) made by :func:`frame` and written with orjson.

A command a socket sends the engine carries a ref (:func:`make_ref`): the edge, the
connection and the frame it came from. The engine hands the ref back on a refusal,
and the relay, in whichever process it runs, routes the ``error`` frame by it.

The documentation of every frame is docs/protocol.md.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal, Union

import msgspec
import orjson

from switchboard.actors.messages import is_blank
from switchboard.edges import codes

__all__ = ["VERSION", "ProtocolError", "parse_visitor", "parse_agent", "frame", "encode", "Frame",
           "VisitorFrame", "AgentFrame", "Hello", "CLOSE_POLICY", "CLOSE_TOO_BIG", "CLOSE_AUTH", "CLOSE_UNAVAILABLE",
           "make_ref", "parse_ref", "VISITOR_REF", "EMAIL_PATTERN", "frame_type"]

VERSION = 1

# websocket close codes (RFC 6455 and the registered 4000-4999 private range)
CLOSE_POLICY = 1008  # hello missing or malformed, origin not allowed
CLOSE_TOO_BIG = 1009  # a frame over the size limit
CLOSE_AUTH = 4001  # a bad, expired or ended token (log in again)
CLOSE_UNAVAILABLE = 4503  # a part of the server (Redis, the store) is down: reconnect later (edges/health.py)

Frame = dict[str, Any]  # a server frame: a JSON object with a "type"

# Loose: one @, a dot in the domain, no control characters. Used with .fullmatch: "$" also matches before
# a final newline. The REST API checks agents' emails with it too.
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+$")


class ProtocolError(Exception):
    """A frame the server cannot take; `code` is one of :mod:`.codes` (docs/protocol.md lists them)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class _Frame(msgspec.Struct, tag_field="type", forbid_unknown_fields=False):
    pass


# --- both roles ---------------------------------------------------------------------------------


class Ping(_Frame, tag="ping"):
    pass


Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # a sequence number: what BSON's int64 can store
MAX_VISITOR_RESUMES = 32  # conversations in a visitor's hello.last_seq: each costs Redis reads (anonymous sockets)


class Sync(_Frame, tag="sync"):
    """Ask for the messages after `after` (a client that saw a gap, or a reload)."""

    conversation: str
    after: Seq = 0


# --- visitor frames -----------------------------------------------------------------------------


class VisitorHello(_Frame, tag="hello"):
    v: int = VERSION
    token: Union[str, None] = None
    channel: Union[str, None] = None
    page: Union[str, None] = None
    email: Union[str, None] = None
    name: Union[str, None] = None
    last_seq: Annotated[dict[str, Seq], msgspec.Meta(max_length=MAX_VISITOR_RESUMES)] = {}


class VisitorMessage(_Frame, tag="message"):
    client_id: str
    text: str
    conversation: Union[str, None] = None


class VisitorTyping(_Frame, tag="typing"):
    typing: bool
    conversation: Union[str, None] = None


class RequestHuman(_Frame, tag="request_human"):
    group: Union[str, None] = None
    agent: Union[str, None] = None  # ignored: a designated agent comes only from a signed identity
    conversation: Union[str, None] = None


class Identify(_Frame, tag="identify"):
    """The page vouches for the visitor: ``user`` is ``{"id", "email", "name", "attributes", "signature"}``,
    signed by the customer's server with the site's identity secret (docs/identity.md)."""

    user: dict[str, Any]


class LeaveQueue(_Frame, tag="leave_queue"):
    conversation: Union[str, None] = None


class KeepWaiting(_Frame, tag="keep_waiting"):
    conversation: Union[str, None] = None


class VisitorClose(_Frame, tag="close"):
    conversation: Union[str, None] = None


class Profile(_Frame, tag="profile"):
    """The visitor tells who they are after the hello (the widget's email form, Switchboard.setEmail)."""

    email: Union[str, None] = None
    name: Union[str, None] = None


class Rate(_Frame, tag="rate"):
    conversation: str
    score: int
    comment: str = ""


# --- agent frames ---------------------------------------------------------------------------------


class AgentHello(_Frame, tag="hello"):
    token: str
    v: int = VERSION
    last_seq: dict[str, Seq] = {}


class Presence(_Frame, tag="presence"):
    presence: Literal["online", "away", "offline"]


class AgentMessage(_Frame, tag="message"):
    conversation: str
    client_id: str
    text: str


class Note(_Frame, tag="note"):
    conversation: str
    client_id: str
    text: str


class AgentTyping(_Frame, tag="typing"):
    conversation: str
    typing: bool


class Invite(_Frame, tag="invite"):
    conversation: str


class Transfer(_Frame, tag="transfer"):
    conversation: str
    to_agent: Union[str, None] = None
    to_group: Union[str, None] = None


class AnswerTransfer(_Frame, tag="answer_transfer"):
    conversation: str
    accept: bool


class AgentClose(_Frame, tag="close"):
    conversation: str


class Queues(_Frame, tag="queues"):
    """Ask for the current queues of the agent's groups."""


class Live(_Frame, tag="live"):
    """A steerer starts (`on`) or stops the live view: a ``live`` frame now and whenever it changes."""

    on: bool = True


class WatchConversation(_Frame, tag="watch"):
    """Start (`on`) or stop watching a conversation one may read: its new messages and state, pushed."""

    conversation: str
    on: bool = True


VisitorFrame = Union[VisitorHello, VisitorMessage, VisitorTyping, RequestHuman, LeaveQueue, KeepWaiting,
                     VisitorClose, Rate, Profile, Identify, Sync, Ping]
AgentFrame = Union[AgentHello, Presence, AgentMessage, Note, AgentTyping, Invite, Transfer, AnswerTransfer,
                   AgentClose, Queues, Live, WatchConversation, Sync, Ping]
Hello = Union[VisitorHello, AgentHello]

_LIMITS: dict[str, int] = {"text": 8000, "client_id": 64, "conversation": 64, "group": 64, "agent": 64,
                           "to_agent": 64, "to_group": 64, "token": 2048, "comment": 2000, "email": 254, "name": 120,
                           "page": 2048, "channel": 32}


def _parse(raw: str | bytes, max_bytes: int, union: Any) -> Any:
    size = len(raw) if isinstance(raw, bytes) or len(raw) * 4 <= max_bytes else len(raw.encode())
    if size > max_bytes:
        raise ProtocolError(codes.FRAME_TOO_LARGE, f"frames are limited to {max_bytes} bytes, got {size}")
    if isinstance(raw, bytes):  # a binary frame: the decoder would skip bad UTF-8 inside an unknown field
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            raise ProtocolError(codes.INVALID_JSON, "a frame must be UTF-8 JSON") from None
    try:  # the common case in one pass; any error is classified by the slower path below
        parsed = _decoder(union).decode(raw)
    except (msgspec.DecodeError, UnicodeError, RecursionError):  # bad UTF-8 and deep nesting are not DecodeErrors
        parsed = _classify(raw, union)
    _check_limits(parsed)
    return parsed


@functools.cache
def _decoder(union: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(union)


def _classify(raw: str | bytes, union: Any) -> Any:
    """Decode a frame the fast decoder refused, step by step, to say what is wrong with it."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(codes.INVALID_JSON, "a frame must be a JSON object") from None
    if not isinstance(data, dict):
        raise ProtocolError(codes.INVALID_JSON, "a frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(codes.INVALID_FRAME, "a frame needs a string 'type'")
    try:
        parsed = msgspec.convert(data, union, strict=True)
    except msgspec.ValidationError as exc:
        if "Invalid value" in str(exc) and "$.type" in str(exc):
            raise ProtocolError(codes.UNKNOWN_TYPE, f"unknown frame type {kind[:40]!r}") from None
        raise ProtocolError(codes.INVALID_FRAME, f"{kind[:40]}: {exc}") from None
    return parsed


def _check_limits(parsed: object) -> None:
    for name, limit in _LIMITS.items():
        value = getattr(parsed, name, None)
        if isinstance(value, str) and len(value) > limit:
            raise ProtocolError(codes.INVALID_FRAME, f"{name} is longer than {limit} characters")
    for name in ("text", "client_id", "conversation"):
        value = getattr(parsed, name, None)
        if isinstance(value, str) and is_blank(value) and name != "conversation":
            raise ProtocolError(codes.INVALID_FRAME, f"{name} must not be blank (control and zero-width "
                                                     "characters count as blank)")


class _TypeOnly(msgspec.Struct):
    type: str = ""


_TYPE_ONLY = msgspec.json.Decoder(_TypeOnly)


def frame_type(raw: str | bytes, max_bytes: int) -> str | None:
    """The ``type`` a frame names (cut to 40 characters), without checking the rest: what a refusal that
    comes before parsing (``rate_limited``) answers ``in_reply_to``. None when the frame is too large to
    look at, not a JSON object or has no string ``type``."""
    if len(raw) > max_bytes:
        return None
    try:
        kind = _TYPE_ONLY.decode(raw).type
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None
    return kind[:40] or None


def parse_visitor(raw: str | bytes, max_bytes: int) -> VisitorFrame:
    result: VisitorFrame = _parse(raw, max_bytes, VisitorFrame)
    return result


def parse_agent(raw: str | bytes, max_bytes: int) -> AgentFrame:
    result: AgentFrame = _parse(raw, max_bytes, AgentFrame)
    return result


def frame(type_: str, /, **fields: Any) -> Frame:
    """A server frame: ``{"type": type_, **fields}``."""
    return {"type": type_, **fields}


def encode(obj: Frame) -> bytes:
    return orjson.dumps(obj)


# --- refs: a command's way back to its socket ------------------------------------------------------

VISITOR_REF = "@visitor"  # make_ref(VISITOR_REF, visitor_id, ...): a refusal goes to the visitor, wherever connected


def make_ref(edge_id: str, conn_id: str, frame_type: str, client_id: str | None) -> str:
    """A command's correlation id: enough for any relay to route its refusal back to the socket."""
    return f"{edge_id}/{conn_id}/{frame_type}/{client_id or ''}"


def parse_ref(ref: str | None) -> tuple[str, str, str, str | None] | None:
    """(edge id, connection id, frame type, client id) of a :func:`make_ref`; None for any other ref."""
    parts = (ref or "").split("/", 3)
    if len(parts) != 4:
        return None
    return parts[0], parts[1], parts[2], parts[3] or None
