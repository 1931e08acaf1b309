"""Every event the engine can tell a person reaches them as a frame that docs/protocol.md describes."""

from __future__ import annotations

import re
from pathlib import Path

from switchboard.actors import events

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def test_every_event_a_person_can_get_has_a_row_in_the_protocol_doc() -> None:
    kinds = {getattr(events, name).kind for name in events.__all__ if hasattr(getattr(events, name), "kind")}
    kinds.discard(events.ConversationState.kind)  # a record for the store and Redis, never a frame
    undocumented = sorted(kind for kind in kinds if f"| `{kind}` |" not in PROTOCOL)
    assert kinds and undocumented == []


def test_every_rest_route_has_a_row_in_the_protocol_doc_and_in_the_openapi_description() -> None:
    from starlette.routing import Route

    from switchboard.edges.rest.api import OPENAPI, rest_routes
    from switchboard.edges.rest.kb import kb_routes
    from switchboard.edges.rest.workspace import workspace_routes

    routes = [r for r in [*rest_routes(), *workspace_routes(), *kb_routes()] if isinstance(r, Route)]
    rows = [line for line in PROTOCOL.splitlines() if line.startswith("| ")]
    missing = [(method, r.path_format) for r in routes for method in sorted(set(r.methods or ()) - {"HEAD"})
               if not any(f"| `{r.path_format}` |" in row and method in row.split("|")[1] for row in rows)]
    assert missing == []
    assert {r.path_format for r in routes} <= set(OPENAPI["paths"])


# Settings that choose where and how the server runs rather than bound what a client can make it spend.
NOT_LIMITS = {"host", "port", "data_dir", "redis_url", "mongodb_uri", "secret", "default_group", "store_journal",
              "require_email", "store_transactions", "allowed_origins", "trusted_proxies", "token_ttl_s",
              "visitor_token_ttl_s", "public_url", "report_keeper"}


def _spellings(value: float) -> set[str]:
    """How the doc may write a default: 20, 0.5, 10,000, 16 KiB, 30 days."""
    found = {str(value), f"{value:,}"}
    if float(value).is_integer():
        whole = int(value)
        found |= {str(whole), f"{whole:,}"}
        if whole % 1024 == 0:
            found.add(f"{whole // 1024} KiB")
        if whole % 86400 == 0:
            found.add(f"{whole // 86400} days")
    return found


def test_every_limit_setting_has_a_row_in_the_limits_section_with_its_default() -> None:
    import dataclasses

    from switchboard.settings import ServerSettings

    section = PROTOCOL.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    problems = []
    defaults = ServerSettings()
    for field in dataclasses.fields(ServerSettings):
        if field.name in NOT_LIMITS:
            continue
        default = float(getattr(defaults, field.name))
        mine = [row for row in rows if f"`{field.name}`" in row]
        if not mine:
            problems.append(f"{field.name}: no row")
        elif not any(re.search(rf"(?<![\w.,]){re.escape(s)}(?![\w,]|\.\d)", row) for row in mine
                     for s in _spellings(default)):
            problems.append(f"{field.name}: its default {default} is not in its row")
    assert problems == []


def test_every_client_frame_has_a_row_in_the_protocol_doc() -> None:
    import typing

    from switchboard.edges import protocol

    tags = {struct.__struct_config__.tag for union in (protocol.VisitorFrame, protocol.AgentFrame)
            for struct in typing.get_args(union)}
    assert "watch" in tags and "live" in tags
    assert sorted(tag for tag in tags if f"| `{tag}` |" not in PROTOCOL) == []
