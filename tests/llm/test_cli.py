"""``switchboard kb`` as an operator runs it: a real process, the embedded store, files on disk."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from switchboard.store.connection import connect


FAQ = """
- id: return-window
  question: How long do I have to return a bike?
  alternatives: ["What is your return policy?", "Can I send my order back?"]
  answer: Within 30 days of delivery.
- id: shipping-cost
  question: How much does shipping cost?
  alternatives: ["What are the delivery fees?", "Is delivery free?"]
  answer: Free above 100 euros, otherwise 6 euros.
"""


def kb_process(tmp_path: Path, mongo_uri: str, *args: str, stdin: str | None = None
               ) -> subprocess.CompletedProcess[str]:
    """`switchboard kb --kb-dir <tmp>/kb ARGS` in a process of its own, exactly as an operator runs it."""
    env = {**os.environ, "MONGODB_URI": mongo_uri, "SWITCHBOARD_SETTINGS": ""}
    return subprocess.run([sys.executable, "-m", "switchboard.cli", "kb", "--kb-dir", str(tmp_path / "kb"), *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=120)


def kb(tmp_path: Path, mongo_uri: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The same command run in this process (the command line, its streams and its exit code; a process of its
    own costs seconds of imports each time): the tests that need the real process use :func:`kb_process`."""
    return switchboard(mongo_uri, "kb", "--kb-dir", str(tmp_path / "kb"), *args, stdin=stdin)


def switchboard(mongo_uri: str, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    from switchboard import cli

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # `kb ask` writes bytes to sys.stdout.buffer
    err = io.StringIO()
    saved = {name: os.environ.get(name) for name in ("MONGODB_URI", "SWITCHBOARD_SETTINGS")}
    os.environ.update({"MONGODB_URI": mongo_uri, "SWITCHBOARD_SETTINGS": ""})
    old_streams = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin or ""), out, err
    try:
        code = cli.main(list(argv))
    finally:
        sys.stdin, sys.stdout, sys.stderr = old_streams
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        connect(mongo_uri)  # the command disconnected the store when it finished; the test's own uses it again
    out.flush()
    return subprocess.CompletedProcess(["switchboard", *argv], code, out.buffer.getvalue().decode(),
                                       err.getvalue())


@pytest.fixture
def base(store: str, tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faq.yaml").write_text(FAQ)
    (tmp_path / "docs" / "repairs.md").write_text("# Repairs\n\nA standard service costs 79 euros.\n")
    done = kb(tmp_path, store, "ingest", str(tmp_path / "docs"))
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout and "phrasings" in done.stderr  # the progress bar went to stderr
    return tmp_path


def test_ask_prints_one_json_line_per_question_with_the_decision_and_the_matches(base: Path, store: str) -> None:
    out = kb_process(base, store, "ask", "what is your return policy?", "who painted the Mona Lisa?")
    first, second = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert first["decision"] == "answer" and first["answer"] == "Within 30 days of delivery."
    assert first["matches"][0]["id"] == "faq.yaml#return-window" and first["matches"][0]["score"] > 0.7
    assert second["decision"] == "decline" and set(second) >= {"question", "matches", "suggestions", "answer"}


def test_ask_reads_questions_from_stdin(base: Path, store: str) -> None:
    out = kb(base, store, "ask", stdin="is delivery free?\n\nhow much is postage\n")
    assert [orjson.loads(line)["question"] for line in out.stdout.splitlines()] == ["is delivery free?",
                                                                                   "how much is postage"]


def test_calibrate_stores_thresholds_that_list_then_reports(base: Path, store: str) -> None:
    (base / "good.jsonl").write_text('{"q": "can I get my money back", "id": "return-window"}\n'
                                     '{"q": "do you charge for postage", "id": "shipping-cost"}\n')
    (base / "bad.txt").write_text("what is the capital of Peru\ntell me a joke\n")
    out = kb(base, store, "calibrate", str(base / "good.jsonl"), str(base / "bad.txt"))
    assert out.returncode == 0, out.stderr
    assert "stored with the index" in out.stdout and "decline precision" in out.stdout
    assert "(calibrated), 2 off-topic examples" in kb(base, store, "list").stderr


def test_remove_deletes_a_document_and_names_an_unknown_one(base: Path, store: str) -> None:
    assert kb(base, store, "remove", "repairs.md").returncode == 0
    listed = kb(base, store, "list").stdout
    assert "faq.yaml" in listed and "repairs.md" not in listed
    missing = kb(base, store, "remove", "nope.md")
    assert missing.returncode == 1 and "no document named 'nope.md'" in missing.stderr


def test_a_missing_path_or_a_malformed_file_is_a_clear_error(base: Path, store: str) -> None:
    assert "no such file" in kb(base, store, "ingest", str(base / "absent")).stderr
    (base / "bad.json").write_text('{"not": "a list"}')
    bad = kb(base, store, "ingest", str(base / "bad.json"))
    assert bad.returncode == 1 and "bad.json: expected a list of FAQ entries" in bad.stderr
    assert "phrasings" not in bad.stderr  # no empty progress bar before the refusal


def test_kb_dir_is_a_base_of_its_own_and_data_dir_names_the_servers(base: Path, store: str) -> None:
    (base / "other").mkdir()
    (base / "other" / "faq.yaml").write_text(FAQ.replace("30 days", "14 days"))
    other = switchboard(store, "kb", "--kb-dir", str(base / "kb2"), "ingest", str(base / "other"))
    assert other.returncode == 0, other.stderr
    assert kb(base, store, "list").stdout.splitlines()[0].startswith("faq.yaml\tfaq")  # the first base is intact
    assert "repairs.md" in kb(base, store, "list").stdout
    served = switchboard(store, "kb", "--data-dir", str(base / "var"), "ingest", str(base / "docs" / "faq.yaml"))
    assert served.returncode == 0, served.stderr
    assert (base / "var" / "kb" / "meta.json").exists()  # the server's own base, in its data directory


def test_a_folder_ingests_as_a_repository_of_documents_named_by_their_paths(base: Path, store: str) -> None:
    repo = base / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / ".git").mkdir()
    (repo / "README.md").write_text("# Shop\n\nWe sell bikes and repair them.\n")
    (repo / "docs" / "README.md").write_text("# Docs\n\nHow our documentation is written.\n")
    (repo / ".git" / "HEAD.md").write_text("# not a document\n")
    done = kb(base, store, "ingest", str(repo))
    assert done.returncode == 0, done.stderr
    names = [line.split("\t")[0] for line in kb(base, store, "list").stdout.splitlines()]
    assert {"README.md", "docs/README.md"} <= set(names) and not any(".git" in n for n in names)


def test_list_loads_no_embedder(base: Path, store: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from switchboard import cli
    from switchboard.llm import cli as kb_cli

    def refuse(name: str) -> None:
        raise AssertionError(f"kb list loaded the {name} embedder")

    monkeypatch.setattr(kb_cli, "make_embedder", refuse)
    monkeypatch.setattr("switchboard.llm.factory.make_embedder", refuse)
    monkeypatch.setenv("MONGODB_URI", store)
    monkeypatch.setenv("SWITCHBOARD_SETTINGS", "")
    assert cli.main(["kb", "--kb-dir", str(base / "kb"), "list"]) == 0
    out = capsys.readouterr()
    assert "faq.yaml\tfaq\t2 entries" in out.out and "embedder hashing-v5" in out.err


def test_ask_on_a_semantic_base_says_how_to_ask_a_running_server_before_loading_the_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from switchboard.llm.cli import _ask_hint
    from switchboard.settings import BotSettings, ServerSettings

    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "meta.json").write_text('{"signature": "semantic-all-MiniLM-L6-v2", "dim": 384}')
    server = ServerSettings.from_mapping({"data_dir": str(tmp_path / "var")}, ServerSettings())
    _ask_hint(server, tmp_path / "kb", BotSettings(), None, running=False)
    assert "Test the bot" in capsys.readouterr().err
    (tmp_path / "kb" / "meta.json").write_text('{"signature": "hashing-v5-d1024-w0.5", "dim": 1408}')
    _ask_hint(server, tmp_path / "kb", BotSettings(), None, running=False)
    assert capsys.readouterr().err == ""  # fast enough, and no server to ask
