"""mongoengine documents: the durable record of users, groups, visitors, conversations, messages, ratings.

Ids are strings chosen by Switchboard (the engine addresses entities by them), so
every document uses its id as the primary key. Times are UTC datetimes in the
store (what reports and a MongoDB shell expect); the engine speaks epoch floats,
converted at the edge of this package (:func:`to_datetime`, :func:`to_epoch`).

Indexes cover exactly the queries the server makes; the embedded nx-27017 store
evaluates sorts and counts in Python, so hot paths never sort or count here.
"""

# mypy: disallow-subclassing-any=False
# (mongoengine is untyped, so Document is Any)

from __future__ import annotations

from datetime import datetime, timezone

from mongoengine import (
    DateTimeField, DictField, Document, FloatField, IntField, ListField, StringField,
)

from switchboard.actors.messages import POLICIES

__all__ = ["User", "SkillGroup", "Visitor", "Conversation", "Message", "Rating", "KbDocument", "KbEntry",
           "to_datetime", "to_epoch",
           "OPEN_PHASES"]

OPEN_PHASES = ("bot", "queued", "assigned")


def to_datetime(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, tz=timezone.utc)


def to_epoch(d: datetime | None) -> float | None:
    if d is None:
        return None
    if d.tzinfo is None:  # pymongo hands back naive UTC datetimes unless tz_aware is set
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


class User(Document):
    """An admin or an agent. ``token_version`` is bumped by a password change, ending older sessions."""

    id = StringField(primary_key=True)
    role = StringField(required=True, choices=("admin", "agent"))
    email = StringField(required=True, unique=True)  # stored lower-cased
    nickname = StringField(default="")
    avatar_url = StringField(default="")
    phone = StringField(default="")
    password_hash = StringField(required=True)
    token_version = IntField(default=0)
    saturation = IntField(default=5, min_value=1)
    groups = ListField(StringField())
    created_at = DateTimeField()
    meta = {"collection": "users", "indexes": ["role"]}


class SkillGroup(Document):
    id = StringField(primary_key=True)  # a slug such as "billing"
    name = StringField(default="")
    policy = StringField(default="balanced", choices=POLICIES)
    max_queue = IntField(null=True)
    last_agent_wait_s = FloatField(null=True)
    created_at = DateTimeField()
    meta = {"collection": "skill_groups"}


class Visitor(Document):
    id = StringField(primary_key=True)
    email = StringField(default="")
    name = StringField(default="")
    channel = StringField(default="widget")
    page = StringField(default="")
    last_agent = StringField(null=True)  # who served them last (last_agent_first)
    open_conversation = StringField(null=True)
    created_at = DateTimeField()
    seen_at = DateTimeField()
    meta = {"collection": "visitors"}


class Conversation(Document):
    """A conversation as the engine last reported it; ``last_seq`` is the highest stored message seq."""

    id = StringField(primary_key=True)
    visitor = StringField(required=True)
    channel = StringField(default="widget")
    phase = StringField(required=True, choices=("bot", "queued", "assigned", "closed", "abandoned"))
    group = StringField(null=True)
    priority = IntField(default=0)
    tier = IntField(default=1)  # 0: at the front of its queue (requeued, transferred)
    agent = StringField(null=True)
    participants = ListField(StringField())
    transfers = ListField(DictField())
    created_at = DateTimeField()
    queued_at = DateTimeField(null=True)
    # queued_at as the engine had it, to the microsecond: a date keeps milliseconds, and a burst of requests
    # in one millisecond came back from a restart in conversation-id order instead of their queue's order
    queued_at_s = FloatField(null=True)
    assigned_at = DateTimeField(null=True)
    first_agent_reply_at = DateTimeField(null=True)
    closed_at = DateTimeField(null=True)
    close_reason = StringField(null=True)
    last_seq = IntField(default=0)
    meta = {"collection": "conversations", "indexes": ["phase", "visitor", "agent"]}


class Message(Document):
    """One message of a conversation; (conversation, seq) is unique, so a replayed write is harmless."""

    conversation = StringField(required=True)
    seq = IntField(required=True)
    sender_role = StringField(required=True, choices=("visitor", "agent", "bot", "system"))
    sender_id = StringField(default="")
    kind = StringField(default="text", choices=("text", "system", "note"))
    text = StringField(default="")
    client_id = StringField(null=True)
    at = DateTimeField(required=True)
    extra = DictField(null=True)  # a bot message's decision, suggestions and sources
    meta = {
        "collection": "messages",
        "indexes": [
            {"fields": ["conversation", "seq"], "unique": True},
            # Redundant on MongoDB (a prefix of the above), but nx-27017 0.8 only turns a query on
            # `conversation` into an indexed SQL search when that field has an index of its own;
            # without it messages_between scans the whole collection.
            "conversation",
        ],
    }


class Rating(Document):
    id = StringField(primary_key=True)  # the conversation id: one rating per conversation
    visitor = StringField(required=True)
    agent = StringField(null=True)
    score = IntField(required=True, min_value=1, max_value=5)
    comment = StringField(default="")
    at = DateTimeField()
    meta = {"collection": "ratings"}


class KbDocument(Document):
    """One knowledge source (a markdown file or an FAQ file); its name is its id, so re-ingesting replaces it."""

    id = StringField(primary_key=True)  # the file name
    kind = StringField(required=True, choices=("markdown", "faq"))
    sha256 = StringField(required=True)
    size = IntField(default=0)
    entries = IntField(default=0)
    added_at = DateTimeField()
    meta = {"collection": "kb_documents"}


class KbEntry(Document):
    """One searchable unit of a document: a chunk or an FAQ entry, with the vector ids it is indexed under.

    The id is ``<document>#<key>``; ``vids`` are the Faiss ids of its phrasings
    (an FAQ's question and each alternative, or a chunk's one text).
    """

    id = StringField(primary_key=True)
    document = StringField(required=True)
    kind = StringField(required=True, choices=("chunk", "faq"))
    title = StringField(default="")
    text = StringField(default="")
    alternatives = ListField(StringField())
    vids = ListField(IntField())
    meta = {"collection": "kb_entries", "indexes": ["document"]}
