"""The engine tunes CPython's collector for many long-lived entities, but never over an application's choice."""

from __future__ import annotations

import gc
from typing import Iterator

import pytest

from switchboard.actors.engine import GC_THRESHOLDS, tune_garbage_collector


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_default_thresholds_are_raised_for_the_engine(restore_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_garbage_collector() is True
    assert gc.get_threshold() == GC_THRESHOLDS


def test_an_application_that_chose_its_own_thresholds_keeps_them(restore_gc: None) -> None:
    gc.set_threshold(1234, 5, 5)
    assert tune_garbage_collector() is False
    assert gc.get_threshold() == (1234, 5, 5)
