"""Service hours as stored: the desk's default and each skill group's, and which schedule a group's queue keeps.

One small document per owner (:class:`~switchboard.store.documents.ServiceHours`, id ``default`` or the group's
id), read whole. ``use`` says where a group's hours come from: ``default`` (the desk's, the value a group has
until an admin changes it), ``always`` (open around the clock) or ``own`` (its ``schedule``); the default is
``always`` or ``own``. The schedule is kept in the JSON form of :meth:`Schedule.to_dict` (docs/hours.md) and
checked with :func:`~switchboard.actors.schedule.parse_schedule` before it is stored, so what is stored always
parses. A missing document reads as the defaults: a fresh store is open around the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from switchboard.actors.schedule import Schedule, parse_schedule
from switchboard.store.documents import ServiceHours
from switchboard.store.updates import set_fields

__all__ = ["DEFAULT_ID", "AT_CLOSING", "USES", "MAX_REPLY", "Hours", "get_hours", "get_many", "put_hours",
           "effective", "delete_hours"]

DEFAULT_ID = "default"
Use = Literal["default", "always", "own"]
USES: tuple[str, ...] = get_args(Use)
AtClosing = Literal["serve", "offer_message"]
AT_CLOSING: tuple[str, ...] = get_args(AtClosing)
MAX_REPLY = 1000  # characters of the reply outside hours


@dataclass(frozen=True, slots=True)
class Hours:
    """One owner's hours: where they come from, the schedule if its own, what happens at closing time and the
    reply visitors get outside them ("" for the default's, else the built-in sentence)."""

    owner: str
    use: Use
    schedule: Schedule | None
    at_closing: AtClosing
    off_hours_reply: str

    def to_json(self) -> dict[str, Any]:
        return {"use": self.use, "schedule": self.schedule.to_dict() if self.schedule is not None else None,
                "at_closing": self.at_closing, "off_hours_reply": self.off_hours_reply}


def _blank(owner: str) -> Hours:
    return Hours(owner, "always" if owner == DEFAULT_ID else "default", None, "serve", "")


def _from_doc(doc: Mapping[str, Any]) -> Hours:
    owner = str(doc["_id"])
    use = doc.get("use") if doc.get("use") in USES else _blank(owner).use
    schedule = parse_schedule(doc["schedule"]) if use == "own" and doc.get("schedule") else None
    at_closing = doc.get("at_closing") if doc.get("at_closing") in AT_CLOSING else "serve"
    return Hours(owner, use if schedule is not None or use != "own" else "always", schedule,  # type: ignore[arg-type]
                 at_closing, str(doc.get("off_hours_reply") or ""))  # type: ignore[arg-type]


def get_hours(owner: str) -> Hours:
    """The hours of `owner` (``default`` or a group id) as stored, or its defaults."""
    doc = ServiceHours._get_collection().find_one({"_id": owner})
    return _from_doc(doc) if doc else _blank(owner)


def get_many(owners: Iterable[str]) -> dict[str, Hours]:
    """The hours of each of `owners` (one read by ``_id``)."""
    wanted = list(dict.fromkeys(owners))
    found = {str(d["_id"]): _from_doc(d) for d in ServiceHours._get_collection().find({"_id": {"$in": wanted}})}
    return {owner: found.get(owner) or _blank(owner) for owner in wanted}


def put_hours(owner: str, use: Use, schedule: Schedule | None, at_closing: AtClosing, off_hours_reply: str) -> Hours:
    """Store `owner`'s hours whole (a schedule only with ``use="own"``; the default cannot use ``default``).

    Raises:
        ValueError: an inconsistent combination (the REST layer checks the input first).
    """
    if use not in USES or at_closing not in AT_CLOSING:
        raise ValueError(f"use is one of {USES} and at_closing one of {AT_CLOSING}")
    if (use == "own") != (schedule is not None):
        raise ValueError("a schedule goes with use=own, and use=own needs one")
    if owner == DEFAULT_ID and use == "default":
        raise ValueError("the default hours cannot use the default")
    if len(off_hours_reply) > MAX_REPLY:
        raise ValueError(f"the reply outside hours has at most {MAX_REPLY} characters")
    ServiceHours._get_collection().update_one({"_id": owner}, set_fields({
        "use": use, "schedule": schedule.to_dict() if schedule is not None else None, "at_closing": at_closing,
        "off_hours_reply": off_hours_reply, "updated_at": datetime.now(timezone.utc)}), upsert=True)
    return get_hours(owner)


def delete_hours(owner: str) -> None:
    """Forget `owner`'s hours (a deleted group's)."""
    ServiceHours._get_collection().delete_one({"_id": owner})


def effective(group: Hours, default: Hours) -> tuple[Schedule | None, AtClosing, str]:
    """The schedule a group's queue keeps (None: always open), what happens at its closing time, and the
    reply outside its hours ("" : the built-in one): the group's own, else the default's."""
    if group.use == "own":
        schedule = group.schedule
    elif group.use == "always":
        schedule = None
    else:
        schedule = default.schedule if default.use == "own" else None
    at_closing = group.at_closing if group.use != "default" else default.at_closing
    return schedule, at_closing, group.off_hours_reply or default.off_hours_reply
