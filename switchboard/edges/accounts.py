"""Emailed links (invite, password reset, email change): issued, read and spent once.

A link is ``<base_url>/account#token=<token>``: the secret rides in the URL *fragment*, which a browser never
sends to a server, so it reaches no access log and no ``Referer``; the page ``/account`` reads it and posts it.
The token is a JWT (HS256 with the server's secret) ``{"typ": "account", "sub": user, "pur": purpose, "jti",
"iat", "exp"}``. The store keeps an :class:`~switchboard.store.documents.AccountToken` under the SHA-256 of the
``jti`` (never the ``jti`` itself), with the user's ``token_version`` at issue: a later password change,
deactivation or deletion bumps the version and so voids every earlier link. Spending is one conditional update
in the store (:func:`switchboard.store.tokens.spend_token`), so a link works once even when clicked twice at
the same moment.

Every refusal is one :class:`LinkInvalid` (``link_invalid`` on the wire) whose message says which kind of
problem (malformed, expired, used, replaced) and nothing about the account. Plain and synchronous: the
store blocks, so async callers run these in a thread. Nothing here logs a token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import jwt

from switchboard.store.documents import AccountToken, User
from switchboard.store.tokens import get_token, insert_token, spend_token
from switchboard.store.users import get_user

__all__ = ["Purpose", "PURPOSES", "LIFETIMES_S", "LinkInvalid", "Link", "issue_link", "read_link", "spend_link",
           "link_url", "token_id"]

Purpose = Literal["invite", "reset", "email"]
PURPOSES: tuple[Purpose, ...] = ("invite", "reset", "email")
LIFETIMES_S: dict[Purpose, float] = {"invite": 72 * 3600.0, "reset": 3600.0, "email": 24 * 3600.0}
_ALGORITHM = "HS256"
_TYP = "account"


class LinkInvalid(Exception):
    """The link cannot be used; the message (safe to show) says why, in general terms."""


@dataclass(frozen=True, slots=True)
class Link:
    """A link that checked out: whose it is, what for, and the record to spend."""

    user: User
    purpose: Purpose
    email: str  # the new address of an email change, else the user's
    token: AccountToken


def token_id(jti: str) -> str:
    """The store's id for a link: the SHA-256 (hex) of its ``jti``."""
    return hashlib.sha256(jti.encode()).hexdigest()


def link_url(base_url: str, token: str) -> str:
    return f"{base_url}/account#token={token}"


def issue_link(user: User, purpose: Purpose, *, secret: str, email: str = "", now: float | None = None,
               lifetime_s: float | None = None) -> str:
    """A new link token for `user` (recorded in the store), valid `lifetime_s` (default: the purpose's) from `now`."""
    issued = time.time() if now is None else now
    expires = issued + (LIFETIMES_S[purpose] if lifetime_s is None else lifetime_s)
    jti = secrets.token_urlsafe(24)
    insert_token(token_id(jti), str(user.id), purpose, datetime.fromtimestamp(expires, tz=timezone.utc),
                 email=email, token_version=int(user.token_version),
                 now=datetime.fromtimestamp(issued, tz=timezone.utc))
    payload = {"typ": _TYP, "sub": str(user.id), "pur": purpose, "jti": jti, "iat": int(issued), "exp": int(expires)}
    return jwt.encode(payload, secret, algorithm=_ALGORITHM)


def read_link(token: object, *, secret: str, purposes: tuple[Purpose, ...] = PURPOSES,
              now: float | None = None) -> Link:
    """Check `token` without spending it: signature, expiry, its record, its user and the user's version.

    Raises:
        LinkInvalid: malformed, of another purpose, expired, used, voided by a later change, or its user gone.
    """
    if not isinstance(token, str) or not token or len(token) > 2048:
        raise LinkInvalid("the link is not valid: was it copied whole?")
    try:
        payload = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                             options={"require": ["exp", "sub", "jti", "typ", "pur"]})
    except jwt.ExpiredSignatureError:
        raise LinkInvalid("the link has expired: ask for a new one") from None
    except jwt.InvalidTokenError:
        raise LinkInvalid("the link is not valid: was it copied whole?") from None
    purpose, jti, user_id = payload.get("pur"), payload.get("jti"), payload.get("sub")
    if (payload.get("typ") != _TYP or purpose not in purposes or not isinstance(jti, str)
            or not isinstance(user_id, str)):
        raise LinkInvalid("the link is not valid for this")
    record = get_token(token_id(jti))
    if record is None or record.user != user_id or record.purpose != purpose:
        raise LinkInvalid("the link is not valid: was it copied whole?")
    if record.used_at is not None:
        raise LinkInvalid("the link was used already: each link works once")
    moment = time.time() if now is None else now
    if _epoch(record.expires_at) <= moment:
        raise LinkInvalid("the link has expired: ask for a new one")
    user = get_user(user_id)
    if user is None or user.deleted_at is not None or not user.active:
        raise LinkInvalid("the link is no longer valid: ask your admin")
    if int(user.token_version) != int(record.token_version):
        raise LinkInvalid("the link was replaced by a later change (a new password): ask for a new one")
    email = str(record.email) if purpose == "email" else str(user.email)
    return Link(user, purpose, email, record)


def spend_link(link: Link, now: float | None = None) -> None:
    """Mark `link` used.

    Raises:
        LinkInvalid: it was spent meanwhile (by a request racing this one) or expired.
    """
    moment = datetime.now(timezone.utc) if now is None else datetime.fromtimestamp(now, tz=timezone.utc)
    if not spend_token(str(link.token.id), moment):
        raise LinkInvalid("the link was used already: each link works once")


def _epoch(d: datetime) -> float:
    return (d if d.tzinfo is not None else d.replace(tzinfo=timezone.utc)).timestamp()
