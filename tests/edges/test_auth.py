"""auth: password hashes, signed tokens (agent and visitor), sessions in Redis, the signing key on disk."""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import jwt
import orjson
import pytest
import redis
import redis.asyncio as aioredis

from switchboard.edges.auth import (
    CONTROL_CHANNEL, AuthError, Claims, check_session, decode_token, decode_visitor_token, end_session,
    end_sessions, issue_token, issue_visitor_token, load_or_create_secret, sessions_key, start_session,
)
from switchboard.settings import ServerSettings
from tests.edges.conftest import CHEAP_PASSWORDS

SECRET = "a-test-secret-of-at-least-32-characters"
T = TypeVar("T")


def _with_redis(url: str, work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    async def run() -> T:
        client = aioredis.Redis.from_url(url)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


def _code(exc: pytest.ExceptionInfo[AuthError]) -> str:
    return exc.value.code


# --- passwords ------------------------------------------------------------------------------------


def test_a_password_verifies_against_its_hash_and_nothing_else() -> None:
    h = CHEAP_PASSWORDS.hash("correct horse")
    assert h.startswith("$argon2id$") and "correct horse" not in h
    assert CHEAP_PASSWORDS.verify(h, "correct horse")
    assert not CHEAP_PASSWORDS.verify(h, "correct horsE")
    assert not CHEAP_PASSWORDS.verify("not a hash", "correct horse")


def test_a_hash_made_with_other_parameters_needs_a_rehash() -> None:
    from switchboard.edges.auth import Passwords

    h = CHEAP_PASSWORDS.hash("correct horse")
    assert not CHEAP_PASSWORDS.needs_rehash(h)
    assert Passwords().needs_rehash(h)
    assert CHEAP_PASSWORDS.needs_rehash("garbage")


def test_an_unknown_user_still_costs_a_verify_and_never_succeeds() -> None:
    assert CHEAP_PASSWORDS.verify_unknown("anything") is False


# --- tokens ---------------------------------------------------------------------------------------


def test_a_token_round_trips_its_claims() -> None:
    token = issue_token("a-1234abcd", ["agent"], 3, "sid-1", 60, secret=SECRET, now=1_000_000_000)
    with pytest.raises(AuthError):  # issued in 2001, so long expired
        decode_token(token, secret=SECRET)
    now = time.time()
    token = issue_token("a-1234abcd", ["agent"], 3, "sid-1", 60, secret=SECRET, now=now)
    assert decode_token(token, secret=SECRET) == Claims("a-1234abcd", ("agent",), 3, "sid-1", float(int(now + 60)))


def test_an_expired_token_is_token_expired() -> None:
    token = issue_token("a-1", ["admin"], 0, "s", 10, secret=SECRET, now=time.time() - 100)
    with pytest.raises(AuthError) as exc:
        decode_token(token, secret=SECRET)
    assert _code(exc) == "token_expired" and exc.value.status == 401


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
    lambda t: t.split(".")[0] + "." + jwt.utils.base64url_encode(b'{"sub":"adm-1"}').decode() + "." + t.split(".")[2],
    lambda t: "garbage",
    lambda t: "",
])
def test_a_tampered_token_is_token_invalid(mangle: Callable[[str], str]) -> None:
    token = issue_token("a-1", ["agent"], 0, "s", 60, secret=SECRET)
    with pytest.raises(AuthError) as exc:
        decode_token(mangle(token), secret=SECRET)
    assert _code(exc) == "token_invalid"


def test_a_token_signed_with_another_secret_is_token_invalid() -> None:
    token = issue_token("a-1", ["agent"], 0, "s", 60, secret="another-secret-of-at-least-32-chars!")
    with pytest.raises(AuthError) as exc:
        decode_token(token, secret=SECRET)
    assert _code(exc) == "token_invalid"


def test_an_unsigned_token_is_token_invalid() -> None:
    token = jwt.encode({"typ": "user", "sub": "adm-1", "roles": ["admin"], "tv": 0, "sid": "s", "iat": int(time.time()),
                        "exp": int(time.time()) + 60}, key="", algorithm="none")  # "": PyJWT's typed no-key
    with pytest.raises(AuthError) as exc:
        decode_token(token, secret=SECRET)
    assert _code(exc) == "token_invalid"


def test_a_signed_token_with_mistyped_claims_is_token_invalid() -> None:
    now = int(time.time())
    for claims in ({"roles": ["root"], "tv": 0, "sid": "s"}, {"roles": ["admin"], "tv": True, "sid": "s"},
                   {"roles": ["admin"], "tv": 0, "sid": {"$ne": None}}, {"roles": ["admin"], "tv": 0},
                   {"roles": "admin", "tv": 0, "sid": "s"}, {"roles": [], "tv": 0, "sid": "s"}):
        token = jwt.encode({"typ": "user", "sub": "adm-1", "iat": now, "exp": now + 60, **claims}, SECRET)
        with pytest.raises(AuthError) as exc:
            decode_token(token, secret=SECRET)
        assert _code(exc) == "token_invalid", claims


def test_a_visitor_token_round_trips_its_visitor() -> None:
    token = issue_visitor_token("v-42", 60, secret=SECRET)
    assert decode_visitor_token(token, secret=SECRET) == "v-42"


def test_an_expired_visitor_token_is_token_expired() -> None:
    token = issue_visitor_token("v-42", 10, secret=SECRET, now=time.time() - 100)
    with pytest.raises(AuthError) as exc:
        decode_visitor_token(token, secret=SECRET)
    assert _code(exc) == "token_expired"


def test_a_visitor_token_is_not_an_agent_token_and_vice_versa() -> None:
    visitor = issue_visitor_token("v-42", 60, secret=SECRET)
    agent = issue_token("a-1", ["agent"], 0, "s", 60, secret=SECRET)
    with pytest.raises(AuthError) as exc:
        decode_token(visitor, secret=SECRET)
    assert _code(exc) == "token_invalid"
    with pytest.raises(AuthError) as exc:
        decode_visitor_token(agent, secret=SECRET)
    assert _code(exc) == "token_invalid"


def test_an_auth_error_never_echoes_the_token() -> None:
    token = issue_token("a-1", ["agent"], 0, "s", 60, secret=SECRET)
    with pytest.raises(AuthError) as exc:
        decode_token(token + "x", secret=SECRET)
    assert token not in str(exc.value) and token not in exc.value.message


# --- sessions -------------------------------------------------------------------------------------


def test_a_session_is_live_until_logout(redis_url: str) -> None:
    async def scenario(r: aioredis.Redis) -> None:
        sid = await start_session(r, "a-1", 3600)
        other = await start_session(r, "a-1", 3600)
        claims = Claims("a-1", ("agent",), 2, sid, 0.0)
        await check_session(r, claims, 2)
        await end_session(r, "a-1", sid)
        with pytest.raises(AuthError) as exc:
            await check_session(r, claims, 2)
        assert exc.value.code == "session_ended"
        await check_session(r, Claims("a-1", ("agent",), 2, other, 0.0), 2)

    _with_redis(redis_url, scenario)


def test_a_session_of_an_older_token_version_has_ended(redis_url: str) -> None:
    async def scenario(r: aioredis.Redis) -> None:
        sid = await start_session(r, "a-1", 3600)
        with pytest.raises(AuthError) as exc:
            await check_session(r, Claims("a-1", ("agent",), 0, sid, 0.0), 1)
        assert exc.value.code == "session_ended"

    _with_redis(redis_url, scenario)


def test_the_session_set_expires_with_the_newest_token(redis_url: str, sync_redis: redis.Redis) -> None:
    _with_redis(redis_url, lambda r: start_session(r, "a-1", 100))
    _with_redis(redis_url, lambda r: start_session(r, "a-1", 5000))
    ttl = sync_redis.ttl(sessions_key("a-1"))
    assert isinstance(ttl, int) and 5000 <= ttl <= 5060


def test_ending_sessions_ends_them_all_and_tells_every_edge(redis_url: str, sync_redis: redis.Redis) -> None:
    pubsub = sync_redis.pubsub()
    pubsub.subscribe(CONTROL_CHANNEL)
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"

    async def scenario(r: aioredis.Redis) -> None:
        sids = [await start_session(r, "a-1", 3600) for _ in range(3)]
        await end_sessions(r, "a-1")
        for sid in sids:
            with pytest.raises(AuthError):
                await check_session(r, Claims("a-1", ("agent",), 0, sid, 0.0), 0)

    _with_redis(redis_url, scenario)
    message = pubsub.get_message(timeout=2)
    assert message is not None and orjson.loads(message["data"]) == {"type": "sessions_ended", "user": "a-1"}
    pubsub.close()


# --- the signing key ------------------------------------------------------------------------------


def test_a_configured_secret_is_used_as_is(tmp_path: Path) -> None:
    assert load_or_create_secret(ServerSettings(secret="s3cret", data_dir=str(tmp_path))) == "s3cret"
    assert not (tmp_path / "secret.key").exists()


def test_without_a_secret_a_private_key_file_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=str(tmp_path / "var"))
    key = load_or_create_secret(settings)
    path = tmp_path / "var" / "secret.key"
    assert len(key) >= 32 and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(settings) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]


def test_an_empty_key_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("\n")
    with pytest.raises(RuntimeError, match="delete it"):
        load_or_create_secret(ServerSettings(data_dir=str(tmp_path)))
