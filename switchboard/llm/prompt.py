"""The prompt: instructions, numbered sources, recent turns and the question, within a token budget.

One system message carries the instructions and the retrieved chunks as numbered
sources (``[1] title``, then the text), so the model can cite them; then the last
turns of the conversation as user/assistant messages; then the question. When it
does not fit ``budget_tokens``, the oldest turns go first, then the lowest-ranked
chunks, then the last remaining chunk is cut short. The instructions and the
question always stay, even alone over budget: without them there is no prompt.

Consecutive turns of one role are merged and a leading assistant turn is dropped,
because several chat templates (Mistral's, Gemma's) refuse a conversation that
does not alternate user/assistant after the system message.

Tokens are estimated, not counted: no tokenizer can be downloaded here, and the
served model's tokenizer is not ours to load. See :func:`estimate_tokens`.
"""

from __future__ import annotations

import math

__all__ = ["SYSTEM_PROMPT", "SYSTEM_PROMPT_NO_TOOL", "build_messages", "estimate_tokens", "truncate_to_tokens"]

SYSTEM_PROMPT = (
    "You are the customer-service assistant of this website. Answer the visitor's last message using only "
    "the numbered sources below, and cite the sources you used as [1], [2]. If the sources do not contain "
    "the answer, say that you do not know; never guess. Reply briefly, in the visitor's language. "
    "If the visitor asks for a person, or you cannot help them, call the handoff tool with a short reason."
)
SYSTEM_PROMPT_NO_TOOL = (
    "You are the customer-service assistant of this website. Answer the visitor's last message using only "
    "the numbered sources below, and cite the sources you used as [1], [2]. If the sources do not contain "
    "the answer, say that you do not know; never guess. Reply briefly, in the visitor's language."
)
MESSAGE_OVERHEAD = 4  # role markers and separators a chat template adds around each message
_ROLES = {"visitor": "user", "bot": "assistant"}
_CUT = " …"

# Scripts written without spaces, where a tokenizer spends about one token per character.
_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # full-width forms
    (0x20000, 0x3134F),  # CJK extensions B to G
)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return code >= 0x1100 and any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: each CJK character one token, other text one token per 4 characters.

    BPE tokenizers of current chat models spend roughly one token per Chinese,
    Japanese or Korean character and about four characters of English per token;
    the rest is rounded up. It is a heuristic, used because no tokenizer can be
    downloaded on this machine: it errs a little high on English prose and low on
    code or rare scripts, so keep ``prompt_budget_tokens`` below the model's context
    minus ``llm_max_tokens`` with a margin.
    """
    cjk = sum(1 for char in text if _is_cjk(char))
    return cjk + math.ceil((len(text) - cjk) / 4)


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` (ending in " …" when cut) that `estimate_tokens` puts within `max_tokens`."""
    if estimate_tokens(text) <= max_tokens:
        return text
    room = max_tokens - estimate_tokens(_CUT)
    if room <= 0:
        return ""
    lo, hi = 0, len(text)  # the estimate only grows with the prefix: search for the longest that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    prefix = text[:lo].rstrip()
    return prefix + _CUT if prefix else ""


def _message_tokens(content: str) -> int:
    return estimate_tokens(content) + MESSAGE_OVERHEAD


def _source(number: int, title: str, text: str) -> str:
    return f"[{number}] {title.strip() or 'untitled'}\n{text.strip()}"


def _system(instructions: str, sources: list[str]) -> str:
    listed = "\n\n".join(sources) if sources else "(no sources were found for this question)"
    return f"{instructions}\n\nSources:\n\n{listed}"


def build_messages(question: str, turns: list[tuple[str, str]], chunks: list[tuple[str, str]],
                   budget_tokens: int, max_turns: int, *, handoff_tool: bool = True) -> list[dict[str, str]]:
    """Chat messages for one answer.

    Args:
        question: the visitor's message to answer.
        turns: the conversation so far, oldest first, as (role, text) with role
            ``visitor`` or ``bot``; other roles (system notices) are left out.
        chunks: retrieved (title or source, text), best first; numbered [1], [2], ... in that order.
        budget_tokens: the estimated size of all messages together (see the module docstring).
        max_turns: how many of the last turns to carry at most.
        handoff_tool: the backend offers the ``handoff`` tool; without it the
            instructions do not mention the tool (the in-process TensorRT-LLM backend).

    Returns:
        ``[{"role": "system", ...}, (user/assistant turns)..., {"role": "user", "content": question}]``.
    """
    instructions = SYSTEM_PROMPT if handoff_tool else SYSTEM_PROMPT_NO_TOOL
    kept_turns = [(_ROLES[role], text) for role, text in turns if role in _ROLES and text.strip()]
    kept_turns = kept_turns[-max_turns:] if max_turns > 0 else []
    sources = [_source(i, title, text) for i, (title, text) in enumerate(chunks, start=1)]

    def size() -> int:
        return (_message_tokens(_system(instructions, sources)) + _message_tokens(question)
                + sum(_message_tokens(text) for _, text in kept_turns))

    while size() > budget_tokens and kept_turns:
        kept_turns.pop(0)
    while size() > budget_tokens and len(sources) > 1:
        sources.pop()
    if sources and size() > budget_tokens:
        title, text = chunks[0][0], chunks[0][1].strip()
        target = estimate_tokens(text)
        while sources and size() > budget_tokens:  # usually once; rounding of the joined text may ask for one more
            target -= size() - budget_tokens
            cut = truncate_to_tokens(text, target)
            sources = [_source(1, title, cut)] if cut else []
    messages = [{"role": "system", "content": _system(instructions, sources)}]
    messages += _alternating(kept_turns + [("user", question)])
    return messages


def _alternating(turns: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Merge runs of one role; drop a leading assistant turn (see the module docstring)."""
    merged: list[dict[str, str]] = []
    for role, text in turns:
        if not merged and role == "assistant":
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] += "\n\n" + text
        else:
            merged.append({"role": role, "content": text})
    return merged
