"""Store fixtures for any test (a pytest plugin of tests/conftest.py): one embedded nx-27017 per session, emptied per test."""

from __future__ import annotations

from typing import Iterator

import pytest

from switchboard.store.connection import DOCUMENTS, connect, disconnect, ensure_indexes
from switchboard.store.embedded import EmbeddedMongo


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a session-wide embedded store, connected and indexed."""
    with EmbeddedMongo(str(tmp_path_factory.mktemp("store"))) as mongo:
        uri = mongo.start()
        connect(uri)
        ensure_indexes()
        yield uri
        disconnect()


@pytest.fixture
def store(mongo_uri: str) -> Iterator[str]:
    """An empty store (indexes kept) on the default connection; yields its URI."""
    connect(mongo_uri)
    for document in DOCUMENTS:
        document._get_collection().delete_many({})
    yield mongo_uri
