"""store.tokens: emailed links' records, kept under a hash and spent once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from switchboard.store.documents import AccountToken
from switchboard.store.tokens import drop_tokens, get_token, insert_token, spend_token

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
HASH = "a" * 64


def test_a_link_is_spent_once(store: str) -> None:
    insert_token(HASH, "a-1", "reset", NOW + timedelta(hours=1), token_version=3, now=NOW)
    assert spend_token(HASH, NOW + timedelta(minutes=1))
    assert not spend_token(HASH, NOW + timedelta(minutes=2))
    token = get_token(HASH)
    assert token is not None and token.used_at is not None and token.token_version == 3


def test_an_expired_or_unknown_link_is_not_spent(store: str) -> None:
    insert_token(HASH, "a-1", "invite", NOW + timedelta(hours=1), now=NOW)
    assert not spend_token(HASH, NOW + timedelta(hours=2))
    assert not spend_token("b" * 64, NOW)
    token = get_token(HASH)
    assert token is not None and token.used_at is None


def test_a_deleted_users_links_are_dropped(store: str) -> None:
    insert_token(HASH, "a-1", "email", NOW + timedelta(hours=1), email="new@example.com", now=NOW)
    insert_token("c" * 64, "a-2", "reset", NOW + timedelta(hours=1), now=NOW)
    assert drop_tokens("a-1") == 1
    assert [t.id for t in AccountToken.objects()] == ["c" * 64]
