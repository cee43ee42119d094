"""Fixtures of the end-to-end tests: a real relay, and a store with the fixture directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.browser import PageCheck, Shots, install_axe, make_driver, need_browser
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


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through chromium-driver (skips when they are absent)."""
    need_browser()
    driver = make_driver()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def axe_source(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    return install_axe(tmp_path_factory, request)


@pytest.fixture
def page_check(axe_source: str, tmp_path: Path) -> PageCheck:
    """axe-core, then a screenshot, for each page a browser test visits."""
    return PageCheck(axe_source, Shots(tmp_path / "shots"))
