"""Building the bot from settings: the LLM backend, the knowledge base and the bot itself.

Factories stand one floor above what they choose between: :mod:`.generation` is the interface the
backends implement, so the choice of backend lives here, not there, and no backend imports the
module that imports it. The command line (:mod:`.cli`), the bot process
(:mod:`switchboard.edges.botworker.process`) and the REST routes all build through this module.
"""

from __future__ import annotations

import logging
from pathlib import Path

from switchboard.llm.bot import Bot
from switchboard.llm.embedders import make_embedder
from switchboard.llm.generation import Generator
from switchboard.llm.kb import KnowledgeBase, stored_embedder
from switchboard.llm.sources import Source, read_source, repository_files
from switchboard.settings import BotSettings, ServerSettings
from switchboard.store.kb import DEFAULT_BASE

__all__ = ["demo_kb_dir", "demo_sources", "embedder_of", "kb_dir_of", "make_generator", "open_bot", "open_kb"]

log = logging.getLogger("switchboard.bot")


def make_generator(settings: BotSettings) -> Generator | None:
    """The backend ``settings.llm_backend`` names, or None for ``none`` (retrieval answers only).

    Backends are imported here, lazily, so that choosing ``openai`` never imports
    tensorrt_llm and ``none`` imports neither.

    Raises:
        ImportError: ``tensorrt_llm`` was chosen but the package is not installed.
        ValueError: an unknown backend name (settings validation normally catches it first).
    """
    if settings.llm_backend == "none":
        return None
    if settings.llm_backend == "openai":
        from switchboard.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.llm_backend == "tensorrt_llm":
        from switchboard.llm.tensorrt_backend import TensorRTLLMBackend

        return TensorRTLLMBackend(settings)
    raise ValueError(f"unknown llm_backend {settings.llm_backend!r}; expected none, openai or tensorrt_llm")


def kb_dir_of(server: ServerSettings, bot: BotSettings) -> Path:
    """Where the knowledge base's index files live: ``bot.kb_dir``, else ``<data_dir>/kb``."""
    return Path(bot.kb_dir) if bot.kb_dir else Path(server.data_dir) / "kb"


def embedder_of(directory: Path, bot: BotSettings, override: str | None = None) -> str:
    """Which embedder opens the base in `directory`: `override`, else the one it was built with (a base remembers
    its embedder), else the setting (a new base)."""
    remembered = stored_embedder(directory)
    if override is None and remembered is not None and remembered != bot.embedder:
        log.warning("the knowledge base in %s was built with the %s embedder, not the configured %s: using %s "
                    "(`switchboard kb --embedder %s rebuild` re-embeds it)", directory, remembered, bot.embedder,
                    remembered, bot.embedder)
    return override or remembered or bot.embedder


def open_kb(server: ServerSettings, bot: BotSettings, embedder: str | None = None,
            base: str = DEFAULT_BASE) -> KnowledgeBase:
    """The configured knowledge base (the store must be connected); `embedder` overrides the one it remembers."""
    directory = kb_dir_of(server, bot)
    return KnowledgeBase.open(directory, make_embedder(embedder_of(directory, bot, embedder)), base)


def demo_kb_dir() -> Path | None:
    """``config/kb`` of the source tree (or of the working directory): the demo knowledge base."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "config" / "kb"
        if candidate.is_dir():
            return candidate
    return None


def demo_sources() -> list[Source]:
    """The demo knowledge base's documents (``config/kb``), named by their paths; none if it is not at hand."""
    demo = demo_kb_dir()
    return [] if demo is None else [read_source(path, name=name) for path, name in repository_files(demo)]


def open_bot(server: ServerSettings, settings: BotSettings) -> Bot | None:
    """The bot the settings describe (None when turned off); blocking: loads the embedder and the base.

    A first start with an empty base and ``demo_kb`` on ingests ``config/kb``, so a
    fresh installation answers questions about Switchboard itself.
    """
    if not settings.enabled:
        return None
    kb = open_kb(server, settings)
    if settings.demo_kb and len(kb) == 0 and kb.demo != "off":
        report = kb.ingest_sources(demo_sources(), demo=True)
        log.info("ingested the demo knowledge base (marked demo: switch it off in Knowledge, or upload a document "
                 "of your own): %d entries", report.entries)
    # First-use costs (the word-frequency lists, English and Chinese) are paid here, at start-up,
    # not by the first visitor who asks.
    kb.search_many(["How do I get started?", "如何开始使用"], 1)
    return Bot(kb, settings, make_generator(settings))
