"""The unit layer's run setup: speed only, no fixtures (they are in tests/conftest.py).

Collecting the unit layer imports most of mailbridge and builds some 2,500 test items; every
full garbage collection during the run then walks all of those objects again, for nothing (they
live until the session ends). Once collection is over they are collected once and frozen
(``gc.freeze``): later collections walk only what the tests themselves create. Nothing a test
sees changes; objects made during collection are simply never freed before the process exits.
"""

from __future__ import annotations

import gc

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()
