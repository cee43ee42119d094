"""The Microsoft Graph HTTP client shared by the Graph reader (ingress) and sender (delivery).

requests with an app-only bearer token from ``ops.oauth2`` (renewed once when refused), the
``Retry-After`` of ``429``/``503``/``504`` waited out up to ``graph.max_retry_after_seconds``, and
Graph's ``{"error": {"code", "message"}}`` turned into one line that names the mailbox and never
a token. ``410`` (a delta link whose sync state is gone) is its own error, so the reader can
start the folder again; so is a folder setting that names no folder of the mailbox
(``FolderNotFound``, raised by ``ingress/graph_folders.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from mailbridge.errors import MailbridgeError
from mailbridge.ops import oauth2
from mailbridge.settings.sections import GraphSettings

log = logging.getLogger(__name__)

_RETRY_STATUSES = (429, 503, 504)
_MAX_RETRIES = 5


class GraphError(MailbridgeError):
    """Graph answered with an error, or could not be reached; the message names the mailbox."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class SyncStateGone(GraphError):
    """410 Gone: the delta link is no longer valid (the reader reads the folder again)."""


class FolderNotFound(GraphError):
    """A folder named in graph.folder, graph.processed_folder or graph.failed_folder is not in
    the mailbox; the message names the setting, the mailbox and the level that is missing.
    ``parent_found``: every level above the missing one exists (a folder the reader may create).
    """

    def __init__(self, message: str, *, parent_found: bool = False) -> None:
        super().__init__(message, 404)
        self.parent_found = parent_found


class GraphClient:
    """requests with a bearer token, Retry-After waits and one renewal of a refused token."""

    def __init__(
        self,
        settings: GraphSettings,
        tokens: oauth2.TokenSource,
        *,
        ca_file: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.base = settings.base_url.rstrip("/")
        self.session = oauth2.http_session(ca_file, settings.timeout_seconds)
        self.sleep = sleep
        self.waited = 0.0  # seconds spent in Retry-After waits (tests, logs)

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}{path}"

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        content_type: str = "",
    ) -> Any:
        """One call, JSON ``body`` or ``raw`` bytes; Retry-After waited out, 4xx/5xx raised."""
        url = self.url(path)
        for _attempt in range(_MAX_RETRIES):
            response = self.tokens.call(
                self.settings.mailbox,
                lambda token: self._send(
                    method, url, token, body, raw=raw, content_type=content_type
                ),
            )
            if response.status_code in _RETRY_STATUSES:
                wait = _retry_after(response)
                if wait > self.settings.max_retry_after_seconds:
                    break
                log.info(
                    "Microsoft Graph answered %d for %s; waiting %g s (Retry-After)",
                    response.status_code,
                    self.settings.mailbox,
                    wait,
                )
                self.waited += wait
                self.sleep(wait)
                continue
            if response.status_code == 410:
                raise SyncStateGone(
                    f"Microsoft Graph for mailbox {self.settings.mailbox}: 410 sync state gone", 410
                )
            if response.status_code >= 400:
                raise GraphError(
                    f"Microsoft Graph {method} for mailbox {self.settings.mailbox}: "
                    f"{response.status_code} {error_text(response)}",
                    response.status_code,
                )
            return response
        raise GraphError(
            f"Microsoft Graph for mailbox {self.settings.mailbox} keeps answering "
            f"{response.status_code} (throttled); trying again later"
        )

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        body: dict[str, Any] | None,
        *,
        raw: bytes | None,
        content_type: str,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if raw is not None:
            headers["Content-Type"] = content_type
        try:
            response = self.session.request(
                method, url, json=body if raw is None else None, data=raw, headers=headers
            )
        except requests.RequestException as exc:
            raise GraphError(
                f"cannot reach Microsoft Graph for mailbox {self.settings.mailbox}: "
                f"{type(exc).__name__}"
            ) from exc
        if response.status_code == 401:
            raise oauth2.TokenRefused(error_text(response))
        return response

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = self.request(method, path, body).json()
        if not isinstance(data, dict):
            raise GraphError(f"Microsoft Graph for {self.settings.mailbox}: not a JSON object")
        return data


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "5")))
    except ValueError:
        return 5.0


def error_text(response: requests.Response) -> str:
    """Graph's ``{"error": {"code", "message"}}`` as one short line; never a token."""
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '')}: {str(error.get('message', ''))[:200]}".strip(": ")
    except (ValueError, AttributeError):
        return response.reason or ""
