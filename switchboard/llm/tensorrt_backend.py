"""``llm_backend: tensorrt_llm``: TensorRT-LLM's Python LLM API, in this process, on this host's GPU.

``LLM(model=llm_model)`` loads a Hugging Face checkpoint (a model id or directory)
or a directory built by ``trtllm-build``, once, at start-up: that takes minutes
and blocks. Each answer renders the messages with the model's own chat template
(``llm.tokenizer.apply_chat_template``) and streams ``llm.generate_async(prompt,
sampling_params, streaming=True)``. Every streamed output carries the whole text
so far (``outputs[0].text``); the part after what was already yielded is the next
:class:`Delta`. The clocks are those of the OpenAI backend (:class:`Deadlines`
around each step of the iteration); on a timeout or an early stop the request is
aborted so it stops holding a slot of the GPU batch. There are no retries: no
network lies between us and the model, so nothing transient is worth repeating.

No tool calling: the LLM API returns text, and parsing a model family's tool-call
syntax out of it is what trtllm-serve's tool parsers are for. So this backend
never yields a :class:`HandoffCall`; pass ``handoff_tool=False`` to
:func:`~switchboard.llm.prompt.build_messages`. The visitor's own request for a
person and the low-confidence streak still hand off, as they do without an LLM.
For the handoff tool on a GPU host, run trtllm-serve and use ``llm_backend: openai``.

``tensorrt_llm`` installs only from NVIDIA's index on a GPU host (see docs/llm.md);
it is imported in the constructor, so nothing else needs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from switchboard.settings import BotSettings, SettingsError
from switchboard.llm.generation import Deadlines, Delta, GenerationFailed, HandoffCall

__all__ = ["MISSING_MESSAGE", "TensorRTLLMBackend"]

log = logging.getLogger("switchboard.llm.tensorrt")

MISSING_MESSAGE = ("tensorrt_llm is not installed: install it from NVIDIA's index on a GPU host (see docs/llm.md) "
                   "or use llm_backend=openai with trtllm-serve")


class TensorRTLLMBackend:
    """One ``tensorrt_llm.LLM`` serving every answer of this process (it batches concurrent requests itself)."""

    name = "tensorrt_llm"
    supports_tools = False

    def __init__(self, settings: BotSettings) -> None:
        """Load the model (blocking, minutes).

        Raises:
            ImportError: tensorrt_llm is not installed (the message says what to do).
            SettingsError: ``llm_model`` is empty.
        """
        try:
            from tensorrt_llm import LLM, SamplingParams  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise ImportError(MISSING_MESSAGE) from exc
        if not settings.llm_model:
            raise SettingsError("llm_model must name the model for llm_backend=tensorrt_llm: a Hugging Face id, "
                                "a checkpoint directory or a trtllm-build engine directory")
        self.settings = settings
        self._llm: Any = LLM(model=settings.llm_model)
        self._sampling: Any = SamplingParams(max_tokens=settings.llm_max_tokens,
                                             temperature=settings.llm_temperature)
        self._closed = False

    def prompt(self, messages: list[dict[str, str]]) -> str:
        """The messages as the model expects them: its chat template, or plain role-labelled text without one."""
        template = getattr(getattr(self._llm, "tokenizer", None), "apply_chat_template", None)
        if callable(template):
            try:
                return str(template(messages, tokenize=False, add_generation_prompt=True))
            except Exception as exc:  # a base model's tokenizer has no chat template
                log.warning("no usable chat template (%s); using a plain prompt", exc)
        lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n\n".join(lines + ["Assistant:"])

    async def stream(self, messages: list[dict[str, str]], *, allow_handoff: bool = True
                     ) -> AsyncIterator[Delta | HandoffCall]:
        """Delta pieces as the model produces them; `allow_handoff` is accepted and has no effect (no tools).

        Raises:
            GenerationFailed: the whole-answer timeout, a stall, or an error of the library.
        """
        if self._closed:
            raise GenerationFailed("the TensorRT-LLM backend is closed")
        deadlines = Deadlines(self.settings.llm_timeout_s, self.settings.llm_first_token_s)
        result: Any = None
        done = False
        try:
            result = self._llm.generate_async(self.prompt(messages), self._sampling, streaming=True)
            outputs = aiter(result)
            shown = ""
            while True:
                try:
                    output = await deadlines.within(anext(outputs))
                except StopAsyncIteration:
                    done = True
                    return
                text = str(output.outputs[0].text)
                if len(text) > len(shown):  # a cumulative text; the detokenizer never shortens what it sent
                    piece, shown = text[len(shown):], text
                    deadlines.restart()
                    yield Delta(piece)
        except GenerationFailed:
            raise
        except Exception as exc:
            raise GenerationFailed(f"TensorRT-LLM failed: {exc!r}") from exc
        finally:
            if result is not None and not done:
                _abort(result)

    async def health(self) -> bool:
        """True while the model is loaded: in process there is nothing else to ask."""
        return not self._closed

    async def close(self) -> None:
        """Free the GPU (``LLM.shutdown``); later answers fail with GenerationFailed."""
        if not self._closed:
            self._closed = True
            shutdown = getattr(self._llm, "shutdown", None)
            if callable(shutdown):
                await asyncio.to_thread(shutdown)


def _abort(result: Any) -> None:
    abort = getattr(result, "abort", None)
    if callable(abort):
        try:
            abort()
        except Exception as exc:  # the request may have finished in the meantime
            log.debug("abort of a TensorRT-LLM request failed: %s", exc)
