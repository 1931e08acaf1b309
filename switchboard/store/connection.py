"""The one mongoengine connection the server uses, and the indexes its queries rely on.

Everything in this package goes through mongoengine's ``"default"`` alias: the
documents for reads and admin writes, their ``_get_collection()`` for the bulk
writes of :mod:`switchboard.store.writer`. ``tz_aware`` makes every datetime read
back aware (UTC), which is what :func:`switchboard.store.documents.to_epoch` expects;
nx-27017 needs nothing special for it (it is a client-side option).
"""

from __future__ import annotations

import mongoengine
import pymongo

from switchboard.store.documents import (
    AccountToken, AgentPresence, CannedReply, Conversation, InboxEntry, ServiceHours, Image, KbDocument, KbEntry, Message, Rating,
    ReportShard, ReportWriter, Site, TermShard, SkillGroup, User, Visitor,
)
from switchboard.store.users import migrate_roles

__all__ = ["DOCUMENTS", "Pinger", "connect", "current_uri", "disconnect", "ensure_indexes"]

DOCUMENTS = (User, SkillGroup, Visitor, Conversation, Message, Rating, KbDocument, KbEntry, AccountToken, Image, Site,
             AgentPresence, ReportShard, ReportWriter, TermShard, CannedReply, ServiceHours, InboxEntry)


def connect(uri: str, timeout_s: float = 5.0) -> None:
    """Connect the ``"default"`` alias to `uri` (which names the database), replacing an earlier connection.

    `timeout_s` bounds how long an operation waits for an unreachable server
    before raising ``ServerSelectionTimeoutError``.
    """
    global _uri
    disconnect()
    ms = int(timeout_s * 1000)
    _uri = uri
    mongoengine.connect(alias="default", host=uri, tz_aware=True, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms)


_uri: str | None = None


def current_uri() -> str | None:
    """The URI of the connection :func:`connect` made last (None before it): a helper process connects to it."""
    return _uri


def disconnect() -> None:
    """Close the ``"default"`` connection (and forget the collections cached on the documents)."""
    mongoengine.disconnect(alias="default")


class Pinger:
    """Pings the store at `uri` on a client of its own, which gives up on an unreachable store within
    `timeout_s` (the server's own connection waits 5 s for one, as a query should). Close it when done."""

    def __init__(self, uri: str, timeout_s: float) -> None:
        ms = max(100, int(timeout_s * 1000))  # a refused or lost store fails within this; a slow answer, twice it
        self._client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=2 * ms)

    def ping(self) -> None:
        """Blocking; raises pymongo's ConnectionFailure if the store does not answer."""
        self._client.admin.command("ping")

    def close(self) -> None:
        self._client.close()


def ensure_indexes() -> None:
    """Create the indexes declared in each document's ``meta`` (idempotent)."""
    for document in DOCUMENTS:
        document.ensure_indexes()
    migrate_roles()
