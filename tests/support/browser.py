"""Headless Chromium from Debian (chromium + chromium-driver) driven by selenium, and axe-core
(from npm) injected into each page: the browser helpers of the web app tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
AXE_VERSION = "4.10.3"
# Rules broken at these impacts fail the test; "moderate" and "minor" are reported only.
BLOCKING = ("serious", "critical")


def need_browser() -> None:
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                    "chromium-driver; .ci/run installs them)")


def make_driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--lang=en-GB", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def install_axe(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """axe.min.js from the npm package ``axe-core``, installed once into pytest's cache."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the axe-core accessibility check needs it")
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    base = cache.mkdir(f"axe-core-{AXE_VERSION}") if cache else tmp_path_factory.mktemp("axe")
    script = Path(base) / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(base),
             f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, timeout=300, check=False,
        )
        if done.returncode != 0 or not script.exists():
            pytest.fail(f"npm install axe-core failed: {done.stderr[-500:]}")
    return script.read_text(encoding="utf-8")


def axe_violations(driver: Any, source: str) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is; the serious and critical violations."""
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "targets": [n.get("target") for n in v.get("nodes", [])][:5]}
        for v in result
        if v.get("impact") in BLOCKING
    ]


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


class Shots:
    """Screenshots for docs/web.md: into MAILBRIDGE_WEB_SCREENSHOTS when set, else tmp."""

    def __init__(self, fallback: Path) -> None:
        chosen = os.environ.get("MAILBRIDGE_WEB_SCREENSHOTS")
        self.folder = Path(chosen) if chosen else fallback
        self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, driver: Any, name: str) -> Path:
        path = self.folder / f"{name}.png"
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(max(int(height), 700), 2400))
        driver.save_screenshot(str(path))
        driver.set_window_size(1280, 1000)
        return path


class PageCheck:
    """axe-core on a page, then its screenshot; ``found`` keeps each page's blocking rules."""

    def __init__(self, axe: str, shots: Shots) -> None:
        self.axe = axe
        self.shots = shots
        self.found: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, driver: Any, name: str) -> None:
        self.found[name] = axe_violations(driver, self.axe)
        self.shots.take(driver, name)

    def blocking(self) -> dict[str, list[dict[str, Any]]]:
        return {page: rules for page, rules in self.found.items() if rules}
