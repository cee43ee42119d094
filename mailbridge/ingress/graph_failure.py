"""How a failed Microsoft Graph call is told, in one line.

Why a module of its own: the Graph reader (``graph.py``: its log line, ``/healthz`` and the
``graph_state`` row that ``status`` shows) and ``graph check`` (``graph_check.py``) must say the
same thing about the same failure: the error's first line, or for a token the server refused
even fresh, what to fix in the app's permissions (``oauth2.refused_advice``).
"""

from __future__ import annotations

from mailbridge.ops import oauth2


def first_line(exc: BaseException) -> str:
    """The error's first line (its type's name when it has no text)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def describe(exc: BaseException, tokens: oauth2.TokenSource, mailbox: str) -> str:
    """One line for a failed round or check of ``mailbox``."""
    if isinstance(exc, oauth2.TokenRefused):
        return "a fresh token was refused: " + oauth2.refused_advice(tokens, mailbox, "Graph")
    return first_line(exc)
