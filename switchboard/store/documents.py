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
    BinaryField, BooleanField, DateTimeField, DictField, Document, FloatField, IntField, ListField, StringField,
)

from switchboard.actors.messages import POLICIES

__all__ = ["ROLES", "User", "AccountToken", "Image", "Site", "SkillGroup", "Visitor", "Conversation", "Message", "Rating", "KbDocument", "KbEntry",
           "AgentPresence", "ReportShard", "ReportWriter", "TermShard", "CannedReply", "ServiceHours", "InboxEntry", "INBOX_STATES", "to_datetime", "to_epoch",
           "OPEN_PHASES"]

OPEN_PHASES = ("bot", "queued", "assigned")
ROLES = ("admin", "supervisor", "agent")  # a user holds one or more


def to_datetime(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, tz=timezone.utc)


def to_epoch(d: datetime | None) -> float | None:
    if d is None:
        return None
    if d.tzinfo is None:  # pymongo hands back naive UTC datetimes unless tz_aware is set
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


class User(Document):
    """A person who logs in: an admin, a supervisor, an agent, or several of these (``roles``).

    ``supervises`` are the skill groups a supervisor is scoped to. ``token_version`` is bumped by a
    password change, a deactivation or a deletion, ending older sessions. A deleted user keeps its
    document (history shows its nickname) with ``deleted_at`` set, its email freed and no password.
    ``role`` is the single role of stores written before roles were a list (read once, by
    :func:`switchboard.store.users.migrate_roles`).
    """

    id = StringField(primary_key=True)
    roles = ListField(StringField(choices=ROLES))
    role = StringField(null=True)  # legacy: before ``roles``
    supervises = ListField(StringField())
    email = StringField(required=True, unique=True)  # stored lower-cased
    nickname = StringField(default="")
    avatar_url = StringField(default="")  # "" or /api/images/<image id>?v=<version>
    phone = StringField(default="")
    password_hash = StringField(default="")  # "": no password yet (invited) or none any more (deleted)
    must_change_password = BooleanField(default=False)  # an initial password typed by an admin
    active = BooleanField(default=True)  # False: deactivated, cannot log in
    deleted_at = DateTimeField(null=True)
    token_version = IntField(default=0)
    saturation = IntField(default=5, min_value=1)
    groups = ListField(StringField())
    created_at = DateTimeField()
    # No index on roles: nx-27017 answers an indexed equality on a list field with nothing (MongoDB's
    # multikey match is not in its SQL), so a query on roles must scan; there are few users.
    meta = {"collection": "users"}


class AccountToken(Document):
    """One emailed link (invite, password reset, email change): only its hash is stored, and it is used once.

    The id is the SHA-256 of the link's secret; ``used_at`` is set by the one request that spends it.
    """

    id = StringField(primary_key=True)
    user = StringField(required=True)
    purpose = StringField(required=True, choices=("invite", "reset", "email"))
    email = StringField(default="")  # the new address, for an email change
    token_version = IntField(default=0)  # the user's version when issued: a later password change voids it
    created_at = DateTimeField()
    expires_at = DateTimeField(required=True)
    used_at = DateTimeField(null=True)
    meta = {"collection": "account_tokens", "indexes": ["user"]}


class Image(Document):
    """An uploaded picture (an avatar, the team's logo), re-encoded as PNG by the server before it is stored."""

    id = StringField(primary_key=True)  # "avatar-<user id>" or "team-logo"
    data = BinaryField(required=True)
    content_type = StringField(default="image/png")
    version = StringField(required=True)  # a hash of the bytes: the URL changes when the picture does
    updated_at = DateTimeField()
    meta = {"collection": "images"}


class Site(Document):
    """The installation's one settings document (id ``site``): the team, and the widget as visitors see it.

    ``allowed_origins`` are the sites the widget may run on, beside the settings file's (both count).
    """

    id = StringField(primary_key=True, default="site")
    team_name = StringField(default="")
    team_email = StringField(default="")
    team_phone = StringField(default="")
    logo_url = StringField(default="")
    widget_title = StringField(default="")
    widget_greeting = StringField(default="")
    widget_colour = StringField(default="")
    allowed_origins = ListField(StringField())
    # the groups a visitor may choose or be sent to, in the picker's order: [{"id", "label", "hidden"}]
    # (hidden: reachable by a page's data-group, not shown in the picker); empty: any group, no picker
    widget_groups = ListField(DictField())
    identity_secret = StringField(default="")  # signs identities (docs/identity.md); never sent to visitors
    updated_at = DateTimeField()
    meta = {"collection": "site"}


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
    external_id = StringField(null=True)  # the customer's own user id, from a verified identity (docs/identity.md)
    verified_email = StringField(null=True)  # the email a verified identity vouched for
    open_conversation = StringField(null=True)
    created_at = DateTimeField()
    seen_at = DateTimeField()
    meta = {"collection": "visitors", "indexes": ["external_id"]}


class Conversation(Document):
    """A conversation as the engine last reported it; ``last_seq`` is the highest stored message seq."""

    id = StringField(primary_key=True)
    visitor = StringField(required=True)
    channel = StringField(default="widget")
    phase = StringField(required=True, choices=("bot", "queued", "assigned", "closed", "abandoned", "message"))  # message: left, docs/leave-a-message.md
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

    id = StringField(primary_key=True)  # the name in the default base; "<base>::<name>" in any other
    name = StringField()  # its path within its base (absent on documents stored before bases were kept apart: the id)
    base = StringField()  # which knowledge base (absent: the default one)
    kind = StringField(required=True, choices=("markdown", "faq"))
    sha256 = StringField(required=True)
    size = IntField(default=0)
    entries = IntField(default=0)
    added_at = DateTimeField()
    group = StringField(default="")  # the skill group the bot hands off to after matching it ("": the default)
    demo = BooleanField(default=False)  # shipped demo content (config/kb), not the admin's own
    meta = {"collection": "kb_documents", "indexes": ["base"]}


class KbEntry(Document):
    """One searchable unit of a document: a chunk or an FAQ entry, with the vector ids it is indexed under.

    The id is ``<document>#<key>``; ``vids`` are the Faiss ids of its phrasings
    (an FAQ's question and each alternative, or a chunk's one text).
    """

    id = StringField(primary_key=True)
    document = StringField(required=True)  # the document's id (its name in the default base)
    base = StringField()  # absent: the default base
    kind = StringField(required=True, choices=("chunk", "faq"))
    title = StringField(default="")
    text = StringField(default="")
    alternatives = ListField(StringField())
    vids = ListField(IntField())
    meta = {"collection": "kb_entries", "indexes": ["document", "base"]}


class AgentPresence(Document):
    """One interval of an agent's presence: ``state`` from ``start`` until ``end`` (None: still so).

    The id is ``<agent>|<start as epoch seconds>``, so a replayed presence record opens nothing twice.
    """

    id = StringField(primary_key=True)
    agent = StringField(required=True)
    state = StringField(required=True, choices=("online", "away", "offline"))
    start = DateTimeField(required=True)
    end = DateTimeField(null=True)
    meta = {"collection": "agent_presence", "indexes": ["agent", "start", "end"]}


class ReportShard(Document):
    """One writer's report counters of one UTC day and one part (docs/reports.md, decision 024).

    The id is ``<YYYYMMDD>|<part>|<writer>``. ``data`` is the shard as JSON: counters packed by
    :func:`~switchboard.store.report_counts.pack`, visitors as ``{dimension: {visitor: {"HH": conversations}}}``;
    its writer keeps it in memory and replaces it whole (``$set``) at each flush, so no two
    processes ever write one shard. Part ``agentday`` holds the ``agent`` shard summed over the day. Readers
    find shards by ``_id`` from the writers' stamps (:class:`ReportWriter`): nx-27017 scans the collection for
    any other query.
    """

    id = StringField(primary_key=True)
    part = StringField(required=True, choices=("conv", "agent", "agentday", "bot", "visitors"))
    day = StringField(required=True)
    writer = StringField(required=True)
    data = StringField(required=True)
    at = FloatField()  # when its writer last wrote it (epoch seconds)
    meta = {"collection": "report_shards", "indexes": [("part", "day")]}


class ReportWriter(Document):
    """A writer of report and word index shards: what a reader needs to find them by ``_id`` (decision 024).

    ``stamps`` is ``{"<part>|<day>": when it last wrote that report shard}``, ``term_days`` the days it has word
    index shards for, ``clock`` its agents' clock (``{agent: [state, since, [held conversations]]}``, empty once a
    later writer took it over), all as JSON. Few documents: one per writer process that ever stored a shard."""

    id = StringField(primary_key=True)
    stamps = StringField(default="{}")
    term_days = StringField(default="[]")
    clock = StringField(default="")
    at = FloatField()
    meta = {"collection": "report_writers"}


class TermShard(Document):
    """One writer's postings of the history's word index for one bucket of words and one UTC day of
    conversation creation (switchboard/store/search_terms.py): ``data`` is ``{word: [conversation ids]}`` as
    JSON, replaced whole by its writer. The id is ``<bucket>|<YYYYMMDD>|<writer>``."""

    id = StringField(primary_key=True)
    bucket = IntField(required=True)
    day = StringField(required=True)
    writer = StringField(required=True)
    data = StringField(required=True)
    meta = {"collection": "term_shards", "indexes": [("bucket", "day")]}


class CannedReply(Document):
    """A canned reply (docs/canned.md): a text an agent inserts with ``/shortcut``, for its owner alone
    (``personal``: ``owner`` is the user id), a skill group (``group``: the group id) or everyone (``global``:
    ``owner`` is ""). Queried only through :mod:`switchboard.store.canned`.

    ``audience`` is scope and owner in one string (``personal:<user>``, ``group:<group>``, ``global``), so a
    user's usable set is one query on one indexed field; a shortcut is unique within its audience.
    """

    id = StringField(primary_key=True)  # "cr-<16 hex>"
    scope = StringField(required=True, choices=("personal", "group", "global"))
    owner = StringField(default="")
    audience = StringField(required=True)
    shortcut = StringField(required=True)
    title = StringField(default="")
    text = StringField(required=True)
    created_at = DateTimeField()
    created_by = StringField(default="")
    updated_at = DateTimeField(null=True)
    updated_by = StringField(default="")
    # "audience" again on its own: nx-27017 searches by an index only for a field indexed alone (see Message)
    meta = {"collection": "canned_replies",
            "indexes": [{"fields": ["audience", "shortcut"], "unique": True}, "audience"]}


class ServiceHours(Document):
    """Service hours (docs/hours.md) of the desk (id ``default``) or of one skill group (its id): where they come
    from (``use``), the schedule in :meth:`Schedule.to_dict`'s form, what happens at closing time and the reply
    visitors get outside them. Queried only through :mod:`switchboard.store.hours`, by ``_id``."""

    id = StringField(primary_key=True)
    use = StringField(default="default", choices=("default", "always", "own"))
    schedule = DictField(null=True)
    at_closing = StringField(default="serve")
    off_hours_reply = StringField(default="")
    updated_at = DateTimeField()
    meta = {"collection": "service_hours"}


INBOX_STATES = ("open", "answered")


class InboxEntry(Document):
    """A message a visitor left (docs/leave-a-message.md), by its offline conversation's id: who left it, for which
    group, and whether someone took and answered it. Queried only through :mod:`switchboard.store.inbox`."""

    id = StringField(primary_key=True)  # the conversation id
    visitor = StringField(required=True)
    group = StringField(required=True)
    email = StringField(required=True)
    name = StringField(default="")
    preview = StringField(default="")  # the message's first line, cut to store.inbox.PREVIEW characters
    reason = StringField(default="")  # what led to it: closed, queue_full, left_queue, no_agents, offered
    state = StringField(default="open", choices=INBOX_STATES)
    assigned_to = StringField(null=True)
    assigned_at = DateTimeField(null=True)
    replied_by = StringField(null=True)
    replied_at = DateTimeField(null=True)
    created_at = DateTimeField(required=True)
    last_seq = IntField(default=1)
    meta = {"collection": "inbox", "indexes": ["group", "state", "visitor"]}
