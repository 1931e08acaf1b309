"""Knowledge sources: documents split into chunks (or FAQ entries), and FAQ files read into entries.

Documents are markdown (``.md``, ``.markdown``, ``.txt``), reStructuredText, HTML or PDF; the last three are
turned into markdown first (:mod:`switchboard.llm.readers`), so one splitter serves them all.
langchain-text-splitters cuts a document at its headers (``#`` to ``###``), then by size with overlap;
every chunk keeps its header path ("Returns > Refunds") as its title, because a chunk such as "within
30 days" means little without it.

A section whose own (deepest) heading is a question ("## Can I return a bike?", a trailing ``?`` or ``？``)
is a markdown FAQ: it becomes one FAQ entry, the heading its question and the body its answer, answered
directly like an entry of an FAQ file. A chunk is searched as its title and text together, one phrasing
that the question alone never matches well enough: a question copied word for word from such a document
only ever got "did you mean". An optional first body line ``Also asked: a | b`` gives alternative
phrasings. A body longer than :data:`MAX_FAQ_ANSWER` is a chapter, not an answer, and stays chunks.

FAQ files hold a standard question, its alternative phrasings and an answer, as
YAML, JSON (a list of ``{"id", "question", "alternatives", "answer"}``, unknown keys
ignored) or CSV (columns ``id, question, alternatives, answer``; alternatives
separated by ``|``).

A document is named by its path in the folder it was ingested from ("docs/README.md"), so two files
of one name in a repository are two documents (:func:`repository_files`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import yaml

from switchboard.llm import readers
from switchboard.llm.readers import MAX_TEXT, SourceError

__all__ = ["Entry", "Source", "SourceError", "read_source", "repository_files", "split_markdown", "parse_faq",
           "faq_phrasings", "CHUNK_SIZE", "CHUNK_OVERLAP", "MAX_FAQ_ANSWER", "MAX_TEXT", "SUFFIXES"]

CHUNK_SIZE = 800  # characters; about 200 tokens, so a handful fit any prompt budget
CHUNK_OVERLAP = 100
MAX_FAQ_ANSWER = 3 * CHUNK_SIZE  # characters; a question heading over a longer body stays chunks
MARKDOWN = (".md", ".markdown", ".txt")
RST = (".rst",)
HTML = (".html", ".htm")
PDF = (".pdf",)
FAQ = (".yaml", ".yml", ".json", ".csv")
SUFFIXES = MARKDOWN + RST + HTML + PDF + FAQ  # every file type read_source accepts
_SKIPPED_DIRS = {"node_modules"}  # besides hidden folders (.git, .venv...)
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass(frozen=True, slots=True)
class Entry:
    """One searchable unit: a document chunk or an FAQ entry.

    `key` is unique within its document (the FAQ's id, or the chunk's number).
    `phrasings` are the texts that are embedded: an FAQ's question and
    alternatives, or a chunk's title and text.
    """

    key: str
    kind: str  # chunk | faq
    title: str  # the header path, or the FAQ's standard question
    text: str  # the chunk's text, or the FAQ's answer
    phrasings: tuple[str, ...]
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # the path in its folder ("docs/README.md") or the file name: re-ingesting that name replaces it
    kind: str  # markdown (a document, whatever its format) | faq (an FAQ file)
    sha256: str
    entries: list[Entry] = field(default_factory=list)
    size: int = 0  # bytes


def read_source(path: Path, data: bytes | None = None, name: str | None = None) -> Source:
    """Parse one file (or its uploaded bytes) by the suffix of its name.

    Args:
        path: the file; read unless `data` is given.
        data: the file's bytes, for an upload.
        name: the document's name (default: the file name), as :func:`repository_files` gives it.
    Raises:
        SourceError: the type is not supported, or the file cannot be read as that type.
    """
    name = path.name if name is None else name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise SourceError(f"{name}: unsupported file type {suffix or '(none)'}; "
                          f"expected one of {', '.join(SUFFIXES)}")
    try:
        raw = path.read_bytes() if data is None else data
    except OSError as exc:
        raise SourceError(f"{name}: cannot read the file: {exc.strerror or exc}") from None
    sha = hashlib.sha256(raw).hexdigest()
    if suffix in FAQ:
        return Source(name, "faq", sha, parse_faq(_utf8(raw, name), suffix, name), len(raw))
    if suffix in MARKDOWN:
        text = _utf8(raw, name)
    else:
        if suffix in PDF:  # each reader imports its library only when a file needs it
            text = readers.pdf_text(raw, name)
        elif suffix in HTML:
            text = readers.html_markdown(raw, name)
        else:
            text = readers.rst_markdown(_utf8(raw, name), name)
    if len(text) > MAX_TEXT:
        raise SourceError(f"{name}: {len(text):,} characters of text; at most {MAX_TEXT:,}: split it")
    return Source(name, "markdown", sha, split_markdown(text, name), len(raw))


def repository_files(root: Path) -> list[tuple[Path, str]]:
    """The knowledge files under a folder, each with its name: its POSIX path relative to the folder.

    Recursive and sorted by name; hidden files and folders (``.git``) and ``node_modules`` are skipped,
    as are files of other types. A single file is itself, named by its file name.
    """
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        raise SourceError(f"{root}: no such file or folder")
    found: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(root):  # symlinked folders are not followed, so no loops
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        for file in files:
            if not file.startswith(".") and PurePosixPath(file).suffix.lower() in SUFFIXES:
                path = Path(folder, file)
                found.append((path, path.relative_to(root).as_posix()))
    return sorted(found, key=lambda pair: pair[1])


def split_markdown(text: str, name: str = "document") -> list[Entry]:
    """A markdown document's entries: an FAQ entry per question section, chunks for the rest.

    `name` names the file in errors (:data:`MAX_ALTERNATIVES`, :data:`MAX_PHRASINGS`).
    """
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    sections = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True).split_text(text)
    sizer = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    entries: list[Entry] = []
    keys: set[str] = set()
    phrasings = 0
    for section in sections:
        headings = [section.metadata[key] for _, key in _HEADERS if key in section.metadata]
        body = section.page_content.strip()
        question = _question(headings[-1]) if headings else ""
        if question and body and len(body) <= MAX_FAQ_ANSWER:
            alternatives, answer = _also_asked(body, question, name)
            new = [Entry(_unique(_slug(question), keys), "faq", question, answer,
                         faq_phrasings(question, alternatives, answer), alternatives)]
        else:
            title = " > ".join(headings)
            new = [Entry(_unique(str(len(entries) + n), keys), "chunk", title, piece,
                         (f"{title}\n{piece}" if title else piece,))
                   for n, piece in enumerate(p.strip() for p in sizer.split_text(body) if p.strip())]
        phrasings += sum(len(entry.phrasings) for entry in new)
        if phrasings > MAX_PHRASINGS:
            raise SourceError(f"{name}: more than {MAX_PHRASINGS:,} chunks and questions in one file; split it")
        entries += new
    return entries


_QUESTION = re.compile(r"[?\uff1f][\s*_`]*$")  # ends with "?" or the full-width "？", before trailing markup
_EMPHASIS = re.compile(r"([*_]{1,3})(.+)\1")
_ALSO_ASKED = re.compile(r"[*_]*also asked[*_]*:[*_]*\s*(.*)", re.IGNORECASE)


def _question(heading: str) -> str:
    """The heading as a question without its wrapping emphasis, or "" if it is not a question."""
    heading = heading.strip()
    if not _QUESTION.search(heading):
        return ""
    wrapped = _EMPHASIS.fullmatch(heading)
    return (wrapped[2] if wrapped else heading).strip()


def _also_asked(body: str, question: str, name: str) -> tuple[tuple[str, ...], str]:
    """Alternatives from an ``Also asked: a | b`` first line, and the answer below it."""
    first, _, rest = body.partition("\n")
    also = _ALSO_ASKED.fullmatch(first.strip())
    if also is None or not rest.strip():
        return (), body
    alternatives = tuple(a for a in (a.strip().strip("*_").strip() for a in also[1].split("|")) if a)
    if len(alternatives) > MAX_ALTERNATIVES:
        raise SourceError(f"{name}: {question!r} has {len(alternatives)} alternatives; at most {MAX_ALTERNATIVES}")
    return alternatives, rest.strip()


def _unique(key: str, taken: set[str]) -> str:
    unique, n = key, 1
    while unique in taken:
        n += 1
        unique = f"{key}-{n}"
    taken.add(unique)
    return unique


def _utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{name}: not UTF-8 text (byte {exc.start:,}); save it as UTF-8") from None


MAX_ALTERNATIVES = 100  # phrasings of one FAQ entry
MAX_PHRASINGS = 100_000  # vectors one file may add (YAML aliases made a 22 KB file ask for 96,803)


def parse_faq(text: str, suffix: str, name: str) -> list[Entry]:
    items = _faq_items(text, suffix, name)
    entries: list[Entry] = []
    seen: set[str] = set()
    phrasings = 0
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise SourceError(f"{name}: entry {n} is not a mapping")
        question, answer = _text(item.get("question")), _text(item.get("answer"))
        if not question or not answer:
            raise SourceError(f"{name}: entry {n} needs a non-empty question and answer")
        key = _text(item.get("id")) or _slug(question)
        if key in seen:
            raise SourceError(f"{name}: entry {n} repeats the id {key!r}")
        seen.add(key)
        alternatives = _alternatives(item.get("alternatives"), name, n)
        if len(alternatives) > MAX_ALTERNATIVES:
            raise SourceError(f"{name}: entry {n} has {len(alternatives)} alternatives; at most {MAX_ALTERNATIVES}")
        entry = Entry(key, "faq", question, answer, faq_phrasings(question, alternatives, answer), alternatives)
        phrasings += len(entry.phrasings)
        if phrasings > MAX_PHRASINGS:
            raise SourceError(f"{name}: more than {MAX_PHRASINGS:,} questions and alternatives in one file; split it")
        entries.append(entry)
    return entries


def faq_phrasings(question: str, alternatives: tuple[str, ...], answer: str) -> tuple[str, ...]:
    """What an FAQ entry is searched by: its question, each alternative, and the question with its answer.

    Visitors often ask in the answer's words ("is it 30 days?"); measured on
    tests/data/bot, the question-with-answer phrasing lifts top-1 accuracy by
    about six points with either embedder.
    """
    return (question, *alternatives, f"{question} {answer}")


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: 5 MiB in about a second, not thirteen


def _faq_items(text: str, suffix: str, name: str) -> list[Any]:
    try:
        if suffix == ".json":
            data: Any = orjson.loads(text)
        elif suffix == ".csv":
            data = list(csv.DictReader(io.StringIO(text)))
        else:
            data = yaml.load(text, Loader=_YAML_LOADER)
    except (orjson.JSONDecodeError, yaml.YAMLError, csv.Error) as exc:
        raise SourceError(f"{name}: cannot parse: {exc}") from None
    except RecursionError:
        raise SourceError(f"{name}: cannot parse: nested too deeply") from None
    if isinstance(data, dict) and isinstance(data.get("faq"), list):
        data = data["faq"]
    if not isinstance(data, list):
        raise SourceError(f"{name}: expected a list of FAQ entries")
    return data


def _alternatives(raw: Any, name: str, n: int) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        return tuple(a.strip() for a in raw.split("|") if a.strip())
    if isinstance(raw, list) and all(isinstance(a, (str, int, float)) for a in raw):
        return tuple(str(a).strip() for a in raw if str(a).strip())
    raise SourceError(f"{name}: entry {n}: alternatives must be a list of strings")


def _text(value: Any) -> str:
    return str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-")[:60] or hashlib.sha1(text.encode()).hexdigest()[:12]
