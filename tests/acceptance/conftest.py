"""Fixtures of the end-to-end tests: a real relay, and a store with the fixture directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from tests.support.relay import Sink, import_fixture_directory


@pytest.fixture
def relay() -> Iterator[Sink]:
    sink = Sink().start()
    yield sink
    sink.stop()


@pytest.fixture
def world(engine: Engine) -> Engine:
    import_fixture_directory(engine, now=datetime.now(UTC))
    return engine
