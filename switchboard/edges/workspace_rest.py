"""REST the agent workspace needs beyond login: colleagues and groups to transfer to, a visitor's details.

Agents (not only admins) may read these; each route checks the caller's session.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

__all__ = ["workspace_routes"]


def workspace_routes() -> list[BaseRoute]:
    return []
