"""Emailed links' records (invite, password reset, email change): stored by the hash of their secret, spent once.

Plain and synchronous, as the rest of the store. The id of an :class:`~switchboard.store.documents.AccountToken`
is the SHA-256 (hex) of the link's random ``jti``, so the store never holds anything a link could be rebuilt
from. Spending is one conditional update (``used_at`` unset -> now, and not expired), so of two requests
spending the same link exactly one wins.
"""

from __future__ import annotations

from datetime import datetime, timezone

from switchboard.store.documents import AccountToken
from switchboard.store.updates import set_fields

__all__ = ["insert_token", "get_token", "spend_token", "drop_tokens"]


def insert_token(token_id: str, user_id: str, purpose: str, expires_at: datetime, *, email: str = "",
                 token_version: int = 0, now: datetime | None = None) -> AccountToken:
    """Record a new link (`token_id`: the hash of its secret)."""
    token = AccountToken(id=token_id, user=user_id, purpose=purpose, email=email, token_version=token_version,
                         created_at=now or datetime.now(timezone.utc), expires_at=expires_at, used_at=None)
    token.save(force_insert=True)
    return token


def get_token(token_id: str) -> AccountToken | None:
    token: AccountToken | None = AccountToken.objects(id=token_id).first()
    return token


def spend_token(token_id: str, now: datetime | None = None) -> bool:
    """Mark the link used, if it is unused and unexpired at `now`: True for the one caller that did."""
    moment = now or datetime.now(timezone.utc)
    done = AccountToken._get_collection().update_one(  # set_fields: the date stays a date on nx-27017
        {"_id": token_id, "used_at": None, "expires_at": {"$gt": moment}}, set_fields({"used_at": moment}))
    return bool(done.modified_count == 1)


def drop_tokens(user_id: str) -> int:
    """Forget every link of `user_id` (the user was deleted); how many."""
    dropped: int = AccountToken.objects(user=user_id).delete()
    return dropped
