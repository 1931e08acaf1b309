"""Who is calling: password hashes, signed tokens, and the login sessions that make tokens revocable.

A token alone cannot be taken back before it expires, so every agent/admin
token names a session (``sid``) and the user's ``token_version``. The live
sids of a user are a Redis set, ``sb:sessions:{user_id}``; a request is
accepted only while its sid is in that set and its version matches the
user's. Logout removes one sid; a password change bumps the version and
deletes the whole set, so every older token dies at once, on every edge.

Visitor tokens carry no session: a visitor is anonymous and a token only
proves "this browser is visitor v-...". A ``typ`` claim keeps the two kinds
apart, so neither can be replayed as the other.

Tokens are secrets: nothing here logs one, and errors never echo one.

Guessing passwords is made slow twice over. Every login attempt counts against its account (the email, known
or not) and its client address in Redis before the password is checked, so a burst of parallel guesses is
counted whole; past a few free failures each further try must wait, the wait doubling up to a cap
(:func:`login_attempt`, 429 with Retry-After), and a success forgets the account's failures. And hashing
(argon2id: 64 MiB and tens of milliseconds each) runs on a small pool of its own with a bounded queue
(:class:`Passwords`), so a login flood costs a fixed amount of memory and never waits in front of the thread
pool every other REST call shares; past the queue a login is refused at once (:class:`HashingBusy`).
The figures: docs/decisions/015-logins-and-anonymous-visitors.md.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import jwt
import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis

from switchboard.settings import ServerSettings
from switchboard.edges import codes
from switchboard.edges.keys import CONTROL_CHANNEL, login_key, sessions_key

__all__ = [
    "AuthError", "Claims", "Passwords", "issue_token", "decode_token", "issue_visitor_token",
    "decode_visitor_token", "new_sid", "start_session", "end_session", "check_session", "end_sessions",
    "sessions_key", "load_or_create_secret", "CONTROL_CHANNEL", "ROLES", "MAX_EMAIL", "MIN_PASSWORD",
    "MAX_PASSWORD", "HashingBusy", "LoginLimits", "LoginThrottled", "login_attempt", "login_succeeded",
]

ALGORITHM = "HS256"
ROLES = ("admin", "supervisor", "agent")  # as the store's (store/documents.ROLES); a token names its user's
_USER_TYP = "user"
_VISITOR_TYP = "visitor"

# What REST and `switchboard admin create` accept as a login: an email (protocol.EMAIL_PATTERN) of at most
# MAX_EMAIL characters, a password of MIN_PASSWORD to MAX_PASSWORD.
MAX_EMAIL = 254
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class AuthError(Exception):
    """A caller could not be authenticated; `code` is the wire error code, `status` the HTTP hint (401)."""

    status = 401

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid agent/admin token says (still to be checked against the session set)."""

    user_id: str
    roles: tuple[str, ...]  # at issue; the store's are what counts (REST and sockets read the user again)
    token_version: int
    sid: str
    expires_at: float


# --- passwords ------------------------------------------------------------------------------------


_T = TypeVar("_T")


class HashingBusy(Exception):
    """Every hash worker is busy and the queue in front of them is full: refuse, do not wait."""


class Passwords:
    """argon2id hashing on a bounded pool of its own; the hasher is a parameter only so tests can use cheap
    settings.

    The async methods run on `workers` threads of their own, with at most `queue` more calls waiting
    (:class:`HashingBusy` past that): hashing never takes the thread pool other REST calls share, and a flood
    of logins holds at most `workers` hashes' memory. `verify_unknown` verifies against a dummy hash of the
    same hasher, so a login with an unknown email costs what one with a wrong password does (no user
    enumeration by timing). The plain methods are for callers already off the event loop (the admin CLI).
    """

    def __init__(self, hasher: PasswordHasher | None = None, workers: int = 1, queue: int = 32) -> None:
        self.hasher = hasher or PasswordHasher()
        self.workers, self.queue = workers, queue
        self._dummy: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._busy = 0  # calls running or waiting (counted on the event loop's thread)

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def verify_unknown(self, password: str) -> bool:
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        self.verify(self._dummy, password)
        return False

    async def hash_async(self, password: str) -> str:
        return await self._run(self.hash, password)

    async def verify_async(self, password_hash: str, password: str) -> bool:
        return await self._run(self.verify, password_hash, password)

    async def verify_unknown_async(self, password: str) -> bool:
        return await self._run(self.verify_unknown, password)

    async def _run(self, work: Callable[..., _T], *args: str) -> _T:
        if self._busy >= self.workers + self.queue:
            raise HashingBusy(f"{self._busy} password checks running or waiting")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="passwords")
        self._busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._busy -= 1


# --- login throttling -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failed logins are free per account and per address, and how the waits after them grow."""

    free_failures: int = 5
    address_free_failures: int = 20
    delay_s: float = 1.0
    max_delay_s: float = 900.0
    memory_s: float = 3600.0

    @classmethod
    def of(cls, settings: ServerSettings) -> LoginLimits:
        return cls(settings.login_free_failures, settings.login_address_free_failures, settings.login_delay_s,
                   settings.login_max_delay_s, settings.login_memory_s)


class LoginThrottled(Exception):
    """Too many failed logins for this account or address: try again in `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {math.ceil(retry_after)} s")
        self.retry_after = retry_after


# KEYS: the account's and the address's counters; ARGV: now, each one's free failures, first delay, cap,
# memory (ms). While either waits, the attempt is refused and not counted; else it counts as a failure in
# both (a success takes it back: login_succeeded), and a counter past its free failures must wait
# delay * 2^(failures past the free ones - 1), capped. Returns the wait left, "0" when the attempt may go on.
_ATTEMPT = """
local now = tonumber(ARGV[1])
local wait = 0
for i = 1, 2 do
  local left = tonumber(redis.call('HGET', KEYS[i], 'until') or '0') - now
  if left > wait then wait = left end
end
if wait > 0 then return tostring(wait) end
for i = 1, 2 do
  local free = tonumber(ARGV[1 + i])
  local fails = redis.call('HINCRBY', KEYS[i], 'fails', 1)
  if fails > free then
    local delay = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ (fails - free - 1))
    redis.call('HSET', KEYS[i], 'until', tostring(now + delay))
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[6])
end
return '0'
"""


async def login_attempt(redis: Redis, limits: LoginLimits, email: str, address: str,
                        now: float | None = None) -> None:
    """Count a login attempt for `email` from `address`, before its password is checked.

    Raises:
        LoginThrottled: the account or the address must wait first (the attempt is not counted).
    """
    moment = time.time() if now is None else now
    left = await redis.eval(_ATTEMPT, 2, login_key("account", email), login_key("address", address),
                            repr(moment), limits.free_failures, limits.address_free_failures, repr(limits.delay_s),
                            repr(limits.max_delay_s), max(1, int(limits.memory_s * 1000)))
    wait = float(left.decode() if isinstance(left, bytes) else left)
    if wait > 0:
        raise LoginThrottled(wait)


async def login_succeeded(redis: Redis, email: str, address: str) -> None:
    """The password was right: the account's failures are forgotten, and this attempt no longer counts
    against the address (its other failures still do)."""
    await redis.eval(_SUCCEEDED, 2, login_key("account", email), login_key("address", address))


_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'fails', -1) end
"""


# --- tokens ---------------------------------------------------------------------------------------


def issue_token(user_id: str, roles: Sequence[str], token_version: int, sid: str, ttl_s: float, *, secret: str,
                now: float | None = None) -> str:
    """A signed (HS256) user token valid for `ttl_s` seconds from `now` (default: the wall clock)."""
    issued = time.time() if now is None else now
    payload = {"typ": _USER_TYP, "sub": user_id, "roles": list(roles), "tv": token_version, "sid": sid,
               "iat": int(issued), "exp": int(issued + ttl_s)}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_token(token: str, *, secret: str) -> Claims:
    """Check signature, expiry and shape of an agent/admin token.

    Raises:
        AuthError: ``token_expired`` past its expiry, ``token_invalid`` for anything else
            (bad signature, garbage, a visitor token, missing or mistyped claims).
    """
    payload = _decode(token, secret, _USER_TYP)
    user_id, roles, tv, sid = payload.get("sub"), payload.get("roles"), payload.get("tv"), payload.get("sid")
    if (not isinstance(user_id, str) or not isinstance(roles, list) or not roles
            or not all(isinstance(r, str) and r in ROLES for r in roles)
            or not isinstance(tv, int) or isinstance(tv, bool) or not isinstance(sid, str)):
        raise AuthError(codes.TOKEN_INVALID, "the token is not a valid login token")
    return Claims(user_id, tuple(roles), tv, sid, float(payload["exp"]))


def issue_visitor_token(visitor_id: str, ttl_s: float, *, secret: str, now: float | None = None) -> str:
    """A signed token proving the bearer is visitor `visitor_id`; no session, just an expiry."""
    issued = time.time() if now is None else now
    payload = {"typ": _VISITOR_TYP, "sub": visitor_id, "iat": int(issued), "exp": int(issued + ttl_s)}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_visitor_token(token: str, *, secret: str) -> str:
    """The visitor id of a valid visitor token; AuthError (token_invalid / token_expired) otherwise."""
    payload = _decode(token, secret, _VISITOR_TYP)
    visitor_id = payload.get("sub")
    if not isinstance(visitor_id, str) or not visitor_id:
        raise AuthError(codes.TOKEN_INVALID, "the token is not a valid visitor token")
    return visitor_id


def _decode(token: str, secret: str, typ: str) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise AuthError(codes.TOKEN_INVALID, "the token is missing or not a string")
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM],
                             options={"require": ["exp", "iat", "sub", "typ"]})
    except jwt.ExpiredSignatureError:
        raise AuthError(codes.TOKEN_EXPIRED, "the token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise AuthError(codes.TOKEN_INVALID, "the token is invalid") from None
    if payload.get("typ") != typ:
        raise AuthError(codes.TOKEN_INVALID, f"not a {typ} token")
    return payload


# --- sessions -------------------------------------------------------------------------------------


def new_sid() -> str:
    return secrets.token_urlsafe(16)


async def start_session(redis: Redis, user_id: str, ttl_s: float) -> str:
    """Record a new live sid for `user_id` and return it.

    The set's expiry is pushed to the newest token's lifetime: every older
    token expires before it, so the set never outlives the tokens it serves.
    """
    sid = new_sid()
    key = sessions_key(user_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(key, sid)
        pipe.expire(key, max(1, int(ttl_s) + 60))
        await pipe.execute()
    return sid


async def end_session(redis: Redis, user_id: str, sid: str) -> None:
    """Logout: this sid stops being accepted; the user's other sessions go on.

    Publishes ``{"type": "session_ended", "user", "sid"}`` on ``sb:control`` so the edges close the
    sockets opened with that token (and only those).
    """
    await redis.srem(sessions_key(user_id), sid)
    await redis.publish(CONTROL_CHANNEL, orjson.dumps({"type": "session_ended", "user": user_id, "sid": sid}))


async def check_session(redis: Redis, claims: Claims, user_token_version: int) -> None:
    """Raise AuthError ``session_ended`` unless the token's sid is live and its version is the user's."""
    if claims.token_version != user_token_version:
        raise AuthError(codes.SESSION_ENDED, "the session has ended (the password was changed); log in again")
    if not await redis.sismember(sessions_key(claims.user_id), claims.sid):
        raise AuthError(codes.SESSION_ENDED, "the session has ended; log in again")


async def end_sessions(redis: Redis, user_id: str) -> None:
    """End every session of `user_id` and tell every edge, so live sockets of that user can be closed.

    Publishes ``{"type": "sessions_ended", "user": user_id}`` on ``sb:control``.
    """
    await redis.delete(sessions_key(user_id))
    await redis.publish(CONTROL_CHANNEL, orjson.dumps({"type": "sessions_ended", "user": user_id}))


# --- the signing key ------------------------------------------------------------------------------


def load_or_create_secret(settings: ServerSettings) -> str:
    """The token signing key: ``settings.secret`` if set, else ``{data_dir}/secret.key`` (created 0600).

    Kept on disk so tokens survive a restart of the same installation. Created
    under a temporary name and hard-linked into place, so two processes starting
    together agree on one key and nobody ever reads a half-written file.
    """
    if settings.secret:
        return settings.secret
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race: use its key
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key (fewer than 32 characters); delete it to make a new one")
    return key
