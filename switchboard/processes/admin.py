"""``switchboard admin create``: the first admin (and any later one), straight into the store.

REST can only create agents, and only for an admin, so the first admin has to
come from the command line. The command writes to the store directly, through
the function REST creates agents with (:func:`switchboard.store.users.insert_user`),
so it works with the server stopped: with ``MONGODB_URI`` it connects there, else
it starts the embedded store on the configured ``data_dir`` for the moment it
needs it.

It must never start the embedded store while a server holds it: starting it
replaces a running one for the same directory (that is how a crashed server's
leftover is cleaned up), which would pull the store from under the server. So
while a server runs on the embedded store, the command connects to that store's
port (from its pid file) and writes there, beside the server; only where the
port cannot be found (no /proc) is it reported, with the URI to pass instead.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from pymongo.errors import PyMongoError

from switchboard.settings import ServerSettings, SettingsError, load_server_settings
from switchboard.store.connection import connect, disconnect, ensure_indexes
from switchboard.store.embedded import EmbeddedMongo, EmbeddedServerError, StorePortUnknown, running_store_uri
from switchboard.store.errors import Duplicate
from switchboard.store.users import insert_user
from switchboard.edges.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD, Passwords
from switchboard.edges.protocol import EMAIL_PATTERN

__all__ = ["AdminError", "admin_create", "add_admin_parser", "run_admin"]


class AdminError(Exception):
    """The admin could not be created; the message is meant for the person at the terminal."""


def admin_create(email: str, password: str, nickname: str, settings: ServerSettings, *,
                 passwords: Passwords | None = None) -> str:
    """Create an admin user and return its id (``adm-<8 hex>``).

    Raises:
        AdminError: a malformed email, a short password, a taken email, or no usable store.
    """
    email = email.strip().lower()
    if not EMAIL_PATTERN.fullmatch(email) or len(email) > MAX_EMAIL:
        raise AdminError(f"{email!r} does not look like an email address")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AdminError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    password_hash = (passwords or Passwords()).hash(password)
    embedded: EmbeddedMongo | None = None
    try:
        if settings.mongodb_uri:
            uri = settings.mongodb_uri
        else:
            try:
                running = running_store_uri(settings.data_dir)
            except StorePortUnknown as exc:
                raise AdminError(str(exc)) from None
            if running is not None:
                uri = running
            else:
                embedded = EmbeddedMongo(settings.data_dir)
                uri = embedded.start()
        connect(uri)
        try:
            ensure_indexes()
            return str(insert_user("admin", email, password_hash, nickname=nickname, saturation=1).id)
        except Duplicate as exc:
            raise AdminError(f"{exc} already") from None
        except PyMongoError as exc:
            raise AdminError(f"the store at {_redact(uri)} failed: {exc}") from None
        finally:
            disconnect()
    except EmbeddedServerError as exc:
        raise AdminError(f"could not start the embedded store in {settings.data_dir}: {exc}") from None
    finally:
        if embedded is not None:
            embedded.stop()


def _redact(uri: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", uri)


# --- the command line -----------------------------------------------------------------------------


def add_admin_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``admin create`` to `subparsers` (from ``ArgumentParser.add_subparsers``); dispatch with run_admin."""
    admin = subparsers.add_parser("admin", help="manage admin users")
    actions = admin.add_subparsers(dest="admin_command", required=True)
    create = actions.add_parser("create", help="create an admin user (with the server running or stopped)")
    create.add_argument("--email", required=True)
    secret = create.add_mutually_exclusive_group()
    secret.add_argument("--password", help="the password (visible in shell history and ps: prefer the others)")
    secret.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    create.add_argument("--nickname", default="")
    create.add_argument("--settings", default=None, help="settings file (default: $SWITCHBOARD_SETTINGS)")
    create.epilog = "Without --password or --password-stdin the password is asked for at the terminal."
    return admin


def run_admin(args: argparse.Namespace) -> int:
    """Run a parsed ``admin`` command: 0 on success, 1 on failure (message on stderr)."""
    if args.admin_command != "create":  # pragma: no cover - argparse enforces the choice
        return 2
    try:
        settings = load_server_settings(args.settings)
        password = _read_password(args)
        user_id = admin_create(args.email, password, args.nickname, settings)
    except (AdminError, SettingsError) as exc:
        print(f"switchboard admin create: {exc}", file=sys.stderr)
        return 1
    print(f"created admin {user_id} ({args.email.strip().lower()})")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AdminError("no password: pass --password-stdin to read it from standard input")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AdminError("the two passwords differ")
    return first
