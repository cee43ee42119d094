"""Checks on loaded settings that need more than a type: ranges, URL schemes, zones, addresses,
files that must exist and load, and the warnings `check-config` and `serve` print.

Every check appends to one list of problems, each naming its key, so an operator fixes a file in
one pass.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbridge.ops import passwords, tls
from mailbridge.ops.logs import FORMATS, parse_levels
from mailbridge.settings.sections import (
    GraphSettings,
    ImapSettings,
    RelaySettings,
    graph_mailbox,
    is_graph_url,
    redact_url,
)

if TYPE_CHECKING:
    from mailbridge.settings.config import Settings


def validate(settings: Settings) -> list[str]:
    """Checks that need more than a type: ranges, URL schemes, zones, addresses."""
    problems: list[str] = []
    s = settings
    _port(problems, "smtp.port", s.smtp.port)
    if not s.smtp.addresses:
        problems.append("smtp.addresses: at least one address must be accepted for reports")
    for address in s.smtp.addresses:
        local, at, domain = address.partition("@")
        if not (local and at and domain) or any(c.isspace() for c in address):
            problems.append(f"smtp.addresses: {address!r} is not an email address")
    _at_least(problems, *_floors(s))
    _positive(problems, ("smtp.rate_window_seconds", s.smtp.rate_window_seconds))
    problems.extend(_validate_tls(s))
    problems.extend(_validate_oauth2(s))
    for authserv_id in s.trust.authserv_ids:
        if not authserv_id.strip() or any(c.isspace() or c in ";()" for c in authserv_id.strip()):
            problems.append(
                f"trust.authserv_ids: {authserv_id!r} is not an authserv-id (a host name such "
                "as mx.council.example)"
            )
    _positive(problems, ("processing.poll_seconds", s.processing.poll_seconds))
    try:
        ZoneInfo(s.service.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"service.timezone: unknown time zone {s.service.timezone!r}")
    if s.service.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        problems.append(
            "service.log_level: must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
            f"got {s.service.log_level!r}"
        )
    if s.service.log_format not in FORMATS:
        problems.append(f"service.log_format: must be plain or json, got {s.service.log_format!r}")
    problems.extend(f"service.log_levels: {p}" for p in parse_levels(s.service.log_levels)[1])
    _port(problems, "http.port", s.http.port)
    if s.http.enabled and s.http.port == s.smtp.port != 0 and s.http.host == s.smtp.host:
        problems.append(f"http.port: {s.http.port} is the SMTP listener's port")
    problems.extend(_validate_web(s))
    url = s.database_url
    if not (url.startswith("sqlite:///") or url.startswith("postgresql+psycopg://")):
        problems.append(
            "service.database_url: must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, "
            f"got {redact_url(url)!r}"
        )
    if s.relay.url and urlsplit(s.relay.url).scheme not in ("smtp", "smtps", "graph"):
        problems.append(
            f"relay.url: must start smtp://, smtps:// or graph://, got {redact_url(s.relay.url)!r}"
        )
    _positive(problems, *_reconnect_numbers("relay", s.relay))
    if s.relay.from_address and "@" not in s.relay.from_address:
        problems.append(f"relay.from_address: {s.relay.from_address!r} is not an email address")
    _positive(
        problems,
        ("processing.late_mail_hours", s.processing.late_mail_hours),
        ("processing.timer_seconds", s.processing.timer_seconds),
    )
    if s.service.reply_secret_file and not Path(s.service.reply_secret_file).is_file():
        problems.append(f"service.reply_secret_file: {s.service.reply_secret_file} is not a file")
    if s.service.templates_dir and not Path(s.service.templates_dir).is_dir():
        problems.append(f"service.templates_dir: {s.service.templates_dir} is not a directory")
    if (
        s.relay.url
        and not is_graph_url(s.relay.url)
        and not urlsplit(s.relay.url).hostname
    ):
        problems.append(f"relay.url: names no host: {redact_url(s.relay.url)!r}")
    if s.imap.url and urlsplit(s.imap.url).scheme not in ("imap", "imaps"):
        problems.append(f"imap.url: must start imap:// or imaps://, got {redact_url(s.imap.url)!r}")
    if s.imap.url and not urlsplit(s.imap.url).hostname:
        problems.append(f"imap.url: names no host: {redact_url(s.imap.url)!r}")
    if s.imap.password_file and not Path(s.imap.password_file).is_file():
        problems.append(f"imap.password_file: {s.imap.password_file}: not found")
    _positive(problems, *_reader_numbers("imap", s.imap))
    if not 0 < s.imap.idle_seconds < 29 * 60:
        problems.append(
            f"imap.idle_seconds: must be above 0 and below 1740 (29 minutes), "
            f"got {s.imap.idle_seconds}"
        )
    if s.authorities.profiles_dir and not Path(s.authorities.profiles_dir).is_dir():
        problems.append(
            f"authorities.profiles_dir: {s.authorities.profiles_dir} is not a directory"
        )
    if s.retention.days < 30:
        problems.append(
            f"retention.days: must be at least 30 (a case must outlive its alerts), "
            f"got {s.retention.days}"
        )
    if not -1 <= s.retention.hour <= 23:
        problems.append(f"retention.hour: must be 0-23, or -1 for never, got {s.retention.hour}")
    if s.imap.processed_folder.strip() == "":
        problems.append("imap.processed_folder: must name a folder")
    if s.imap.url:
        watched = s.imap.folder or unquote(urlsplit(s.imap.url).path.lstrip("/")) or "INBOX"
        for key, other in (
            ("imap.processed_folder", s.imap.processed_folder),
            ("imap.failed_folder", s.imap.failed_folder),
        ):
            same = other == watched or (other.upper() == watched.upper() == "INBOX")
            if other and same:
                problems.append(f"{key}: must differ from the watched folder {watched!r}")
    for period in s.digest.periods:
        if period not in ("weekly", "monthly"):
            problems.append(f"digest.periods: {period!r} is not weekly or monthly")
    if not 0 <= s.digest.send_hour <= 23:
        problems.append(f"digest.send_hour: must be 0-23, got {s.digest.send_hour}")
    for entry in s.digest.recipients:
        if "@" not in entry and not entry.replace("_", "").isalnum():
            problems.append(f"digest.recipients: {entry!r} is neither a role nor an address")
    return problems


def _port(problems: list[str], key: str, port: int) -> None:
    if not 0 <= port <= 65535:
        problems.append(f"{key}: must be 0-65535, got {port}")


def _positive(problems: list[str], *checks: tuple[str, float]) -> None:
    """``key: must be positive`` for each (key, number) that is not."""
    problems.extend(
        f"{key}: must be positive, got {number}" for key, number in checks if number <= 0
    )


# The least value of each whole-number setting that must have one (0: may be switched off).
_FLOORS: dict[str, int] = {
    "smtp.max_message_size": 1024,
    "smtp.max_recipients": 1,
    "smtp.idle_timeout": 1,
    "smtp.max_commands": 10,
    "smtp.max_connections": 1,
    "smtp.max_connections_per_ip": 1,
    "smtp.max_header_bytes": 1024,
    "smtp.rate_limit_per_sender": 0,
    "smtp.rate_limit_per_ip": 0,
    "processing.max_attempts": 1,
    "processing.lease_seconds": 1,
    "processing.retry_delay_seconds": 0,
    "processing.batch_size": 1,
    "processing.worker_processes": 0,
    "processing.backlog_minutes": 1,
    "relay.max_attempts": 1,
    "relay.batch_size": 1,
    "reading.max_mime_depth": 1,
    "reading.max_parts": 1,
    "reading.max_attachment_bytes": 0,
    "reading.stale_episode_days": 1,
    "imap.batch_size": 1,
    "imap.fetch_attempts": 1,
    "authorities.max_profile_bytes": 1,
    "retention.batch_size": 1,
    "web.session_hours": 1,
    "web.idle_minutes": 1,
}


def _floors(s: Settings) -> list[tuple[str, int, int]]:
    """(key, value, floor) of every setting in ``_FLOORS``."""
    out = []
    for key, low in _FLOORS.items():
        section, name = key.split(".")
        out.append((key, getattr(getattr(s, section), name), low))
    return out


def _at_least(problems: list[str], *checks: tuple[str, int, int]) -> None:
    """``key: must be at least low`` for each (key, value, low) below its floor."""
    problems.extend(
        f"{key}: must be at least {low}, got {value}" for key, value, low in checks if value < low
    )


def _reconnect_numbers(
    section: str, settings: RelaySettings | ImapSettings | GraphSettings
) -> list[tuple[str, float]]:
    """The timeout and reconnect backoff of a section that talks to a server."""
    return [
        (f"{section}.timeout_seconds", settings.timeout_seconds),
        (f"{section}.backoff_seconds", settings.backoff_seconds),
        (f"{section}.max_backoff_seconds", settings.max_backoff_seconds),
    ]


def _reader_numbers(
    section: str, settings: ImapSettings | GraphSettings
) -> list[tuple[str, float]]:
    """A mailbox reader's intervals: polling, timeout, backoff and the standby's lock retry."""
    return [
        (f"{section}.poll_seconds", settings.poll_seconds),
        *_reconnect_numbers(section, settings),
        (f"{section}.lock_retry_seconds", settings.lock_retry_seconds),
    ]


def _validate_web(s: Settings) -> list[str]:
    w = s.web
    problems: list[str] = []
    _port(problems, "web.port", w.port)
    if w.enabled and w.port != 0 and w.host == s.smtp.host and w.port == s.smtp.port:
        problems.append(f"web.port: {w.port} is the SMTP listener's port")
    same_as_http = (w.host, w.port) == (s.http.host, s.http.port)
    if w.enabled and w.port != 0 and s.http.enabled and same_as_http:
        problems.append(f"web.port: {w.port} is the /metrics endpoint's port (http.port)")
    if w.cookie_secure not in ("auto", "always", "never"):
        problems.append(
            f"web.cookie_secure: must be auto, always or never, got {w.cookie_secure!r}"
        )
    if bool(w.oidc_issuer) != bool(w.oidc_client_id):
        problems.append("web.oidc_issuer and web.oidc_client_id: set both, or neither")
    if w.oidc_issuer and urlsplit(w.oidc_issuer).scheme not in ("https", "http"):
        problems.append(f"web.oidc_issuer: must be an https:// URL, got {w.oidc_issuer!r}")
    return problems


def _validate_tls(s: Settings) -> list[str]:
    """Certificates, keys, CA bundles and the auth file: present, readable and loadable."""
    problems: list[str] = []
    cert, key = s.smtp.tls_cert_file, s.smtp.tls_key_file
    if bool(cert) != bool(key):
        problems.append(
            "smtp.tls_cert_file, smtp.tls_key_file: give both (certificate and key) or neither"
        )
    elif cert:
        why = tls.check_server_files(cert, key)
        if why:
            problems.append(f"smtp.tls_cert_file, smtp.tls_key_file: cannot use {cert}: {why}")
    if s.smtp.require_tls and not cert:
        problems.append("smtp.require_tls: needs smtp.tls_cert_file and smtp.tls_key_file")
    if s.smtp.auth_file:
        if not cert:
            problems.append(
                "smtp.auth_file: AUTH is offered only after STARTTLS, so it needs "
                "smtp.tls_cert_file and smtp.tls_key_file"
            )
        try:
            text = Path(s.smtp.auth_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"smtp.auth_file: cannot read {s.smtp.auth_file} ({exc})")
        else:
            users, bad = passwords.parse_auth_file(text)
            problems.extend(f"smtp.auth_file: {s.smtp.auth_file}: {why}" for why in bad)
            if not users and not bad:
                problems.append(f"smtp.auth_file: {s.smtp.auth_file} names no user")
    for key_name, ca_file in (("relay.ca_file", s.relay.ca_file), ("imap.ca_file", s.imap.ca_file)):
        if ca_file:
            why = tls.check_ca_file(ca_file)
            if why:
                problems.append(f"{key_name}: cannot use {ca_file}: {why}")
    return problems


OAUTH2_PROVIDERS = ("microsoft", "google", "command")


def _graph_folders(folder: str, processed: str, failed: str) -> list[str]:
    """The three Graph folders: paths of display names ("Inbox/Missing reports") with no
    empty level, the processed and failed folders apart from the one read and each other."""
    problems = []
    names = {
        "graph.folder": folder,
        "graph.processed_folder": processed,
        "graph.failed_folder": failed,
    }
    for key, name in names.items():
        if name.strip() and any(not part.strip() for part in name.split("/")):
            problems.append(
                f"{key}: {name!r} has an empty level; write a path as 'Inbox/Missing reports'"
            )

    def same(a: str, b: str) -> bool:
        return [p.strip().lower() for p in a.split("/")] == [
            p.strip().lower() for p in b.split("/")
        ]

    if not processed.strip():
        problems.append("graph.processed_folder: must name a folder")
    elif same(processed, folder):
        problems.append("graph.processed_folder: must differ from graph.folder")
    if failed.strip() and same(failed, folder):
        problems.append("graph.failed_folder: must differ from graph.folder")
    elif failed.strip() and same(failed, processed):
        problems.append("graph.failed_folder: must differ from graph.processed_folder")
    return problems


def _validate_graph_send(s: Settings) -> list[str]:
    """relay.url = graph://MAILBOX: Graph sendMail as that mailbox, with a microsoft token."""
    parts = urlsplit(s.relay.url)
    mailbox = graph_mailbox(s.relay.url)
    problems = []
    if "@" not in mailbox or parts.password or parts.port or parts.path.strip("/"):
        problems.append(
            "relay.url: graph:// names the sending mailbox and nothing else "
            f"(graph://missing-reports@council.gov.uk), got {redact_url(s.relay.url)!r}"
        )
    if s.oauth2.provider != "microsoft":
        problems.append("oauth2.provider: relay.url graph:// needs provider microsoft")
    implicit = "" if s.relay.from_address else (s.smtp.addresses or [""])[0]
    if "@" in mailbox and implicit and implicit.lower() != mailbox.lower():
        problems.append(
            f"relay.from_address: Graph sends as {mailbox}, but alerts would be From "
            f"{implicit} (smtp.addresses); set relay.from_address to {mailbox}, or to an "
            "address the mailbox may Send As"
        )
    return problems


def _validate_oauth2(s: Settings) -> list[str]:
    """imap.auth, relay.auth and, when either is xoauth2, the [oauth2] provider's settings."""
    problems: list[str] = []
    users = []
    for key, auth, url in (("imap", s.imap.auth, s.imap.url), ("relay", s.relay.auth, s.relay.url)):
        if auth not in ("password", "xoauth2"):
            problems.append(f"{key}.auth: must be password or xoauth2, got {auth!r}")
            continue
        if auth != "xoauth2" or is_graph_url(url):
            continue
        parts = urlsplit(url)
        if url and not parts.username:
            problems.append(
                f"{key}.url: xoauth2 needs the mailbox user in the URL "
                f"({parts.scheme or 'imap'}://user%40council.example@host/...)"
            )
        if parts.password:
            problems.append(f"{key}.url: with {key}.auth = xoauth2 the URL carries no password")
        users.append(key)
    if s.imap.auth == "xoauth2" and s.imap.password_file:
        problems.append("imap.password_file: not used with imap.auth = xoauth2; remove it")
    graph_send = is_graph_url(s.relay.url)
    if graph_send:
        problems.extend(_validate_graph_send(s))
        users.append("graph_send")
    if (s.graph.mailbox or graph_send) and not s.graph.base_url.startswith(
        ("https://", "http://127.0.0.1", "http://localhost")
    ):
        problems.append(f"graph.base_url: must be https://, got {s.graph.base_url!r}")
    if s.graph.mailbox:
        if "@" not in s.graph.mailbox:
            problems.append(f"graph.mailbox: {s.graph.mailbox!r} is not a mailbox address")
        if s.oauth2.provider != "microsoft":
            problems.append("oauth2.provider: graph.mailbox needs provider microsoft")
        _positive(problems, *_reader_numbers("graph", s.graph))
        _at_least(
            problems,
            ("graph.batch_size", s.graph.batch_size, 1),
            ("graph.fetch_attempts", s.graph.fetch_attempts, 1),
        )
        problems.extend(
            _graph_folders(s.graph.folder, s.graph.processed_folder, s.graph.failed_folder)
        )
        users.append("graph")
    if not users:
        return problems
    o = s.oauth2
    named = {"graph": "graph.mailbox", "graph_send": "relay.url graph://"}
    needs = " and ".join(named.get(u, f"{u}.auth = xoauth2") for u in users)
    if o.provider not in OAUTH2_PROVIDERS:
        problems.append(
            f"oauth2.provider: {needs} needs microsoft, google or command, got {o.provider!r}"
        )
        return problems

    def file_problem(key: str, path: str) -> None:
        if not path:
            problems.append(f"oauth2.{key}: provider {o.provider} needs it")
        elif not Path(path).is_file():
            problems.append(f"oauth2.{key}: {path}: not found")

    if o.provider == "microsoft":
        for key, value in (("tenant_id", o.tenant_id), ("client_id", o.client_id)):
            if not value.strip():
                problems.append(f"oauth2.{key}: provider microsoft needs it")
        if bool(o.client_secret_file) == bool(o.certificate_file):
            problems.append(
                "oauth2.client_secret_file, oauth2.certificate_file: provider microsoft needs "
                "exactly one of them"
            )
        elif o.client_secret_file:
            file_problem("client_secret_file", o.client_secret_file)
        else:
            file_problem("certificate_file", o.certificate_file)
        if o.scope.strip() and not o.scope.strip().endswith("/.default"):
            # Entra ID's client-credentials grant answers AADSTS1002012 to anything else.
            problems.append(
                f"oauth2.scope: provider microsoft needs a scope ending in /.default "
                f"(https://outlook.office365.com/.default, the default when empty), got {o.scope!r}"
            )
    elif o.provider == "google":
        file_problem("service_account_file", o.service_account_file)
    else:
        try:
            argv = shlex.split(o.token_command)
        except ValueError as exc:
            problems.append(f"oauth2.token_command: cannot split it into words ({exc})")
            argv = []
        else:
            if not argv:
                problems.append("oauth2.token_command: provider command needs it")
        if argv and not shutil.which(argv[0]):
            problems.append(f"oauth2.token_command: {argv[0]}: not found or not executable")
    if o.ca_file:
        why = tls.check_ca_file(o.ca_file)
        if why:
            problems.append(f"oauth2.ca_file: cannot use {o.ca_file}: {why}")
    _positive(problems, ("oauth2.timeout_seconds", o.timeout_seconds))
    return problems


def tls_warnings(s: Settings) -> list[str]:
    """Settings that are valid but leave a hop open; `check-config` prints them."""
    warnings: list[str] = []
    if not s.relay.verify_tls:
        warnings.append(tls.insecure_warning("relay.verify_tls", "the relay"))
    if not s.imap.verify_tls:
        warnings.append(tls.insecure_warning("imap.verify_tls", "the IMAP server"))
    if not s.oauth2.validate_authority and "xoauth2" in (s.imap.auth, s.relay.auth):
        warnings.append(
            f"oauth2.validate_authority is false: {s.oauth2.authority} is trusted as a token "
            "issuer without Microsoft's check (test providers only)"
        )
    listener = listener_warning(s)
    if listener:
        warnings.append(listener)
    return warnings


def listener_warning(s: Settings) -> str | None:
    """A listener reachable from the network without STARTTLS; `serve` logs it at start."""
    if s.smtp.tls_cert_file or tls.is_loopback(s.smtp.host):
        return None
    return (
        f"smtp.tls_cert_file is empty: the listener on {s.smtp.host} offers no STARTTLS, "
        "so carers' reports cross the network in clear text"
    )
