"""What a store operation can refuse, as facts about the records: the callers decide what each means to them.

A query in this package never answers in a caller's terms (no HTTP status, no exit code): REST maps
:class:`Duplicate` to 409 and :class:`NotFound` to 404 in one place (``edges/rest/toolkit.py``), the admin
command turns them into a line on stderr. The message says which record, in words a person can read.
"""

from __future__ import annotations

__all__ = ["StoreError", "Duplicate", "NotFound"]


class StoreError(Exception):
    """The store refused an operation because of the records it holds (not because it failed)."""


class Duplicate(StoreError):
    """A record with this id, or this value of a unique field, exists already."""


class NotFound(StoreError):
    """A record the operation needs does not exist."""
