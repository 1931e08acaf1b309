"""Documents an admin ingests: markdown FAQs answered directly, rst, HTML and PDF read, and files named
by their path in a repository (issue 21)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import ContentStream, DictionaryObject, NameObject

from switchboard.llm import readers
from switchboard.llm.embedders import HashingEmbedder
from switchboard.llm.kb import KnowledgeBase
from switchboard.llm.policy import decide
from switchboard.llm.sources import (MAX_FAQ_ANSWER, Entry, SourceError, faq_phrasings, read_source,
                                     repository_files, split_markdown)
from switchboard.store import kb as kb_store

FAQ_MD = """# Pedalwise help

Answers to what visitors ask most.

## Can I return a bike?
Yes, within 30 days of delivery, unridden and in its box.

## Shipping
We ship to every country of the European Union.

## How long does a repair take？
Two working days.
"""


def pdf(*pages: str, password: str | None = None, owner: str | None = None) -> bytes:
    """A PDF whose pages show `pages` in Helvetica, one line of the PDF per line of text."""
    writer = PdfWriter()
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        fonts = DictionaryObject({NameObject("/F1"): font})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
        content = ContentStream(None, writer)
        lines = " T* ".join(f"({line}) Tj" for line in text.splitlines())
        content.set_data(f"BT /F1 12 Tf 14 TL 72 720 Td {lines} ET".encode("latin-1"))
        page.replace_contents(content)
    if password is not None:
        writer.encrypt(password, owner, algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def by_title(entries: list[Entry]) -> dict[str, Entry]:
    return {e.title: e for e in entries}


# --- markdown FAQs ---------------------------------------------------------------------------------


def test_a_question_heading_becomes_an_faq_entry_answered_by_its_body() -> None:
    entry = by_title(split_markdown(FAQ_MD))["Can I return a bike?"]
    answer = "Yes, within 30 days of delivery, unridden and in its box."
    assert entry == Entry("can-i-return-a-bike", "faq", "Can I return a bike?", answer,
                          ("Can I return a bike?", f"Can I return a bike? {answer}"))
    assert entry.phrasings == faq_phrasings("Can I return a bike?", (), answer)


def test_a_heading_that_is_not_a_question_stays_a_chunk_under_its_header_path() -> None:
    entries = by_title(split_markdown(FAQ_MD))
    assert entries["Pedalwise help > Shipping"].kind == "chunk"
    assert entries["Pedalwise help > Shipping"].phrasings == (
        "Pedalwise help > Shipping\nWe ship to every country of the European Union.",)
    assert entries["Pedalwise help"].kind == "chunk"  # the introduction, under a heading that asks nothing


def test_a_full_width_question_mark_and_emphasis_around_the_heading_still_make_a_question() -> None:
    assert by_title(split_markdown(FAQ_MD))["How long does a repair take？"].text == "Two working days."
    [entry] = split_markdown("## **Do you rent bikes?** \nNo, we only sell them.\n")
    assert (entry.kind, entry.title, entry.text) == ("faq", "Do you rent bikes?", "No, we only sell them.")


def test_only_the_deepest_heading_counts_so_a_section_below_a_question_is_a_chunk() -> None:
    entries = split_markdown("## Can I return a bike?\nYes, within 30 days.\n### Exceptions\nCustom builds.\n")
    assert [(e.kind, e.title) for e in entries] == [("faq", "Can I return a bike?"),
                                                   ("chunk", "Can I return a bike? > Exceptions")]


def test_the_same_question_in_two_chapters_gets_two_keys() -> None:
    entries = split_markdown("# Bikes\n## Is it in stock?\nSee the shop.\n# Parts\n## Is it in stock?\nAsk us.\n")
    assert [(e.key, e.text) for e in entries] == [("is-it-in-stock", "See the shop."), ("is-it-in-stock-2", "Ask us.")]


def test_a_question_over_a_long_body_is_a_chapter_and_stays_chunks() -> None:
    body = "The workshop checks brakes, gears and wheels. " * (MAX_FAQ_ANSWER // 40)
    entries = split_markdown(f"## What does a service include?\n{body}\n")
    assert len(entries) > 1 and {e.kind for e in entries} == {"chunk"}


def test_an_also_asked_line_under_the_question_gives_its_alternatives() -> None:
    [entry] = split_markdown("## Can I return a bike?\n*Also asked:* return policy | send it back\nYes, 30 days.\n")
    assert entry.alternatives == ("return policy", "send it back") and entry.text == "Yes, 30 days."
    assert entry.phrasings == faq_phrasings("Can I return a bike?", ("return policy", "send it back"), "Yes, 30 days.")


def test_a_question_copied_word_for_word_from_a_markdown_faq_is_answered_with_its_body(
        store: str, tmp_path: Path) -> None:
    kb_store.forget_all()
    kb = KnowledgeBase.open(tmp_path / "kb", HashingEmbedder())
    kb.ingest_sources([read_source(Path("help.md"), FAQ_MD.encode())])
    question = "Can I return a bike?"
    decision = decide(question, kb.search(question), kb.thresholds)
    assert decision.kind == "answer" and decision.text == "Yes, within 30 days of delivery, unridden and in its box."


# --- other formats ---------------------------------------------------------------------------------


RST = """Pedalwise help
==============

Answers to what visitors ask most.

Can I return a bike?
--------------------

Yes, within 30 days of delivery.

Shipping
--------

We ship to the European Union.

.. code-block:: sh

   # a comment, not a heading
   curl https://pedalwise.example/ship

.. include:: /etc/passwd
"""


def test_an_rst_document_splits_at_its_sections_and_its_question_titles_are_faq_entries() -> None:
    entries = read_source(Path("help.rst"), RST.encode()).entries
    assert [(e.kind, e.title) for e in entries] == [("chunk", "Pedalwise help"), ("faq", "Can I return a bike?"),
                                                   ("chunk", "Pedalwise help > Shipping")]
    assert by_title(entries)["Can I return a bike?"].text == "Yes, within 30 days of delivery."
    assert "# a comment, not a heading" in entries[2].text


def test_an_rst_include_directive_reads_no_file_of_the_server() -> None:
    assert not any("root:" in e.text for e in read_source(Path("help.rst"), RST.encode()).entries)


def test_an_rst_document_keeps_the_text_docutils_cannot_place_and_drops_its_complaints() -> None:
    text = ("Returns\n=======\n\nSee :ref:`the policy <policy>`.\n\nBikes\n-----\n\nParts\n~~~~~\n\n"
            "Shipping\n========\n\nCosts\n~~~~~\n\nFree over 100 euros.\n")  # "Costs" skips a level
    entries = read_source(Path("help.rst"), text.encode()).entries
    assert [(e.title, e.text) for e in entries] == [("Returns", "See :ref:`the policy <policy>`."),
                                                   ("Shipping", "Free over 100 euros.")]


def test_an_rst_document_that_is_not_utf8_is_refused_with_its_name() -> None:
    with pytest.raises(SourceError, match=r"^guide\.rst: not UTF-8 text"):
        read_source(Path("guide.rst"), "Réparations\n===========\n".encode("cp1252"))


HTML = """<html><head><title>Help</title><style>h2 { color: red }</style></head><body>
<nav><a href="/">Home</a> | <a href="/shop">Shop</a></nav>
<h1>Pedalwise help</h1><p>Answers to what visitors ask most.</p>
<h2>Can I return a bike?</h2><p>Yes, within <b>30 days</b> of delivery.</p>
<script>track("help")</script>
<h2>Shipping</h2><ul><li>European Union</li><li>Switzerland</li></ul>
</body></html>"""


def test_an_html_page_splits_at_its_headings_without_scripts_styles_or_navigation() -> None:
    entries = read_source(Path("help.htm"), HTML.encode()).entries
    assert [(e.kind, e.title) for e in entries] == [("chunk", "Pedalwise help"), ("faq", "Can I return a bike?"),
                                                   ("chunk", "Pedalwise help > Shipping")]
    assert by_title(entries)["Can I return a bike?"].text == "Yes, within **30 days** of delivery."
    text = " ".join(e.text for e in entries)
    assert "track" not in text and "color" not in text and "Home" not in text and "Switzerland" in text


def test_a_pdf_yields_the_text_of_its_pages() -> None:
    source = read_source(Path("manual.pdf"), pdf("Returns\nWithin 30 days of delivery.", "# of gears: 21"))
    assert source.kind == "markdown" and [e.text for e in source.entries] == [
        "Returns\nWithin 30 days of delivery.  \n\\# of gears: 21"]  # a line that looks like a heading is text


def test_a_pdf_read_from_disk_is_named_by_its_file(tmp_path: Path) -> None:
    (tmp_path / "manual.pdf").write_bytes(pdf("Brakes need checking twice a year."))
    source = read_source(tmp_path / "manual.pdf")
    assert source.name == "manual.pdf" and source.entries[0].text == "Brakes need checking twice a year."


def test_a_pdf_locked_only_against_editing_opens_without_a_password() -> None:
    source = read_source(Path("manual.pdf"), pdf("Brakes need checking twice a year.", password="", owner="admin"))
    assert [e.text for e in source.entries] == ["Brakes need checking twice a year."]


@pytest.mark.parametrize(("data", "reason"), [
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "cannot read the PDF"),
    (pdf("secret", password="hunter2"), "encrypted"),
    (pdf("", ""), r"no text .*\(scanned pages\?\)"),
])
def test_a_pdf_that_cannot_be_read_is_refused_with_its_name_and_why(data: bytes, reason: str) -> None:
    with pytest.raises(SourceError, match=rf"^docs/manual\.pdf: .*{reason}"):
        read_source(Path("upload"), data, name="docs/manual.pdf")


def test_a_pdf_of_too_many_pages_is_refused_before_its_text_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_PDF_PAGES", 2)  # the default is 2,000: the same rule, smaller
    with pytest.raises(SourceError, match="manual.pdf: 3 pages; at most 2"):
        read_source(Path("manual.pdf"), pdf("one", "two", "three"))


def test_a_pdf_with_more_text_than_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_TEXT", 10)
    with pytest.raises(SourceError, match="manual.pdf: more than 10 characters of text"):
        read_source(Path("manual.pdf"), pdf("a page with more than ten characters"))


def test_a_markdown_file_that_is_not_utf8_is_refused_with_its_name() -> None:
    with pytest.raises(SourceError, match=r"^docs/help\.md: not UTF-8 text"):
        read_source(Path("help.md"), "Réparations".encode("latin-1"), name="docs/help.md")


def test_the_type_is_read_from_the_name_not_from_the_path() -> None:
    assert read_source(Path("upload.bin"), b"# Title\ntext", name="guide.md").name == "guide.md"
    with pytest.raises(SourceError, match="guide.docx: unsupported file type .docx"):
        read_source(Path("guide.md"), b"text", name="guide.docx")


# --- repositories ----------------------------------------------------------------------------------


def test_a_repository_names_two_readmes_apart_and_skips_git_hidden_files_and_node_modules(tmp_path: Path) -> None:
    for path in ["README.md", "docs/README.md", "docs/guide/setup.rst", "docs/logo.png", ".git/HEAD.md",
                 ".hidden.md", "node_modules/pkg/README.md", "faq.yaml"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("# Title\ntext\n")
    files = repository_files(tmp_path)
    assert [name for _, name in files] == ["README.md", "docs/README.md", "docs/guide/setup.rst", "faq.yaml"]
    assert all(path == tmp_path / name for path, name in files)
    readmes = [read_source(path, name=name) for path, name in files[:2]]
    assert [s.name for s in readmes] == ["README.md", "docs/README.md"]


def test_a_single_file_is_its_own_repository_named_by_its_file_name(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("text")
    assert repository_files(tmp_path / "guide.md") == [(tmp_path / "guide.md", "guide.md")]


def test_a_missing_repository_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        repository_files(Path("/nonexistent/docs"))
