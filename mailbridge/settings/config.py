"""Typed settings from TOML plus the environment overrides of the public contract.

Every problem is collected and reported by key, so an operator fixes a file in one pass
instead of one traceback at a time.
"""

from __future__ import annotations

import dataclasses
import os
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
from mailbridge.routing.rules import Routing, load_routing

ENV_PREFIX = "MAILBRIDGE_"
DEFAULT_CONFIG = Path("config/mailbridge.toml")
DEFAULT_ROUTING = Path("config/routing.yaml")


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
    # Not-a-report mail from unknown senders goes to the triage list and to one summary for the
    # duty desk every this many minutes; 0: an alert for each message, at once.
    triage_summary_minutes: int = 60


@dataclass(frozen=True)
class RelaySettings:
    url: str = ""
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
class HttpSettings:
    # /metrics (Prometheus) and /healthz for `serve`; off unless asked for.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9025


@dataclass(frozen=True)
class RoutingSettings:
    # Empty: config/routing.yaml in the start directory, else the packaged copy.
    file: str = ""


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


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
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
}

_SECTIONS: dict[str, type[Any]] = {
    "service": ServiceSettings,
    "smtp": SmtpSettings,
    "processing": ProcessingSettings,
    "relay": RelaySettings,
    "imap": ImapSettings,
    "routing": RoutingSettings,
    "retention": RetentionSettings,
    "digest": DigestSettings,
    "http": HttpSettings,
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
    """Read and validate the routing rules; raise ConfigError naming every key at fault."""
    path, _ = routing_path(settings)
    if path is None:
        raise ConfigError(
            [f"routing.file: no routing rules found ({DEFAULT_ROUTING} nor the packaged copy)"]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"routing.file: {path}: not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"routing.file: {path}: cannot read ({exc})"]) from exc
    return load_routing(text, source=str(path), default_timezone=settings.service.timezone)


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
    if not 0 <= s.smtp.port <= 65535:
        problems.append(f"smtp.port: must be 0-65535, got {s.smtp.port}")
    if not s.smtp.addresses:
        problems.append("smtp.addresses: at least one address must be accepted for reports")
    for address in s.smtp.addresses:
        local, at, domain = address.partition("@")
        if not (local and at and domain) or any(c.isspace() for c in address):
            problems.append(f"smtp.addresses: {address!r} is not an email address")
    for key, value, low in (
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
        ("relay.max_attempts", s.relay.max_attempts, 1),
        ("relay.batch_size", s.relay.batch_size, 1),
    ):
        if value < low:
            problems.append(f"{key}: must be at least {low}, got {value}")
    if s.smtp.rate_window_seconds <= 0:
        problems.append(
            f"smtp.rate_window_seconds: must be positive, got {s.smtp.rate_window_seconds}"
        )
    problems.extend(_validate_tls(s))
    for key, value, low in (
        ("reading.max_mime_depth", s.reading.max_mime_depth, 1),
        ("reading.max_parts", s.reading.max_parts, 1),
        ("reading.max_attachment_bytes", s.reading.max_attachment_bytes, 0),
    ):
        if value < low:
            problems.append(f"{key}: must be at least {low}, got {value}")
    for authserv_id in s.trust.authserv_ids:
        if not authserv_id.strip() or any(c.isspace() or c in ";()" for c in authserv_id.strip()):
            problems.append(
                f"trust.authserv_ids: {authserv_id!r} is not an authserv-id (a host name such "
                "as mx.council.example)"
            )
    if s.processing.poll_seconds <= 0:
        problems.append(
            f"processing.poll_seconds: must be positive, got {s.processing.poll_seconds}"
        )
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
    if not 0 <= s.http.port <= 65535:
        problems.append(f"http.port: must be 0-65535, got {s.http.port}")
    if s.http.enabled and s.http.port == s.smtp.port != 0 and s.http.host == s.smtp.host:
        problems.append(f"http.port: {s.http.port} is the SMTP listener's port")
    url = s.database_url
    if not (url.startswith("sqlite:///") or url.startswith("postgresql+psycopg://")):
        problems.append(
            "service.database_url: must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, "
            f"got {redact_url(url)!r}"
        )
    if s.relay.url and urlsplit(s.relay.url).scheme not in ("smtp", "smtps"):
        problems.append(
            f"relay.url: must start smtp:// or smtps://, got {redact_url(s.relay.url)!r}"
        )
    for key, number in (
        ("relay.timeout_seconds", s.relay.timeout_seconds),
        ("relay.backoff_seconds", s.relay.backoff_seconds),
        ("relay.max_backoff_seconds", s.relay.max_backoff_seconds),
    ):
        if number <= 0:
            problems.append(f"{key}: must be positive, got {number}")
    if s.relay.from_address and "@" not in s.relay.from_address:
        problems.append(f"relay.from_address: {s.relay.from_address!r} is not an email address")
    if s.processing.timer_seconds <= 0:
        problems.append(
            f"processing.timer_seconds: must be positive, got {s.processing.timer_seconds}"
        )
    if s.service.reply_secret_file and not Path(s.service.reply_secret_file).is_file():
        problems.append(f"service.reply_secret_file: {s.service.reply_secret_file} is not a file")
    if s.service.templates_dir and not Path(s.service.templates_dir).is_dir():
        problems.append(f"service.templates_dir: {s.service.templates_dir} is not a directory")
    if s.relay.url and not urlsplit(s.relay.url).hostname:
        problems.append(f"relay.url: names no host: {redact_url(s.relay.url)!r}")
    if s.imap.url and urlsplit(s.imap.url).scheme not in ("imap", "imaps"):
        problems.append(f"imap.url: must start imap:// or imaps://, got {redact_url(s.imap.url)!r}")
    if s.imap.url and not urlsplit(s.imap.url).hostname:
        problems.append(f"imap.url: names no host: {redact_url(s.imap.url)!r}")
    if s.imap.password_file and not Path(s.imap.password_file).is_file():
        problems.append(f"imap.password_file: {s.imap.password_file}: not found")
    for key, number in (
        ("imap.poll_seconds", s.imap.poll_seconds),
        ("imap.timeout_seconds", s.imap.timeout_seconds),
        ("imap.backoff_seconds", s.imap.backoff_seconds),
        ("imap.max_backoff_seconds", s.imap.max_backoff_seconds),
        ("imap.lock_retry_seconds", s.imap.lock_retry_seconds),
    ):
        if number <= 0:
            problems.append(f"{key}: must be positive, got {number}")
    if not 0 < s.imap.idle_seconds < 29 * 60:
        problems.append(
            f"imap.idle_seconds: must be above 0 and below 1740 (29 minutes), "
            f"got {s.imap.idle_seconds}"
        )
    for key, value in (
        ("imap.batch_size", s.imap.batch_size),
        ("imap.fetch_attempts", s.imap.fetch_attempts),
    ):
        if value < 1:
            problems.append(f"{key}: must be at least 1, got {value}")
    if s.retention.days < 30:
        problems.append(
            f"retention.days: must be at least 30 (a case must outlive its alerts), "
            f"got {s.retention.days}"
        )
    if not -1 <= s.retention.hour <= 23:
        problems.append(f"retention.hour: must be 0-23, or -1 for never, got {s.retention.hour}")
    if s.retention.batch_size < 1:
        problems.append(f"retention.batch_size: must be at least 1, got {s.retention.batch_size}")
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


def tls_warnings(s: Settings) -> list[str]:
    """Settings that are valid but leave a hop open; `check-config` prints them."""
    warnings: list[str] = []
    if not s.relay.verify_tls:
        warnings.append(tls.insecure_warning("relay.verify_tls", "the relay"))
    if not s.imap.verify_tls:
        warnings.append(tls.insecure_warning("imap.verify_tls", "the IMAP server"))
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
