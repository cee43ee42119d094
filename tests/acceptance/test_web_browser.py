"""The web app in a real browser (Debian's headless Chromium via selenium) against a real
`serve`: the whole story over SMTP and the pages, an axe-core check of every page, sign-in
through a real OpenID Connect provider (oidc-provider-mock) and through a local account."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.directory import csv_file
from mailbridge.store import accounts, directory
from mailbridge.store.models import Interview
from mailbridge.web import auth
from tests.support.browser import PageCheck, wait_for
from tests.support.web import AMY, BASE, CARER, FIXTURES, PASSWORD, SAM, free_port

pytestmark = pytest.mark.slow


def _setup(engine: Any, users: list[tuple[str, str, str | None]]) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text("utf-8"))
        directory.import_directory(s, parsed, now=now, actor="test")
        for name, role, email in users:
            accounts.add_account(
                s, username=name, role=role, email=email, display_name=None,
                password_hash=auth.hash_password(PASSWORD), now=now,
            )


def _send(host: str, port: int, subject: str, body: str, n: int) -> None:
    with smtplib.SMTP(host, port) as c:
        c.sendmail(CARER, [BASE], (
            f"From: Oakview House <{CARER}>\r\nTo: {BASE}\r\nSubject: {subject}\r\n"
            f"Message-ID: <browser-{n}@homes.example>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode())


def _sign_in(driver: Any, base: str, username: str) -> None:
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    wait_for(lambda: driver.current_url.endswith("/episodes"), what="the Now page")


def _refresh(driver: Any) -> int:
    """The Now page's own poll, run now rather than in 30 seconds; waits for it to finish and
    gives its HTTP status (0 when it failed)."""
    return int(driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.mailbridgeRefreshNow().then((code) => done(code), () => done(0));"
    ))


def _sign_out(driver: Any) -> None:
    driver.find_element(By.CSS_SELECTOR, ".header-signout button").click()
    wait_for(lambda: "/login" in driver.current_url, what="the sign-in page")


def test_the_story_in_a_browser(
    engine: Any, make_settings: Any, run_service: Any, browser: Any,
    page_check: PageCheck,
) -> None:
    _setup(engine, [
        ("duty1", "duty", "duty@council.example"),
        ("sam", "social_worker", SAM),
        ("amy", "social_worker", AMY),
        ("boss", "manager", "boss@council.example"),
        ("admin", "admin", "admin@council.example"),
    ])
    port = free_port()
    settings = make_settings(
        f"[web]\nenabled = true\nport = {port}\n[processing]\npoll_seconds = 0.2\n"
    )
    svc = run_service(settings)
    base = f"http://127.0.0.1:{port}"
    driver = browser

    driver.get(f"{base}/episodes")
    assert "/login" in driver.current_url
    page_check(driver, "login")
    _sign_in(driver, base, "duty1")
    assert "No child is missing" in driver.page_source

    # A carer reports; the open Now page picks it up on its own (its poll, run now).
    _send(svc.host, svc.port, "Missing: Jordan Carter (100231)",
          "Jordan Carter (100231) has not come home. Last seen at the bus station, wearing a "
          "red hoodie. Risk: high.", 1)

    def listed() -> Any:
        _refresh(driver)
        return driver.find_elements(By.CSS_SELECTOR, "#now-table a[href^='/episodes/MB-']")
    (link,) = wait_for(listed, what="the report on the Now page")
    ref = link.text
    row = driver.find_element(By.CSS_SELECTOR, "#now-table tbody tr").text.lower()
    assert "j.c. 100231" in row and "not acknowledged" in row and "high" in row
    assert "Updated" in driver.find_element(By.ID, "now-status").text
    # Polled again with nothing changed: 304, no body, and the table stays as it was.
    # (Unless the minute turned meanwhile, which moves "Missing for": then one more poll.)
    assert _refresh(driver) == 304 or _refresh(driver) == 304
    again = driver.find_element(By.CSS_SELECTOR, "#now-table tbody tr").text.lower()
    assert "j.c. 100231" in again and "not acknowledged" in again and ref.lower() in again
    page_check(driver, "now")

    # Acknowledge from the episode page.
    link.click()
    wait_for(lambda: driver.current_url.endswith(f"/episodes/{ref}"), what="the episode")
    assert "red hoodie" in driver.page_source
    driver.find_element(By.XPATH, "//button[contains(., 'Acknowledge')]").click()
    wait_for(lambda: "You have acknowledged" in driver.page_source, what="the acknowledgement")
    assert "duty@council.example as duty" in driver.page_source
    page_check(driver, "episode")

    # The carer says Jordan is back: the Now page empties.
    back = (datetime.now(UTC) - timedelta(minutes=2)).astimezone(settings.tz)
    _send(svc.host, svc.port, f"Re: {ref} Jordan is back",
          f"Jordan Carter (100231) came home at {back:%H:%M}, safe and well.", 2)
    driver.get(f"{base}/episodes")
    def emptied() -> bool:
        _refresh(driver)
        return "No child is missing" in driver.page_source

    wait_for(emptied, what="the return")
    driver.get(f"{base}/triage")
    page_check(driver, "triage")
    _sign_out(driver)

    # Sam, Jordan's social worker, records the return home interview online.
    _sign_in(driver, base, "sam")
    driver.get(f"{base}/interviews")
    assert ref in driver.find_element(By.TAG_NAME, "main").text
    page_check(driver, "interviews")
    driver.find_element(By.CSS_SELECTOR, f"a[href='/episodes/{ref}#interview']").click()
    driver.find_element(By.ID, "result-completed").click()
    today = datetime.now(settings.tz).strftime("%d/%m/%Y")
    driver.find_element(By.ID, "held_on").send_keys(today)
    driver.find_element(By.ID, "interviewer").send_keys("Sam Patel")
    driver.find_element(By.ID, "reason-friends").click()
    driver.find_element(By.ID, "risks").send_keys("older peers at the bus station")
    driver.find_element(By.ID, "actions").send_keys("safety plan agreed with the carers")
    driver.find_element(By.XPATH, "//button[contains(., 'Record the outcome')]").click()
    wait_for(lambda: "The interview outcome is recorded" in driver.page_source, what="outcome")
    with Session(engine) as s:
        interview = s.scalars(select(Interview)).one()
    assert (interview.status, interview.reason_codes) == ("completed", ["friends"])
    _sign_out(driver)

    # Amy is not Jordan's social worker: 403, and the attempt is in the audit log.
    _sign_in(driver, base, "amy")
    driver.get(f"{base}/episodes/{ref}")
    assert "You cannot see this episode" in driver.page_source
    _sign_out(driver)

    _sign_in(driver, base, "boss")
    driver.get(f"{base}/figures")
    page_check(driver, "figures")
    driver.get(f"{base}/audit?actor=amy")
    assert "view denied" in driver.page_source and ref in driver.page_source
    page_check(driver, "audit")
    _sign_out(driver)

    _sign_in(driver, base, "admin")
    driver.get(f"{base}/directory")
    driver.find_element(By.ID, "q").send_keys("Oakview")
    driver.find_element(By.XPATH, "//button[contains(., 'Search')]").click()
    wait_for(lambda: "100231" in driver.page_source, what="the search result")
    upload = page_check.shots.folder.parent / "directory.csv"
    upload.write_text((FIXTURES / "directory.csv").read_text("utf-8").replace(
        "Sam Patel,sam.patel@council.example", "Amy Jones,amy.jones@council.example", 1))
    driver.find_element(By.ID, "file").send_keys(str(upload))
    driver.find_element(By.XPATH, "//button[contains(., 'Preview')]").click()
    wait_for(lambda: "What this file would change" in driver.page_source, what="the preview")
    assert "1 child(ren) updated: 100231" in driver.page_source
    page_check(driver, "directory")
    driver.get(f"{base}/users")
    page_check(driver, "users")

    assert page_check.found.keys() == {
        "login", "now", "episode", "triage", "interviews", "figures", "audit", "directory",
        "users",
    }
    assert page_check.blocking() == {}, page_check.blocking()


def test_sign_in_through_a_real_openid_connect_provider(
    engine: Any, make_settings: Any, run_service: Any, browser: Any,
) -> None:
    from oidc_provider_mock import run_server_in_thread

    _setup(engine, [("sam", "social_worker", SAM)])
    with run_server_in_thread() as provider:
        issuer = f"http://localhost:{provider.server_port}"
        port = free_port()
        settings = make_settings(
            f"[web]\nenabled = true\nport = {port}\noidc_issuer = \"{issuer}\"\n"
            "oidc_client_id = \"mailbridge\"\noidc_client_secret = \"s3cret\"\n"
        )
        run_service(settings)
        base = f"http://127.0.0.1:{port}"
        driver = browser

        def through_provider(subject: str) -> None:
            driver.delete_all_cookies()
            driver.get(f"{base}/login")
            driver.find_element(By.LINK_TEXT, "Sign in with your organisation account").click()
            wait_for(lambda: "Authorize" in driver.page_source, what="the provider's form")
            driver.find_element(By.NAME, "sub").send_keys(subject)
            driver.find_element(By.XPATH, "//button[text()='Authorize']").click()

        through_provider(SAM)
        wait_for(lambda: driver.current_url == f"{base}/episodes", what="signed in")
        assert "sam (social worker)" in driver.page_source

        # Someone the provider knows but mailbridge does not: no session.
        through_provider("stranger@council.example")
        wait_for(lambda: "No mailbridge account" in driver.page_source, what="the refusal")
        driver.get(f"{base}/episodes")
        assert "/login" in driver.current_url
