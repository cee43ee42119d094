"""Reading an OAuth2 secret file: a client secret, a certificate with its key, or a service
account's key.

Why a module of its own: the Microsoft and Google providers (``oauth2_microsoft.py``,
``oauth2_google.py``) both read their secret from a file named in the [oauth2] settings, and
both must fail the same way: one line that names the setting and the path, and says what is
wrong with the file, never a byte of what it holds.
"""

from __future__ import annotations

from pathlib import Path

from mailbridge.ops.oauth2 import OAuth2Error


def read_secret(path: str, setting: str) -> str:
    """The text of the file at ``path`` (named by ``oauth2.<setting>``); OAuth2Error in one line
    when it cannot be read or is empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OAuth2Error(f"oauth2.{setting} {path}: cannot read ({type(exc).__name__})") from exc
    if not text.strip():
        raise OAuth2Error(f"oauth2.{setting} {path}: the file is empty")
    return text
