"""The REST API against its own OpenAPI description, with schemathesis: generated requests for every
operation, as an admin, must never meet a server error, an undocumented status, a wrong content type or a
body that breaks its schema.

A real server (uvicorn, embedded Redis and store) in a database of its own, so the users, groups and sites the
generated requests make never reach other tests. Hypothesis keeps its examples few per operation (the
whole run stays well under a minute); a failure prints the request to replay.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

from switchboard.edges.auth import Passwords
from switchboard.edges.rest.api import OPENAPI
from switchboard.store.documents import User
from tests.server.conftest import Backends, Server, free_port, login, make_config

EMAIL, PASSWORD = "fuzz-admin@example.com", "fuzz-admin-password"
schema = schemathesis.openapi.from_dict(OPENAPI)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(backends: Backends) -> Iterator[tuple[Server, str]]:
    base, _, _ = backends.mongodb_uri.rpartition("/")
    own = Backends(backends.data_dir, backends.redis_url, f"{base}/fuzz_{uuid.uuid4().hex[:8]}")
    srv = Server(make_config(own), free_port()).start()
    User(id="adm-f0000001", roles=["admin", "agent"], email=EMAIL, nickname="Fuzz",
         password_hash=Passwords().hash(PASSWORD)).save()
    yield srv, login(srv, EMAIL, PASSWORD)
    srv.stop()


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_answers_as_described(case: schemathesis.Case[Any], fuzzed: tuple[Server, str]) -> None:
    srv, token = fuzzed
    response = case.call(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    case.validate_response(response, checks=CHECKS)
