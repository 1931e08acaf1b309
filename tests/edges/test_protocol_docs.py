"""Every event the engine can tell a person reaches them as a frame that docs/protocol.md describes."""

from __future__ import annotations

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
    missing = [(method, r.path) for r in routes for method in sorted(set(r.methods or ()) - {"HEAD"})
               if not any(f"| `{r.path}` |" in row and method in row.split("|")[1] for row in rows)]
    assert missing == []
    assert {r.path for r in routes} <= set(OPENAPI["paths"])
