"""check-config's OAuth2 checks (settings/validation.py): each problem names its key, and a good
configuration of each provider has none."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mailbridge.settings.config import Settings
from mailbridge.settings.sections import (
    GraphSettings,
    ImapSettings,
    OAuth2Settings,
    RelaySettings,
)
from mailbridge.settings.validation import tls_warnings, validate

IMAP_URL = "imaps://missing-reports%40council.example@outlook.office365.com:993/INBOX"
RELAY_URL = "smtp://missing-reports%40council.example@smtp.office365.com:587?starttls=1"
# Keys that the checks below concern; a problem with another key is not this file's business.
OURS = ("oauth2.", "imap.auth", "imap.url", "imap.password_file", "relay.", "graph.")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name in ("secret", "cert.pem", "sa.json"):
        path = tmp_path / name
        path.write_text("x\n", encoding="utf-8")
        paths[name] = str(path)
    return paths


def settings(
    *,
    imap: dict[str, Any] | None = None,
    relay: dict[str, Any] | None = None,
    graph: dict[str, Any] | None = None,
    **oauth2: Any,
) -> Settings:
    base = Settings()
    return dataclasses.replace(
        base,
        imap=dataclasses.replace(ImapSettings(), **(imap or {})),
        relay=dataclasses.replace(RelaySettings(), **(relay or {})),
        graph=dataclasses.replace(GraphSettings(), **(graph or {})),
        oauth2=dataclasses.replace(OAuth2Settings(), **oauth2),
    )


def problems(s: Settings) -> list[str]:
    return [p for p in validate(s) if p.startswith(OURS)]


def microsoft(files: dict[str, str], **changes: Any) -> dict[str, Any]:
    return {
        "provider": "microsoft",
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "client_id": "00000000-0000-0000-0000-000000000001",
        "client_secret_file": files["secret"],
        **changes,
    }


XOAUTH2_IMAP: dict[str, Any] = {"url": IMAP_URL, "auth": "xoauth2"}


def test_a_good_configuration_of_each_provider_has_no_problem(files: dict[str, str]) -> None:
    assert problems(settings(imap=XOAUTH2_IMAP, **microsoft(files))) == []
    assert (
        problems(
            settings(
                imap=XOAUTH2_IMAP,
                **microsoft(files, client_secret_file="", certificate_file=files["cert.pem"]),
            )
        )
        == []
    )
    google: dict[str, Any] = {"provider": "google", "service_account_file": files["sa.json"]}
    assert problems(settings(imap=XOAUTH2_IMAP, **google)) == []
    assert problems(settings(imap=XOAUTH2_IMAP, provider="command", token_command="true")) == []
    # OAuth2 settings are not checked while nothing uses them.
    assert problems(settings(provider="google")) == []


def test_imap_auth_must_be_password_or_xoauth2() -> None:
    assert "imap.auth: must be password or xoauth2, got 'oauth'" in problems(
        settings(imap={"url": IMAP_URL, "auth": "oauth"})
    )


def test_an_xoauth2_url_names_the_user_and_carries_no_password(files: dict[str, str]) -> None:
    no_user = settings(
        imap={"url": "imaps://outlook.office365.com:993/INBOX", "auth": "xoauth2"},
        **microsoft(files),
    )
    assert any(p.startswith("imap.url: xoauth2 needs the mailbox user") for p in problems(no_user))
    url = RELAY_URL.replace("%40council.example@", "%40council.example:pw@")
    with_password = settings(relay={"url": url, "auth": "xoauth2"}, **microsoft(files))
    found = problems(with_password)
    assert "relay.url: with relay.auth = xoauth2 the URL carries no password" in found
    assert not any(":pw@" in p for p in found)


def test_an_imap_password_file_is_refused_with_xoauth2(files: dict[str, str]) -> None:
    s = settings(imap={**XOAUTH2_IMAP, "password_file": files["secret"]}, **microsoft(files))
    assert "imap.password_file: not used with imap.auth = xoauth2; remove it" in problems(s)


def test_microsoft_needs_exactly_one_credential(files: dict[str, str]) -> None:
    both = settings(imap=XOAUTH2_IMAP, **microsoft(files, certificate_file=files["cert.pem"]))
    neither = settings(imap=XOAUTH2_IMAP, **microsoft(files, client_secret_file=""))
    expected = (
        "oauth2.client_secret_file, oauth2.certificate_file: provider microsoft needs exactly "
        "one of them"
    )
    assert expected in problems(both)
    assert expected in problems(neither)
    missing = settings(
        imap=XOAUTH2_IMAP,
        **microsoft(files, client_secret_file="", certificate_file="/nonexistent/m365.pem"),
    )
    assert "oauth2.certificate_file: /nonexistent/m365.pem: not found" in problems(missing)
    no_ids = settings(imap=XOAUTH2_IMAP, **microsoft(files, tenant_id=" ", client_id=""))
    assert "oauth2.tenant_id: provider microsoft needs it" in problems(no_ids)
    assert "oauth2.client_id: provider microsoft needs it" in problems(no_ids)


@pytest.mark.parametrize(
    ("scope", "refused"),
    [
        ("", False),  # the default, https://outlook.office365.com/.default
        ("https://outlook.office365.com/.default", False),
        ("https://outlook.office365.us/.default", False),  # a national cloud
        ("https://outlook.office365.com", True),
        ("https://outlook.office365.com/IMAP.AccessAsApp", True),
    ],
)
def test_a_microsoft_scope_must_end_in_default(
    files: dict[str, str], scope: str, refused: bool
) -> None:
    found = problems(settings(imap=XOAUTH2_IMAP, **microsoft(files, scope=scope)))
    wanted = "oauth2.scope: provider microsoft needs a scope ending in /.default"
    assert any(p.startswith(wanted) for p in found) is refused


def test_google_needs_its_key_file(files: dict[str, str]) -> None:
    assert "oauth2.service_account_file: provider google needs it" in problems(
        settings(imap=XOAUTH2_IMAP, provider="google")
    )
    assert "oauth2.service_account_file: /nonexistent/sa.json: not found" in problems(
        settings(imap=XOAUTH2_IMAP, provider="google", service_account_file="/nonexistent/sa.json")
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("", "oauth2.token_command: provider command needs it"),
        ("/nonexistent/helper --user x", "oauth2.token_command: /nonexistent/helper: not found"),
        ("helper 'unclosed", "oauth2.token_command: cannot split it into words"),
    ],
)
def test_the_token_command_must_be_there(command: str, expected: str) -> None:
    found = problems(settings(imap=XOAUTH2_IMAP, provider="command", token_command=command))
    assert any(p.startswith(expected) for p in found), found


def test_an_unknown_provider_names_who_needs_one() -> None:
    found = problems(
        settings(imap=XOAUTH2_IMAP, relay={"url": RELAY_URL, "auth": "xoauth2"}, provider="okta")
    )
    assert (
        "oauth2.provider: imap.auth = xoauth2 and relay.auth = xoauth2 needs microsoft, google "
        "or command, got 'okta'"
    ) in found


def test_the_graph_reader_needs_microsoft_and_sound_folders(files: dict[str, str]) -> None:
    graph = {"mailbox": "missing-reports@council.example"}
    assert problems(settings(graph=graph, **microsoft(files))) == []
    assert "oauth2.provider: graph.mailbox needs provider microsoft" in problems(
        settings(graph=graph, provider="google", service_account_file=files["sa.json"])
    )
    found = problems(
        settings(
            graph={**graph, "failed_folder": "Inbox", "fetch_attempts": 0}, **microsoft(files)
        )
    )
    assert "graph.failed_folder: must differ from graph.folder" in found
    assert "graph.fetch_attempts: must be at least 1, got 0" in found
    same = problems(settings(graph={**graph, "failed_folder": "processed"}, **microsoft(files)))
    assert "graph.failed_folder: must differ from graph.processed_folder" in same
    # Paths of display names: compared level by level, regardless of case and spaces; an empty
    # level is refused.
    paths = {**graph, "folder": "Inbox/Missing reports", "processed_folder": "Done"}
    assert problems(settings(graph=paths, **microsoft(files))) == []
    found = problems(
        settings(
            graph={
                **paths,
                "processed_folder": "inbox / missing reports",
                "failed_folder": "Missing reports//Failed",
            },
            **microsoft(files),
        )
    )
    assert "graph.processed_folder: must differ from graph.folder" in found
    assert (
        "graph.failed_folder: 'Missing reports//Failed' has an empty level; write a path as "
        "'Inbox/Missing reports'"
    ) in found


def test_switching_authority_validation_off_is_warned(files: dict[str, str]) -> None:
    s = settings(imap=XOAUTH2_IMAP, **microsoft(files, validate_authority=False))
    assert any(w.startswith("oauth2.validate_authority is false") for w in tls_warnings(s))
    assert not any(
        w.startswith("oauth2.validate_authority")
        for w in tls_warnings(settings(imap=XOAUTH2_IMAP, **microsoft(files)))
    )
