"""The REST API in one piece: every resource's routes, and the OpenAPI description assembled from their parts.

Each resource module (:mod:`.sessions`, :mod:`.agents`, :mod:`.groups`, :mod:`.kb`, :mod:`.workspace`,
:mod:`.setup`, :mod:`.accounts`, :mod:`.profile`, :mod:`.site`, :mod:`.hours`, ...)
offers a routes function and an :class:`~switchboard.edges.rest.toolkit.ApiPart`; this module is the only
one that knows them all. A new resource adds its module and one line to each list below; docs/protocol.md's
REST table lists every route (tests/edges/test_protocol_docs.py checks it).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.edges.auth import Passwords
from switchboard.edges.rest.accounts import ACCOUNTS_API, account_routes
from switchboard.edges.rest.agents import AGENTS_API, agent_routes
from switchboard.edges.rest.canned import CANNED_API, canned_routes
from switchboard.edges.rest.groups import GROUPS_API, group_routes
from switchboard.edges.rest.history import HISTORY_API, history_routes
from switchboard.edges.rest.hours import HOURS_API, hours_routes
from switchboard.edges.rest.inbox import INBOX_API, inbox_routes
from switchboard.edges.rest.kb import KB_API, kb_routes
from switchboard.edges.rest.profile import PROFILE_API, profile_routes
from switchboard.edges.rest.reports import REPORTS_API, report_routes
from switchboard.edges.rest.sessions import SESSIONS_API, session_routes
from switchboard.edges.rest.setup import SETUP_API, setup_routes
from switchboard.edges.rest.site import SITE_API, site_routes
from switchboard.edges.rest.toolkit import ApiPart, ORJSONResponse, describe, make_routes, operation
from switchboard.edges.rest.workspace import WORKSPACE_API, workspace_routes

__all__ = ["OPENAPI", "rest_routes", "api_routes"]

_DESCRIPTION_API = ApiPart(paths={"/api/openapi.json": {"get": operation(
    "This description", {"200": {"description": "OpenAPI 3"}}, auth=False)}})

OPENAPI = describe(
    {"title": "Switchboard REST", "version": "1",
     "description": "Agents and admins log in here; admins manage agents and skill groups. "
                    "Times are epoch seconds. Every error is {\"error\": {\"code\", \"message\"}}."},
    [SESSIONS_API, AGENTS_API, GROUPS_API, _DESCRIPTION_API, KB_API, WORKSPACE_API, SETUP_API, ACCOUNTS_API,
     PROFILE_API, SITE_API, REPORTS_API, HISTORY_API, CANNED_API, HOURS_API, INBOX_API])


async def _openapi(request: Request) -> Response:
    return ORJSONResponse(OPENAPI)


def rest_routes(*, passwords: Passwords | None = None) -> list[BaseRoute]:
    """Accounts (sessions, setup, users and links, profiles, agents, groups) and ``GET /api/openapi.json``,
    which describes every route.

    `passwords` (tests: a cheap hasher) defaults to ``services.passwords``, else argon2id with argon2-cffi's
    default (production) cost.
    """
    return [*session_routes(passwords), *agent_routes(passwords), *group_routes(),
            *setup_routes(passwords), *account_routes(passwords), *profile_routes(passwords),
            *make_routes([("GET", "/api/openapi.json", _openapi)])]


def api_routes(*, passwords: Passwords | None = None) -> list[BaseRoute]:
    """Every REST route: what the app serves."""
    return [*rest_routes(passwords=passwords), *kb_routes(), *workspace_routes(), *site_routes(), *report_routes(), *history_routes(),
            *canned_routes(), *hours_routes(), *inbox_routes()]
