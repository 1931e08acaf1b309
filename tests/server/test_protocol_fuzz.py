"""Whatever bytes arrive, the parser answers with a frame or a ProtocolError, never with anything else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.edges import protocol as p
from switchboard.edges.protocol import ProtocolError, parse_agent, parse_visitor

MAX = 16384
PARSERS = [pytest.param(parse_visitor, id="visitor"), pytest.param(parse_agent, id="agent")]
CODES = {"frame_too_large", "invalid_json", "invalid_frame", "unknown_type"}
VISITOR_TYPES = ["hello", "message", "typing", "request_human", "leave_queue", "keep_waiting", "close", "rate", "profile",
                 "identify", "sync", "ping"]
AGENT_TYPES = ["hello", "presence", "message", "note", "typing", "invite", "transfer", "answer_transfer", "close",
               "queues", "sync", "ping", "live", "watch"]
FIELDS = ["v", "token", "channel", "page", "email", "name", "last_seq", "client_id", "text", "conversation",
          "typing", "group", "agent", "score", "comment", "after", "presence", "to_agent", "to_group", "accept", "on",
          "user"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
hostile = st.sampled_from([{"$ne": None}, {"$gt": ""}, ["a"], "", " ", "\x00", "x" * 9000, 2**64, -1, 1.5, True,
                           {"conv": -1}, {"c": "1"}])


def wire(value: Any) -> str:
    """JSON as any client might write it (stdlib json: integers of any size, escaped non-ASCII)."""
    return json.dumps(value)


def parses_or_refuses(parse: Callable[[str | bytes, int], Any], raw: str | bytes) -> None:
    try:
        parse(raw, MAX)
    except ProtocolError as exc:
        assert exc.code in CODES, exc.code


@pytest.mark.parametrize("parse", PARSERS)
@given(raw=st.binary(max_size=300))
@settings(max_examples=150, deadline=None)
def test_arbitrary_bytes_only_ever_raise_a_protocol_error(parse: Any, raw: bytes) -> None:
    parses_or_refuses(parse, raw)


@pytest.mark.parametrize("parse", PARSERS)
@given(raw=st.text(max_size=300))
@settings(max_examples=150, deadline=None)
def test_arbitrary_text_only_ever_raises_a_protocol_error(parse: Any, raw: str) -> None:
    parses_or_refuses(parse, raw)


@pytest.mark.parametrize("parse", PARSERS)
@given(value=json_values)
@settings(max_examples=150, deadline=None)
def test_arbitrary_json_values_only_ever_raise_a_protocol_error(parse: Any, value: Any) -> None:
    parses_or_refuses(parse, wire(value))
    parses_or_refuses(parse, wire(value).encode())


@given(kind=st.sampled_from(VISITOR_TYPES),
       fields=st.dictionaries(st.sampled_from(FIELDS), json_values | hostile, max_size=6))
@settings(max_examples=300, deadline=None)
def test_a_visitor_frame_with_random_field_values_parses_or_is_refused(kind: str, fields: dict[str, Any]) -> None:
    parses_or_refuses(parse_visitor, wire({**fields, "type": kind}))


@given(kind=st.sampled_from(AGENT_TYPES),
       fields=st.dictionaries(st.sampled_from(FIELDS), json_values | hostile, max_size=6))
@settings(max_examples=300, deadline=None)
def test_an_agent_frame_with_random_field_values_parses_or_is_refused(kind: str, fields: dict[str, Any]) -> None:
    parses_or_refuses(parse_agent, wire({**fields, "type": kind}))


@given(fields=st.dictionaries(st.sampled_from(FIELDS), json_values | hostile, max_size=6))
@settings(max_examples=200, deadline=None)
def test_a_parsed_frame_never_carries_an_object_where_a_string_belongs(fields: dict[str, Any]) -> None:
    for parse, kind in [(parse_visitor, "message"), (parse_agent, "message"), (parse_agent, "transfer")]:
        try:
            parsed = parse(wire({**fields, "type": kind}), MAX)
        except ProtocolError:
            continue
        for name in ("client_id", "text", "conversation", "to_agent", "to_group"):
            value = getattr(parsed, name, None)
            assert value is None or isinstance(value, str)


def test_every_visitor_and_agent_frame_type_is_listed_here() -> None:
    def tags(union: Any) -> list[str]:
        return sorted(t.__struct_config__.tag for t in union.__args__)

    assert tags(p.VisitorFrame) == sorted(VISITOR_TYPES)
    assert tags(p.AgentFrame) == sorted(AGENT_TYPES)


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(("raw", "code"), [
    pytest.param('{"type":"ping","x":' + "[" * 2000 + "]" * 2000 + "}", "invalid_json", id="nested-2000-deep"),
    pytest.param(b'{"type":"sync","conversation":"c","after":0,"x":"\xff"}', "invalid_json", id="bad-utf8-bytes"),
    pytest.param('{"type":"sync","conversation":"c","after":' + str(2**64) + "}", "invalid_frame", id="seq-past-int64"),
    pytest.param('{"type":"sync","conversation":"c","after":-1}', "invalid_frame", id="negative-seq"),
])
def test_frames_the_fast_decoder_refuses_get_the_same_error_codes_as_before(parse: Any, raw: str | bytes,
                                                                            code: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse(raw, 16384)
    assert refused.value.code == code


def test_a_frame_nested_1000_deep_but_within_the_size_limit_still_parses() -> None:
    frame = parse_visitor('{"type":"ping","x":' + "[" * 1000 + "]" * 1000 + "}", 16384)
    assert isinstance(frame, p.Ping)
