"""Typed settings from TOML plus the environment overrides of the public contract.

Every problem is collected and reported by key, so an operator fixes a file in one pass
instead of one traceback at a time.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import shutil
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbridge.errors import ConfigError
from mailbridge.ops import passwords, tls
from mailbridge.ops.logs import FORMATS, parse_levels
from mailbridge.resources import resource_path
from mailbridge.routing.authorities import Authorities, load_authorities
from mailbridge.routing.loading import load_routing
from mailbridge.routing.rules import Routing

ENV_PREFIX = "MAILBRIDGE_"
DEFAULT_CONFIG = Path("config/mailbridge.toml")
DEFAULT_ROUTING = Path("config/routing.yaml")
DEFAULT_AUTHORITIES = Path("config/authorities.yaml")


@dataclass(frozen=True)
class ServiceSettings:
    data_dir: str = "var"
    database_url: str = ""
    timezone: str = "Europe/London"
    log_level: str = "INFO"
    # "plain" (time level logger [msg N REF]: text) or "json" (one object a line).
    log_format: str = "plain"
    # Per-logger levels beside log_level, e.g. ["mailbridge.ingress.imap=DEBUG"].
    log_levels: list[str] = field(default_factory=list)
    # A directory whose templates override the packaged ones (alerts/<event>.*); empty: none.
    templates_dir: str = ""
    # The key signing alert Reply-To tokens; empty: DATA_DIR/reply-secret, made on first use.
    reply_secret_file: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 8025
    addresses: list[str] = field(default_factory=lambda: ["missing@localhost"])
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 50
    idle_timeout: int = 300
    max_commands: int = 200
    # STARTTLS: PEM certificate chain and key; both or neither (docs/tls.md).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Refuse MAIL with 530 until the client has done STARTTLS.
    require_tls: bool = False
    # user:HASH lines for SMTP AUTH (offered only after STARTTLS); empty: no AUTH.
    auth_file: str = ""
    # Open connections, in total and from one IP address; more get 421 and are closed.
    max_connections: int = 100
    max_connections_per_ip: int = 20
    # A message whose header block is larger gets 552 5.3.4 and is not stored.
    max_header_bytes: int = 256 * 1024
    # Messages per MAIL FROM address and per client IP in a sliding window; excess gets 451 4.7.1.
    # 0 turns a limit off. A sender with nothing in its window always passes.
    rate_limit_per_sender: int = 30
    rate_limit_per_ip: int = 120
    rate_window_seconds: float = 3600.0
    # 5xx refusals of mail to our own domain (a misspelt or unlisted address) in one clock hour
    # from which the duty desk is told, once that hour; 0: never.
    refusal_alert_threshold: int = 10


@dataclass(frozen=True)
class ProcessingSettings:
    max_attempts: int = 3
    lease_seconds: int = 60
    retry_delay_seconds: int = 10
    batch_size: int = 10
    poll_seconds: float = 2.0
    # How often the scheduler looks for due escalations and reminders.
    timer_seconds: float = 15.0
    # Mail received this many hours or more after its Date (an IMAP backfill, a replayed
    # archive) is late: recorded, no receipt to the carer, and its alerts say how late.
    late_mail_hours: float = 24.0
    # Not-a-report mail from unknown senders goes to the triage list and to one summary for the
    # duty desk every this many minutes; 0: an alert for each message, at once.
    triage_summary_minutes: int = 60
    # `serve` reads and renders in this many worker processes, off the listener's
    # interpreter (issue 18); 0: one worker thread in serve's own process, as before.
    worker_processes: int = 1
    # Mail whose Date is this many minutes or more before its arrival goes in the backlog
    # lane (3), after known carers (1) and other new mail (2).
    backlog_minutes: int = 60


@dataclass(frozen=True)
class RelaySettings:
    # smtp://[user[:pass]@]host:port (smtps:// or ?starttls=1 for TLS); empty: .eml files.
    url: str = ""
    # password (the one in the URL, if any) or xoauth2 (a token from [oauth2] for the URL's user).
    auth: str = "password"
    # From: of alerts and receipts; empty means the first of smtp.addresses.
    from_address: str = ""
    verify_tls: bool = True
    # A PEM bundle of extra CAs (a private CA) trusted besides the system's; empty: none.
    ca_file: str = ""
    timeout_seconds: float = 30.0
    max_attempts: int = 12
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    batch_size: int = 50


@dataclass(frozen=True)
class ImapSettings:
    # imap://user:pass@host[:port]/FOLDER (STARTTLS when offered) or imaps://...; empty: no watcher.
    url: str = ""
    # password (imap.password_file or the URL's) or xoauth2 (a token from [oauth2] for the URL's
    # user; the URL then carries no password).
    auth: str = "password"
    # A file holding the password (first line); overrides a password in the URL.
    password_file: str = ""
    # The folder to watch; empty: the URL's path, else INBOX.
    folder: str = ""
    # Where stored messages are moved (created if absent).
    processed_folder: str = "Processed"
    # Where a message the server cannot deliver whole is moved; empty: it stays where it is.
    failed_folder: str = ""
    # Polling interval when the server has no IDLE.
    poll_seconds: float = 30.0
    # IDLE is re-issued after this long; servers may drop an IDLE after 29 minutes (RFC 2177).
    idle_seconds: float = 25 * 60
    # UIDs fetched (BODY.PEEK[]) and committed per round trip (and at most 32 MB of mail).
    batch_size: int = 200
    # Check the server's certificate and name; false is for test servers only.
    verify_tls: bool = True
    # A PEM bundle of extra CAs (a private CA) trusted besides the system's; empty: none.
    ca_file: str = ""
    timeout_seconds: float = 60.0
    # Reconnect backoff: doubles from backoff_seconds up to max_backoff_seconds.
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    # Fetches of a message the server cannot deliver whole before it is set aside.
    fetch_attempts: int = 3
    # How often a standby instance (PostgreSQL) tries for the mailbox's advisory lock.
    lock_retry_seconds: float = 5.0


@dataclass(frozen=True)
class GraphSettings:
    """The Microsoft Graph reader, for tenants where IMAP is switched off (docs/m365.md)."""

    # The mailbox (user principal name) read through Graph; empty: no Graph reader. Its token
    # comes from [oauth2] (provider microsoft, application permission Mail.ReadWrite).
    mailbox: str = ""
    # A well-known folder name (inbox) or the display name of a top-level folder.
    folder: str = "inbox"
    # Stored messages are moved here (a top-level folder, created if absent).
    processed_folder: str = "Processed"
    base_url: str = "https://graph.microsoft.com/v1.0"
    # Delta rounds this often (a round also follows each stored batch at once).
    poll_seconds: float = 30.0
    # Messages fetched ($value) and committed per transaction.
    batch_size: int = 25
    # Longest Retry-After (429, 503) waited out before the round is given up and retried later.
    max_retry_after_seconds: float = 120.0
    timeout_seconds: float = 60.0
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    # How often a standby instance (PostgreSQL) tries for the mailbox's advisory lock.
    lock_retry_seconds: float = 5.0


@dataclass(frozen=True)
class OAuth2Settings:
    """Where OAuth2 access tokens come from when imap.auth or relay.auth is xoauth2."""

    # microsoft (Entra ID app, client credentials), google (service account with domain-wide
    # delegation) or command (a program that prints a token).
    provider: str = ""
    # microsoft: the Directory (tenant) ID and the Application (client) ID.
    tenant_id: str = ""
    client_id: str = ""
    # microsoft: a file with the client secret's value, or a PEM file with the certificate and
    # its private key (one of the two).
    client_secret_file: str = ""
    certificate_file: str = ""
    # google: the service account's JSON key file.
    service_account_file: str = ""
    # command: run without a shell; the token is the first line of its stdout (or JSON with
    # access_token and expires_in). MAILBRIDGE_OAUTH2_USER names the mailbox.
    token_command: str = ""
    # microsoft: the sign-in host; another only for a national cloud (or a test provider).
    authority: str = "https://login.microsoftonline.com"
    # false only for a test provider that is not Microsoft's: MSAL then trusts the authority.
    validate_authority: bool = True
    # empty: https://outlook.office365.com/.default (microsoft), https://mail.google.com/ (google).
    scope: str = ""
    # A PEM bundle of extra CAs for the token endpoint (a TLS-inspecting proxy); empty: none.
    ca_file: str = ""
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class HttpSettings:
    # /metrics (Prometheus) and /healthz for `serve`; off unless asked for.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9025


@dataclass(frozen=True)
class WebSettings:
    # The staff web app (docs/web.md) inside `serve`; off unless asked for.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    # A session ends this many hours after sign-in, or after this many idle minutes.
    session_hours: int = 12
    idle_minutes: int = 60
    # Secure flag on cookies: "auto" (when the request came over https), "always" or "never".
    cookie_secure: str = "auto"
    # Proxies trusted for X-Forwarded-For/-Proto (comma-separated IPs); empty: none.
    forwarded_allow_ips: str = ""
    # OpenID Connect (Microsoft Entra ID or any provider); off while issuer or client_id is empty.
    # Entra ID: https://login.microsoftonline.com/TENANT/v2.0
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_label: str = "Sign in with your organisation account"
    # The claim matched to an account's username when no account has the email claim's address.
    oidc_username_claim: str = "preferred_username"


@dataclass(frozen=True)
class RoutingSettings:
    # Empty: config/routing.yaml in the start directory, else the packaged copy.
    file: str = ""


@dataclass(frozen=True)
class AuthoritiesSettings:
    # Who is told of a child placed in another council's area (docs/out-of-area.md). Empty:
    # config/authorities.yaml in the start directory if it is there, else no authorities.
    file: str = ""
    # Where relative profile_file paths of the directory are read from; empty: the start
    # directory.
    profiles_dir: str = ""
    # Largest Philomena profile attached to a police alert, in bytes; a larger one is not
    # attached and the alert says so.
    max_profile_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class RetentionSettings:
    # Raw mail and free-text details older than this many days are purged; the facts stay.
    days: int = 365
    # `serve` runs the purge daily at this hour (0-23) in service.timezone; -1: never (CLI only).
    hour: int = 3
    # Rows purged per transaction, so a first run over years of data never holds a long lock.
    batch_size: int = 500


@dataclass(frozen=True)
class DigestSettings:
    # Which digests are sent: "weekly" (Monday to Sunday) and/or "monthly"; empty: none.
    periods: list[str] = field(default_factory=lambda: ["weekly", "monthly"])
    # Roles from the routing file's roles: section, "team_manager" (every team manager on
    # record in the directory), or email addresses.
    recipients: list[str] = field(default_factory=lambda: ["apprentice", "team_manager"])
    # Local hour (service.timezone) from which the digest of a finished period is sent.
    send_hour: int = 7


@dataclass(frozen=True)
class TrustSettings:
    # authserv-ids of the upstream MTA(s) whose Authentication-Results headers we believe;
    # empty: no such header is believed (docs/trust.md).
    authserv_ids: list[str] = field(default_factory=list)
    # Verify DKIM signatures here as well (DNS lookups from this host).
    dkim_verify: bool = False


@dataclass(frozen=True)
class ReadingSettings:
    # MIME nesting followed; deeper parts are not read (the raw mail is kept whole).
    max_mime_depth: int = 20
    # MIME parts read per message; the rest are not read.
    max_parts: int = 500
    # Largest attachment decoded (to measure it); larger ones are listed, never decoded.
    max_attachment_bytes: int = 25 * 1024 * 1024
    # An episode open longer than this is stale: a new report about the child opens a new
    # episode (MISSING alerts again) and staff are told the old one was still open (issue 13).
    stale_episode_days: int = 7


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    oauth2: OAuth2Settings = field(default_factory=OAuth2Settings)
    graph: GraphSettings = field(default_factory=GraphSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    authorities: AuthoritiesSettings = field(default_factory=AuthoritiesSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    web: WebSettings = field(default_factory=WebSettings)
    trust: TrustSettings = field(default_factory=TrustSettings)
    reading: ReadingSettings = field(default_factory=ReadingSettings)
    source: str = "built-in defaults"

    @property
    def data_dir(self) -> Path:
        return Path(self.service.data_dir)

    @property
    def database_url(self) -> str:
        if self.service.database_url:
            return normalise_database_url(self.service.database_url)
        return f"sqlite:///{self.data_dir / 'mailbridge.db'}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.service.timezone)

    @property
    def from_address(self) -> str:
        return self.relay.from_address or self.smtp.addresses[0]

    def accepts(self, address: str) -> bool:
        return accepts_address(self.smtp.addresses, address)


def base_address(address: str) -> str:
    """``missing+a42.tag@x`` -> ``missing@x``: replies to alerts come back plus-addressed."""
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}{at}{domain}"


def accepts_address(addresses: Sequence[str], address: str) -> bool:
    """One of our addresses, with or without a +tag (the tag is checked when it is read)."""
    return base_address(address) in {a.lower() for a in addresses}


# Environment variable -> (section, key). The contract in DESIGN.md names these.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("service", "database_url"),
    "DATA_DIR": ("service", "data_dir"),
    "SMTP_HOST": ("smtp", "host"),
    "SMTP_PORT": ("smtp", "port"),
    "ADDRESSES": ("smtp", "addresses"),
    "RELAY_URL": ("relay", "url"),
    "IMAP_URL": ("imap", "url"),
    "LOG_FORMAT": ("service", "log_format"),
    "HTTP_ENABLED": ("http", "enabled"),
    "HTTP_HOST": ("http", "host"),
    "HTTP_PORT": ("http", "port"),
    "WEB_ENABLED": ("web", "enabled"),
    "WEB_HOST": ("web", "host"),
    "WEB_PORT": ("web", "port"),
    "WEB_OIDC_CLIENT_SECRET": ("web", "oidc_client_secret"),
}

_SECTIONS: dict[str, type[Any]] = {
    "service": ServiceSettings,
    "smtp": SmtpSettings,
    "processing": ProcessingSettings,
    "relay": RelaySettings,
    "imap": ImapSettings,
    "oauth2": OAuth2Settings,
    "graph": GraphSettings,
    "routing": RoutingSettings,
    "authorities": AuthoritiesSettings,
    "retention": RetentionSettings,
    "digest": DigestSettings,
    "http": HttpSettings,
    "web": WebSettings,
    "trust": TrustSettings,
    "reading": ReadingSettings,
}


def normalise_database_url(url: str) -> str:
    """Plain ``postgresql://`` means psycopg 3 here; SQLAlchemy would otherwise pick psycopg2."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def config_path(explicit: str | None, environ: Mapping[str, str]) -> tuple[Path | None, bool]:
    """Which file to read, and whether the operator asked for it (so absence is an error)."""
    if explicit:
        return Path(explicit), True
    if environ.get(ENV_PREFIX + "CONFIG"):
        return Path(environ[ENV_PREFIX + "CONFIG"]), True
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG, False
    packaged = resource_path("config") / "mailbridge.toml"
    return (packaged if packaged.is_file() else None), False


def routing_path(settings: Settings) -> tuple[Path | None, bool]:
    """Which routing file to read, and whether the operator named it (so absence is an error)."""
    if settings.routing.file:
        return Path(settings.routing.file), True
    if DEFAULT_ROUTING.is_file():
        return DEFAULT_ROUTING, False
    packaged = resource_path("config") / "routing.yaml"
    return (packaged if packaged.is_file() else None), False


def load_routing_file(settings: Settings) -> Routing:
    """Read and validate the routing rules (with the authorities file); raise ConfigError
    naming every key at fault."""
    path, _ = routing_path(settings)
    if path is None:
        raise ConfigError(
            [f"routing.file: no routing rules found ({DEFAULT_ROUTING} nor the packaged copy)"]
        )
    authorities, _ = authorities_path(settings)
    return _load_routing_cached(
        str(path),
        _stamp("routing.file", path),
        str(authorities) if authorities else None,
        _stamp("authorities.file", authorities) if authorities else None,
        settings.service.timezone,
    )


def _stamp(key: str, path: Path) -> tuple[int, int]:
    """A file's modification time and size: part of the cache key, so an edit is read again."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ConfigError([f"{key}: {path}: not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{key}: {path}: cannot read ({exc})"]) from exc
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=8)
def _load_routing_cached(
    path: str,
    _stamp: tuple[int, int],
    authorities: str | None,
    _authorities_stamp: tuple[int, int] | None,
    timezone: str,
) -> Routing:
    """Parse the routing and authorities files once per process: the worker, the timers and
    the sender share one ``Routing`` until a file changes. A file that fails to parse is not
    cached (the error is raised again)."""
    routing = load_routing(
        read_config_text("routing.file", Path(path)), source=path, default_timezone=timezone
    )
    if authorities is None:
        found = Authorities(source=f"no authorities file ({DEFAULT_AUTHORITIES} not found)")
    else:
        found = load_authorities(
            read_config_text("authorities.file", Path(authorities)), source=authorities
        )
    return dataclasses.replace(routing, authorities=found)


def authorities_path(settings: Settings) -> tuple[Path | None, bool]:
    """Which authorities file to read, and whether the operator named it. There is no packaged
    fallback: the shipped example names made-up councils, never to be written to."""
    if settings.authorities.file:
        return Path(settings.authorities.file), True
    if DEFAULT_AUTHORITIES.is_file():
        return DEFAULT_AUTHORITIES, False
    return None, False


def load_authorities_file(settings: Settings) -> Authorities:
    """Read and validate the authorities file; none at the default place means none at all."""
    path, _ = authorities_path(settings)
    if path is None:
        return Authorities(source=f"no authorities file ({DEFAULT_AUTHORITIES} not found)")
    return load_authorities(read_config_text("authorities.file", path), source=str(path))


def read_config_text(key: str, path: Path) -> str:
    """A configuration file's text; a file that is absent or unreadable is named by its key."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{key}: {path}: not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{key}: {path}: cannot read ({exc})"]) from exc


def load_settings(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, override and validate; raise ConfigError naming every bad key."""
    env = os.environ if environ is None else environ
    path, required = config_path(explicit, env)
    problems: list[str] = []
    raw: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            source = str(path)
        except FileNotFoundError:
            if required:
                problems.append(f"config file {path}: not found")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"config file {path}: cannot read ({exc})")
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"config file {path}: not valid TOML ({exc})")

    origins: dict[tuple[str, str], str] = {}
    for var, (section, key) in ENV_OVERRIDES.items():
        value = env.get(ENV_PREFIX + var)
        if value is None or value == "":
            continue
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            continue
        target[key] = _split_list(value) if key == "addresses" else value
        origins[(section, key)] = ENV_PREFIX + var

    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            problems.append(f"{name}: unknown section (known: {', '.join(_SECTIONS)})")
        elif not isinstance(value, dict):
            problems.append(f"{name}: must be a table, got {type(value).__name__}")
    for name, cls in _SECTIONS.items():
        given = raw.get(name, {})
        sections[name] = _build(
            cls, name, given if isinstance(given, dict) else {}, origins, problems
        )
    settings = Settings(source=source, **sections)
    problems.extend(validate(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _build(
    cls: type[Any],
    section: str,
    given: dict[str, Any],
    origins: dict[tuple[str, str], str],
    problems: list[str],
) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in given:
        if key not in known:
            problems.append(f"{section}.{key}: unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in given:
            continue
        label = f"{section}.{f.name}"
        origin = origins.get((section, f.name))
        if origin:
            label += f" (from {origin})"
        coerced = _coerce(given[f.name], hints[f.name], label, problems)
        if coerced is not None:
            values[f.name] = coerced
    return cls(**values)


def _coerce(value: Any, hint: Any, label: str, problems: list[str]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (list, types.GenericAlias) or hint is list or origin is list:
        if isinstance(value, str):
            value = _split_list(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        problems.append(f"{label}: must be a list of strings, got {value!r}")
        return None
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        problems.append(f"{label}: must be true or false, got {value!r}")
        return None
    if hint is int:
        if isinstance(value, bool):
            problems.append(f"{label}: must be an integer, got {value!r}")
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            problems.append(f"{label}: must be an integer, got {value!r}")
            return None
    if hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            problems.append(f"{label}: must be a number, got {value!r}")
            return None
    if isinstance(value, str):
        return value
    problems.append(f"{label}: must be a string, got {value!r}")
    return None


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
    _at_least(
        problems,
        ("smtp.max_message_size", s.smtp.max_message_size, 1024),
        ("smtp.max_recipients", s.smtp.max_recipients, 1),
        ("smtp.idle_timeout", s.smtp.idle_timeout, 1),
        ("smtp.max_commands", s.smtp.max_commands, 10),
        ("smtp.max_connections", s.smtp.max_connections, 1),
        ("smtp.max_connections_per_ip", s.smtp.max_connections_per_ip, 1),
        ("smtp.max_header_bytes", s.smtp.max_header_bytes, 1024),
        ("smtp.rate_limit_per_sender", s.smtp.rate_limit_per_sender, 0),
        ("smtp.rate_limit_per_ip", s.smtp.rate_limit_per_ip, 0),
        ("processing.max_attempts", s.processing.max_attempts, 1),
        ("processing.lease_seconds", s.processing.lease_seconds, 1),
        ("processing.retry_delay_seconds", s.processing.retry_delay_seconds, 0),
        ("processing.batch_size", s.processing.batch_size, 1),
        ("processing.worker_processes", s.processing.worker_processes, 0),
        ("processing.backlog_minutes", s.processing.backlog_minutes, 1),
        ("relay.max_attempts", s.relay.max_attempts, 1),
        ("relay.batch_size", s.relay.batch_size, 1),
    )
    _positive(problems, ("smtp.rate_window_seconds", s.smtp.rate_window_seconds))
    problems.extend(_validate_tls(s))
    problems.extend(_validate_oauth2(s))
    _at_least(
        problems,
        ("reading.max_mime_depth", s.reading.max_mime_depth, 1),
        ("reading.max_parts", s.reading.max_parts, 1),
        ("reading.max_attachment_bytes", s.reading.max_attachment_bytes, 0),
        ("reading.stale_episode_days", s.reading.stale_episode_days, 1),
    )
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
    _at_least(
        problems,
        ("imap.batch_size", s.imap.batch_size, 1),
        ("imap.fetch_attempts", s.imap.fetch_attempts, 1),
    )
    if s.authorities.profiles_dir and not Path(s.authorities.profiles_dir).is_dir():
        problems.append(
            f"authorities.profiles_dir: {s.authorities.profiles_dir} is not a directory"
        )
    _at_least(problems, ("authorities.max_profile_bytes", s.authorities.max_profile_bytes, 1))
    if s.retention.days < 30:
        problems.append(
            f"retention.days: must be at least 30 (a case must outlive its alerts), "
            f"got {s.retention.days}"
        )
    if not -1 <= s.retention.hour <= 23:
        problems.append(f"retention.hour: must be 0-23, or -1 for never, got {s.retention.hour}")
    _at_least(problems, ("retention.batch_size", s.retention.batch_size, 1))
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
    _at_least(
        problems,
        ("web.session_hours", w.session_hours, 1),
        ("web.idle_minutes", w.idle_minutes, 1),
    )
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


def is_graph_url(url: str) -> bool:
    """``relay.url = graph://mailbox@domain``: alerts go through Microsoft Graph, not SMTP."""
    return urlsplit(url).scheme == "graph"


def graph_mailbox(url: str) -> str:
    """The sending mailbox of ``relay.url = graph://user@domain``; empty when it names none."""
    parts = urlsplit(url)
    return f"{unquote(parts.username)}@{parts.hostname}" if parts.username else ""


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
        _at_least(problems, ("graph.batch_size", s.graph.batch_size, 1))
        if not s.graph.processed_folder.strip():
            problems.append("graph.processed_folder: must name a folder")
        elif s.graph.processed_folder.lower() == s.graph.folder.lower():
            problems.append("graph.processed_folder: must differ from graph.folder")
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


def redact_url(url: str) -> str:
    """Never echo a password back into a terminal or a log."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
