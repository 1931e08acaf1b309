"""Signed identity: a page vouches for a visitor with an HMAC its own server made (docs/identity.md).

A customer's server knows who its logged-in user is; the visitor's browser does not count as a witness. The
server signs the user's id, email and attributes with the site's identity secret (Team → Widget), the page
passes them to the widget, and the widget sends them in an ``identify`` frame. Only a valid signature makes
the visitor *verified*; only a verified visitor's ``priority`` and ``agent`` attributes reach the engine, so
a visitor cannot raise their own priority or pick an agent by editing the page.

The signature is ``hex(HMAC-SHA256(secret, canonical))`` where ``canonical`` is the JSON of
``{"id", "email", "attributes"}`` with keys sorted at every level, no spaces, UTF-8 unescaped
(:func:`canonical_json`). Everything here is pure: no store, no Redis, no logging of the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["IdentityError", "VerifiedUser", "canonical_json", "sign", "verify", "MAX_PRIORITY",
           "MAX_ATTRIBUTES", "MAX_ATTRIBUTES_BYTES"]

MAX_PRIORITY = 10  # the highest priority a signed identity may give
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTES_BYTES = 4000  # the canonical attributes
MAX_ID, MAX_EMAIL, MAX_NAME = 200, 254, 120


class IdentityError(ValueError):
    """The identity is refused (``identity_invalid``): the message says why, never the secret or the expected
    signature."""


@dataclass(frozen=True, slots=True)
class VerifiedUser:
    """A visitor the customer's server vouched for."""

    id: str
    email: str = ""
    name: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)
    priority: int = 0  # attributes.priority, 0..MAX_PRIORITY
    agent: str | None = None  # attributes.agent: a designated agent's id


def canonical_json(user_id: str, email: str, attributes: Mapping[str, object]) -> bytes:
    """What is signed: ``{"attributes":…,"email":…,"id":…}``, keys sorted, no spaces, UTF-8 unescaped."""
    text = json.dumps({"id": user_id, "email": email, "attributes": dict(attributes)}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def sign(secret: str, user_id: str, email: str = "", attributes: Mapping[str, object] | None = None) -> str:
    """The signature a customer's server computes (tests and docs use this as the reference)."""
    return hmac.new(secret.encode("utf-8"), canonical_json(user_id, email, attributes or {}), hashlib.sha256).hexdigest()


def verify(secret: str, user: object) -> VerifiedUser:
    """The identity `user` (the ``identify`` frame's ``user`` object) if its signature is right, else
    IdentityError. An empty secret verifies nothing."""
    if not secret:
        raise IdentityError("identity verification is not set up on this site")
    if not isinstance(user, dict):
        raise IdentityError("user must be an object with id, email, attributes and signature")
    user_id, email, name = user.get("id"), user.get("email", ""), user.get("name", "")
    attributes, signature = user.get("attributes", {}), user.get("signature")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_ID:
        raise IdentityError(f"user.id must be a non-blank string of at most {MAX_ID} characters")
    if email is None:
        email = ""
    if not isinstance(email, str) or len(email) > MAX_EMAIL:
        raise IdentityError(f"user.email must be a string of at most {MAX_EMAIL} characters")
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise IdentityError(f"user.name must be a string of at most {MAX_NAME} characters")
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict) or len(attributes) > MAX_ATTRIBUTES:
        raise IdentityError(f"user.attributes must be an object of at most {MAX_ATTRIBUTES} entries")
    if not isinstance(signature, str) or len(signature) != 64:
        raise IdentityError("user.signature must be the 64 hex digits of HMAC-SHA256")
    try:
        canonical = canonical_json(user_id, email, attributes)
    except (TypeError, ValueError, RecursionError):
        raise IdentityError("user.attributes must hold JSON values only") from None
    if len(canonical) > MAX_ATTRIBUTES_BYTES + 600:
        raise IdentityError(f"user.attributes are longer than {MAX_ATTRIBUTES_BYTES} bytes")
    expected = hmac.new(secret.encode("utf-8"), canonical, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise IdentityError("the signature does not match: sign {id, email, attributes} with the site's identity "
                            "secret (docs/identity.md)")
    return VerifiedUser(user_id, email, name, attributes, _priority(attributes), _agent(attributes))


def _priority(attributes: Mapping[str, object]) -> int:
    value = attributes.get("priority", 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
        raise IdentityError(f"attributes.priority must be an integer from 0 to {MAX_PRIORITY}")
    return value


def _agent(attributes: Mapping[str, object]) -> str | None:
    value = attributes.get("agent")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise IdentityError("attributes.agent must be an agent id")
    return value
