"""Signed identities (docs/identity.md): the pure check a visitor socket runs on an ``identify`` frame."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from switchboard.edges.identity import IdentityError, canonical_json, sign, verify

SECRET = "s3cret-of-the-site"


def signed(user_id: str = "cust-42", email: str = "kim@example.com", **attributes: Any) -> dict[str, Any]:
    return {"id": user_id, "email": email, "name": "Kim", "attributes": attributes,
            "signature": sign(SECRET, user_id, email, attributes)}


def test_the_signed_text_is_sorted_compact_utf8_json_of_id_email_and_attributes() -> None:
    text = canonical_json("cust-42", "kim@example.com", {"tier": "金", "agent": "u-bob", "priority": 3})

    assert text == '{"attributes":{"agent":"u-bob","priority":3,"tier":"金"},"email":"kim@example.com","id":"cust-42"}' \
        .encode()


def test_a_signature_made_as_the_docs_show_verifies_with_its_priority_and_agent() -> None:
    attributes = {"priority": 7, "agent": "u-bob", "plan": "gold"}
    payload = json.dumps({"id": "cust-42", "email": "kim@example.com", "attributes": attributes},
                         sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    signature = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()

    user = verify(SECRET, {"id": "cust-42", "email": "kim@example.com", "name": "Kim", "attributes": attributes,
                           "signature": signature})

    assert (user.id, user.email, user.name, user.priority, user.agent) == ("cust-42", "kim@example.com", "Kim", 7,
                                                                          "u-bob")


@pytest.mark.parametrize("change", [
    {"attributes": {"priority": 10}}, {"id": "cust-43"}, {"email": "eve@example.com"},
    {"attributes": {"priority": 1, "agent": "u-eve"}},
], ids=["raised-priority", "other-id", "other-email", "added-agent"])
def test_any_change_to_what_was_signed_is_refused(change: dict[str, Any]) -> None:
    user = {**signed(priority=1), **change}

    with pytest.raises(IdentityError, match="signature does not match"):
        verify(SECRET, user)


def test_the_name_is_not_signed_and_may_change() -> None:
    assert verify(SECRET, {**signed(), "name": "Kimberly"}).name == "Kimberly"


@pytest.mark.parametrize("user, why", [
    (None, "must be an object"), ({"id": "", "signature": "0" * 64}, "user.id"),
    ({"id": "c", "attributes": [], "signature": "0" * 64}, "attributes"),
    ({"id": "c", "signature": "abc"}, "64 hex"), ({"id": "c"}, "64 hex"),
], ids=["not-an-object", "blank-id", "attributes-not-an-object", "short-signature", "no-signature"])
def test_a_malformed_identity_is_refused_with_a_reason(user: Any, why: str) -> None:
    with pytest.raises(IdentityError, match=why):
        verify(SECRET, user)


@pytest.mark.parametrize("priority", [11, -1, 2.5, "3", True])
def test_a_signed_priority_outside_0_to_10_is_refused(priority: Any) -> None:
    with pytest.raises(IdentityError, match="priority"):
        verify(SECRET, signed(priority=priority))


def test_nothing_verifies_without_a_secret_or_with_another_sites_secret() -> None:
    with pytest.raises(IdentityError, match="not set up"):
        verify("", signed())
    with pytest.raises(IdentityError, match="signature does not match"):
        verify("another-secret", signed())


def test_the_refusal_never_shows_the_expected_signature_or_the_secret() -> None:
    user = {**signed(), "email": "eve@example.com"}
    expected = sign(SECRET, "cust-42", "eve@example.com", {})

    with pytest.raises(IdentityError) as refused:
        verify(SECRET, user)

    assert expected not in str(refused.value) and SECRET not in str(refused.value)
