"""Skill groups and who is in them: the reads and writes REST makes.

Plain and synchronous, like every query module here (async callers run them in a thread). Membership is
stored on the agent (``User.groups``), so joining and leaving write the user, after checking the group
exists. Restart recovery reads groups in bulk elsewhere (:mod:`switchboard.store.archive`, which also makes
sure the default group exists).

Deleting a group (:func:`retire_group`) takes it out of every member's ``groups`` and every supervisor's
``supervises`` before the document goes, so no user is left naming a group that is not there. Whether
conversations still name it is asked with a bounded find (:func:`open_conversations`), never a count: the
embedded store counts in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from mongoengine.errors import NotUniqueError

from switchboard.store.canned import delete_group_replies
from switchboard.store.documents import OPEN_PHASES, Conversation, SkillGroup, User
from switchboard.store.errors import Duplicate, NotFound
from switchboard.store.hours import delete_hours
from switchboard.store.users import roles_of

__all__ = ["GROUP_FIELDS", "get_group", "list_groups", "missing_groups", "insert_group", "update_group",
           "add_member", "remove_member", "open_conversations", "retire_group"]

GROUP_FIELDS = ("name", "policy", "max_queue", "last_agent_wait_s")  # what update_group may change


def get_group(group_id: str) -> SkillGroup | None:
    group: SkillGroup | None = SkillGroup.objects(id=group_id).first()
    return group


def list_groups() -> list[SkillGroup]:
    """Every skill group, by id."""
    return sorted(SkillGroup.objects(), key=lambda group: str(group.id))


def missing_groups(group_ids: Iterable[str]) -> list[str]:
    """Those of `group_ids` that name no stored group, in the order given."""
    wanted = list(group_ids)
    found = {g.id for g in SkillGroup.objects(id__in=wanted).only("id")} if wanted else set()
    return [g for g in wanted if g not in found]


def insert_group(group_id: str, *, name: str = "", policy: str = "balanced", max_queue: int | None = None,
                 last_agent_wait_s: float | None = None) -> SkillGroup:
    """Store a new skill group.

    Raises:
        Duplicate: a group with this id exists.
    """
    group = SkillGroup(id=group_id, name=name, policy=policy, max_queue=max_queue,
                       last_agent_wait_s=last_agent_wait_s, created_at=datetime.now(timezone.utc))
    try:
        group.save(force_insert=True)
    except NotUniqueError:
        raise Duplicate(f"group {group_id} exists") from None
    return group


def update_group(group_id: str, **changes: object) -> SkillGroup:
    """Set the fields given (each one of :data:`GROUP_FIELDS`; None clears ``max_queue`` or
    ``last_agent_wait_s``); the group as stored now.

    Raises:
        NotFound: no group `group_id`.
    """
    unknown = sorted(set(changes) - set(GROUP_FIELDS))
    if unknown:
        raise ValueError(f"not group fields: {', '.join(unknown)}")
    if changes:
        SkillGroup.objects(id=group_id).update_one(**{f"set__{name}": value for name, value in changes.items()})
    group = get_group(group_id)
    if group is None:
        raise NotFound(f"no group {group_id}")
    return group


def open_conversations(group_id: str, limit: int = 0) -> list[str]:
    """The ids of the open conversations (bot, queued, assigned) the store has in `group_id`: at most
    `limit` of them (0: all)."""
    found = Conversation.objects(phase__in=list(OPEN_PHASES), group=group_id).only("id")
    return [str(c.id) for c in (found.limit(limit) if limit else found)]


def retire_group(group_id: str) -> list[str]:
    """Take the group out of every user (members' ``groups``, supervisors' ``supervises``), delete its service
    hours and canned replies, then the group;
    the ids of the agents who were in it, for their engine entities (nothing if it was gone already)."""
    members = [user for user in User.objects(groups=group_id).only("id", "roles", "role")]
    if members:
        User.objects(groups=group_id).update(pull__groups=group_id)
    if User.objects(supervises=group_id).only("id").first() is not None:
        User.objects(supervises=group_id).update(pull__supervises=group_id)
    delete_hours(group_id)
    delete_group_replies(group_id)
    SkillGroup.objects(id=group_id).delete()
    return sorted(str(user.id) for user in members if "agent" in roles_of(user))


def add_member(group_id: str, agent_id: str) -> bool:
    """Put the agent in the group; True if it was not in it yet.

    Raises:
        NotFound: no group `group_id`, or no agent `agent_id` (checked in that order).
    """
    return _membership(group_id, agent_id, {"add_to_set__groups": group_id})


def remove_member(group_id: str, agent_id: str) -> bool:
    """Take the agent out of the group; True if it was in it. Raises NotFound as :func:`add_member`."""
    return _membership(group_id, agent_id, {"pull__groups": group_id})


def _membership(group_id: str, agent_id: str, update: dict[str, str]) -> bool:
    if get_group(group_id) is None:
        raise NotFound(f"no group {group_id}")
    result = User.objects(id=agent_id, roles="agent", deleted_at=None).update_one(full_result=True, **update)
    if result.matched_count == 0:
        raise NotFound(f"no agent {agent_id}")
    return bool(result.modified_count)
