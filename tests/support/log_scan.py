"""Run a `mailbridge` command in a process of its own at DEBUG, every logger included (MSAL,
urllib3, imapclient, google-auth), and find secrets in what it printed.

A process of its own, so that what is scanned is mailbridge's output alone: the test's OAuth2
server, relay and Dovecot log elsewhere. The forms a token could leak in: itself, its signature
(the last part of a JWT, unique to it), and the base64 of the SASL XOAUTH2 response that carries
it.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from mailbridge.ops import oauth2
from tests.support.serve import base_env


def run_debug(
    config: Path, database_url: str, data_dir: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``mailbridge --config CONFIG --log-level debug ARGS`` on ``database_url``."""
    env = base_env(
        MAILBRIDGE_DATABASE_URL=database_url,
        MAILBRIDGE_DATA_DIR=str(data_dir),
        MAILBRIDGE_ADDRESSES="missing@council.example",
    )
    command = [sys.executable, "-m", "mailbridge", "--config", str(config), "--log-level", "debug"]
    return subprocess.run(
        [*command, *args],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def token_forms(token: str, user: str) -> list[str]:
    """How ``token`` could appear in a log: whole, its JWT signature, inside SASL XOAUTH2."""
    forms = [token, base64.b64encode(oauth2.xoauth2(user, token).encode()).decode()]
    signature = token.rsplit(".", 1)[-1]
    if len(signature) >= 20:
        forms.append(signature)
    return forms


def key_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM private key (any of them in a log is a leak)."""
    body = pem.split("PRIVATE KEY-----", 1)[1].split("-----END", 1)[0]
    return [line for line in body.split() if len(line) >= 40]


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """The secrets (shortened, for the failure message) that occur in ``text``."""
    return [f"{s[:6]}…({len(s)} chars)" for s in secrets if s and s in text]
