"""Readers for documents that are not markdown: each turns a file's bytes into markdown-like text.

The rule: every format becomes text whose section titles are ATX headings (``#`` per level), so one
splitter (:func:`switchboard.llm.sources.split_markdown`) cuts every document the same way and a section
whose heading is a question becomes an FAQ entry whatever the format. Text that is not a heading either
sits in a code fence or has a ``#`` that starts a line escaped (``\\#``), so a shell comment in a code
sample or a "# of items" line in a PDF does not start a section.

- **PDF**: pypdf extracts the text page by page. A PDF with more than :data:`MAX_PDF_PAGES` pages, or more
  than :data:`MAX_TEXT` characters of text, is refused before it is read to the
  end; an encrypted one is read only if it opens without a password; one without text (scanned pages)
  is refused, as there is nothing to search. PDFs carry no reliable headings, so a PDF is cut by size only.
- **HTML**: BeautifulSoup (Python's own ``html.parser``, no C extension; it honours a page's declared
  charset) parses the page, ``script``, ``style``, ``nav`` and the like are dropped, and markdownify writes
  the rest as markdown with ATX headings. markdownify over html2text because it converts a BeautifulSoup
  tree, so dropping elements is a tree operation rather than a regular expression, and because it writes
  headings, lists, tables and ``<pre>`` fences without wrapping lines at a fixed width.
- **reStructuredText**: docutils parses the text into a doctree (file inclusion, ``raw`` and
  configuration files disabled: an upload may not read the server's files); each section's title becomes a
  heading of its depth, its body elements their text, literal blocks fenced. docutils is lenient, and so is
  this: what it cannot place (a title that skips a level) is dropped with its complaint, an unknown role
  (Sphinx's ``:ref:``) keeps its raw text; only a severe error refuses the file.

Every failure of a parser, whatever the library raises on a malformed file, is a :class:`SourceError`
naming the file (defined here, below :mod:`.sources`, which reads every format through this module). Each library is imported when a file of its format is first read, so a process loads
only what it is given to read (the edge, which parses an admin's uploads, starts without any of them).
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docutils import nodes

__all__ = ["pdf_text", "html_markdown", "rst_markdown", "MAX_PDF_PAGES", "MAX_TEXT", "DROPPED_HTML", "SourceError"]

MAX_TEXT = 10_000_000  # characters of text in one document, after conversion (a PDF's text can dwarf its bytes)
MAX_PDF_PAGES = 2_000


class SourceError(ValueError):
    """A file cannot be read as a knowledge source; the message says which file and why."""

DROPPED_HTML = ("script", "style", "nav", "noscript", "template", "head", "iframe", "svg")
_HEADING_LIKE = re.compile(r"^(\s*)(?=#{1,3}(?:[ \t]|$))", re.MULTILINE)  # a line the splitter would take as a heading


def pdf_text(raw: bytes, name: str) -> str:
    """The text of every page of a PDF, pages separated by a blank line."""
    from pypdf import PasswordType, PdfReader

    pages: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise SourceError(f"{name}: the PDF is encrypted with a password; upload a copy without one")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise SourceError(f"{name}: {len(reader.pages):,} pages; at most {MAX_PDF_PAGES:,}: split the PDF")
        size = 0
        for page in reader.pages:
            pages.append(page.extract_text().strip())
            size += len(pages[-1])
            if size > MAX_TEXT:
                raise SourceError(f"{name}: more than {MAX_TEXT:,} characters of text; split it")
    except SourceError:
        raise
    except RecursionError:
        raise SourceError(f"{name}: cannot read the PDF: nested too deeply") from None
    except Exception as exc:  # pypdf raises many kinds (KeyError, ValueError...) on a broken file
        raise SourceError(f"{name}: cannot read the PDF: {exc or type(exc).__name__}") from None
    if not any(pages):
        raise SourceError(f"{name}: the PDF has no text to extract (scanned pages?); upload a text version")
    return "\n\n".join(_escaped(page) for page in pages if page)


def html_markdown(raw: bytes, name: str) -> str:
    """An HTML page as markdown, headings as ``#`` lines, without scripts, styles and navigation."""
    from bs4 import BeautifulSoup
    from markdownify import ATX, MarkdownConverter

    try:
        soup = BeautifulSoup(raw, "html.parser")
        for element in soup(DROPPED_HTML):
            element.decompose()
        converter = MarkdownConverter(heading_style=ATX, strip=["img"], escape_asterisks=False,
                                      escape_underscores=False)
        return str(converter.convert_soup(soup))
    except RecursionError:
        raise SourceError(f"{name}: cannot parse the HTML: nested too deeply") from None
    except Exception as exc:  # a parser's failure on a malformed page, whatever its kind
        raise SourceError(f"{name}: cannot parse the HTML: {exc or type(exc).__name__}") from None


def rst_markdown(text: str, name: str) -> str:
    """A reStructuredText document as markdown-like text: a ``#`` heading per section, by depth."""
    from docutils.core import publish_doctree
    from docutils.utils import SystemMessage

    settings = {"file_insertion_enabled": False, "raw_enabled": False, "_disable_config": True,
                "doctitle_xform": False, "sectsubtitle_xform": False, "report_level": 5, "halt_level": 4}
    try:
        tree = publish_doctree(text, source_path=name, settings_overrides=settings)
        blocks: list[str] = []
        _rst_blocks(tree, 1, blocks)
    except SystemMessage as exc:
        raise SourceError(f"{name}: cannot parse the reStructuredText: {_first_line(str(exc))}") from None
    except RecursionError:
        raise SourceError(f"{name}: cannot parse the reStructuredText: nested too deeply") from None
    except Exception as exc:  # docutils' failure on a malformed document, whatever its kind
        raise SourceError(f"{name}: cannot parse the reStructuredText: {exc or type(exc).__name__}") from None
    return "\n\n".join(blocks)


def _rst_blocks(parent: nodes.Element, depth: int, out: list[str]) -> None:
    from docutils import nodes

    for child in parent.children:
        if isinstance(child, nodes.section):
            title = child.children[0] if child.children and isinstance(child.children[0], nodes.title) else None
            if title is not None:
                out.append(f"{'#' * min(depth, 6)} {' '.join(title.astext().split())}")
            _rst_blocks(child, depth + 1, out)
        elif isinstance(child, (nodes.title, nodes.Invisible, nodes.system_message, nodes.decoration)):
            continue
        elif isinstance(child, (nodes.literal_block, nodes.doctest_block)):
            out.append(f"```\n{child.astext()}\n```")
        elif isinstance(child, (nodes.bullet_list, nodes.enumerated_list)):
            out.append("\n".join(f"- {_escaped(item.astext())}" for item in child.children))
        elif isinstance(child, nodes.Element):
            out.append(_escaped(child.astext()))


def _escaped(text: str) -> str:
    return _HEADING_LIKE.sub(r"\1\\", text.strip())


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "severe error"
