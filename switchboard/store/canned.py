"""Canned replies: the texts agents insert with ``/shortcut`` (docs/canned.md), read and written as values.

A reply is for one **audience**: its owner alone (``personal``), the agents of one skill group (``group``), or
everyone (``global``). The document keeps scope and owner, and both in one indexed string (``audience``:
``personal:<user>``, ``group:<group>``, ``global``), so what a user may use is a few equality queries on that
field, one per audience (:func:`replies_for` with :func:`usable_audiences`: global, their own, one per group),
which nx-27017 answers from its index as MongoDB does (an ``$in`` it would answer by scanning the collection).
Sorting and searching happen here in Python: an audience holds at most :data:`MAX_PER_AUDIENCE` replies of at
most :data:`MAX_TEXT` characters, so a user's whole set is a few thousand small records at the very most
(hundreds in practice), read whole and filtered in a few milliseconds.

Who may change which audience is not decided here (:mod:`switchboard.edges.rest.canned` asks the caller's
:class:`~switchboard.edges.scope.Scope`); what the records allow is: a shortcut is unique within its audience
(:class:`~switchboard.store.errors.Duplicate`), an audience is full at :data:`MAX_PER_AUDIENCE`
(:class:`Full`), an unknown id is :class:`~switchboard.store.errors.NotFound`. The bounds themselves
(shortcut, title, text) are the caller's to check first, with messages for people; a value outside them here
is a programming error (ValueError).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from mongoengine.errors import NotUniqueError
from pymongo.errors import DuplicateKeyError

from switchboard.store.documents import CannedReply
from switchboard.store.errors import Duplicate, NotFound, StoreError
from switchboard.store.updates import set_fields

__all__ = ["SCOPES", "SHORTCUT", "REPLY_ID", "MAX_SHORTCUT", "MAX_TITLE", "MAX_TEXT", "MAX_PER_AUDIENCE",
           "VARIABLES", "VARIABLE", "Canned", "Full", "audience_of", "usable_audiences", "get_reply", "replies_for",
           "search", "insert_reply", "update_reply", "delete_reply", "delete_group_replies", "unknown_variables"]

SCOPES = ("personal", "group", "global")  # most particular first: the order a list shows them in
SHORTCUT = re.compile(r"[a-z0-9_-]{1,32}")  # matched whole
REPLY_ID = re.compile(r"cr-[0-9a-f]{16}")  # the ids insert_reply draws (matched whole)
MAX_SHORTCUT, MAX_TITLE, MAX_TEXT = 32, 100, 4000
MAX_PER_AUDIENCE = 1000
# What a text may name as {{variable}}; the workspace fills them in as the reply is inserted (docs/canned.md).
VARIABLES = ("visitor.name", "visitor.email", "agent.name", "team.name")
VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_FIELDS = ("shortcut", "title", "text")  # what update_reply may change: scope and owner stay
_ID_TRIES = 5


class Full(StoreError):
    """The audience holds :data:`MAX_PER_AUDIENCE` replies already."""


@dataclass(frozen=True, slots=True)
class Canned:
    """One canned reply as stored. ``owner`` is the user id (personal), the group id (group) or "" (global)."""

    id: str
    scope: str
    owner: str
    shortcut: str
    title: str
    text: str
    created_at: datetime | None
    created_by: str
    updated_at: datetime | None
    updated_by: str


def audience_of(scope: str, owner: str = "") -> str:
    """The audience key of `scope` and `owner` (ValueError for an unknown scope or a missing owner)."""
    if scope == "global":
        return "global"
    if scope not in SCOPES or not owner:
        raise ValueError(f"a {scope} reply needs an owner" if scope in SCOPES else f"unknown scope {scope!r}")
    return f"{scope}:{owner}"


def usable_audiences(user_id: str, groups: Iterable[str]) -> list[str]:
    """What a user may use: everyone's, their own, their groups'."""
    return ["global", audience_of("personal", user_id), *(audience_of("group", g) for g in dict.fromkeys(groups))]


def get_reply(reply_id: str) -> Canned | None:
    found = CannedReply.objects(id=reply_id).first()
    return None if found is None else _value(found)


def replies_for(audiences: Iterable[str]) -> list[Canned]:
    """Every reply of `audiences`, by shortcut, then the most particular scope first (personal, group, global),
    then owner and id."""
    found = [_value(r) for audience in dict.fromkeys(audiences)  # an equality each: nx-27017 scans for an $in
             for r in CannedReply.objects(audience=audience)]
    return sorted(found, key=lambda r: (r.shortcut, SCOPES.index(r.scope), r.owner, r.id))


def search(replies: Sequence[Canned], q: str) -> list[Canned]:
    """Those of `replies` that hold `q` (case-insensitive) in their shortcut, title or text, best first: a
    shortcut that starts with it, one that holds it, then a title, then a text; in the order given within each.
    A blank `q` keeps them all."""
    needle = q.strip().casefold()
    if not needle:
        return list(replies)
    ranked: list[tuple[int, int, Canned]] = []
    for i, reply in enumerate(replies):
        shortcut = reply.shortcut.casefold()
        rank = (0 if shortcut.startswith(needle) else 1 if needle in shortcut
                else 2 if needle in reply.title.casefold() else 3 if needle in reply.text.casefold() else -1)
        if rank >= 0:
            ranked.append((rank, i, reply))
    return [reply for _, _, reply in sorted(ranked, key=lambda t: (t[0], t[1]))]


def unknown_variables(text: str) -> list[str]:
    """The ``{{names}}`` in `text` that are not :data:`VARIABLES`, in the order they come, once each."""
    return list(dict.fromkeys(name for name in VARIABLE.findall(text) if name not in VARIABLES))


def insert_reply(scope: str, owner: str, *, shortcut: str, title: str, text: str, by: str) -> Canned:
    """Store a new reply for the audience of `scope` and `owner` ("" for global), made by user `by`; the reply as
    stored (its times to the millisecond, as they read back).

    Raises:
        Duplicate: the audience has a reply with this shortcut.
        Full: the audience holds MAX_PER_AUDIENCE replies.
    """
    _check(shortcut=shortcut, title=title, text=text)
    audience = audience_of(scope, owner)
    held = CannedReply.objects(audience=audience).only("id").limit(MAX_PER_AUDIENCE)  # read, never counted
    if sum(1 for _ in held) >= MAX_PER_AUDIENCE:
        raise Full(f"the {_named(scope, owner)} number {MAX_PER_AUDIENCE} already: delete one first")
    for _ in range(_ID_TRIES):
        reply = CannedReply(id=f"cr-{secrets.token_hex(8)}", scope=scope, owner="" if scope == "global" else owner,
                            audience=audience, shortcut=shortcut, title=title, text=text,
                            created_at=datetime.now(timezone.utc), created_by=by, updated_by="")
        try:
            reply.save(force_insert=True)
        except NotUniqueError:  # the shortcut, or (rarely) the id drawn: only the shortcut is the caller's
            if CannedReply.objects(audience=audience, shortcut=shortcut).only("id").first() is not None:
                raise _taken(scope, owner, shortcut) from None
            continue
        stored = get_reply(str(reply.id))  # as read later: the store keeps times to the millisecond
        if stored is None:  # deleted at once by someone else
            raise NotFound(f"no canned reply {reply.id}")
        return stored
    raise RuntimeError(f"could not draw a free canned reply id in {_ID_TRIES} tries")  # pragma: no cover


def update_reply(reply_id: str, *, by: str, **changes: str) -> Canned:
    """Set the fields given (each one of shortcut, title, text; scope and owner never change), noting when and
    by whom; the reply as stored now.

    Raises:
        NotFound: no reply `reply_id`.
        Duplicate: another reply of its audience has the new shortcut.
    """
    unknown = sorted(set(changes) - set(_FIELDS))
    if unknown:
        raise ValueError(f"not canned reply fields: {', '.join(unknown)}")
    _check(**changes)
    reply = get_reply(reply_id)
    if reply is None:
        raise NotFound(f"no canned reply {reply_id}")
    if changes:
        try:  # set_fields: the date stays a date on nx-27017
            CannedReply._get_collection().update_one({"_id": reply_id}, set_fields(
                {**changes, "updated_at": datetime.now(timezone.utc), "updated_by": by}))
        except DuplicateKeyError:
            raise _taken(reply.scope, reply.owner, changes.get("shortcut", reply.shortcut)) from None
        reply = get_reply(reply_id)
        if reply is None:  # deleted meanwhile
            raise NotFound(f"no canned reply {reply_id}")
    return reply


def delete_reply(reply_id: str) -> None:
    """Delete the reply.

    Raises:
        NotFound: no reply `reply_id` (deleted already).
    """
    if not CannedReply.objects(id=reply_id).delete():
        raise NotFound(f"no canned reply {reply_id}")


def delete_group_replies(group_id: str) -> int:
    """Delete a deleted group's replies (nobody could use or manage them any more); how many there were."""
    return int(CannedReply.objects(audience=audience_of("group", group_id)).delete())


def _check(**fields: str) -> None:
    shortcut, title, text = fields.get("shortcut"), fields.get("title"), fields.get("text")
    if shortcut is not None and not SHORTCUT.fullmatch(shortcut):
        raise ValueError(f"a shortcut is 1 to {MAX_SHORTCUT} of a-z 0-9 _ -, not {shortcut!r}")
    if title is not None and len(title) > MAX_TITLE:
        raise ValueError(f"a title is at most {MAX_TITLE} characters")
    if text is not None and not 0 < len(text) <= MAX_TEXT:
        raise ValueError(f"a text is 1 to {MAX_TEXT} characters")


def _named(scope: str, owner: str) -> str:
    return {"personal": f"personal replies of user {owner}", "group": f"replies of group {owner}"}.get(
        scope, "global replies")


def _taken(scope: str, owner: str, shortcut: str) -> Duplicate:
    return Duplicate(f"/{shortcut} is taken among the {_named(scope, owner)}")


def _value(reply: CannedReply) -> Canned:
    return Canned(id=str(reply.id), scope=str(reply.scope), owner=str(reply.owner or ""),
                  shortcut=str(reply.shortcut), title=str(reply.title or ""), text=str(reply.text),
                  created_at=reply.created_at, created_by=str(reply.created_by or ""),
                  updated_at=reply.updated_at, updated_by=str(reply.updated_by or ""))
