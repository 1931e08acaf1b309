"""The bot with an LLM backend in a real server: streamed tokens reach the visitor; a failing model falls back.

The model server is :class:`~tests.llm.scripted_llm.ScriptedServer`, a test double
for trtllm-serve (no GPU or weights here); everything else is real.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.llm.scripted_llm import Pause, ScriptedServer, Status, Stream, ToolFragment
from tests.server.conftest import (
    Backends, Client, Server, admin_token, api, ensure_admin, forget_knowledge, free_port, make_config, visitor,
)

FAQ = b"""
- id: return-window
  question: How long do I have to return a bike?
  alternatives: ["What is your return policy?"]
  answer: You can return any bike within 30 days of delivery.
"""
FAQ_ANSWER = "You can return any bike within 30 days of delivery."


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def llm_server(backends: Backends, model: ScriptedServer,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    bot = {"kb_dir": str(tmp_path_factory.mktemp("kb-llm")), "demo_kb": False, "llm_backend": "openai",
           "llm_url": f"{model.url}/v1", "llm_model": "tiny-chat", "llm_timeout_s": 3, "llm_first_token_s": 0.5,
           "llm_retries": 1, "llm_backoff_s": 0.05}
    forget_knowledge(backends)
    srv = Server(make_config(backends, bot=bot, default_group="llm-support"), free_port()).start()
    ensure_admin()
    assert api(srv, admin_token(srv)).put("/api/admin/kb/documents/faq.yaml", content=FAQ).status_code == 201
    yield srv
    srv.stop()


def test_generated_tokens_stream_to_the_visitor_before_the_final_answer(llm_server: Server,
                                                                        model: ScriptedServer) -> None:
    model.script(Stream(["Returns are ", "free within ", "30 days [1]."]))
    guest, _ = visitor(llm_server)
    guest.send("message", client_id="q1", text="what is your return policy?")
    final = guest.wait("message", timeout=10, seq=2)
    deltas = [f["text"] for f in guest.seen if f["type"] == "bot_delta"]

    assert deltas == ["Returns are ", "free within ", "30 days [1]."]
    assert final["text"] == "Returns are free within 30 days [1]." and final["bot"]["generated"] is True
    sent = model.requests[0].body["messages"]
    assert FAQ_ANSWER in sent[1]["content"] + sent[0]["content"]  # the retrieved entry went into the prompt
    assert sent[-1] == {"role": "user", "content": "what is your return policy?"}


def test_a_model_that_keeps_failing_leaves_the_visitor_with_the_retrieval_answer(llm_server: Server,
                                                                                model: ScriptedServer) -> None:
    model.script(Status(500, {"error": {"message": "engine crashed"}}))
    _, reply = ask(llm_server, "what is your return policy?")
    assert reply["text"] == FAQ_ANSWER and reply["bot"]["generated"] is False
    assert len(model.requests) == 2  # one retry


def test_a_stalled_model_is_abandoned_within_the_stall_timeout(llm_server: Server, model: ScriptedServer) -> None:
    model.script(Stream([Pause(5.0), "too late"]))
    guest, _ = visitor(llm_server)
    guest.send("message", client_id="q1", text="what is your return policy?")
    reply = guest.wait("message", timeout=4, seq=2)  # two stalls of 0.5 s and a retry, not five seconds
    assert reply["text"] == FAQ_ANSWER


def test_the_model_calling_the_handoff_tool_hands_the_visitor_to_a_person(llm_server: Server,
                                                                          model: ScriptedServer) -> None:
    model.script(Stream([ToolFragment('{"reason": "angry', name="handoff"), ToolFragment(' customer"}')],
                        finish_reason="tool_calls"))
    guest, reply = ask(llm_server, "what is your return policy?")
    assert reply["bot"]["decision"] == "handoff"
    # No agent is online: the visitor waits in this server's default group, which its start created.
    place = guest.wait("queue_position", timeout=5)
    assert (place["group"], place["position"]) == ("llm-support", 1)


def ask(server: Server, text: str) -> tuple[Client, dict[str, Any]]:
    guest, _ = visitor(server)
    guest.send("message", client_id="q1", text=text)
    return guest, guest.wait("message", timeout=10, seq=2)
