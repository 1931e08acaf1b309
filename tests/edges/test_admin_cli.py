"""processes.admin: `switchboard admin create` writes an admin straight into the store, with or without a server
(while one runs on the embedded store, into that store through its port)."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from switchboard.processes.admin import AdminError, add_admin_parser, admin_create, run_admin
from switchboard.settings import ServerSettings
from switchboard.store.connection import connect, disconnect
from switchboard.store.documents import User
from switchboard.store.embedded import EmbeddedMongo, embedded_store_in_use
from tests.edges.conftest import CHEAP_PASSWORDS
from tests.server.conftest import Backends, Server, free_port, make_config


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="switchboard")
    add_admin_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_an_admin_is_created_in_the_store_named_by_mongodb_uri(store: str) -> None:
    user_id = admin_create(" Root@Example.com", "root-password", "Root", ServerSettings(mongodb_uri=store),
                           passwords=CHEAP_PASSWORDS)
    connect(store)
    user = User.objects(id=user_id).first()
    assert user is not None and user_id.startswith("adm-")
    assert (user.roles, user.email, user.nickname) == (["admin"], "root@example.com", "Root")
    assert CHEAP_PASSWORDS.verify(user.password_hash, "root-password")


def test_a_taken_email_is_refused(store: str) -> None:
    settings = ServerSettings(mongodb_uri=store)
    admin_create("root@example.com", "root-password", "", settings, passwords=CHEAP_PASSWORDS)
    with pytest.raises(AdminError, match="exists"):
        admin_create("ROOT@example.com", "other-password", "", settings, passwords=CHEAP_PASSWORDS)


@pytest.mark.parametrize("email, password", [("root", "root-password"), ("root@example.com", "short")])
def test_a_bad_email_or_short_password_is_refused_before_touching_a_store(tmp_path: Path, email: str,
                                                                          password: str) -> None:
    with pytest.raises(AdminError):
        admin_create(email, password, "", ServerSettings(data_dir=str(tmp_path)), passwords=CHEAP_PASSWORDS)
    assert list(tmp_path.iterdir()) == []


def test_without_mongodb_uri_the_embedded_store_is_started_for_the_moment_and_keeps_the_admin(tmp_path: Path) -> None:
    user_id = admin_create("root@example.com", "root-password", "", ServerSettings(data_dir=str(tmp_path)),
                           passwords=CHEAP_PASSWORDS)
    assert embedded_store_in_use(str(tmp_path)) is None
    with EmbeddedMongo(str(tmp_path)) as mongo:
        connect(mongo.start())
        try:
            user = User.objects(id=user_id).first()
        finally:
            disconnect()  # before the server goes: a client left on a stopped server slows the next connect
        assert user is not None and user.email == "root@example.com"


def test_an_admin_is_created_while_a_server_holds_the_embedded_store(tmp_path: Path, redis_url: str) -> None:
    with EmbeddedMongo(str(tmp_path)) as running:
        uri = running.start()
        held = embedded_store_in_use(str(tmp_path))
        server = Server(make_config(Backends(tmp_path, redis_url, uri)), free_port()).start()
        try:
            env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "SWITCHBOARD_SETTINGS")}
            env["SWITCHBOARD_DATA_DIR"] = str(tmp_path)
            done = subprocess.run([sys.executable, "-m", "switchboard.cli", "admin", "create", "--email",
                                   "Root@example.com", "--password-stdin"], input="root-password\n", env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert "created admin adm-" in done.stdout and "root-password" not in done.stdout + done.stderr
            with httpx.Client(base_url=server.url, timeout=10) as http:  # the running server sees the new admin
                login = http.post("/api/auth/login", json={"email": "root@example.com", "password": "root-password"})
                assert login.status_code == 200, login.text
                assert login.json()["user"]["roles"] == ["admin"]
            assert embedded_store_in_use(str(tmp_path)) == held  # still the server's, never restarted
        finally:
            server.stop()


def test_the_command_reads_the_password_from_stdin(store: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MONGODB_URI", store)
    monkeypatch.delenv("SWITCHBOARD_SETTINGS", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin-password\n"))
    assert run_admin(_parse("admin", "create", "--email", "Root@example.com", "--password-stdin")) == 0
    assert "created admin adm-" in capsys.readouterr().out
    connect(store)
    user = User.objects(email="root@example.com").first()
    assert user is not None and user.roles == ["admin"]
    from switchboard.edges.auth import Passwords

    assert Passwords().verify(user.password_hash, "from-stdin-password")


def test_the_command_reports_a_failure_on_stderr_with_status_1(store: str, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MONGODB_URI", store)
    monkeypatch.delenv("SWITCHBOARD_SETTINGS", raising=False)
    assert run_admin(_parse("admin", "create", "--email", "root@example.com", "--password", "short")) == 1
    assert "the password must have 8 to 1024 characters" in capsys.readouterr().err


def test_password_and_password_stdin_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        _parse("admin", "create", "--email", "a@b.co", "--password", "x" * 8, "--password-stdin")
