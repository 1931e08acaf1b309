"""First-run setup: the one-time code that lets whoever started the server create the first admin in the browser.

While no admin exists, the process that owns the engine makes a code at start (:func:`prepare_setup`) and
``serve`` prints it; only its SHA-256 goes to Redis (:data:`~switchboard.edges.keys.SETUP_KEY`, no expiry:
every start makes a new one). ``POST /api/setup`` (:mod:`switchboard.edges.rest.setup`) checks a typed code
in constant time (:func:`check_code`) and spends it atomically (:func:`spend_code`: a compare-and-delete in
Redis), so of two setups at once only one goes on to create an admin; should that creation fail, the code is
put back (:func:`restore_code`). The code is 12 characters of an alphabet without look-alikes (no 0/O, 1/I/L),
in groups of four: ``7KQ4-M2XP-9HTC``; dashes, spaces and case do not matter when typed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from redis.asyncio import Redis

from switchboard.store.users import admin_exists
from switchboard.edges.keys import SETUP_KEY, as_str

__all__ = ["ALPHABET", "CODE_FORMAT", "new_code", "code_hash", "prepare_setup", "check_code", "spend_code",
           "restore_code", "setup_line", "CodeCheck"]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_LENGTH, _GROUP = 12, 4
# The code's shape, for people: the description's example and the /setup page's placeholder (web/setup.html).
CODE_FORMAT = "-".join(["X" * _GROUP] * (_LENGTH // _GROUP))  # XXXX-XXXX-XXXX

CodeCheck = str  # "right", "wrong" or "none" (no code is waiting: none was made, or it was spent)

# Delete the key only if it still holds this hash: 1 for the one caller that spent it.
_SPEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(_LENGTH))
    return "-".join(raw[i:i + _GROUP] for i in range(0, _LENGTH, _GROUP))


def code_hash(code: str) -> str:
    """The SHA-256 (hex) of a code as typed: case, dashes and spaces do not count."""
    canonical = "".join(c for c in code.upper() if c not in "- \t")
    return hashlib.sha256(canonical.encode()).hexdigest()


async def prepare_setup(redis: Redis) -> str | None:
    """A new setup code (its hash stored, replacing any older one) while no admin exists; else None (and any
    code left from before is dropped)."""
    if await asyncio.to_thread(admin_exists):
        await redis.delete(SETUP_KEY)
        return None
    code = new_code()
    await redis.set(SETUP_KEY, code_hash(code))
    return code


async def check_code(redis: Redis, code: str) -> CodeCheck:
    """Whether `code` is the waiting one, compared in constant time; nothing is spent."""
    stored = as_str(await redis.get(SETUP_KEY))
    if stored is None:
        return "none"
    return "right" if hmac.compare_digest(stored, code_hash(code)) else "wrong"


async def spend_code(redis: Redis, code: str) -> bool:
    """Delete the waiting code if it is `code`: True for the one caller that did."""
    return bool(await redis.eval(_SPEND, 1, SETUP_KEY, code_hash(code)))


async def restore_code(redis: Redis, code: str) -> None:
    """Put a spent code back (the admin could not be created), unless a newer one is waiting."""
    await redis.set(SETUP_KEY, code_hash(code), nx=True)


def setup_line(base_url: str, code: str) -> str:
    """What ``serve`` prints while the installation waits for its first admin."""
    return f"First run: open {base_url}/setup and enter the setup code {code}"
