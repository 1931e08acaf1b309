"""One way to write fields into an existing document that keeps their types on every store.

nx-27017 0.8 (neosqlite) writes a datetime that ``$set`` puts into an *existing* document as a string; an
update it cannot translate to SQL (a ``$`` in a field path) takes its Python path, which keeps the type.
So every ``$set`` that may carry a datetime goes through :func:`set_fields`, which adds an ``$unset`` of a
field that never exists (a no-op on MongoDB too). Use it with the raw collection (pymongo), since
mongoengine's ``update_one(set__...)`` builds its own update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["set_fields", "NX_PYTHON_PATH"]

NX_PYTHON_PATH = "_nx$"


def set_fields(fields: Mapping[str, Any], *, inc: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The update document ``{"$set": fields, "$inc": inc, "$unset": {"_nx$": ""}}``."""
    update: dict[str, Any] = {"$set": dict(fields), "$unset": {NX_PYTHON_PATH: ""}}
    if inc:
        update["$inc"] = dict(inc)
    return update
