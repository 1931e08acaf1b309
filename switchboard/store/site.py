"""The installation's one settings document: the team (name, contact, logo) and the widget as visitors see it.

One document, id ``site``, read whole (it is small) and changed field by field; a missing document reads as
the defaults, so a fresh store needs no set-up. The widget's allowed sites here count beside the settings
file's ``allowed_origins`` (:mod:`switchboard.edges.site` caches both for the origin check).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from switchboard.store.documents import Site
from switchboard.store.updates import set_fields

__all__ = ["SITE_ID", "SITE_FIELDS", "get_site", "update_site", "identity_secret", "regenerate_identity_secret"]

SITE_ID = "site"
SITE_FIELDS = ("team_name", "team_email", "team_phone", "logo_url", "widget_title", "widget_greeting",
               "widget_colour", "allowed_origins", "widget_groups", "identity_secret")


def get_site() -> Site:
    """The site document, or an unsaved one with the defaults when none is stored yet."""
    site: Site | None = Site.objects(id=SITE_ID).first()
    return site if site is not None else Site(id=SITE_ID)


def update_site(**changes: object) -> Site:
    """Set the fields given (each one of :data:`SITE_FIELDS`), creating the document on first use; the result."""
    unknown = sorted(set(changes) - set(SITE_FIELDS))
    if unknown:
        raise ValueError(f"not site fields: {', '.join(unknown)}")
    Site._get_collection().update_one(  # set_fields: the date stays a date on nx-27017
        {"_id": SITE_ID}, set_fields({**changes, "updated_at": datetime.now(timezone.utc)}), upsert=True)
    return get_site()


def new_secret() -> str:
    """A fresh identity secret (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def identity_secret() -> str:
    """The site's identity secret, made on first use (docs/identity.md). Two processes making it at the same
    moment store one of theirs: both read the stored one back."""
    secret = str(get_site().identity_secret or "")
    if secret:
        return secret
    Site._get_collection().update_one({"_id": SITE_ID}, {"$setOnInsert": {"identity_secret": ""}}, upsert=True)
    Site._get_collection().update_one({"_id": SITE_ID, "identity_secret": {"$in": ["", None]}},
                                      {"$set": {"identity_secret": new_secret()}})
    return str(get_site().identity_secret or "")


def regenerate_identity_secret() -> str:
    """A new identity secret: every signature made with the old one stops verifying at once."""
    return str(update_site(identity_secret=new_secret()).identity_secret)
