"""REST for the bot's knowledge base (admins): upload, list and delete documents, and try a question.

An upload is the file itself as the request body, ``PUT /api/admin/kb/documents/{name}``:
the name's suffix says how to read it (markdown, or an FAQ in YAML, JSON or CSV),
and a second upload of the same name replaces the document. No multipart
parsing, and the operation is idempotent. The process that runs the bot
shares its knowledge base with these routes; an edge process without the bot
opens the same base on first use, and the bot picks up its changes by itself
(:meth:`~switchboard.llm.kb.KnowledgeBase.refresh`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from switchboard.llm.kb import KbError, KnowledgeBase
from switchboard.llm.policy import decide
from switchboard.llm.sources import SUFFIXES, SourceError, read_source
from switchboard.edges.rest.accounts import OPENAPI, ApiError, ORJSONResponse, _Api, _endpoint, _errors, _json, _op, _ref

__all__ = ["kb_routes", "MAX_UPLOAD"]

MAX_UPLOAD = 5 * 1024 * 1024  # bytes per document
_NAME = re.compile(r"^[\w][\w.\- ]{0,120}$")


async def _kb(request: Request) -> KnowledgeBase:
    services = request.app.state.services
    if getattr(services, "kb", None) is None:
        bot_settings = getattr(services, "bot_settings", None)
        if bot_settings is None or not bot_settings.enabled:
            raise ApiError(409, "bot_disabled", "the bot is turned off (bot.enabled: false)")
        from switchboard.llm.cli import open_kb

        services.kb = await run_in_threadpool(open_kb, services.settings, bot_settings)
    else:
        await run_in_threadpool(services.kb.refresh)  # a change made elsewhere (the CLI, another edge)
    return services.kb  # type: ignore[no-any-return]


async def _changed(request: Request) -> None:
    """Tell the bot process, if this edge has one, to reload the base now rather than at its next check."""
    worker = getattr(getattr(request.app.state.services, "relay", None), "bot", None)
    if worker is not None and worker.bot is not None:
        await worker.bot.kb_changed()


def _name(request: Request) -> str:
    name = request.path_params["name"]
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise ApiError(400, "invalid_argument", "a document name is a file name of letters, digits, '.', '-', '_' "
                                                "and spaces (at most 121 characters)")
    return str(name)


class _KbApi:
    def __init__(self) -> None:
        self.auth = _Api(None)

    async def list(self, request: Request) -> Response:
        await self.auth.admin(request)
        kb = await _kb(request)
        documents = await run_in_threadpool(kb.documents)
        return ORJSONResponse({"documents": documents, "entries": len(kb), "vectors": len(kb.index),
                               "index": kb.index.kind, "embedder": kb.embedder.signature,
                               "thresholds": kb.thresholds.as_dict()})

    async def upload(self, request: Request) -> Response:
        await self.auth.admin(request)
        name = _name(request)
        if Path(name).suffix.lower() not in SUFFIXES:
            raise ApiError(400, "invalid_argument", f"{name}: the name must end in one of {', '.join(SUFFIXES)}")
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD:
            raise ApiError(413, "payload_too_large", f"a document is at most {MAX_UPLOAD // (1024 * 1024)} MiB")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > MAX_UPLOAD:
                raise ApiError(413, "payload_too_large", f"a document is at most {MAX_UPLOAD // (1024 * 1024)} MiB")
        data = bytes(body)
        if not data.strip():
            raise ApiError(400, "invalid_argument", "the body is the document itself and must not be empty")
        kb = await _kb(request)
        try:
            source = await run_in_threadpool(read_source, Path(name), data)  # parsing 5 MiB takes seconds
            report = await run_in_threadpool(kb.ingest_sources, [source])
        except (SourceError, KbError) as exc:
            raise ApiError(400, "invalid_argument", str(exc)) from None
        await _changed(request)
        status = 201 if report.added else 200
        return ORJSONResponse({"name": name, "kind": source.kind, "entries": len(source.entries),
                               "status": "added" if report.added else "replaced" if report.replaced else "unchanged"},
                              status_code=status)

    async def delete(self, request: Request) -> Response:
        await self.auth.admin(request)
        name = _name(request)
        kb = await _kb(request)
        if not await run_in_threadpool(kb.remove, name):
            raise ApiError(404, "not_found", f"no document {name}")
        await _changed(request)
        return Response(status_code=204)

    async def ask(self, request: Request) -> Response:
        """What the bot would decide for a question, without a conversation (retrieval and policy only)."""
        await self.auth.admin(request)
        question = request.query_params.get("q", "").strip()
        if not question or len(question) > 2000:
            raise ApiError(400, "invalid_argument", "pass the question as ?q= (1 to 2000 characters)")
        kb = await _kb(request)
        matches = await run_in_threadpool(kb.search, question, 5)
        return ORJSONResponse({"question": question, **decide(question, matches, kb.thresholds).as_json()})


def kb_routes() -> list[BaseRoute]:
    api = _KbApi()
    table = [("GET", "/api/admin/kb/documents", api.list), ("PUT", "/api/admin/kb/documents/{name}", api.upload),
             ("DELETE", "/api/admin/kb/documents/{name}", api.delete), ("GET", "/api/admin/kb/ask", api.ask)]
    return [Route(path, _endpoint(handler), methods=[method], name=f"{method.lower()} {path}")
            for method, path, handler in table]


_DOC: dict[str, Any] = {"type": "object", "properties": {
    "name": {"type": "string"}, "kind": {"type": "string", "enum": ["markdown", "faq"]},
    "entries": {"type": "integer"}, "size": {"type": "integer"}, "sha256": {"type": "string"},
    "added_at": {"type": "string", "nullable": True}}}

OPENAPI["paths"].update({
    "/api/admin/kb/documents": {"get": _op(
        "The knowledge base: its documents, size, index kind, embedder and thresholds",
        {"200": _json({"type": "object", "properties": {"documents": {"type": "array", "items": _DOC}}}, "the base"),
         **_errors(401, 403)})},
    "/api/admin/kb/documents/{name}": {
        "put": {**_op("Upload a document: the body is the file (markdown .md/.txt, or an FAQ .yaml/.json/.csv); "
                      "the same name replaces it", {"200": _json(_ref("KbUpload"), "replaced or unchanged"),
                                                    "201": _json(_ref("KbUpload"), "added"),
                                                    **_errors(400, 401, 403, 413)}, params=("name",)),
                "requestBody": {"required": True, "content": {"application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"}}}}},
        "delete": _op("Delete a document and its entries", {"204": {"description": "deleted"},
                                                            **_errors(401, 403, 404)}, params=("name",)),
    },
    "/api/admin/kb/ask": {"get": {**_op("What the bot would decide for ?q= (no conversation, no LLM)",
                                        {"200": _json({"type": "object"}, "the decision"), **_errors(400, 401, 403)}),
                                  "parameters": [{"name": "q", "in": "query", "required": True,
                                                  "schema": {"type": "string"}}]}},
})
OPENAPI["components"]["schemas"]["KbUpload"] = {"type": "object", "properties": {
    "name": {"type": "string"}, "kind": {"type": "string"}, "entries": {"type": "integer"},
    "status": {"type": "string", "enum": ["added", "replaced", "unchanged"]}}}
OPENAPI["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"].append("bot_disabled")
