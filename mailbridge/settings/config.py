"""Typed settings from TOML plus the environment overrides of the public contract.

Every problem is collected and reported by key, so an operator fixes a file in one pass
instead of one traceback at a time. The sections are declared in sections.py and checked in
validation.py; this module loads them into one ``Settings`` and finds the routing and
authorities files.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.errors import ConfigError
from mailbridge.resources import resource_path
from mailbridge.routing.authorities import Authorities, load_authorities
from mailbridge.routing.loading import load_routing
from mailbridge.routing.rules import Routing
from mailbridge.settings.sections import (
    AuthoritiesSettings,
    DigestSettings,
    GraphSettings,
    HttpSettings,
    ImapSettings,
    OAuth2Settings,
    ProcessingSettings,
    ReadingSettings,
    RelaySettings,
    RetentionSettings,
    RoutingSettings,
    ServiceSettings,
    SmtpSettings,
    TrustSettings,
    WebSettings,
)
from mailbridge.settings.validation import validate

ENV_PREFIX = "MAILBRIDGE_"
DEFAULT_CONFIG = Path("config/mailbridge.toml")
DEFAULT_ROUTING = Path("config/routing.yaml")
DEFAULT_AUTHORITIES = Path("config/authorities.yaml")


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
