"""A visitor's first message sent from two tabs at once: one conversation, one stored message."""

from __future__ import annotations

from switchboard.store.documents import Message
from tests.server.conftest import Server, visitor


def test_the_same_first_message_from_two_tabs_at_once_opens_one_conversation_and_stores_one_message(
        server: Server) -> None:
    for attempt in range(5):  # the race is a matter of timing: try it a few times
        first, hello = visitor(server)
        second, _ = visitor(server, token=hello["token"])
        client_id = f"first-{attempt}"
        first.send("message", client_id=client_id, text="hello, two tabs here")
        second.send("message", client_id=client_id, text="hello, two tabs here")
        acks = [tab.wait("ack", client_id=client_id) for tab in (first, second)]
        assert acks[0]["seq"] == acks[1]["seq"]
        assert acks[0]["conversation"] == acks[1]["conversation"]
        stored = Message.objects(client_id=client_id)
        assert [(m.conversation, m.seq) for m in stored] == [(acks[0]["conversation"], acks[0]["seq"])]
        first.close()
        second.close()
