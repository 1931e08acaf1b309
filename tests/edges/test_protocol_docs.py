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
