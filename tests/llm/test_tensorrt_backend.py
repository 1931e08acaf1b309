"""The in-process TensorRT-LLM backend, as far as it can be checked on a machine without a GPU.

tensorrt_llm installs only from NVIDIA's index on a GPU host, so the real library
never runs here. Two things are checked: choosing the backend without the package
fails with a clear message, and the backend's own streaming loop (cumulative
outputs to deltas, the stall and whole-answer clocks, aborting, errors) runs
against a TEST DOUBLE of the GPU-only library: a tiny fake module put into
``sys.modules["tensorrt_llm"]`` whose ``LLM.generate_async`` replays scripted
outputs. It mirrors only the calls the backend makes (``LLM(model=...)``,
``llm.tokenizer.apply_chat_template``, ``SamplingParams(max_tokens, temperature)``,
``generate_async(prompt, params, streaming=True)`` yielding ``outputs[0].text``,
``abort``, ``shutdown``); it says nothing about the real library's behaviour.
"""

from __future__ import annotations

import asyncio
import sys
import time
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from switchboard.llm.factory import make_generator
from switchboard.llm.generation import Delta, GenerationFailed, HandoffCall
from switchboard.llm.tensorrt_backend import MISSING_MESSAGE, TensorRTLLMBackend
from switchboard.settings import BotSettings, SettingsError

MESSAGES = [{"role": "system", "content": "Answer from the sources."}, {"role": "user", "content": "Refunds?"}]
Step = str | float  # a cumulative output text, or a pause in seconds


# --- the test double for the GPU-only library ---------------------------------------------------------


@dataclass
class FakeCompletion:
    text: str


@dataclass
class FakeRequestOutput:
    outputs: list[FakeCompletion]


class FakeStreamingResult:
    """Stands in for what ``generate_async(..., streaming=True)`` returns: outputs with the whole text so far."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps, self.aborted = steps, False

    def __aiter__(self) -> AsyncIterator[FakeRequestOutput]:
        return self._replay()

    async def _replay(self) -> AsyncIterator[FakeRequestOutput]:
        for step in self.steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            else:
                yield FakeRequestOutput([FakeCompletion(step)])

    def abort(self) -> None:
        self.aborted = True


class FakeTokenizer:
    def apply_chat_template(self, messages: list[dict[str, str]], *, tokenize: bool,
                            add_generation_prompt: bool) -> str:
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<|{m['role']}|>{m['content']}" for m in messages) + "<|assistant|>"


class NoTemplateTokenizer:
    def apply_chat_template(self, *args: Any, **kwargs: Any) -> str:
        raise ValueError("this tokenizer has no chat template")


class FakeLLM:
    """Stands in for ``tensorrt_llm.LLM``; `steps` scripts the next answers."""

    steps: list[Step] = []
    fail_with: Exception | None = None

    def __init__(self, model: str) -> None:
        self.model = model
        self.tokenizer: Any = FakeTokenizer()
        self.calls: list[tuple[str, Any, bool]] = []
        self.results: list[FakeStreamingResult] = []
        self.shut_down = False

    def generate_async(self, prompt: str, sampling_params: Any, streaming: bool = False) -> FakeStreamingResult:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append((prompt, sampling_params, streaming))
        self.results.append(FakeStreamingResult(list(self.steps)))
        return self.results[-1]

    def shutdown(self) -> None:
        self.shut_down = True


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@pytest.fixture
def fake_tensorrt_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeLLM]]:
    """Put the test double into sys.modules as ``tensorrt_llm`` for one test."""
    module = types.ModuleType("tensorrt_llm", "TEST DOUBLE of NVIDIA's GPU-only tensorrt_llm (see this file).")
    llm_class = type("LLM", (FakeLLM,), {"steps": [], "fail_with": None})
    setattr(module, "LLM", llm_class)
    setattr(module, "SamplingParams", FakeSamplingParams)
    monkeypatch.setitem(sys.modules, "tensorrt_llm", module)
    yield llm_class


def settings(**changes: Any) -> BotSettings:
    values: dict[str, Any] = {"llm_backend": "tensorrt_llm", "llm_model": "/models/tiny-chat", "llm_timeout_s": 3.0,
                              "llm_first_token_s": 0.2, "llm_max_tokens": 64, "llm_temperature": 0.2, **changes}
    return BotSettings(**values)


@dataclass
class Outcome:
    pieces: list[Delta | HandoffCall]
    error: GenerationFailed | None
    seconds: float


def ask(backend: TensorRTLLMBackend) -> Outcome:
    async def run() -> Outcome:
        pieces: list[Delta | HandoffCall] = []
        error: GenerationFailed | None = None
        started = time.monotonic()
        try:
            async for piece in backend.stream(MESSAGES):
                pieces.append(piece)
        except GenerationFailed as exc:
            error = exc
        return Outcome(pieces, error, time.monotonic() - started)

    return asyncio.run(run())


def backend_of(llm_class: type[FakeLLM], steps: list[Step], **changes: Any) -> tuple[TensorRTLLMBackend, FakeLLM]:
    llm_class.steps = steps
    backend = make_generator(settings(**changes))
    assert isinstance(backend, TensorRTLLMBackend)
    llm = backend._llm
    assert isinstance(llm, FakeLLM)
    return backend, llm


# --- without the package --------------------------------------------------------------------------


def test_choosing_tensorrt_llm_without_the_package_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt_llm", None)  # importing it now fails, even on a GPU host
    with pytest.raises(ImportError) as raised:
        make_generator(settings())
    assert str(raised.value) == MISSING_MESSAGE
    assert "NVIDIA's index" in MISSING_MESSAGE and "docs/llm.md" in MISSING_MESSAGE
    assert "llm_backend=openai with trtllm-serve" in MISSING_MESSAGE


# --- with the test double ---------------------------------------------------------------------------


def test_the_model_loads_from_llm_model_with_the_sampling_settings(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, ["ok"])
    ask(backend)
    assert llm.model == "/models/tiny-chat" and backend.name == "tensorrt_llm"
    _, params, streaming = llm.calls[0]
    assert params.kwargs == {"max_tokens": 64, "temperature": 0.2} and streaming is True


def test_an_empty_llm_model_is_a_settings_error(fake_tensorrt_llm: type[FakeLLM]) -> None:
    with pytest.raises(SettingsError, match="llm_model"):
        make_generator(settings(llm_model=""))


def test_cumulative_outputs_become_deltas_of_only_the_new_text(fake_tensorrt_llm: type[FakeLLM]) -> None:
    steps: list[Step] = ["Re", "Refunds", "Refunds take", "Refunds take", "Refunds take 5 days."]
    backend, _ = backend_of(fake_tensorrt_llm, steps)
    outcome = ask(backend)
    assert outcome.error is None
    assert outcome.pieces == [Delta("Re"), Delta("funds"), Delta(" take"), Delta(" 5 days.")]


def test_the_prompt_is_rendered_with_the_models_chat_template(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, ["ok"])
    ask(backend)
    assert llm.calls[0][0] == "<|system|>Answer from the sources.<|user|>Refunds?<|assistant|>"


def test_without_a_chat_template_the_prompt_is_plain_role_labelled_text(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, ["ok"])
    llm.tokenizer = NoTemplateTokenizer()
    assert backend.prompt(MESSAGES) == "System: Answer from the sources.\n\nUser: Refunds?\n\nAssistant:"


def test_a_stall_before_the_first_output_fails_within_llm_first_token_s(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, [3.0, "too late"])
    outcome = ask(backend)
    assert outcome.error is not None and "llm_first_token_s=0.2" in str(outcome.error)
    assert outcome.pieces == [] and outcome.seconds < 1.0
    assert llm.results[0].aborted  # the GPU stops working on it


def test_a_stall_between_outputs_fails_after_the_deltas_already_yielded(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, ["Refunds", "Refunds take", 3.0, "Refunds take 5 days."])
    outcome = ask(backend)
    assert outcome.pieces == [Delta("Refunds"), Delta(" take")]
    assert outcome.error is not None and outcome.seconds < 1.0 and llm.results[0].aborted


def test_an_answer_slower_than_llm_timeout_s_fails_at_the_whole_answer_timeout(
        fake_tensorrt_llm: type[FakeLLM]) -> None:
    steps: list[Step] = []
    for i in range(1, 40):
        steps += ["word " * i, 0.05]
    backend, _ = backend_of(fake_tensorrt_llm, steps, llm_timeout_s=0.5)
    outcome = ask(backend)
    assert outcome.error is not None and "llm_timeout_s=0.5" in str(outcome.error)
    assert len(outcome.pieces) >= 3 and 0.5 <= outcome.seconds < 1.0


def test_an_answer_that_finishes_is_not_aborted(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, ["done"])
    assert ask(backend).error is None and not llm.results[0].aborted


def test_an_error_of_the_library_becomes_generation_failed(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, ["ok"])
    llm.fail_with = RuntimeError("prompt longer than max_seq_len")
    outcome = ask(backend)
    assert outcome.error is not None and "prompt longer than max_seq_len" in str(outcome.error)


def test_close_shuts_the_model_down_and_later_answers_fail(fake_tensorrt_llm: type[FakeLLM]) -> None:
    backend, llm = backend_of(fake_tensorrt_llm, ["ok"])
    assert asyncio.run(backend.health()) is True
    asyncio.run(backend.close())
    assert llm.shut_down and asyncio.run(backend.health()) is False
    assert ask(backend).error is not None
