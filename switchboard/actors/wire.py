"""Frames on the Ray hosts' own sockets: a 4-byte length, then a pickle.

The Ray runtime moves envelopes between its hosts over plain TCP streams, one
per (sender, receiver) pair, rather than as Ray calls (why: decision 002). A
stream keeps its order, so a frame needs no sequence number; the length prefix
is all the framing there is. Pickle, because envelopes carry msgspec Structs,
dataclasses and enums alike, as they do through Ray's own calls; and because
unpickling runs code, a stream's first frame is JSON, never a pickle: a hello
with the engine's secret, and nothing after it is unpickled unless the secret
matched (:func:`hello_ok`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import pickle
import socket
import struct
from typing import Any

__all__ = ["frame", "read_frame", "FrameReader", "hello", "hello_ok", "MAX_FRAME", "MAX_HELLO"]

_LENGTH = struct.Struct("!I")
MAX_FRAME = 1 << 30
MAX_HELLO = 4096

log = logging.getLogger("switchboard.ray")


def frame(obj: Any) -> bytes:
    """`obj` pickled behind its length. Classes pickle by name; a class defined inside a function
    (a test's entity, say) falls back to cloudpickle, as in Ray's own calls; the reader's plain
    ``pickle.loads`` reads both."""
    try:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        from ray import cloudpickle

        data = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-untyped-call]
    return _framed(data)


def hello(secret: str, sender: str, sink: bool) -> bytes:
    """The first frame on a stream, in JSON: the secret, who is sending, and whether deliveries
    should come back on this stream."""
    return _framed(json.dumps({"secret": secret, "sender": sender, "sink": sink}).encode())


def _framed(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def hello_ok(raw: bytes, secret: str) -> dict[str, Any] | None:
    """The hello in `raw` if it is JSON carrying `secret`; None otherwise. Parsing JSON runs no
    code, and the reader bounds the frame by MAX_HELLO, so a stranger can send nothing that acts."""
    try:
        greeting = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(greeting, dict) or not isinstance(greeting.get("secret"), str):
        return None
    if not hmac.compare_digest(greeting["secret"].encode(), secret.encode()):
        return None
    return greeting


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> bytes | None:
    """The next frame's payload, or None at the end of the stream (or past `limit`)."""
    try:
        (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
        if size > limit:
            return None
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class FrameReader:
    """Frames from a blocking socket, for the driver's threads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()

    def feed(self) -> list[Any] | None:
        """Read what the socket has and return the whole frames, unpickled; None once it is closed."""
        try:
            chunk = self.sock.recv(1 << 20)
        except (ConnectionError, OSError):
            return None
        if not chunk:
            return None
        buf = self._buf
        buf += chunk
        out: list[Any] = []
        start = 0
        with memoryview(buf) as view:
            while len(buf) - start >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(buf, start)
                end = start + _LENGTH.size + size
                if len(buf) < end:
                    break
                try:
                    out.append(pickle.loads(view[start + _LENGTH.size:end]))
                except Exception:  # one frame this process cannot read (say, a class it lacks)
                    log.exception("dropped a frame that could not be unpickled (%d bytes)", size)
                start = end
        del buf[:start]
        return out
