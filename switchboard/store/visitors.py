"""Visitors as stored: the details their widget reported, read back where Redis no longer has them.

The relay and the visitor socket write visitors through :class:`~switchboard.store.writer.StoreWriter`
(group-committed upserts); this module only reads. Plain and synchronous: run it in a thread from async code.
"""

from __future__ import annotations

from switchboard.store.documents import Visitor

__all__ = ["get_visitor"]


def get_visitor(visitor_id: str) -> Visitor | None:
    visitor: Visitor | None = Visitor.objects(id=visitor_id).first()
    return visitor
