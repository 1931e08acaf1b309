"""REST for the bot's knowledge base (admins): upload, list and delete documents, and try a question.

An upload is the file itself as the request body, ``PUT /api/admin/kb/documents/{name}``:
the name's suffix says how to read it (markdown, or an FAQ in YAML, JSON or CSV),
and a second upload of the same name replaces the document. No multipart
parsing, and the operation is idempotent. The process that runs the bot
shares its knowledge base with these routes; an edge process without the bot
opens the same base on first use, and the bot picks up its changes by itself
(:meth:`~switchboard.llm.kb.KnowledgeBase.refresh`).

Documents are named by their paths (``docs/README.md`` and ``README.md`` are two documents). Demo content
(``config/kb``, ingested on a first start) is marked demo; ``PUT /api/admin/kb/demo`` switches it on or off, and
the admin's first own upload switches it off unless the admin chose (docs/bot.md, "Demo content").

A document may name a skill group (``?group=`` on the upload, or ``PATCH`` with ``{"group"}``): when the bot
hands a visitor off after matching that document, the visitor goes to that group rather than the default one
(docs/bot.md, "Hand-off groups").
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from switchboard.llm.kb import KbError, KnowledgeBase
from switchboard.llm.policy import decide
from switchboard.llm.sources import SUFFIXES, SourceError, read_source
from switchboard.llm.tuning import read_status
from switchboard.settings import BotSettings
from switchboard.store.groups import missing_groups
from switchboard.store.kb import set_document_group
from switchboard.edges.rest.toolkit import ApiError, ApiPart, ORJSONResponse, admin, bad, errors, json_content, \
    make_routes, not_found, operation, read_json, read_raw, ref

__all__ = ["kb_routes", "KB_API", "MAX_UPLOAD", "BOT_DISABLED", "NO_DEMO"]

MAX_UPLOAD = 5 * 1024 * 1024  # bytes per document
BOT_DISABLED = "bot_disabled"
NO_DEMO = "no_demo"
_SEGMENT = re.compile(r"^[\w][\w.\- ]{0,120}$")
MAX_NAME = 240


async def _kb(request: Request) -> KnowledgeBase:
    services = request.app.state.services
    kb: KnowledgeBase | None = getattr(services, "kb", None)
    if kb is None:
        bot_settings: BotSettings | None = getattr(services, "bot_settings", None)
        if bot_settings is None or not bot_settings.enabled:
            raise ApiError(409, BOT_DISABLED, "the bot is turned off (bot.enabled: false)")
        from switchboard.llm.factory import open_kb

        kb = services.kb = await run_in_threadpool(open_kb, services.settings, bot_settings)
    else:
        await run_in_threadpool(kb.refresh)  # a change made elsewhere (the CLI, another edge)
    return kb


async def _changed(request: Request) -> None:
    """Tell the bot process, if this edge has one, to reload the base now rather than at its next check."""
    worker = getattr(getattr(request.app.state.services, "relay", None), "bot", None)
    if worker is not None and worker.bot is not None:
        await worker.bot.kb_changed()


def _name(request: Request) -> str:
    name = str(request.path_params["name"])
    segments = name.split("/")
    # Starlette's {name:path} stops before a trailing newline ("faq.yaml%0A" would store "faq.yaml"): the whole
    # path must end with the name read.
    if not str(request.scope["path"]).endswith(name) or len(name) > MAX_NAME or not all(_SEGMENT.fullmatch(part) and part not in (".", "..") for part in segments):
        raise bad("a document name is a path of file names (letters, digits, '.', '-', '_' and spaces, at most "
                  f"121 characters each) separated by '/', at most {MAX_NAME} characters")
    return name


async def _group(value: object) -> str:
    """A document's hand-off group as given: an existing group's id, or "" for the default group."""
    if not isinstance(value, str) or len(value) > 64:
        raise bad("group must be a skill group's id, or \"\" for the default group")
    if value:
        missing: list[str] = await run_in_threadpool(missing_groups, [value])
        if missing:
            raise bad(f"no such group: {value}")
    return value


async def _list(request: Request) -> Response:
    await admin(request)
    kb = await _kb(request)
    documents = await run_in_threadpool(kb.documents)
    return ORJSONResponse({"documents": documents, "entries": len(kb), "vectors": len(kb.index),
                           "index": kb.index.kind, "embedder": kb.embedder.signature,
                           "thresholds": kb.thresholds.as_dict(), "demo": kb.demo,
                           "tuned": kb.head_current, "tuning": read_status(kb.dir),
                           "demo_entries": sum(d["entries"] for d in documents if d["demo"])})


async def _demo(request: Request) -> Response:
    """Switch the demo content on (ingested again from config/kb) or off (its documents removed): ``{"on"}``."""
    await admin(request)
    data = await read_json(request, ("on",), ("on",))
    if not isinstance(data["on"], bool):
        raise bad("on must be true or false")
    kb = await _kb(request)
    from switchboard.llm.factory import demo_sources

    sources = await run_in_threadpool(demo_sources) if data["on"] else []
    if data["on"] and not sources:
        raise ApiError(409, NO_DEMO, "the demo content (config/kb) is not installed with this server")
    entries = await run_in_threadpool(kb.set_demo, data["on"], sources)
    await _changed(request)
    return ORJSONResponse({"demo": kb.demo, "demo_entries": entries})


async def _upload(request: Request) -> Response:
    await admin(request)
    name = _name(request)
    if Path(name).suffix.lower() not in SUFFIXES:
        raise bad(f"{name}: the name must end in one of {', '.join(SUFFIXES)}")
    group = request.query_params.get("group")
    if group is not None:
        group = await _group(group)
    data = await read_raw(request, MAX_UPLOAD, "a document")
    if not data.strip():
        raise bad("the body is the document itself and must not be empty")
    kb = await _kb(request)
    try:
        source = await run_in_threadpool(read_source, Path(name), data, name)  # parsing 5 MiB takes seconds
        report = await run_in_threadpool(kb.ingest_sources, [source])
    except (SourceError, KbError) as exc:
        raise bad(str(exc)) from None
    if group is not None:
        await run_in_threadpool(set_document_group, name, group)
    await _changed(request)
    status = 201 if report.added else 200
    return ORJSONResponse({"name": name, "kind": source.kind, "entries": len(source.entries),
                           "status": "added" if report.added else "replaced" if report.replaced else "unchanged"},
                          status_code=status)


async def _change(request: Request) -> Response:
    """Change a document's hand-off group (``{"group": id}``; ``""``: the default group)."""
    await admin(request)
    name = _name(request)
    data = await read_json(request, ("group",), ("group",))
    group = await _group(data["group"])
    if not await run_in_threadpool(set_document_group, name, group):
        raise not_found(f"no document {name}")
    return ORJSONResponse({"name": name, "group": group})


async def _delete(request: Request) -> Response:
    await admin(request)
    name = _name(request)
    kb = await _kb(request)
    if not await run_in_threadpool(kb.remove, name):
        raise not_found(f"no document {name}")
    await _changed(request)
    return Response(status_code=204)


async def _ask(request: Request) -> Response:
    """What the bot would decide for a question, without a conversation (retrieval and policy only)."""
    await admin(request)
    question = request.query_params.get("q", "").strip()
    if not question or len(question) > 2000:
        raise bad("pass the question as ?q= (1 to 2000 characters)")
    kb = await _kb(request)
    matches = await run_in_threadpool(kb.search, question, 5)
    decision = decide(question, matches, kb.thresholds)
    return ORJSONResponse({"question": question, **decision.as_json(), "calibrated": kb.thresholds.calibrated})


def kb_routes() -> list[BaseRoute]:
    return make_routes([
        ("GET", "/api/admin/kb/documents", _list),
        ("PUT", "/api/admin/kb/documents/{name:path}", _upload),
        ("PATCH", "/api/admin/kb/documents/{name:path}", _change),
        ("DELETE", "/api/admin/kb/documents/{name:path}", _delete),
        ("PUT", "/api/admin/kb/demo", _demo),
        ("GET", "/api/admin/kb/ask", _ask),
    ])


_DOC = {"type": "object", "properties": {
    "name": {"type": "string"}, "kind": {"type": "string", "enum": ["markdown", "faq"]},
    "entries": {"type": "integer"}, "size": {"type": "integer"}, "sha256": {"type": "string"},
    "added_at": {"type": "string", "nullable": True},
    "group": {"type": "string", "description": "the hand-off group after a match (\"\": the default group)"},
    "demo": {"type": "boolean", "description": "shipped demo content, not the admin's own"}}}

KB_API = ApiPart(
    paths={
        "/api/admin/kb/documents": {"get": operation(
            "The knowledge base: its documents, size, index kind, embedder and thresholds",
            {"200": json_content({"type": "object", "properties": {"documents": {"type": "array", "items": _DOC}}},
                                 "the base"),
             **errors(401, 403)})},
        "/api/admin/kb/documents/{name}": {
            "put": {**operation("Upload a document: the body is the file (markdown .md/.txt, or an FAQ "
                                f".yaml/.json/.csv) of at most {MAX_UPLOAD // (1024 * 1024)} MiB; the same name "
                                "replaces it",
                                {"200": json_content(ref("KbUpload"), "replaced or unchanged"),
                                 "201": json_content(ref("KbUpload"), "added"),
                                 **errors(400, 401, 403, 413)}, params=("name",)),
                    "requestBody": {"required": True, "content": {"application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"}}}}},
            "patch": operation("Set the document's hand-off group: {\"group\": id}, or \"\" for the default "
                               "group", {"200": json_content({"type": "object", "properties": {
                                   "name": {"type": "string"}, "group": {"type": "string"}}}, "changed"),
                                         **errors(400, 401, 403, 404)}, params=("name",), body="KbDocumentChange"),
            "delete": operation("Delete a document and its entries", {"204": {"description": "deleted"},
                                                                      **errors(401, 403, 404)}, params=("name",)),
        },
        "/api/admin/kb/demo": {"put": operation(
            "Switch the demo content (config/kb) on or off: {\"on\": bool}",
            {"200": json_content({"type": "object", "properties": {
                "demo": {"type": "string", "enum": ["on", "off", "auto"]}, "demo_entries": {"type": "integer"}}},
                "the switch and the demo entries now in the base"), **errors(400, 401, 403, 409)},
            body="KbDemo")},
        "/api/admin/kb/ask": {"get": {**operation("What the bot would decide for ?q= (no conversation, no LLM)",
                                                  {"200": json_content({"type": "object"}, "the decision"),
                                                   **errors(400, 401, 403)}),
                                      "parameters": [{"name": "q", "in": "query", "required": True,
                                                      "schema": {"type": "string"}}]}},
    },
    schemas={
        "KbDemo": {"type": "object", "additionalProperties": False, "required": ["on"],
                   "properties": {"on": {"type": "boolean"}}},
        "KbDocumentChange": {"type": "object", "additionalProperties": False, "required": ["group"],
                             "properties": {"group": {"type": "string", "maxLength": 64}}},
        "KbUpload": {"type": "object", "properties": {
            "name": {"type": "string"}, "kind": {"type": "string"}, "entries": {"type": "integer"},
            "status": {"type": "string", "enum": ["added", "replaced", "unchanged"]}}},
    },
    error_codes=(BOT_DISABLED, NO_DEMO),
)
